"""Running a search or a count over the store.

The query is compiled once per index (`QueryCompiler`) and SQLite does the work in two
statements per index: the page (``ORDER BY ... LIMIT size OFFSET from``, a top-N sort inside
SQLite, never every score in Python) and the total (``count(*)`` over the unscored form of the
query, stopping at ``track_total_hits`` + 1). Over several indices each gives its top
``from + size`` and Python merges those few rows in the same order. ``max_score`` costs a
third statement only when the page cannot tell it. The page's documents are read by rowid.
"""

# ruff: noqa: S608
# statements wrap relations built by the compiler; every value is a bound parameter.

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlcipher3.dbapi2 as sqlcipher

from citadel.node.search import catalog
from citadel.node.search.catalog import IndexFields
from citadel.node.search.compiler import EMPTY, QueryCompiler, Sql
from citadel.node.search.dsl import Query
from citadel.node.search.request import EXACT, IndexOptions, SearchRequest
from citadel.node.search.sort import SCORE, SortColumn, sort_columns
from citadel.node.store.indices import all_names, resolve_targets


@dataclass(frozen=True)
class Opened:
    """The indices a request searches, or the explicit names the caller may not read."""

    indices: list[IndexFields]
    denied: tuple[str, ...] = ()


def open_indices(
    conn: sqlcipher.Connection,
    expression: str | None,
    options: IndexOptions,
    may_read: Callable[[str], bool],
) -> Opened:
    """Resolve an index expression for a caller and load the indices' fields."""
    resolved = resolve_targets(
        expression,
        all_names(conn),
        may_read,
        ignore_unavailable=options.ignore_unavailable,
        allow_no_indices=options.allow_no_indices,
        expand_hidden=options.expand_hidden,
    )
    if resolved.denied:
        return Opened([], resolved.denied)
    return Opened(catalog.load(conn, resolved.names))


def search(
    conn: sqlcipher.Connection,
    indices: Sequence[IndexFields],
    request: SearchRequest,
    *,
    now: datetime,
) -> dict[str, Any]:
    """The body of a ``_search`` response (without ``took``)."""
    columns = sort_columns(request.sort, indices, now=now)
    tracked = not request.sort or request.track_scores or _sorts_by_score(columns)
    scoring = tracked or request.min_score is not None
    scored = _relations(indices, request, now=now, scoring=scoring)
    hits_total = None
    if request.track_total_hits is not None:
        counted = _relations(indices, request, now=now, scoring=request.min_score is not None)
        hits_total = _total(conn, counted, request.track_total_hits)
    page = _page(conn, scored, columns, request) if request.size > 0 else []
    names = {index.id: index.name for index in indices}
    hits = _hits(conn, page, names, columns, request, tracked=tracked)
    max_score = None
    if tracked and request.size > 0 and scored:
        best_first = not request.sort or (
            request.sort[0].field == SCORE and request.sort[0].descending
        )
        if page and request.from_ == 0 and best_first:
            max_score = float(page[0][1])
        else:
            max_score = _max_score(conn, scored)
    body_hits: dict[str, Any] = {}
    if hits_total is not None:
        value, relation = hits_total
        body_hits["total"] = (
            value if request.total_as_int else {"value": value, "relation": relation}
        )
    body_hits["max_score"] = max_score
    body_hits["hits"] = hits
    return {
        "timed_out": False,
        "_shards": shards(len(indices)),
        "hits": body_hits,
    }


def count(
    conn: sqlcipher.Connection,
    indices: Sequence[IndexFields],
    query: Query,
    *,
    min_score: float | None,
    now: datetime,
) -> int:
    """How many documents of `indices` match `query`."""
    request = SearchRequest(query=query, min_score=min_score)
    relations = _relations(indices, request, now=now, scoring=min_score is not None)
    value, _ = _total(conn, relations, EXACT)
    return value


def shards(total: int) -> dict[str, int]:
    """``_shards`` of a response: one shard per index, all successful."""
    return {"total": total, "successful": total, "skipped": 0, "failed": 0}


# -- statements ---------------------------------------------------------------------------


def _relations(
    indices: Sequence[IndexFields], request: SearchRequest, *, now: datetime, scoring: bool
) -> list[Sql]:
    """One relation per index that can match (post_filter and min_score applied)."""
    out = []
    for index in indices:
        compiler = QueryCompiler(index, now=now)
        relation = compiler.relation(request.query, scoring=scoring)
        if relation is EMPTY:
            continue
        if request.post_filter is not None:
            post = compiler.relation(request.post_filter, scoring=False)
            if post is EMPTY:
                continue
            relation = Sql(
                f"SELECT doc, score FROM ({relation.text}) "
                f"WHERE +doc IN (SELECT doc FROM ({post.text}))",
                (*relation.params, *post.params),
            )
        if request.min_score is not None:
            relation = Sql(
                f"SELECT doc, score FROM ({relation.text}) WHERE score >= ?",
                (*relation.params, request.min_score),
            )
        out.append(relation)
    return out


def _total(conn: sqlcipher.Connection, relations: Sequence[Sql], cap: float) -> tuple[int, str]:
    """(count, "eq"), or (cap, "gte") when more than `cap` match; stops counting past it."""
    found = 0
    for relation in relations:
        # The inner LIMIT keeps SQLite from flattening the relation into the aggregate, where
        # FTS5's bm25() cannot run (a relation is scored when min_score applies).
        limit = -1 if cap == EXACT else int(cap) + 1 - found
        row = conn.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM ({relation.text}) LIMIT ?)",
            (*relation.params, limit),
        ).fetchone()
        found += int(row[0])
        if cap != EXACT and found > cap:
            return int(cap), "gte"
    return found, "eq"


def _page(
    conn: sqlcipher.Connection,
    relations: Sequence[Sql],
    columns: Sequence[SortColumn],
    request: SearchRequest,
) -> list[tuple[Any, ...]]:
    """(doc, score, sort values...) of the requested page.

    One statement per index (a statement over many indices' relations at once costs SQLite
    more than linear time to plan): each gives its own top ``from + size``, and the merge
    orders them as SQLite did, then cuts the page.
    """
    if len(relations) == 1:
        statement = page_statement(relations[0], columns, request)
        return [tuple(row) for row in conn.execute(statement.text, statement.params)]
    top = SearchRequest(size=request.from_ + request.size)
    rows = []
    for relation in relations:
        statement = page_statement(relation, columns, top)
        rows += [tuple(row) for row in conn.execute(statement.text, statement.params)]
    return merge_order(rows, columns)[request.from_ : request.from_ + request.size]


def merge_order(
    rows: list[tuple[Any, ...]], columns: Sequence[SortColumn]
) -> list[tuple[Any, ...]]:
    """Rows ``(doc, score, sort values...)`` in the order `page_statement` gives them."""
    rows = sorted(rows, key=lambda row: row[0])  # ties: index order, as doc ASC
    if not columns:
        return sorted(rows, key=lambda row: row[1], reverse=True)
    for position in reversed(range(len(columns))):  # stable sorts, last key first
        column = columns[position]
        rows.sort(key=_merge_key(position + 2, column), reverse=column.key.descending)
    return rows


def page_statement(relation: Sql, columns: Sequence[SortColumn], request: SearchRequest) -> Sql:
    """The statement of one page: the relation ordered (by score, else by `columns`, then
    index order) with ``LIMIT size OFFSET from``, so SQLite keeps only the top of the sort."""
    selects = [f"{c.sql.text} AS s{i}" for i, c in enumerate(columns)]
    order = [c.order_by(f"s{i}") for i, c in enumerate(columns)] or ["score DESC"]
    if not columns or columns[-1].key.field != "_doc":
        order.append("doc ASC")
    text = (
        "SELECT doc, score"
        + "".join(", " + s for s in selects)
        + f" FROM ({relation.text}) AS hits ORDER BY {', '.join(order)} LIMIT ? OFFSET ?"
    )
    params = (
        *(p for c in columns for p in c.sql.params),
        *relation.params,
        request.size,
        request.from_,
    )
    return Sql(text, params)


def _merge_key(at: int, column: SortColumn) -> Callable[[tuple[Any, ...]], tuple[int, Any]]:
    """The sort key of one column: (rank, value), with missing values ranked so that they
    land first or last once the direction is applied."""
    missing_rank = int((column.key.missing == "_first") == column.key.descending)

    def key(row: tuple[Any, ...]) -> tuple[int, Any]:
        value = row[at]
        return (missing_rank, None) if value is None else (1 - missing_rank, value)

    return key


def _max_score(conn: sqlcipher.Connection, relations: Sequence[Sql]) -> float | None:
    best = None
    for relation in relations:
        row = conn.execute(
            f"SELECT score FROM ({relation.text}) ORDER BY score DESC LIMIT 1", relation.params
        ).fetchone()
        if row is not None and row[0] is not None:
            best = float(row[0]) if best is None else max(best, float(row[0]))
    return best


def _hits(
    conn: sqlcipher.Connection,
    page: Sequence[tuple[Any, ...]],
    names: dict[int, str],
    columns: Sequence[SortColumn],
    request: SearchRequest,
    *,
    tracked: bool,
) -> list[dict[str, Any]]:
    if not page:
        return []
    rows = conn.execute(
        "SELECT rowid, index_id, doc_id, source, version, seq_no, primary_term FROM docs "
        "WHERE rowid IN (SELECT value FROM json_each(?))",
        (json.dumps([row[0] for row in page]),),
    ).fetchall()
    docs = {row[0]: row for row in rows}
    hits = []
    for doc, score, *values in page:
        row = docs.get(doc)
        if row is None:  # deleted between the two statements of a snapshot: cannot happen
            continue
        hit: dict[str, Any] = {
            "_index": names.get(row[1], ""),
            "_id": row[2],
            "_score": float(score) if tracked else None,
        }
        if request.version:
            hit["_version"] = row[4]
        if request.seq_no_primary_term:
            hit["_seq_no"] = row[5]
            hit["_primary_term"] = row[6]
        if request.source.fetch:
            hit["_source"] = request.source.apply(json.loads(row[3]))
        if columns:
            hit["sort"] = [c.value(v) for c, v in zip(columns, values, strict=True)]
        hits.append(hit)
    return hits


def _sorts_by_score(columns: Sequence[SortColumn]) -> bool:
    return any(c.key.field == SCORE for c in columns)

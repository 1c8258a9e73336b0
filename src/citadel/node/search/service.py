"""Running a search or a count over the engine's shards, and shaping Elasticsearch's response.

Each searched index is one shard: its query compiles against its own fields
(`citadel.node.engine.query`), hits are collected per shard (by score, or by one sort field
through tantivy's fast-field ordering) and merged; sorts on several keys are done here over at
most `MAX_SORTED_IN_MEMORY` matches (more is a 400 rather than a wrong order).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import tantivy

from citadel.node.engine import fields as f
from citadel.node.engine.aggregations import AggregationTarget, run_aggregations
from citadel.node.engine.engine import Engine
from citadel.node.engine.fields import FieldRef, SlotKind
from citadel.node.engine.query import QueryCompiler
from citadel.node.engine.shard import Shard
from citadel.node.errors import IllegalArgument
from citadel.node.search.date_math import resolve_date
from citadel.node.search.dsl import Bool, Query, parse_query
from citadel.node.search.errors import QueryShardError
from citadel.node.search.request import EXACT, IndexOptions, SearchRequest
from citadel.node.search.sort import DOC, SCORE, SortKey
from citadel.node.store.dates import format_millis
from citadel.node.store.indices import IndexRecord, all_names, load, resolve_targets

MAX_SORTED_IN_MEMORY = 10_000
_NUMERIC_SORT = (SlotKind.LONG, SlotKind.DOUBLE, SlotKind.DATE, SlotKind.BOOLEAN)


@dataclass(frozen=True)
class Opened:
    """The indices a search runs over, and the names the caller may not read."""

    indices: list[IndexRecord]
    denied: list[str] = field(default_factory=list)


def open_indices(
    conn: Any,
    expression: str | None,
    options: IndexOptions,
    may_read: Callable[[str], bool],
) -> Opened:
    """Resolve an index expression for a caller and load the indices' records."""
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
    records = [r for r in (load(conn, name) for name in resolved.names) if r is not None]
    return Opened(records)


@dataclass
class Target:
    """One searched index: its record, shard, searcher and compiled query."""

    record: IndexRecord
    shard: Shard
    searcher: tantivy.Searcher
    compiler: QueryCompiler
    query: tantivy.Query
    order: int


@dataclass
class Hit:
    target: Target
    address: Any
    score: float | None
    sort: list[Any]


def targets(
    engine: Engine,
    records: Sequence[IndexRecord],
    query: Query,
    *,
    now: datetime,
    scoring: bool = True,
) -> list[Target]:
    """Compile `query` for every index."""
    out = []
    for order, record in enumerate(records):
        shard = engine.shard(record)
        searcher = shard.searcher()
        compiler = QueryCompiler(
            shard.schema,
            record.table,
            record.mappings,
            index_name=record.name,
            now=now,
            searcher=searcher,
        )
        compiled = compiler.compile(query, scoring=scoring)
        out.append(Target(record, shard, searcher, compiler, compiled, order))
    return out


def search(
    engine: Engine,
    records: Sequence[IndexRecord],
    request: SearchRequest,
    *,
    now: datetime,
) -> dict[str, Any]:
    """The body of a ``_search`` response (without ``took``)."""
    query = request.query
    if request.post_filter is not None:
        query = Bool(must=(request.query,), filter=(request.post_filter,))
    field_sort = [k for k in request.sort if k.field != SCORE]
    tracked = (
        not request.sort or request.track_scores or any(k.field == SCORE for k in request.sort)
    )
    found = targets(engine, records, query, now=now)
    total = 0
    for target in found:
        total += _count(target, request.min_score)
    wanted = request.from_ + request.size
    if request.size == 0:
        page: list[Hit] = []
    elif not field_sort:
        page = _by_score(found, wanted, request.min_score)
    else:
        page = _by_fields(found, request.sort, wanted, request.min_score, total, now)
    page = page[request.from_ : wanted]
    hits = [_hit(h, request, tracked=tracked) for h in page]
    max_score = None
    if tracked and request.size > 0 and found:
        scores = [h.score for h in _by_score(found, 1, request.min_score) if h.score is not None]
        max_score = max(scores) if scores else None
    body_hits: dict[str, Any] = {}
    if request.track_total_hits is not None:
        cap = request.track_total_hits
        value, relation = (total, "eq") if cap == EXACT or total <= cap else (int(cap), "gte")
        body_hits["total"] = (
            value if request.total_as_int else {"value": value, "relation": relation}
        )
    body_hits["max_score"] = max_score
    body_hits["hits"] = hits
    out: dict[str, Any] = {
        "timed_out": False,
        "_shards": shards(len(records)),
        "hits": body_hits,
    }
    if request.aggregations is not None:
        scope = (
            targets(engine, records, request.query, now=now)
            if request.post_filter is not None
            else found
        )
        out["aggregations"] = run_aggregations(
            request.aggregations,
            [_aggregation_target(t) for t in scope],
            now_ms=int(now.timestamp() * 1000),
        )
    return out


def _aggregation_target(target: Target) -> AggregationTarget:
    """What the aggregations need of one searched index."""

    def compile_query(body: Any) -> tantivy.Query:
        return target.compiler.compile(parse_query(body), scoring=False)

    def sources(ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        query = tantivy.Query.term_set_query(target.shard.schema, f.ID_FIELD, list(ids))
        out = {}
        for _, address in target.searcher.search(query, len(ids), count=False).hits:
            doc = target.searcher.doc(address)
            out[doc.get_first(f.ID_FIELD)] = json.loads(bytes(doc.get_first(f.SOURCE_FIELD)))
        return out

    return AggregationTarget(
        searcher=target.searcher,
        query=target.query,
        field=target.record.table.get,
        compile=compile_query,
        sources=sources,
        index_name=target.record.name,
    )


def count(
    engine: Engine,
    records: Sequence[IndexRecord],
    query: Query,
    *,
    min_score: float | None,
    now: datetime,
) -> int:
    """How many documents of `records` match `query`."""
    found = targets(engine, records, query, now=now, scoring=min_score is not None)
    return sum(_count(t, min_score) for t in found)


def shards(total: int) -> dict[str, int]:
    """``_shards`` of a response: one shard per index, all successful."""
    return {"total": total, "successful": total, "skipped": 0, "failed": 0}


# -- collecting ------------------------------------------------------------------------------


def _count(target: Target, min_score: float | None) -> int:
    if min_score is None:
        return int(target.searcher.search(target.query, 1, count=True).count)
    hits = target.searcher.search(target.query, MAX_SORTED_IN_MEMORY, count=False).hits
    return sum(1 for score, _ in hits if score >= min_score)


def _by_score(found: Sequence[Target], wanted: int, min_score: float | None) -> list[Hit]:
    out = []
    for target in found:
        if wanted <= 0:
            break
        result = target.searcher.search(target.query, wanted, count=False)
        for score, address in result.hits:
            if min_score is not None and score < min_score:
                continue
            out.append(Hit(target, address, float(score), []))
    out.sort(key=lambda h: (-(h.score or 0.0), h.target.order))
    return out


def _by_fields(
    found: Sequence[Target],
    keys: Sequence[SortKey],
    wanted: int,
    min_score: float | None,
    total: int,
    now: datetime,
) -> list[Hit]:
    refs = [_sort_refs(key, found) for key in keys]
    single = len(keys) == 1 and keys[0].field != DOC and keys[0].missing == "_last"
    if total > MAX_SORTED_IN_MEMORY and single and min_score is None:
        return _by_one_field(found, keys[0], refs[0], wanted)
    if total > MAX_SORTED_IN_MEMORY:
        raise IllegalArgument(
            f"sorting [{total}] matches on several keys is limited to {MAX_SORTED_IN_MEMORY} "
            "matches on this node; narrow the query or sort on one field"
        )
    candidates = []
    for target in found:
        hits = target.searcher.search(target.query, MAX_SORTED_IN_MEMORY, count=False).hits
        addresses = [(s, a) for s, a in hits if min_score is None or s >= min_score]
        columns = [
            _column(target, key, ref_of[target.order], addresses, now)
            for key, ref_of in zip(keys, refs, strict=True)
        ]
        for i, (score, address) in enumerate(addresses):
            values = [c[i] for c in columns]
            candidates.append(Hit(target, address, float(score), values))
    for position in reversed(range(len(keys))):
        key = keys[position]
        candidates.sort(key=_missing_order(key, position))
    for hit in candidates:
        hit.sort = [_shown(k, v) for k, v in zip(keys, hit.sort, strict=True)]
    return candidates[:wanted]


def _by_one_field(
    found: Sequence[Target], key: SortKey, refs: dict[int, FieldRef | None], wanted: int
) -> list[Hit]:
    out = []
    for target in found:
        ref = refs[target.order]
        if ref is None or ref.slot is None:
            hits = target.searcher.search(target.query, wanted, count=False).hits
            out += [Hit(target, a, float(s), [None]) for s, a in hits]
            continue
        order = tantivy.Order.Desc if key.descending else tantivy.Order.Asc
        result = target.searcher.search(
            target.query, wanted, count=False, order_by_field=ref.slot, order=order
        )
        for value, address in result.hits:
            out.append(Hit(target, address, None, [_sort_value(ref, value)]))
    present = [h for h in out if h.sort[0] is not None]
    missing = [h for h in out if h.sort[0] is None]
    present.sort(key=lambda h: h.sort[0], reverse=key.descending)
    ordered = present + missing
    for hit in ordered:
        hit.sort = [_shown(key, hit.sort[0])]
    return ordered[:wanted]


def _sort_refs(key: SortKey, found: Sequence[Target]) -> dict[int, FieldRef | None]:
    out: dict[int, FieldRef | None] = {}
    if key.field in (SCORE, DOC):
        return {t.order: None for t in found}
    seen = False
    for target in found:
        ref = target.record.table.get(key.field)
        if ref is not None and ref.kind.is_text:
            raise IllegalArgument(
                f"Fielddata is disabled on [{key.field}] in [{target.record.name}]. Text fields "
                "are not optimised for operations that require per-document field data like "
                "aggregations and sorting, so these operations are disabled by default. Please "
                "use a keyword field instead. Alternatively, set fielddata=true on "
                f"[{key.field}] in order to load field data by uninverting the inverted index. "
                "Note that this can use significant memory."
            )
        seen = seen or ref is not None
        out[target.order] = ref
    if not seen and key.unmapped_type is None and found:
        raise QueryShardError(f"No mapping found for [{key.field}] in order to sort on")
    return out


def _column(
    target: Target,
    key: SortKey,
    ref: FieldRef | None,
    hits: list[tuple[float, Any]],
    now: datetime,
) -> list[Any]:
    if key.field == SCORE:
        return [float(score) for score, _ in hits]
    addresses = [a for _, a in hits]
    if key.field == DOC:
        return [(target.order, a.segment_ord, a.doc) for a in addresses]
    if ref is None or ref.slot is None:
        return [_missing_value(key, None, now)] * len(addresses)
    if ref.kind in _NUMERIC_SORT:
        values = target.searcher.fast_field_values(ref.slot, addresses) if addresses else []
        out = [_sort_value(ref, v) for v in values]
    else:
        out = [_keyword_of(target, a, ref, key.descending) for a in addresses]
    return [v if v is not None else _missing_value(key, ref, now) for v in out]


def _keyword_of(target: Target, address: Any, ref: FieldRef, descending: bool) -> Any:
    source = json.loads(bytes(target.searcher.doc(address).get_first(f.SOURCE_FIELD)))
    value = _value_at(source, ref.path)
    if value is None and "." in ref.path:  # a multi-field (title.keyword) reads its parent
        value = _value_at(source, ref.path.rsplit(".", 1)[0])
    if isinstance(value, list):
        texts = [_keyword_text(v) for v in value if v is not None]
        value = (max if descending else min)(texts, default=None)
    elif isinstance(value, bool):
        value = _keyword_text(value)
    return None if value is None or isinstance(value, dict) else str(value)


def _value_at(source: Any, path: str) -> Any:
    if isinstance(source, dict) and path in source:
        return source[path]
    head, _, rest = path.partition(".")
    if rest and isinstance(source, dict) and head in source:
        return _value_at(source[head], rest)
    return None


def _keyword_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _missing_value(key: SortKey, ref: FieldRef | None, now: datetime) -> Any:
    if key.missing in ("_first", "_last"):
        return None
    value = key.missing
    if ref is None or ref.kind is SlotKind.KEYWORD:
        return str(value)
    if ref.kind is SlotKind.DATE:
        return resolve_date(value, now=now)
    if ref.kind is SlotKind.BOOLEAN:
        return 1 if value in (True, "true") else 0
    try:
        return float(value)
    except (TypeError, ValueError):
        raise QueryShardError(f"[missing] value [{value}] is not a number") from None


def _missing_order(key: SortKey, position: int) -> Callable[[Hit], Any]:
    first = key.missing == "_first"

    def order(hit: Hit) -> Any:
        value = hit.sort[position]
        if value is None:
            return (0 if first else 2, 0)
        if key.descending:
            return (1, _Reverse(value))
        return (1, value)

    return order


class _Reverse:
    """Sorts its value in reverse (for descending keys within a stable multi-key sort)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Reverse) -> bool:
        return bool(self.value > other.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reverse) and self.value == other.value

    def __hash__(self) -> int:
        return hash(self.value)


def _sort_value(ref: FieldRef, value: Any) -> Any:
    if value is None:
        return None
    if ref.kind in (SlotKind.LONG, SlotKind.DATE, SlotKind.BOOLEAN):
        return int(value)
    if ref.kind is SlotKind.DOUBLE:
        return float(value)
    return value


def _shown(key: SortKey, value: Any) -> Any:
    if key.field == DOC and isinstance(value, tuple):
        return value[2]
    return value


# -- hits ------------------------------------------------------------------------------------


def _hit(hit: Hit, request: SearchRequest, *, tracked: bool) -> dict[str, Any]:
    target = hit.target
    doc = target.searcher.doc(hit.address)
    doc_id = doc.get_first(f.ID_FIELD)
    out: dict[str, Any] = {
        "_index": target.record.name,
        "_id": doc_id,
        "_score": _score_of(hit, target) if tracked else None,
    }
    if request.version or request.seq_no_primary_term:
        if request.version:
            out["_version"] = int(
                target.searcher.fast_field_values(f.VERSION_FIELD, [hit.address])[0] or 1
            )
        if request.seq_no_primary_term:
            out["_seq_no"] = int(
                target.searcher.fast_field_values(f.SEQ_NO_FIELD, [hit.address])[0] or 0
            )
            out["_primary_term"] = 1
    if request.source.fetch:
        source = json.loads(bytes(doc.get_first(f.SOURCE_FIELD)))
        out["_source"] = request.source.apply(source)
    if request.sort:
        out["sort"] = hit.sort
    return out


def _score_of(hit: Hit, target: Target) -> float | None:
    if hit.score is not None:
        return hit.score
    explained = json.loads(target.query.explain(target.searcher, hit.address).to_json())
    return float(explained["value"])


def date_string(millis: int) -> str:
    return format_millis(millis)

"""Running a search or a count over the engine's shards, and shaping Elasticsearch's response.

Each searched index is one shard: its query compiles against its own fields
(`citadel.node.engine.query`), hits are collected per shard (by score, or by one sort field
through tantivy's fast-field ordering) and merged; sorts on several keys are done here over at
most `MAX_SORTED_IN_MEMORY` matches (more is a 400 rather than a wrong order).
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import tantivy

from citadel.node.engine import fields as f
from citadel.node.engine.aggregations import AggregationTarget, run_aggregations
from citadel.node.engine.engine import Engine
from citadel.node.engine.fields import FieldRef, SlotKind
from citadel.node.engine.query import QueryCompiler
from citadel.node.engine.shard import Shard
from citadel.node.engine.stored import hit_count, stored_id, stored_source
from citadel.node.errors import EsError, IllegalArgument
from citadel.node.search.date_math import resolve_date
from citadel.node.search.dsl import Bool, Ids, Query, parse_query
from citadel.node.search.errors import QueryShardError
from citadel.node.search.fetch import (
    FieldSpec,
    check_docvalue_fields,
    field_values,
    matching,
)
from citadel.node.search.highlight import Highlighter
from citadel.node.search.request import EXACT, IndexOptions, SearchRequest
from citadel.node.search.sort import DOC, SCORE, SHARD_DOC, SortKey
from citadel.node.security.document_security import (
    READ,
    UNRESTRICTED,
    Restriction,
    has_restrictions,
    reached_as,
    restriction_for,
    restriction_of,
    secure,
    visible_mappings,
    visible_source,
    visible_table,
)
from citadel.node.store import mapping as mp
from citadel.node.store.dates import format_millis
from citadel.node.store.documents import StoredDoc, find
from citadel.node.store.indices import (
    IndexRecord,
    all_names,
    load,
    load_catalog,
    resolve_targets,
)

if TYPE_CHECKING:
    from citadel.node.security.realm import Identity

MAX_SORTED_IN_MEMORY = 10_000
TIE_WINDOW = 65_536  # hits read at most to order one group of equal scores
TIE_SLACK = 16  # hits read beyond the page, to see whether the last score is tied
MAX_DOC_WINDOW = 1_000_000  # documents one `_doc`-ordered page may skip (scroll, PIT)
_NUMERIC_SORT = (SlotKind.LONG, SlotKind.DOUBLE, SlotKind.DATE, SlotKind.BOOLEAN)


@dataclass(frozen=True)
class Opened:
    """The indices a search runs over, and the names the caller may not read."""

    indices: list[IndexRecord]
    denied: list[str] = field(default_factory=list)


def secured(
    conn: Any,
    records: Sequence[IndexRecord],
    identity: Identity,
    privileges: tuple[str, ...] = READ,
) -> list[IndexRecord]:
    """Every record as `identity` may read it, under its field- and
    document-level security; the records themselves when no role of it restricts any."""
    if not has_restrictions(identity):
        return list(records)
    streams = load_catalog(conn).streams
    return [
        secure(r, restriction_for(identity, reached_as(r, streams), privileges)) for r in records
    ]


def restriction_on(
    conn: Any, identity: Identity, name: str, privileges: tuple[str, ...]
) -> Restriction:
    """What `identity` may see of the index `name` (an index, alias or data stream, perhaps
    not existing yet) through grants holding one of `privileges` (for writes that Elasticsearch
    refuses under field- or document-level security)."""
    if not has_restrictions(identity):
        return UNRESTRICTED
    try:
        record = load(conn, name)
    except EsError:
        record = None
    names = (name,) if record is None else (name, *reached_as(record, load_catalog(conn).streams))
    return restriction_for(identity, names, privileges)


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
        return Opened([], list(resolved.denied))
    records = [r for r in (load(conn, name) for name in resolved.names) if r is not None]
    for record in records:  # an index reached only through filtered aliases
        record.alias_filter = resolved.filters.get(record.name)
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
    counted: int | None = None
    prefetched: list[tuple[float, Any]] | None = None
    """The first search's best hits (by score), read with its count so one search serves both."""


@dataclass
class Hit:
    target: Target
    address: Any
    score: float | None
    sort: list[Any]
    collapse: tuple[str, Any] | None = None
    seq_no: int = 0


def targets(
    engine: Engine,
    records: Sequence[IndexRecord],
    query: Query,
    *,
    now: datetime,
    scoring: bool = True,
    pinned: Mapping[str, tantivy.Searcher] | None = None,
    boosts: Sequence[tuple[str, float]] = (),
) -> list[Target]:
    """Compile `query` for every index (over `pinned` searchers by index uuid, if given)."""
    out = []
    for order, record in enumerate(records):
        shard = engine.shard(record)
        searcher = pinned[record.uuid] if pinned is not None else shard.searcher()
        compiler = QueryCompiler(
            shard.schema,
            visible_table(record),
            visible_mappings(record),
            index_name=record.name,
            now=now,
            searcher=searcher,
        )
        scoped = query
        if record.alias_filter is not None:  # searched through filtered aliases
            scoped = Bool(must=(query,), filter=(parse_query(record.alias_filter),))
        compiled = compiler.compile(scoped, scoring=scoring)
        compiled = _documents_shown(record, shard, searcher, compiled, now)
        boost = _index_boost(record.name, boosts)
        if boost != 1.0:
            compiled = tantivy.Query.boost_query(compiled, boost)
        out.append(Target(record, shard, searcher, compiler, compiled, order))
    return out


def _documents_shown(
    record: IndexRecord,
    shard: Shard,
    searcher: tantivy.Searcher,
    compiled: tantivy.Query,
    now: datetime,
) -> tantivy.Query:
    """`compiled` limited to the documents the reader may see (document-level security): the
    role query is compiled against every field of the index and added as a filter clause, so
    totals, aggregations and pages all count only those documents."""
    shown = restriction_of(record).query
    if shown is None:
        return compiled
    whole = QueryCompiler(
        shard.schema,
        record.table,
        record.mappings,
        index_name=record.name,
        now=now,
        searcher=searcher,
    )
    only = tantivy.Query.const_score_query(whole.compile(parse_query(shown), scoring=False), 0.0)
    return tantivy.Query.boolean_query([(tantivy.Occur.Must, compiled), (tantivy.Occur.Must, only)])


def _index_boost(name: str, boosts: Sequence[tuple[str, float]]) -> float:
    """``indices_boost``: the first entry naming (or matching) the index."""
    for pattern, boost in boosts:
        if pattern == name or ("*" in pattern and fnmatch.fnmatchcase(name, pattern)):
            return boost
    return 1.0


def pin(engine: Engine, records: Sequence[IndexRecord]) -> dict[str, tantivy.Searcher]:
    """Every index's searcher of this moment, by index uuid (for scroll and point in time)."""
    return {record.uuid: engine.shard(record).searcher() for record in records}


def search(
    engine: Engine,
    records: Sequence[IndexRecord],
    request: SearchRequest,
    *,
    now: datetime,
    pinned: Mapping[str, tantivy.Searcher] | None = None,
) -> dict[str, Any]:
    """The body of a ``_search`` response (without ``took``)."""
    query = request.query
    if request.post_filter is not None:
        query = Bool(must=(request.query,), filter=(request.post_filter,))
    sort = request.effective_sort
    field_sort = [k for k in sort if k.field != SCORE]
    tracked = not sort or request.track_scores or any(k.field == SCORE for k in sort)
    doc_order = bool(sort) and all(k.field in (DOC, SHARD_DOC) for k in sort)
    found = targets(
        engine,
        records,
        query,
        now=now,
        scoring=tracked or not doc_order,
        pinned=pinned,
        boosts=request.indices_boost,
    )
    if request.docvalue_fields:
        for target in found:
            check_docvalue_fields(
                request.docvalue_fields, visible_table(target.record).fields, target.record.name
            )
    total = 0
    prefetch = request.from_ + request.size + TIE_SLACK if not field_sort else 1
    for target in found:
        total += _count(target, request.min_score, prefetch)
    terminated = request.terminate_after is not None and any(
        _count(t, request.min_score) > request.terminate_after for t in found
    )
    if request.terminate_after is not None:
        total = sum(min(_count(t, request.min_score), request.terminate_after) for t in found)
    wanted = request.from_ + request.size
    if wanted > MAX_DOC_WINDOW:
        raise IllegalArgument(
            f"a page may reach at most {MAX_DOC_WINDOW} hits deep on this node (from + size "
            f"was [{wanted}]); page with search_after and a point in time instead"
        )
    after = request.search_after
    if request.size == 0:
        page: list[Hit] = []
    elif request.collapse is not None:
        page = _collapsed(found, request, wanted, total, now)
    elif doc_order and request.min_score is None:
        page = _by_doc(found, sort, wanted, after)
    elif not field_sort:
        page = _by_score(
            found, wanted if after is None else MAX_SORTED_IN_MEMORY, request.min_score
        )
        if after is not None:
            page = _after(page, (SortKey(SCORE, descending=True),), after, now)
    else:
        limit = wanted if after is None else MAX_SORTED_IN_MEMORY
        page = _by_fields(found, sort, limit, request.min_score, total, now, after is not None)
        if after is not None:
            page = _after(page, sort, after, now)
    page = page[: request.size] if after is not None else page[request.from_ : wanted]
    fetcher = _Fetcher(request)
    hits = [fetcher.hit(h, tracked=tracked) for h in page]
    max_score = None
    if tracked and request.size > 0 and found:
        best = [t.prefetched[0][0] for t in found if t.prefetched]
        if request.min_score is not None or field_sort or len(best) < len(found):
            scored = _by_score(found, 1, request.min_score)
            best = [h.score for h in scored if h.score is not None]
        max_score = float(max(best)) if best else None
    body_hits: dict[str, Any] = {}
    if request.track_total_hits is not None:
        cap = request.track_total_hits
        value, relation = (total, "eq") if cap == EXACT or total <= cap else (int(cap), "gte")
        body_hits["total"] = (
            value if request.total_as_int else {"value": value, "relation": relation}
        )
    body_hits["max_score"] = max_score
    body_hits["hits"] = hits
    out: dict[str, Any] = {"timed_out": False}
    if request.terminate_after is not None:
        out["terminated_early"] = terminated
    out["_shards"] = shards(len(records))
    out["hits"] = body_hits
    if request.aggregations is not None:
        scope = (
            targets(engine, records, request.query, now=now, pinned=pinned)
            if request.post_filter is not None or doc_order or request.indices_boost
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
            out[stored_id(doc)] = visible_source(target.record, stored_source(doc))
        return out

    return AggregationTarget(
        searcher=target.searcher,
        query=target.query,
        field=visible_table(target.record).get,
        compile=compile_query,
        sources=sources,
        index_name=target.record.name,
        documents_hidden=restriction_of(target.record).query is not None,
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


def visible_document(
    engine: Engine, record: IndexRecord, doc_id: str, *, now: datetime
) -> StoredDoc | None:
    """Document `doc_id` of `record` (real-time) as its reader may see it: None when
    document-level security hides it, its source narrowed by field-level security.

    Under document-level security the role query decides, so an unrefreshed revision is made
    searchable first (Elasticsearch refreshes for a real-time get under DLS too) and the
    document is read from the search that matched it."""
    doc = find(engine, record, doc_id)
    restriction = restriction_of(record)
    if doc is None or restriction.unrestricted:
        return doc
    if restriction.query is not None:
        shard = engine.shard(record)
        if doc_id in shard.ids_since_refresh():
            shard.refresh()
        (target,) = targets(engine, [record], Ids((doc_id,)), now=now, scoring=False)
        hits = target.searcher.search(target.query, 1, count=False).hits
        if not hits:
            return None
        address = hits[0][1]
        stored = target.searcher.doc(address)
        version = target.searcher.fast_field_values(f.VERSION_FIELD, [address])[0]
        seq_no = target.searcher.fast_field_values(f.SEQ_NO_FIELD, [address])[0]
        doc = StoredDoc(
            doc_id, int(version or 1), int(seq_no or 0), doc.primary_term, stored_source(stored)
        )
    return replace(doc, source=visible_source(record, doc.source))


def shards(total: int) -> dict[str, int]:
    """``_shards`` of a response: one shard per index, all successful."""
    return {"total": total, "successful": total, "skipped": 0, "failed": 0}


# -- collecting ------------------------------------------------------------------------------


def _count(target: Target, min_score: float | None, prefetch: int = 1) -> int:
    if min_score is None:
        if target.counted is None:
            result = target.searcher.search(target.query, max(prefetch, 1), count=True)
            target.counted, target.prefetched = hit_count(result), list(result.hits)
        return target.counted
    hits = target.searcher.search(target.query, MAX_SORTED_IN_MEMORY, count=False).hits
    return sum(1 for score, _ in hits if score >= min_score)


def _by_score(found: Sequence[Target], wanted: int, min_score: float | None) -> list[Hit]:
    """The best `wanted` hits; equal scores in index order, then in the order documents were
    written (their sequence numbers), whatever segments the engine's merges produced."""
    out = []
    for target in found:
        if wanted <= 0:
            break
        for score, address, seq_no in _scored(target, wanted):
            if min_score is not None and score < min_score:
                continue
            out.append(Hit(target, address, float(score), [], seq_no=seq_no))
    out.sort(key=lambda h: (-(h.score or 0.0), h.target.order, h.seq_no))
    return out[:wanted] if min_score is None else out


def _scored(target: Target, wanted: int) -> list[tuple[float, Any, int]]:
    """At least the top `wanted` (score, address, seq_no) of one shard, the whole group of
    hits tied with the last one included (so the tie-break by seq_no is exact)."""
    limit = wanted + TIE_SLACK
    hits = target.prefetched or []
    if len(hits) < limit and (target.counted is None or len(hits) < target.counted):
        hits = target.searcher.search(target.query, limit, count=False).hits
    while len(hits) >= limit and hits[wanted - 1][0] == hits[-1][0] and limit < TIE_WINDOW:
        limit *= 4
        hits = target.searcher.search(target.query, limit, count=False).hits
    if not hits:
        return []
    seq_nos = target.searcher.fast_field_values(f.SEQ_NO_FIELD, [a for _, a in hits])
    return [(s, a, int(q or 0)) for (s, a), q in zip(hits, seq_nos, strict=True)]


def _by_fields(
    found: Sequence[Target],
    keys: Sequence[SortKey],
    wanted: int,
    min_score: float | None,
    total: int,
    now: datetime,
    paging_after: bool = False,
) -> list[Hit]:
    refs = [_sort_refs(key, found) for key in keys]
    single = (
        len(keys) == 1
        and keys[0].field not in (DOC, SHARD_DOC)
        and keys[0].missing == "_last"
        and not paging_after
    )
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
    return ordered[:wanted]


def _sort_refs(key: SortKey, found: Sequence[Target]) -> dict[int, FieldRef | None]:
    out: dict[int, FieldRef | None] = {}
    if key.field in (SCORE, DOC, SHARD_DOC):
        return {t.order: None for t in found}
    seen = False
    for target in found:
        ref = visible_table(target.record).get(key.field)
        if ref is not None and ref.kind.is_text:
            raise IllegalArgument(
                f"Fielddata is disabled on [{key.field}] in [{target.record.name}]. Text fields "
                "are not optimised for operations that require per-document field data like "
                "aggregations and sorting, so these operations are disabled by default. Please "
                "use a keyword field instead. Alternatively, set fielddata=true on "
                f"[{key.field}] in order to load field data by uninverting the inverted index. "
                "Note that this can use significant memory."
            )
        # a field hidden by field-level security sorts as a field without values
        seen = seen or ref is not None or target.record.table.get(key.field) is not None
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
        return [_doc_number(a) for a in addresses]
    if key.field == SHARD_DOC:
        return [_shard_doc(target.order, a) for a in addresses]
    if ref is None or ref.slot is None:
        return [_missing_value(key, None, now)] * len(addresses)
    if ref.kind in _NUMERIC_SORT:
        values = target.searcher.fast_field_values(ref.slot, addresses) if addresses else []
        out = [_sort_value(ref, v) for v in values]
    else:
        out = [_keyword_of(target, a, ref, key.descending) for a in addresses]
    return [v if v is not None else _missing_value(key, ref, now) for v in out]


def _keyword_of(target: Target, address: Any, ref: FieldRef, descending: bool) -> Any:
    source = stored_source(target.searcher.doc(address))
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
    return value


def _doc_number(address: Any) -> int:
    """A document's number within its index (segment << 32 | doc: ordered as tantivy's)."""
    return (address.segment_ord << 32) | address.doc


def _shard_doc(order: int, address: Any) -> int:
    """``_shard_doc``: the index's position in the search, then its document number."""
    return (order << 48) | _doc_number(address)


def _by_doc(
    found: Sequence[Target], keys: Sequence[SortKey], wanted: int, after: Sequence[Any] | None
) -> list[Hit]:
    """Hits in index order (``_doc``/``_shard_doc`` sorts: no scoring), after `after`."""
    key = keys[0]
    start = None if after is None else _after_number(after[0])
    out: list[Hit] = []
    for target in found:
        if key.field == SHARD_DOC and start is not None and (start >> 48) > target.order:
            continue
        limit = wanted
        while True:
            if limit > MAX_DOC_WINDOW:
                raise IllegalArgument(
                    f"a page in index order may skip at most {MAX_DOC_WINDOW} documents on this "
                    "node"
                )
            hits = target.searcher.search(target.query, limit, count=False).hits
            values = [
                (_shard_doc(target.order, a) if key.field == SHARD_DOC else _doc_number(a), a)
                for _, a in hits
            ]
            kept = [(v, a) for v, a in values if start is None or v > start]
            if len(kept) >= wanted or len(hits) < limit:
                break
            limit *= 4
        out += [Hit(target, a, None, [v]) for v, a in kept[:wanted]]
    if key.field == DOC:
        out.sort(key=lambda h: h.sort[0])
    if key.descending:
        raise IllegalArgument(f"[{key.field}] sorts only in ascending order on this node")
    return out[:wanted]


def _after_number(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise IllegalArgument(f"Failed to parse search_after value [{value}] as a document number")
    try:
        return int(value)
    except ValueError:
        raise IllegalArgument(
            f"Failed to parse search_after value [{value}] as a document number"
        ) from None


def _after(
    hits: list[Hit], keys: Sequence[SortKey], after: Sequence[Any], now: datetime
) -> list[Hit]:
    """The hits (sorted by `keys`) that come strictly after the `after` sort values."""
    for hit in hits:
        if not hit.sort:
            hit.sort = [hit.score]
    mark = Hit(hits[0].target if hits else None, None, None, [])  # type: ignore[arg-type]
    mark.sort = [
        _after_value(k, v, hits, i, now) for i, (k, v) in enumerate(zip(keys, after, strict=True))
    ]
    orders = [_missing_order(k, i) for i, k in enumerate(keys)]

    def position(hit: Hit) -> tuple[Any, ...]:
        return tuple(order(hit) for order in orders)

    try:
        bound = position(mark)
        return [h for h in hits if position(h) > bound]
    except TypeError:
        raise IllegalArgument(
            f"search_after values {list(after)} do not match the types of the sort fields"
        ) from None


def _after_value(key: SortKey, value: Any, hits: list[Hit], position: int, now: datetime) -> Any:
    """A ``search_after`` value in the space of the sort's raw values."""
    if value is None:
        return None
    if key.field in (SCORE,):
        return float(value)
    if key.field in (DOC, SHARD_DOC):
        return _after_number(value)
    sample = next((h.sort[position] for h in hits if h.sort[position] is not None), None)
    if isinstance(sample, str):
        return str(value)
    if isinstance(sample, int) and not isinstance(value, bool):
        if isinstance(value, str):
            try:
                return (
                    resolve_date(value, now=now) if not value.lstrip("-").isdigit() else int(value)
                )
            except Exception:
                raise IllegalArgument(f"Failed to parse search_after value [{value}]") from None
        return value
    if isinstance(sample, float) and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise IllegalArgument(f"Failed to parse search_after value [{value}]") from None
    return value


def _collapsed(
    found: Sequence[Target], request: SearchRequest, wanted: int, total: int, now: datetime
) -> list[Hit]:
    """The best hit of each distinct value of the ``collapse`` field, in the search's order."""
    assert request.collapse is not None
    name = request.collapse
    for target in found:
        ref = visible_table(target.record).get(name)
        if ref is not None and (ref.kind.is_text or not ref.aggregatable):
            raise IllegalArgument(
                f"collapse is not supported for the field [{name}] of the type [{ref.es_type}]"
                if ref.kind.is_text
                else f"cannot collapse on field `{name}` without `doc_values`"
            )
    sort = request.effective_sort
    key = SortKey(name)
    refs = _sort_refs(key, found)
    if total > MAX_SORTED_IN_MEMORY:
        raise IllegalArgument(
            f"collapsing [{total}] matches is limited to {MAX_SORTED_IN_MEMORY} matches on this "
            "node; narrow the query"
        )
    if any(k.field != SCORE for k in sort):
        ordered = _by_fields(found, sort, MAX_SORTED_IN_MEMORY, request.min_score, total, now, True)
    else:
        ordered = _by_score(found, MAX_SORTED_IN_MEMORY, request.min_score)
    if request.search_after is not None:
        ordered = _after(
            ordered, sort or (SortKey(SCORE, descending=True),), request.search_after, now
        )
    seen: set[Any] = set()
    out = []
    for hit in ordered:
        value = _column(hit.target, key, refs[hit.target.order], [(0.0, hit.address)], now)[0]
        if value in seen:
            continue
        seen.add(value)
        hit.collapse = (name, value)
        out.append(hit)
        if len(out) >= wanted:
            break
    return out


# -- hits ------------------------------------------------------------------------------------


class _Fetcher:
    """Shapes hits: metadata, ``_source``, and only what the search asked for beyond that."""

    def __init__(self, request: SearchRequest) -> None:
        self.request = request
        self.sort = request.effective_sort
        self._highlighters: dict[int, Highlighter] = {}
        self._fields: dict[int, list[tuple[str, str | None]]] = {}
        self._docvalues: dict[int, list[tuple[str, str | None]]] = {}
        self._stored: dict[int, list[tuple[str, str | None]]] = {}

    def hit(self, hit: Hit, *, tracked: bool) -> dict[str, Any]:
        request = self.request
        target = hit.target
        doc = target.searcher.doc(hit.address)
        doc_id = stored_id(doc)
        none = request.stored_fields == ("_none_",)
        out: dict[str, Any] = {"_index": target.record.name}
        if not none:
            out["_id"] = doc_id
        out["_score"] = _score_of(hit, target) if tracked else None
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
        needs_source = (
            request.source.fetch
            or request.highlight is not None
            or request.fetch_fields
            or request.docvalue_fields
            or request.stored_fields
        )
        source: Any = visible_source(target.record, stored_source(doc)) if needs_source else None
        if request.source.fetch:
            out["_source"] = request.source.apply(source)
        fields = self._field_values(target, source, doc_id)
        if hit.collapse is not None:
            name, value = hit.collapse
            fields[name] = [] if value is None else [_collapse_shown(target, name, value)]
        if fields:
            out["fields"] = fields
        if request.highlight is not None:
            marked = self._highlighter(target).highlight(source)
            if marked:
                out["highlight"] = marked
        if self.sort:
            out["sort"] = hit.sort if hit.sort else [hit.score]
        if request.explain:
            out["_shard"] = f"[{target.record.name}][0]"
            out["_node"] = "citadel"
            out["_explanation"] = explanation(target.query, target.searcher, hit.address)
        return out

    def _field_values(self, target: Target, source: Any, doc_id: str) -> dict[str, list[Any]]:
        request = self.request
        if not (request.fetch_fields or request.docvalue_fields or request.stored_fields):
            return {}
        table = visible_table(target.record).fields
        key = target.order
        if key not in self._fields:
            self._fields[key] = matching(request.fetch_fields, table)
            self._docvalues[key] = matching(request.docvalue_fields, table)
            stored: list[tuple[str, str | None]] = [
                (name, None)
                for name, _ in matching(
                    [_spec(n) for n in request.stored_fields or () if not n.startswith("_")],
                    table,
                )
                if _is_stored(target.record, name)
            ]
            self._stored[key] = stored
        mappings = visible_mappings(target.record)
        out = field_values(
            self._stored[key] + self._fields[key],
            table,
            mappings,
            source,
            doc_id,
            doc_values=False,
        )
        docvalues = field_values(
            self._docvalues[key], table, mappings, source, doc_id, doc_values=True
        )
        for name, values in docvalues.items():
            out.setdefault(name, values)
        return out

    def _highlighter(self, target: Target) -> Highlighter:
        found = self._highlighters.get(target.order)
        if found is None:
            assert self.request.highlight is not None
            found = Highlighter(
                self.request.highlight,
                self.request.query,
                visible_table(target.record),
                visible_mappings(target.record),
            )
            self._highlighters[target.order] = found
        return found


def _spec(name: str) -> FieldSpec:
    return FieldSpec(name)


def _is_stored(record: IndexRecord, name: str) -> bool:
    field_def = mp.fields_of(visible_mappings(record)).get(name)
    return field_def is not None and field_def.definition.get("store") is True


def _collapse_shown(target: Target, name: str, value: Any) -> Any:
    ref = visible_table(target.record).get(name)
    if ref is not None and ref.kind is SlotKind.DATE and isinstance(value, int):
        return format_millis(value)
    if ref is not None and ref.kind is SlotKind.BOOLEAN:
        return bool(value)
    return value


def explanation(query: tantivy.Query, searcher: tantivy.Searcher, address: Any) -> dict[str, Any]:
    """Elasticsearch's explanation shape of one document's score under `query`."""
    raw = json.loads(query.explain(searcher, address).to_json())
    return _explained(raw)


def _explained(node: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "value": float(node.get("value", 0.0)),
        "description": str(node.get("description", "")),
        "details": [_explained(d) for d in node.get("details", [])],
    }


def _score_of(hit: Hit, target: Target) -> float | None:
    if hit.score is not None:
        return hit.score
    explained = json.loads(target.query.explain(target.searcher, hit.address).to_json())
    return float(explained["value"])


def date_string(millis: int) -> str:
    return format_millis(millis)

"""Elasticsearch aggregations over tantivy indices, answered in Elasticsearch 8's shapes.

How it runs. A *scope* is, per searched index (`AggregationTarget`), the tantivy query whose
documents an aggregation sees: the search's query at the top, narrowed by each enclosing
bucket. Bucket keys and counts come from tantivy's own aggregations (``terms``, ``histogram``,
``range``, ``stats`` …, one call per index), and each bucket's sub-aggregations run on the scope
narrowed by that bucket's filter (a ``term``/``range``/``exists`` query compiled by the
target). So every sub-aggregation is exact whatever its parent, at the price of one tantivy
call per bucket and sub-aggregation.

Several indices (a data stream's backing indices) are merged where merging is exact: counts,
``sum``, ``min``, ``max``, ``avg`` (sum and count), ``stats``/``extended_stats`` (count, sum, min,
max, sum of squares), histogram and range buckets, ``terms`` (each index asked for
``shard_size`` candidates, counts summed, Elasticsearch's error bound). ``cardinality`` is exact
up to ``precision_threshold`` distinct values (default 3000; the values themselves are
collected and unioned), beyond it tantivy's HyperLogLog estimate (several indices: the
largest estimate and the exact union seen so far, whichever is larger: a lower bound).
``percentiles`` are exact (linear interpolation between the sorted values, which is what
Elasticsearch's t-digest does below its sorting threshold) up to 10,000 distinct values;
beyond, tantivy's DDSketch per index (several indices: estimates averaged by value count).

Calendar intervals and time zones: `agg_dates.DateRounding` gives bucket boundaries; uniform
ones (fixed offsets) use tantivy's histogram with an offset, the others a tantivy ``range``
aggregation over the computed boundaries between the data's min and max.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import tantivy

from citadel.node.engine.agg_dates import (
    DateRounding,
    format_date,
    parse_calendar_interval,
    parse_fixed_interval,
    parse_offset,
)
from citadel.node.engine.agg_parse import (
    AggregationSpec,
    AggregationTree,
    parse_aggregations,
)
from citadel.node.engine.fields import ID_FIELD, FieldRef, SlotKind
from citadel.node.engine.stored import hit_count
from citadel.node.errors import EsError, IllegalArgument, ParsingError
from citadel.node.search.date_math import parse_time_zone, resolve_date
from citadel.node.store import source as source_filter

__all__ = [
    "AggregationTarget",
    "AggregationTree",
    "TooManyBuckets",
    "parse_aggregations",
    "run_aggregations",
]

MAX_BUCKETS = 65_536
EXACT_PERCENTILE_VALUES = 10_000
DEFAULT_PERCENTS = (1.0, 5.0, 25.0, 50.0, 75.0, 95.0, 99.0)
_ALL_TERMS = 65_536


class TooManyBuckets(EsError):
    """More buckets than ``search.max_buckets`` (65,536)."""

    type = "too_many_buckets_exception"
    status = 400


def _too_many_buckets() -> TooManyBuckets:
    return TooManyBuckets(
        f"Trying to create too many buckets. Must be less than or equal to: [{MAX_BUCKETS}] but "
        "this number of buckets was exceeded. This limit can be set by changing the "
        "[search.max_buckets] cluster level setting.",
        max_buckets=MAX_BUCKETS,
    )


class AggregationExecution(EsError):
    """An aggregation that cannot run against the data (tantivy refused it)."""

    type = "aggregation_execution_exception"
    status = 400


@dataclass(frozen=True)
class AggregationTarget:
    """One searched index, as aggregations need it."""

    searcher: tantivy.Searcher
    query: tantivy.Query
    field: Callable[[str], FieldRef | None]
    compile: Callable[[Mapping[str, Any]], tantivy.Query]
    sources: Callable[[Sequence[str]], dict[str, dict[str, Any]]]
    index_name: str
    documents_hidden: bool = False
    """Document-level security hides some documents: terms are read only from matches (a
    ``min_doc_count: 0`` bucket would name a value of a hidden document)."""


def run_aggregations(
    tree: AggregationTree, targets: Sequence[AggregationTarget], *, now_ms: int
) -> dict[str, Any]:
    """The ``aggregations`` object of a search response."""
    scope = _Scope(tuple(targets), tuple(t.query for t in targets))
    run = _Run(now_ms)
    return run.level(tree.aggs, scope)


# -- scopes and calls into tantivy -----------------------------------------------------------


@dataclass(frozen=True)
class _Scope:
    targets: tuple[AggregationTarget, ...]
    queries: tuple[tantivy.Query, ...]

    def pairs(self) -> Iterable[tuple[AggregationTarget, tantivy.Query]]:
        return zip(self.targets, self.queries, strict=True)

    def narrow(self, es_query: Mapping[str, Any] | None) -> _Scope:
        """The documents of this scope that also match `es_query` (None: none of them)."""
        queries = []
        for target, query in self.pairs():
            if es_query is None:
                queries.append(tantivy.Query.empty_query())
                continue
            extra = target.compile(es_query)
            queries.append(
                tantivy.Query.boolean_query(
                    [(tantivy.Occur.Must, query), (tantivy.Occur.Must, extra)]
                )
            )
        return _Scope(self.targets, tuple(queries))

    def count(self) -> int:
        return sum(hit_count(t.searcher.search(q, 1, count=True)) for t, q in self.pairs())


def _native(target: AggregationTarget, query: tantivy.Query, agg: Mapping[str, Any]) -> Any:
    try:
        return target.searcher.aggregate(query, {"a": agg})["a"]
    except ValueError as exc:
        raise AggregationExecution(str(exc)) from None


@dataclass(frozen=True)
class _Field:
    """A field as seen across the targets: its kind, and its slot per target (None: unmapped)."""

    name: str
    kind: SlotKind | None
    refs: tuple[FieldRef | None, ...]
    format: str | None

    @property
    def mapped(self) -> bool:
        return self.kind is not None

    @property
    def is_date(self) -> bool:
        return self.kind is SlotKind.DATE

    def slot(self, index: int) -> str | None:
        ref = self.refs[index]
        return ref.slot if ref is not None else None


def _resolve(scope: _Scope, name: str, spec: AggregationSpec) -> _Field:
    refs = tuple(t.field(name) for t in scope.targets)
    kind = None
    fmt = None
    for target, ref in zip(scope.targets, refs, strict=True):
        if ref is None:
            continue
        if ref.kind.is_text:
            raise IllegalArgument(
                f"Fielddata is disabled on [{name}] in [{target.index_name}]. Text fields are not "
                "optimised for operations that require per-document field data like "
                "aggregations and sorting, so these operations are disabled by default. Please "
                "use a keyword field instead. Alternatively, set fielddata=true on "
                f"[{name}] in order to load field data by uninverting the inverted index. Note "
                "that this can use significant memory."
            )
        if not ref.kind.is_text and (ref.slot is None or not ref.aggregatable):
            raise IllegalArgument(
                f"Can't load fielddata on [{name}] because fielddata is unsupported on fields of "
                f"type [{ref.es_type}]. Use doc values instead."
            )
        if ref.kind is SlotKind.IP:
            raise IllegalArgument(
                f"aggregation [{spec.name}] on ip field [{name}] is not supported by this node"
            )
        if kind is None:
            kind, fmt = ref.kind, ref.format
    return _Field(name, kind, refs, fmt)


def _field_of(scope: _Scope, spec: AggregationSpec) -> _Field:
    return _resolve(scope, str(spec.params["field"]), spec)


# -- the runner ------------------------------------------------------------------------------


@dataclass
class _Run:
    now_ms: int
    buckets: int = 0
    _handlers: dict[str, Callable[[AggregationSpec, _Scope], dict[str, Any]]] = field(
        default_factory=dict
    )

    def __post_init__(self) -> None:
        self._handlers = {
            "terms": self.terms,
            "histogram": self.histogram,
            "date_histogram": self.date_histogram,
            "range": self.range,
            "date_range": self.range,
            "filter": self.filter,
            "filters": self.filters,
            "missing": self.missing,
            "composite": self.composite,
            "avg": self.single_stat,
            "sum": self.single_stat,
            "min": self.single_stat,
            "max": self.single_stat,
            "stats": self.stats,
            "extended_stats": self.stats,
            "value_count": self.value_count,
            "cardinality": self.cardinality,
            "percentiles": self.percentiles,
            "top_hits": self.top_hits,
        }

    def level(self, specs: Sequence[AggregationSpec], scope: _Scope) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for spec in specs:
            out[spec.name] = self.one(spec, scope)
        return out

    def one(self, spec: AggregationSpec, scope: _Scope) -> dict[str, Any]:
        result = self._handlers[spec.type](spec, scope)
        if spec.meta is not None:
            return {"meta": dict(spec.meta), **result}
        return result

    def bucket(
        self, spec: AggregationSpec, scope: _Scope, es_query: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """Sub-aggregation results of one bucket (the scope narrowed by the bucket's filter)."""
        self.buckets += 1
        if self.buckets > MAX_BUCKETS:
            raise _too_many_buckets()
        if not spec.subs:
            return {}
        return self.level(spec.subs, scope.narrow(es_query))

    # -- metrics -----------------------------------------------------------------------------

    def _stats(self, spec: AggregationSpec, scope: _Scope) -> tuple[_Stats, _Field]:
        fld = _field_of(scope, spec)
        if fld.kind is SlotKind.KEYWORD:
            raise IllegalArgument(
                f"Field [{fld.name}] of type [keyword] is not supported for aggregation "
                f"[{spec.type}]"
            )
        missing = spec.params.get("missing")
        missing_value = None if missing is None else self._numeric(fld, missing)
        total = _Stats()
        for i, (target, query) in enumerate(scope.pairs()):
            slot = fld.slot(i)
            if slot is None:
                if missing_value is not None:
                    n = hit_count(target.searcher.search(query, 1, count=True))
                    total = total.merge(_Stats.of_constant(missing_value, n))
                continue
            agg: dict[str, Any] = {"field": slot}
            if missing_value is not None:
                agg["missing"] = missing_value
            total = total.merge(_Stats.of_native(_native(target, query, {"extended_stats": agg})))
        return total, fld

    def _numeric(self, fld: _Field, value: Any) -> float:
        if fld.is_date:
            return float(self._date(fld, value))
        if isinstance(value, bool):
            return float(value)
        try:
            return float(value)
        except (TypeError, ValueError):
            raise IllegalArgument(f'For input string: "{value}"') from None

    def _date(
        self, fld: _Field, value: Any, zone: str | None = None, *, fmt: str | None = None
    ) -> int:
        return resolve_date(
            value,
            now=_datetime(self.now_ms),
            formats=fmt or fld.format,
            time_zone=zone,
        )

    def single_stat(self, spec: AggregationSpec, scope: _Scope) -> dict[str, Any]:
        stats, fld = self._stats(spec, scope)
        value: float | None
        if spec.type == "sum":
            value = stats.sum
        elif spec.type == "avg":
            value = stats.avg
        elif spec.type == "min":
            value = stats.min
        else:
            value = stats.max
        out: dict[str, Any] = {"value": value}
        fmt = spec.params.get("format")
        if value is not None and (fld.is_date or fmt):
            out["value_as_string"] = self._value_text(fld, value, fmt)
        return out

    def _value_text(self, fld: _Field, value: float, fmt: str | None) -> str:
        if fld.is_date:
            return format_date(int(value), fmt or fld.format)
        return _decimal_format(value, fmt) if fmt else _java_double(value)

    def stats(self, spec: AggregationSpec, scope: _Scope) -> dict[str, Any]:
        stats, fld = self._stats(spec, scope)
        out: dict[str, Any] = {
            "count": stats.count,
            "min": stats.min,
            "max": stats.max,
            "avg": stats.avg,
            "sum": stats.sum,
        }
        if spec.type == "extended_stats":
            sigma = float(spec.params.get("sigma", 2.0))
            if sigma < 0:
                raise IllegalArgument(
                    f"[sigma] must be greater than or equal to 0. Found [{sigma}] in [{spec.name}]"
                )
            out.update(stats.extended(sigma))
        fmt = spec.params.get("format")
        if stats.count and (fld.is_date or fmt):
            for key in ("min", "max", "avg", "sum"):
                out[f"{key}_as_string"] = self._value_text(fld, out[key], fmt)
        return out

    def value_count(self, spec: AggregationSpec, scope: _Scope) -> dict[str, Any]:
        fld = _field_of(scope, spec)
        total = 0
        for i, (target, query) in enumerate(scope.pairs()):
            slot = fld.slot(i)
            if slot is not None:
                result = _native(target, query, {"value_count": {"field": slot}})
                total += int(result["value"] or 0)
        return {"value": total}

    def cardinality(self, spec: AggregationSpec, scope: _Scope) -> dict[str, Any]:
        fld = _field_of(scope, spec)
        threshold = int(spec.params.get("precision_threshold", 3000))
        threshold = max(1, min(threshold, 40_000))
        seen: set[Any] = set()
        estimates = []
        exact = True
        for i, (target, query) in enumerate(scope.pairs()):
            slot = fld.slot(i)
            if slot is None:
                continue
            terms = _native(target, query, {"terms": {"field": slot, "size": threshold + 1}})
            seen.update(b["key"] for b in terms["buckets"])
            if terms.get("sum_other_doc_count", 0) or len(terms["buckets"]) > threshold:
                exact = False
                native = _native(target, query, {"cardinality": {"field": slot}})
                estimates.append(round(native["value"] or 0))
        if exact:
            return {"value": len(seen)}
        return {"value": max([len(seen), *estimates])}

    def percentiles(self, spec: AggregationSpec, scope: _Scope) -> dict[str, Any]:
        fld = _field_of(scope, spec)
        if fld.kind is SlotKind.KEYWORD:
            raise IllegalArgument(
                f"Field [{fld.name}] of type [keyword] is not supported for aggregation "
                "[percentiles]"
            )
        percents = _percents(spec)
        values = self._percentile_values(spec, scope, fld, percents)
        keyed = spec.params.get("keyed", True)
        fmt = spec.params.get("format")
        with_text = fld.is_date or fmt is not None
        if keyed:
            out: dict[str, Any] = {}
            for p, v in zip(percents, values, strict=True):
                out[_java_double(p)] = v
                if with_text and v is not None:
                    out[f"{_java_double(p)}_as_string"] = self._value_text(fld, v, fmt)
            return {"values": out}
        rows = []
        for p, v in zip(percents, values, strict=True):
            row: dict[str, Any] = {"key": p, "value": v}
            if with_text and v is not None:
                row["value_as_string"] = self._value_text(fld, v, fmt)
            rows.append(row)
        return {"values": rows}

    def _percentile_values(
        self, spec: AggregationSpec, scope: _Scope, fld: _Field, percents: Sequence[float]
    ) -> list[float | None]:
        counts: dict[float, int] = defaultdict(int)
        exact = True
        mapped: list[tuple[AggregationTarget, tantivy.Query, str]] = []
        missing = spec.params.get("missing")
        for i, (target, query) in enumerate(scope.pairs()):
            slot = fld.slot(i)
            if slot is None:
                continue
            mapped.append((target, query, slot))
            terms: dict[str, Any] = {"field": slot, "size": EXACT_PERCENTILE_VALUES + 1}
            if missing is not None:
                terms["missing"] = self._numeric(fld, missing)
            result = _native(target, query, {"terms": terms})
            for b in result["buckets"]:
                counts[float(b["key"])] += int(b["doc_count"])
            exact = exact and not result.get("sum_other_doc_count", 0)
            exact = exact and len(counts) <= EXACT_PERCENTILE_VALUES
        natives: list[tuple[int, dict[str, Any]]] = []
        if not exact:
            for target, query, slot in mapped:
                agg = {"field": slot, "percents": list(percents), "keyed": False}
                native = _native(target, query, {"percentiles": agg})
                n = int(_native(target, query, {"value_count": {"field": slot}})["value"] or 0)
                natives.append((n, native))
        if exact:
            ordered = sorted(counts.items())
            total = sum(c for _, c in ordered)
            return [_exact_quantile(ordered, total, p / 100) for p in percents]
        out: list[float | None] = []
        for j in range(len(percents)):
            weight = sum(n for n, _ in natives)
            if not weight:
                out.append(None)
                continue
            out.append(sum(n * (r["values"][j]["value"] or 0.0) for n, r in natives) / weight)
        return out

    def top_hits(self, spec: AggregationSpec, scope: _Scope) -> dict[str, Any]:
        size = _int_param(spec, "size", 3)
        start = _int_param(spec, "from", 0)
        sort_field, descending, by_score = _top_hits_sort(spec)
        wanted = source_filter.parse_source(spec.params.get("_source", True))
        rows: list[tuple[Any, int, AggregationTarget, Any]] = []
        total = 0
        max_score: float | None = None
        for i, (target, query) in enumerate(scope.pairs()):
            slot = None
            if sort_field is not None:
                ref = target.field(sort_field)
                slot = ref.slot if ref is not None and not ref.kind.is_text else None
                if ref is not None and ref.kind.is_text:
                    _resolve(scope, sort_field, spec)  # raises the fielddata error
            if sort_field is not None and slot is None:
                result = target.searcher.search(query, start + size, count=True)
                hits: list[tuple[Any, tantivy.DocAddress]] = [(None, a) for _, a in result.hits]
            elif slot is not None:
                order = tantivy.Order.Desc if descending else tantivy.Order.Asc
                result = target.searcher.search(
                    query, start + size, count=True, order_by_field=slot, order=order
                )
                hits = list(result.hits)
            else:
                result = target.searcher.search(query, start + size, count=True)
                hits = list(result.hits)
                for score, _ in hits:
                    max_score = score if max_score is None else max(max_score, score)
            total += hit_count(result)
            rows.extend((key, i, target, addr) for key, addr in hits)
        rows = _sort_hits(rows, descending=descending or by_score)
        page = rows[start : start + size]
        ids_by_target: dict[int, list[str]] = defaultdict(list)
        resolved = []
        for key, i, target, addr in page:
            doc_id = target.searcher.doc(addr).to_dict()[ID_FIELD][0]
            ids_by_target[i].append(doc_id)
            resolved.append((key, i, target, doc_id))
        sources = {i: scope.targets[i].sources(ids) for i, ids in ids_by_target.items()}
        hits_out = []
        for key, i, target, doc_id in resolved:
            hit: dict[str, Any] = {
                "_index": target.index_name,
                "_id": doc_id,
                "_score": key if by_score else None,
            }
            source = sources[i].get(doc_id)
            if source is not None:
                filtered = source_filter.apply(wanted, source)
                if filtered is not None:
                    hit["_source"] = filtered
            if not by_score:
                hit["sort"] = [_sort_value(key)]
            hits_out.append(hit)
        return {
            "hits": {
                "total": {"value": total, "relation": "eq"},
                "max_score": max_score if by_score else None,
                "hits": hits_out,
            }
        }

    # -- single-bucket aggregations ------------------------------------------------------------

    def filter(self, spec: AggregationSpec, scope: _Scope) -> dict[str, Any]:
        query = spec.params["query"]
        narrowed = scope.narrow(query)
        self.buckets += 1
        return {"doc_count": narrowed.count(), **self.level(spec.subs, narrowed)}

    def missing(self, spec: AggregationSpec, scope: _Scope) -> dict[str, Any]:
        fld = _field_of(scope, spec)
        query = {"bool": {"must_not": [{"exists": {"field": fld.name}}]}}
        narrowed = scope.narrow(query)
        self.buckets += 1
        return {"doc_count": narrowed.count(), **self.level(spec.subs, narrowed)}

    def filters(self, spec: AggregationSpec, scope: _Scope) -> dict[str, Any]:
        raw = spec.params.get("filters")
        if isinstance(raw, Mapping):
            named: list[tuple[str | None, Mapping[str, Any]]] = sorted(
                ((str(k), v) for k, v in raw.items()), key=lambda kv: kv[0] or ""
            )
            keyed = bool(spec.params.get("keyed", True))
        elif isinstance(raw, list):
            named = [(None, q) for q in raw]
            keyed = False
        else:
            raise ParsingError(f"[filters] must be an object or an array in [{spec.name}]")
        other_key = spec.params.get("other_bucket_key")
        other = bool(spec.params.get("other_bucket", other_key is not None))
        buckets: list[tuple[str | None, dict[str, Any]]] = []
        for key, query in named:
            narrowed = scope.narrow(query)
            self.buckets += 1
            body = {"doc_count": narrowed.count(), **self.level(spec.subs, narrowed)}
            buckets.append((key, body))
        if other:
            rest = {"bool": {"must_not": [q for _, q in named]}}
            narrowed = scope.narrow(rest)
            self.buckets += 1
            body = {"doc_count": narrowed.count(), **self.level(spec.subs, narrowed)}
            buckets.append((str(other_key or "_other_"), body))
        if keyed and isinstance(raw, Mapping):
            return {"buckets": {k: b for k, b in buckets}}
        if isinstance(raw, Mapping):
            return {"buckets": [{"key": k, **b} for k, b in buckets]}
        return {"buckets": [b for _, b in buckets]}

    # -- terms ---------------------------------------------------------------------------------

    def terms(self, spec: AggregationSpec, scope: _Scope) -> dict[str, Any]:
        fld = _field_of(scope, spec)
        size = _int_param(spec, "size", 10)
        if size < 1:
            raise IllegalArgument(f"[size] must be greater than 0. Found [{size}] in [{spec.name}]")
        min_doc_count = _int_param(spec, "min_doc_count", 1)
        if min_doc_count == 0 and any(t.documents_hidden for t in scope.targets):
            min_doc_count = 1
        order = _terms_order(spec)
        shard_size = _int_param(
            spec, "shard_size", size if len(scope.targets) == 1 else int(size * 1.5 + 10)
        )
        shard_size = max(shard_size, size)
        by_sub = any(key not in ("_count", "_key") for key, _ in order)
        include, exclude = _include_exclude(spec)
        missing = spec.params.get("missing")
        empty = {"doc_count_error_upper_bound": 0, "sum_other_doc_count": 0, "buckets": []}
        if not fld.mapped:
            return empty
        counts: dict[Any, int] = defaultdict(int)
        total = 0
        error = 0
        native_order = _native_order(order)
        exact_order = by_sub or order[0] != ("_count", "desc")
        request_size = (
            _ALL_TERMS if exact_order or _needs_all(include, exclude, fld) else shard_size
        )
        for i, (target, query) in enumerate(scope.pairs()):
            slot = fld.slot(i)
            if slot is None:
                continue
            agg: dict[str, Any] = {
                "field": slot,
                "size": request_size,
                "min_doc_count": 0 if min_doc_count == 0 else 1,
                "order": native_order,
            }
            if missing is not None:
                agg["missing"] = self._term_value(fld, missing)
            if fld.kind is SlotKind.KEYWORD:
                if include is not None:
                    agg["include"] = include
                if exclude is not None:
                    agg["exclude"] = exclude
            result = _native(target, query, {"terms": agg})
            kept = [b for b in result["buckets"] if _accept(fld, b["key"], include, exclude)]
            for b in kept:
                counts[b["key"]] += int(b["doc_count"])
            total += sum(int(b["doc_count"]) for b in kept) + int(
                result.get("sum_other_doc_count", 0)
            )
            if result.get("sum_other_doc_count", 0) and kept:
                error += int(kept[-1]["doc_count"])
        candidates = [(k, c) for k, c in counts.items() if c >= min_doc_count]
        subs_by_key: dict[Any, dict[str, Any]] = {}
        if by_sub:
            for key, _ in candidates:
                subs_by_key[key] = self.level(
                    spec.subs, scope.narrow(self._term_query(fld, key, missing))
                )
        ranked = sorted(candidates, key=_terms_sort_key(order, subs_by_key, spec))
        chosen = ranked[:size]
        buckets = []
        for key, count in chosen:
            bucket: dict[str, Any] = {"key": _term_key(fld, key)}
            text = _term_text(fld, key, spec.params.get("format"))
            if text is not None:
                bucket["key_as_string"] = text
            bucket["doc_count"] = count
            if spec.params.get("show_term_doc_count_error"):
                bucket["doc_count_error_upper_bound"] = 0
            if by_sub:
                self.buckets += 1
                bucket.update(subs_by_key[key])
            else:
                bucket.update(self.bucket(spec, scope, self._term_query(fld, key, missing)))
            buckets.append(bucket)
        # Elasticsearch: 0 for one shard; otherwise the counts a truncated index may have hidden.
        error_bound = 0 if len(scope.targets) == 1 else error
        return {
            "doc_count_error_upper_bound": error_bound,
            "sum_other_doc_count": max(0, total - sum(c for _, c in chosen)),
            "buckets": buckets,
        }

    def _term_value(self, fld: _Field, value: Any) -> Any:
        if fld.kind is SlotKind.KEYWORD:
            return str(value)
        if fld.kind is SlotKind.BOOLEAN:
            return 1 if value in (True, "true") else 0
        if fld.kind is SlotKind.DATE:
            return self._date(fld, value)
        if fld.kind is SlotKind.LONG:
            return int(value)
        return float(value)

    def _term_query(self, fld: _Field, key: Any, missing: Any) -> dict[str, Any]:
        if fld.kind is SlotKind.DATE:
            query: dict[str, Any] = {
                "range": {fld.name: {"gte": key, "lte": key, "format": "epoch_millis"}}
            }
        elif fld.kind is SlotKind.BOOLEAN:
            query = {"term": {fld.name: {"value": bool(key)}}}
        else:
            query = {"term": {fld.name: {"value": key}}}
        if missing is not None and self._term_value(fld, missing) == key:
            absent = {"bool": {"must_not": [{"exists": {"field": fld.name}}]}}
            return {"bool": {"should": [query, absent], "minimum_should_match": 1}}
        return query

    # -- histograms ------------------------------------------------------------------------------

    def histogram(self, spec: AggregationSpec, scope: _Scope) -> dict[str, Any]:
        fld = _field_of(scope, spec)
        if fld.kind is SlotKind.KEYWORD:
            raise IllegalArgument(
                f"Field [{fld.name}] of type [keyword] is not supported for aggregation [histogram]"
            )
        interval = spec.params.get("interval")
        if not isinstance(interval, int | float) or isinstance(interval, bool) or interval <= 0:
            raise IllegalArgument(f"[interval] must be >0 for histogram aggregation [{spec.name}]")
        offset = float(spec.params.get("offset", 0))
        min_doc_count = _int_param(spec, "min_doc_count", 0)
        counts = self._uniform_counts(scope, fld, float(interval), offset, spec)
        lo, hi = _bounds_pair(spec, "extended_bounds", float)
        hard_lo, hard_hi = _bounds_pair(spec, "hard_bounds", float)
        keys = sorted(counts)
        if min_doc_count == 0:
            keys = _fill(keys, counts, float(interval), offset, lo, hi, hard_lo, hard_hi)
        keys = [k for k in keys if counts.get(k, 0) >= max(min_doc_count, 0)]
        keys = _order_keys(spec, keys, counts)
        keyed = bool(spec.params.get("keyed", False))
        fmt = spec.params.get("format")
        buckets = []
        for key in keys:
            bucket: dict[str, Any] = {}
            if fmt:
                bucket["key_as_string"] = _decimal_format(key, fmt)
            bucket["key"] = key
            bucket["doc_count"] = counts.get(key, 0)
            upper = key + float(interval)
            query = {"range": {fld.name: {"gte": key, "lt": upper}}}
            bucket.update(self.bucket(spec, scope, query))
            buckets.append(bucket)
        return _keyed(buckets, keyed, lambda b: b.get("key_as_string") or _java_double(b["key"]))

    def _uniform_counts(
        self, scope: _Scope, fld: _Field, interval: float, offset: float, spec: AggregationSpec
    ) -> dict[float, int]:
        counts: dict[float, int] = defaultdict(int)
        hard_lo, hard_hi = _bounds_pair(spec, "hard_bounds", float)
        missing = spec.params.get("missing")
        for i, (target, query) in enumerate(scope.pairs()):
            slot = fld.slot(i)
            if slot is None:
                continue
            agg: dict[str, Any] = {
                "field": slot,
                "interval": interval,
                "offset": offset % interval,
                "min_doc_count": 1,
            }
            if missing is not None:
                agg["missing"] = self._numeric(fld, missing)
            if hard_lo is not None or hard_hi is not None:
                agg["hard_bounds"] = {
                    "min": hard_lo if hard_lo is not None else -1e300,
                    "max": hard_hi if hard_hi is not None else 1e300,
                }
            for b in _native(target, query, {"histogram": agg})["buckets"]:
                if b["doc_count"]:
                    counts[float(b["key"])] += int(b["doc_count"])
        return counts

    def date_histogram(self, spec: AggregationSpec, scope: _Scope) -> dict[str, Any]:
        fld = _field_of(scope, spec)
        if fld.mapped and not fld.is_date and not fld.kind.is_numeric:  # type: ignore[union-attr]
            raise IllegalArgument(
                f"Field [{fld.name}] of type [keyword] is not supported for aggregation "
                "[date_histogram]"
            )
        rounding = _rounding(spec)
        zone_name = spec.params.get("time_zone")
        zone = rounding.zone
        min_doc_count = _int_param(spec, "min_doc_count", 0)
        counts = self._date_counts(scope, fld, rounding)
        lo, hi = self._date_bounds(spec, fld, "extended_bounds", zone_name)
        hard_lo, hard_hi = self._date_bounds(spec, fld, "hard_bounds", zone_name)
        if hard_lo is not None or hard_hi is not None:
            counts = {
                k: c
                for k, c in counts.items()
                if (hard_lo is None or k >= rounding.floor(hard_lo))
                and (hard_hi is None or k < hard_hi)
            }
        keys = sorted(counts)
        if min_doc_count == 0 and (keys or lo is not None):
            first = min([*keys, *([rounding.floor(lo)] if lo is not None else [])])
            last = max([*keys, *([rounding.floor(hi)] if hi is not None else [])])
            if hard_lo is not None:
                first = max(first, rounding.floor(hard_lo))
            if hard_hi is not None:
                last = min(last, rounding.floor(hard_hi))
            keys = []
            at = first
            while at <= last:
                keys.append(at)
                self._check_count(len(keys))
                at = rounding.next_start(at)
        keys = [k for k in keys if counts.get(k, 0) >= min_doc_count]
        keys = _order_keys(spec, keys, counts)
        fmt = spec.params.get("format") or fld.format
        keyed = bool(spec.params.get("keyed", False))
        buckets = []
        for key in keys:
            end = rounding.next_start(key)
            bucket: dict[str, Any] = {
                "key_as_string": format_date(key, fmt, zone),
                "key": key,
                "doc_count": counts.get(key, 0),
            }
            query = {"range": {fld.name: {"gte": key, "lt": end, "format": "epoch_millis"}}}
            bucket.update(self.bucket(spec, scope, query))
            buckets.append(bucket)
        return _keyed(buckets, keyed, lambda b: b["key_as_string"])

    def _check_count(self, n: int) -> None:
        if self.buckets + n > MAX_BUCKETS:
            raise _too_many_buckets()

    def _date_bounds(
        self, spec: AggregationSpec, fld: _Field, name: str, zone: str | None
    ) -> tuple[int | None, int | None]:
        raw = spec.params.get(name)
        if raw is None:
            return None, None
        if not isinstance(raw, Mapping):
            raise ParsingError(f"[{name}] must be an object in [{spec.name}]")
        fmt = spec.params.get("format")
        out = []
        for side in ("min", "max"):
            value = raw.get(side)
            out.append(None if value is None else self._date(fld, value, zone, fmt=fmt))
        return out[0], out[1]

    def _date_counts(self, scope: _Scope, fld: _Field, rounding: DateRounding) -> dict[int, int]:
        counts: dict[int, int] = defaultdict(int)
        for i, (target, query) in enumerate(scope.pairs()):
            slot = fld.slot(i)
            if slot is None:
                continue
            if rounding.is_uniform:
                width = rounding.uniform_width
                agg = {
                    "field": slot,
                    "interval": width,
                    "offset": rounding.uniform_offset,
                    "min_doc_count": 1,
                }
                for b in _native(target, query, {"histogram": agg})["buckets"]:
                    if b["doc_count"]:
                        counts[int(b["key"])] += int(b["doc_count"])
                continue
            stats = _native(target, query, {"stats": {"field": slot}})
            if not stats["count"]:
                continue
            starts = []
            at = rounding.floor(int(stats["min"]))
            while at <= int(stats["max"]):
                starts.append(at)
                self._check_count(len(starts))
                at = rounding.next_start(at)
            ranges = [{"key": str(s), "from": s, "to": rounding.next_start(s)} for s in starts]
            result = _native(target, query, {"range": {"field": slot, "ranges": ranges}})
            for b in result["buckets"]:
                if b.get("from") is not None and b.get("to") is not None and b["doc_count"]:
                    counts[int(b["key"])] += int(b["doc_count"])
        return counts

    # -- ranges ----------------------------------------------------------------------------------

    def range(self, spec: AggregationSpec, scope: _Scope) -> dict[str, Any]:
        fld = _field_of(scope, spec)
        is_date = spec.type == "date_range" or fld.is_date
        if fld.kind is SlotKind.KEYWORD:
            raise IllegalArgument(
                f"Field [{fld.name}] of type [keyword] is not supported for aggregation "
                f"[{spec.type}]"
            )
        raw = spec.params.get("ranges")
        if not isinstance(raw, list) or not raw:
            raise IllegalArgument(f"No [ranges] specified for the [{spec.name}] aggregation")
        zone_name = spec.params.get("time_zone")
        zone = parse_time_zone(zone_name) if zone_name else UTC
        fmt = spec.params.get("format") or fld.format
        rows = []
        for item in raw:
            if not isinstance(item, Mapping):
                raise ParsingError(f"[ranges] must hold objects in [{spec.name}]")
            lo, hi = item.get("from"), item.get("to")
            if is_date:
                lo = (
                    None
                    if lo is None
                    else self._date(fld, lo, zone_name, fmt=spec.params.get("format"))
                )
                hi = (
                    None
                    if hi is None
                    else self._date(fld, hi, zone_name, fmt=spec.params.get("format"))
                )
            else:
                lo = None if lo is None else float(lo)
                hi = None if hi is None else float(hi)
            rows.append((lo, hi, item.get("key")))
        rows.sort(
            key=lambda r: (-math.inf if r[0] is None else r[0], math.inf if r[1] is None else r[1])
        )
        counts = [0] * len(rows)
        native_ranges = []
        for j, (lo, hi, _) in enumerate(rows):
            entry: dict[str, Any] = {"key": f"r{j}"}
            if lo is not None:
                entry["from"] = lo
            if hi is not None:
                entry["to"] = hi
            native_ranges.append(entry)
        for i, (target, query) in enumerate(scope.pairs()):
            slot = fld.slot(i)
            if slot is None:
                continue
            agg: dict[str, Any] = {"field": slot, "ranges": native_ranges}
            result = _native(target, query, {"range": agg})
            by_key = {b["key"]: int(b["doc_count"]) for b in result["buckets"]}
            for j in range(len(rows)):
                counts[j] += by_key.get(f"r{j}", 0)
        buckets = []
        for j, (lo, hi, key) in enumerate(rows):
            if is_date:
                lo_text = None if lo is None else format_date(int(lo), fmt, zone)
                hi_text = None if hi is None else format_date(int(hi), fmt, zone)
            else:
                lo_text = None if lo is None else _java_double(lo)
                hi_text = None if hi is None else _java_double(hi)
            bucket: dict[str, Any] = {"key": key or f"{lo_text or '*'}-{hi_text or '*'}"}
            if lo is not None:
                bucket["from"] = float(lo)
                if is_date:
                    bucket["from_as_string"] = lo_text
            if hi is not None:
                bucket["to"] = float(hi)
                if is_date:
                    bucket["to_as_string"] = hi_text
            bucket["doc_count"] = counts[j]
            bounds: dict[str, Any] = {}
            if lo is not None:
                bounds["gte"] = lo
            if hi is not None:
                bounds["lt"] = hi
            if is_date:
                bounds["format"] = "epoch_millis"
            narrow = {"range": {fld.name: bounds}} if bounds else {"exists": {"field": fld.name}}
            bucket.update(self.bucket(spec, scope, narrow))
            buckets.append(bucket)
        keyed = bool(spec.params.get("keyed", False))
        if keyed:
            return {"buckets": {b.pop("key"): b for b in buckets}}
        return {"buckets": buckets}

    # -- composite -------------------------------------------------------------------------------

    def composite(self, spec: AggregationSpec, scope: _Scope) -> dict[str, Any]:
        sources = _composite_sources(spec)
        size = _int_param(spec, "size", 10)
        after = spec.params.get("after")
        if after is not None and (
            not isinstance(after, Mapping) or set(after) != {s.name for s in sources}
        ):
            raise IllegalArgument(
                "[after] has "
                + str(len(after) if isinstance(after, Mapping) else 0)
                + f" value(s) but [sources] has {len(sources)}"
            )
        fields = [_resolve(scope, s.field, spec) for s in sources]
        counts: dict[tuple[Any, ...], int] = defaultdict(int)
        for i, (target, query) in enumerate(scope.pairs()):
            if any(f.slot(i) is None for f in fields):
                continue
            for key, count in self._composite_keys(target, query, sources, fields, i):
                counts[key] += count
        ordered = sorted(counts, key=lambda k: _composite_sort_key(k, sources))
        if after is not None:
            after_key = tuple(
                self._after_value(s, f, after[s.name]) for s, f in zip(sources, fields, strict=True)
            )
            pivot = _composite_sort_key(after_key, sources)
            ordered = [k for k in ordered if _composite_sort_key(k, sources) > pivot]
        page = ordered[:size]
        buckets = []
        for key in page:
            shown = {
                s.name: self._composite_shown(s, f, v)
                for s, f, v in zip(sources, fields, key, strict=True)
            }
            bucket: dict[str, Any] = {"key": shown, "doc_count": counts[key]}
            clauses = [
                self._composite_filter(s, f, v)
                for s, f, v in zip(sources, fields, key, strict=True)
            ]
            bucket.update(self.bucket(spec, scope, {"bool": {"filter": clauses}}))
            buckets.append(bucket)
        out: dict[str, Any] = {}
        if buckets:
            out["after_key"] = dict(buckets[-1]["key"])
        out["buckets"] = buckets
        return out

    def _composite_keys(
        self,
        target: AggregationTarget,
        query: tantivy.Query,
        sources: Sequence[_CompositeSource],
        fields: Sequence[_Field],
        index: int,
    ) -> Iterable[tuple[tuple[Any, ...], int]]:
        """(key tuple, count) of every combination, from nested tantivy aggregations."""
        request: dict[str, Any] | None = None
        for depth in reversed(range(len(sources))):
            node = self._composite_native(sources[depth], fields[depth], target, query, index)
            if request is not None:
                node["aggs"] = {"a": request}
            request = node
        assert request is not None
        result = _native(target, query, request)
        yield from _flatten(result, len(sources))

    def _composite_native(
        self,
        source: _CompositeSource,
        fld: _Field,
        target: AggregationTarget,
        query: tantivy.Query,
        index: int,
    ) -> dict[str, Any]:
        slot = fld.slot(index)
        if source.kind == "terms":
            return {"terms": {"field": slot, "size": _ALL_TERMS, "min_doc_count": 1}}
        if source.kind == "histogram":
            return {"histogram": {"field": slot, "interval": source.interval, "min_doc_count": 1}}
        rounding = source.rounding
        assert rounding is not None
        if rounding.is_uniform:
            return {
                "histogram": {
                    "field": slot,
                    "interval": rounding.uniform_width,
                    "offset": rounding.uniform_offset,
                    "min_doc_count": 1,
                }
            }
        stats = _native(target, query, {"stats": {"field": slot}})
        ranges = []
        if stats["count"]:
            at = rounding.floor(int(stats["min"]))
            while at <= int(stats["max"]):
                ranges.append({"key": str(at), "from": at, "to": rounding.next_start(at)})
                self._check_count(len(ranges))
                at = rounding.next_start(at)
        if not ranges:
            ranges = [{"key": "none", "to": -(2**62)}]
        return {"range": {"field": slot, "ranges": ranges}}

    def _after_value(self, source: _CompositeSource, fld: _Field, value: Any) -> Any:
        if source.kind == "terms":
            return self._term_value(fld, value) if value is not None else None
        if source.kind == "histogram":
            return float(value)
        if isinstance(value, str) and source.format:
            return self._date(fld, value, fmt=source.format)
        return int(value)

    def _composite_shown(self, source: _CompositeSource, fld: _Field, value: Any) -> Any:
        if source.kind == "terms":
            if fld.kind is SlotKind.BOOLEAN:
                return bool(value)
            if fld.kind is SlotKind.DATE:
                return format_date(value, source.format) if source.format else value
            return value
        if source.kind == "histogram":
            return float(value)
        if source.format:
            return format_date(int(value), source.format, source.rounding.zone)  # type: ignore[union-attr]
        return int(value)

    def _composite_filter(
        self, source: _CompositeSource, fld: _Field, value: Any
    ) -> dict[str, Any]:
        if source.kind == "terms":
            return self._term_query(fld, value, None)
        if source.kind == "histogram":
            return {"range": {fld.name: {"gte": value, "lt": value + source.interval}}}
        rounding = source.rounding
        assert rounding is not None
        end = rounding.next_start(int(value))
        return {"range": {fld.name: {"gte": int(value), "lt": end, "format": "epoch_millis"}}}


# -- merged statistics -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Stats:
    count: int = 0
    total: float = 0.0
    low: float | None = None
    high: float | None = None
    squares: float = 0.0

    @classmethod
    def of_native(cls, result: Mapping[str, Any]) -> _Stats:
        count = int(result.get("count") or 0)
        if not count:
            return cls()
        return cls(
            count,
            float(result.get("sum") or 0.0),
            result.get("min"),
            result.get("max"),
            float(result.get("sum_of_squares") or 0.0),
        )

    @classmethod
    def of_constant(cls, value: float, n: int) -> _Stats:
        if not n:
            return cls()
        return cls(n, value * n, value, value, value * value * n)

    def merge(self, other: _Stats) -> _Stats:
        if not other.count:
            return self
        if not self.count:
            return other
        return _Stats(
            self.count + other.count,
            self.total + other.total,
            min(self.low, other.low),  # type: ignore[type-var]
            max(self.high, other.high),  # type: ignore[type-var]
            self.squares + other.squares,
        )

    @property
    def sum(self) -> float:
        return float(self.total)

    @property
    def min(self) -> float | None:
        return None if not self.count else float(self.low)  # type: ignore[arg-type]

    @property
    def max(self) -> float | None:
        return None if not self.count else float(self.high)  # type: ignore[arg-type]

    @property
    def avg(self) -> float | None:
        return None if not self.count else self.total / self.count

    def extended(self, sigma: float) -> dict[str, Any]:
        if not self.count:
            nothing = None
            return {
                "sum_of_squares": nothing,
                "variance": nothing,
                "variance_population": nothing,
                "variance_sampling": nothing,
                "std_deviation": nothing,
                "std_deviation_population": nothing,
                "std_deviation_sampling": nothing,
                "std_deviation_bounds": {
                    "upper": nothing,
                    "lower": nothing,
                    "upper_population": nothing,
                    "lower_population": nothing,
                    "upper_sampling": nothing,
                    "lower_sampling": nothing,
                },
            }
        n = self.count
        mean = self.total / n
        variance = max(0.0, (self.squares - self.total * self.total / n) / n)
        sampling = (
            max(0.0, (self.squares - self.total * self.total / n) / (n - 1)) if n > 1 else math.nan
        )
        std = math.sqrt(variance)
        std_sampling = math.sqrt(sampling)
        return {
            "sum_of_squares": self.squares,
            "variance": variance,
            "variance_population": variance,
            "variance_sampling": sampling if n > 1 else "NaN",
            "std_deviation": std,
            "std_deviation_population": std,
            "std_deviation_sampling": std_sampling if n > 1 else "NaN",
            "std_deviation_bounds": {
                "upper": mean + sigma * std,
                "lower": mean - sigma * std,
                "upper_population": mean + sigma * std,
                "lower_population": mean - sigma * std,
                "upper_sampling": mean + sigma * std_sampling if n > 1 else "NaN",
                "lower_sampling": mean - sigma * std_sampling if n > 1 else "NaN",
            },
        }


def _exact_quantile(ordered: Sequence[tuple[float, int]], total: int, q: float) -> float | None:
    """Elasticsearch's exact quantile of sorted data: linear interpolation at q*(n-1)."""
    if not total:
        return None
    index = q * (total - 1)
    low = max(0, min(total - 1, math.floor(index)))
    weight = index - low if 0 < index < total - 1 else 0.0
    high = min(total - 1, low + 1) if weight else low
    return _nth(ordered, low) + weight * (_nth(ordered, high) - _nth(ordered, low))


def _nth(ordered: Sequence[tuple[float, int]], n: int) -> float:
    seen = 0
    for value, count in ordered:
        seen += count
        if n < seen:
            return value
    return ordered[-1][0]


def _percents(spec: AggregationSpec) -> list[float]:
    raw = spec.params.get("percents", DEFAULT_PERCENTS)
    if not isinstance(raw, list | tuple) or not raw:
        raise IllegalArgument(f"[percents] must not be empty: [{spec.name}]")
    out = []
    for p in raw:
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p <= 100:
            raise IllegalArgument(f"percent must be in [0,100], got [{p}]: [{spec.name}]")
        out.append(float(p))
    return sorted(set(out))


# -- terms helpers ---------------------------------------------------------------------------


def _terms_order(spec: AggregationSpec) -> list[tuple[str, str]]:
    raw = spec.params.get("order", {"_count": "desc"})
    items = raw if isinstance(raw, list) else [raw]
    order: list[tuple[str, str]] = []
    for item in items:
        if not isinstance(item, Mapping) or len(item) != 1:
            raise ParsingError(f"[order] must be an object with one key in [{spec.name}]")
        ((key, direction),) = item.items()
        if direction not in ("asc", "desc"):
            raise ParsingError(
                f"Unknown terms order direction [{direction}] in terms [{spec.name}]"
            )
        if key == "_term":
            key = "_key"
        if key not in ("_count", "_key"):
            _check_order_path(spec, key)
        order.append((str(key), str(direction)))
    if not any(k == "_key" for k, _ in order):
        order.append(("_key", "asc"))
    return order


def _check_order_path(spec: AggregationSpec, path: str) -> None:
    name, _, metric = path.partition(".")
    if ">" in name:
        raise IllegalArgument(
            f"Invalid aggregation order path [{path}]: paths through sub-aggregations (>) are "
            f"not supported by this node [{spec.name}]"
        )
    sub = next((s for s in spec.subs if s.name == name), None)
    if sub is None:
        raise IllegalArgument(
            f"Invalid aggregator order path [{path}]. The provided aggregation [{name}] "
            f"either does not exist, or is a pipeline aggregation and cannot be used to sort "
            "the buckets."
        )
    single = ("avg", "sum", "min", "max", "value_count", "cardinality")
    multi = ("stats", "extended_stats", "percentiles")
    if sub.type in single and metric:
        raise IllegalArgument(f"Invalid aggregation order path [{path}]. [{name}] is single-valued")
    if sub.type in multi and not metric:
        raise IllegalArgument(
            f"Invalid aggregation order path [{path}]. When ordering on a multi-value metrics "
            "aggregation a metric name must be specified."
        )
    if sub.type not in single + multi:
        raise IllegalArgument(
            f"Invalid aggregation order path [{path}]. Buckets can only be sorted on a "
            "sub-aggregator path that is built out of zero or more single-bucket aggregations "
            "within the path and a final single-bucket or a metrics aggregation at the path end."
        )


def _native_order(order: Sequence[tuple[str, str]]) -> dict[str, str]:
    key, direction = order[0]
    if key in ("_count", "_key"):
        return {key: direction}
    return {"_count": "desc"}


def _terms_sort_key(
    order: Sequence[tuple[str, str]],
    subs: Mapping[Any, Mapping[str, Any]],
    spec: AggregationSpec,
) -> Callable[[tuple[Any, int]], tuple[Any, ...]]:
    def key(item: tuple[Any, int]) -> tuple[Any, ...]:
        term, count = item
        parts: list[Any] = []
        for name, direction in order:
            if name == "_count":
                value: Any = count
            elif name == "_key":
                value = term
            else:
                value = _metric_value(subs[term], name)
            parts.append(_directed(value, direction == "desc"))
        return tuple(parts)

    return key


def _metric_value(results: Mapping[str, Any], path: str) -> float | None:
    name, _, metric = path.partition(".")
    result = results.get(name, {})
    if metric:
        if "values" in result:
            values = result["values"]
            if isinstance(values, Mapping):
                return values.get(metric) or values.get(_java_double(float(metric)))
            return None
        value = result.get(metric)
        return value if isinstance(value, int | float) else None
    return result.get("value")


class _Directed:
    """A sort component whose order can be reversed; None (no value) always sorts last."""

    __slots__ = ("desc", "value")

    def __init__(self, value: Any, desc: bool) -> None:
        self.value, self.desc = value, desc

    def __lt__(self, other: _Directed) -> bool:
        if self.value is None or other.value is None:
            return self.value is not None and other.value is None
        if self.desc:
            return bool(other.value < self.value)
        return bool(self.value < other.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Directed) and self.value == other.value

    def __hash__(self) -> int:
        return hash(self.value)


def _directed(value: Any, desc: bool) -> _Directed:
    return _Directed(value, desc)


def _include_exclude(spec: AggregationSpec) -> tuple[Any, Any]:
    include, exclude = spec.params.get("include"), spec.params.get("exclude")
    for name, value in (("include", include), ("exclude", exclude)):
        if value is None:
            continue
        if isinstance(value, Mapping):
            raise IllegalArgument(
                f"[{name}] partitions are not supported by this node [{spec.name}]"
            )
        if not isinstance(value, str | list):
            raise ParsingError(f"[{name}] must be a string or an array in [{spec.name}]")
    return include, exclude


def _needs_all(include: Any, exclude: Any, fld: _Field) -> bool:
    return fld.kind is not SlotKind.KEYWORD and (include is not None or exclude is not None)


def _accept(fld: _Field, key: Any, include: Any, exclude: Any) -> bool:
    text = str(key)
    if fld.kind is SlotKind.KEYWORD:
        if isinstance(include, str) and not re.fullmatch(include, text):
            return False
        if isinstance(exclude, str) and re.fullmatch(exclude, text):
            return False
    if isinstance(include, list) and not any(_same_term(fld, key, v) for v in include):
        return False
    return not (isinstance(exclude, list) and any(_same_term(fld, key, v) for v in exclude))


def _same_term(fld: _Field, key: Any, value: Any) -> bool:
    if fld.kind is SlotKind.KEYWORD:
        return str(value) == key
    try:
        return float(value) == float(key)
    except (TypeError, ValueError):
        return False


def _term_key(fld: _Field, key: Any) -> Any:
    if fld.kind in (SlotKind.LONG, SlotKind.DATE, SlotKind.BOOLEAN):
        return int(key)
    if fld.kind is SlotKind.DOUBLE:
        return float(key)
    return key


def _term_text(fld: _Field, key: Any, fmt: str | None) -> str | None:
    if fld.kind is SlotKind.BOOLEAN:
        return "true" if key else "false"
    if fld.kind is SlotKind.DATE:
        return format_date(int(key), fmt or fld.format)
    if fmt and fld.kind in (SlotKind.LONG, SlotKind.DOUBLE):
        return _decimal_format(float(key), fmt)
    return None


# -- histogram helpers -----------------------------------------------------------------------


def _bounds_pair(
    spec: AggregationSpec, name: str, convert: Callable[[Any], float]
) -> tuple[float | None, float | None]:
    raw = spec.params.get(name)
    if raw is None:
        return None, None
    if not isinstance(raw, Mapping):
        raise ParsingError(f"[{name}] must be an object in [{spec.name}]")
    lo, hi = raw.get("min"), raw.get("max")
    return (None if lo is None else convert(lo)), (None if hi is None else convert(hi))


def _fill(
    keys: list[float],
    counts: Mapping[float, int],
    interval: float,
    offset: float,
    lo: float | None,
    hi: float | None,
    hard_lo: float | None,
    hard_hi: float | None,
) -> list[float]:
    def floor(x: float) -> float:
        return math.floor((x - offset) / interval) * interval + offset

    edges = list(keys)
    if lo is not None:
        edges.append(floor(lo))
    if hi is not None:
        edges.append(floor(hi))
    if not edges:
        return []
    first, last = min(edges), max(edges)
    if hard_lo is not None:
        first = max(first, floor(hard_lo))
    if hard_hi is not None:
        last = min(last, floor(hard_hi))
    steps = round((last - first) / interval)
    if steps > MAX_BUCKETS:
        raise _too_many_buckets()
    out = [first + j * interval for j in range(steps + 1)]
    present = set(out)
    return sorted(present | {k for k in keys if first <= k <= last})


def _order_keys(spec: AggregationSpec, keys: list[Any], counts: Mapping[Any, int]) -> list[Any]:
    raw = spec.params.get("order")
    if raw is None:
        return keys
    items = raw if isinstance(raw, list) else [raw]
    parts = []
    for item in items:
        ((key, direction),) = dict(item).items()
        if key not in ("_key", "_count"):
            raise IllegalArgument(
                f"histogram order by sub-aggregation [{key}] is not supported by this node"
            )
        parts.append((key, direction == "desc"))

    def sort_key(k: Any) -> tuple[Any, ...]:
        parts_of_k = [
            _directed(k if name == "_key" else counts.get(k, 0), desc) for name, desc in parts
        ]
        return (*parts_of_k, k)

    return sorted(keys, key=sort_key)


def _keyed(
    buckets: list[dict[str, Any]], keyed: bool, name: Callable[[dict[str, Any]], str]
) -> dict[str, Any]:
    if not keyed:
        return {"buckets": buckets}
    return {"buckets": {name(b): b for b in buckets}}


def _rounding(spec: AggregationSpec) -> DateRounding:
    fixed = spec.params.get("fixed_interval")
    calendar = spec.params.get("calendar_interval")
    if fixed is not None and calendar is not None:
        raise IllegalArgument(
            "Cannot use [fixed_interval] with [calendar_interval] configuration option."
        )
    if fixed is None and calendar is None:
        raise IllegalArgument("Invalid interval specified, must be non-null and non-empty")
    zone = parse_time_zone(spec.params.get("time_zone"))
    offset = parse_offset(spec.params.get("offset", 0))
    if fixed is not None:
        return DateRounding(zone, fixed_ms=parse_fixed_interval(fixed), offset_ms=offset)
    return DateRounding(zone, calendar=parse_calendar_interval(calendar), offset_ms=offset)


# -- composite helpers -----------------------------------------------------------------------


@dataclass(frozen=True)
class _CompositeSource:
    name: str
    kind: str
    field: str
    order: str = "asc"
    interval: float = 0.0
    rounding: DateRounding | None = None
    format: str | None = None


def _composite_sources(spec: AggregationSpec) -> list[_CompositeSource]:
    raw = spec.params.get("sources")
    if not isinstance(raw, list) or not raw:
        raise IllegalArgument(f"Composite [sources] cannot be null or empty [{spec.name}]")
    out = []
    for item in raw:
        if not isinstance(item, Mapping) or len(item) != 1:
            raise ParsingError(f"[sources] must hold one-key objects in [{spec.name}]")
        ((name, body),) = item.items()
        if not isinstance(body, Mapping) or len(body) != 1:
            raise ParsingError(f"composite source [{name}] must hold one source type")
        ((kind, params),) = body.items()
        if kind not in ("terms", "histogram", "date_histogram"):
            raise IllegalArgument(
                f"composite source [{name}] of type [{kind}] is not supported by this node"
            )
        params = dict(params)
        if "script" in params:
            raise IllegalArgument(
                f"scripts are not supported by this node; composite source [{name}]"
            )
        if params.get("missing_bucket"):
            raise IllegalArgument(
                f"[missing_bucket] is not supported by this node; composite source [{name}]"
            )
        if "field" not in params:
            raise IllegalArgument(
                "Required one of fields [field, script], but none were specified."
            )
        order = params.get("order", "asc")
        if order not in ("asc", "desc"):
            raise ParsingError(f"Unknown order [{order}] in composite source [{name}]")
        source = _CompositeSource(str(name), kind, str(params["field"]), order)
        if kind == "histogram":
            interval = params.get("interval")
            if not isinstance(interval, int | float) or interval <= 0:
                raise IllegalArgument(f"[interval] must be >0 for histogram source [{name}]")
            source = _CompositeSource(str(name), kind, source.field, order, float(interval))
        elif kind == "date_histogram":
            rounding = _rounding(AggregationSpec(str(name), kind, params))
            source = _CompositeSource(
                str(name), kind, source.field, order, rounding=rounding, format=params.get("format")
            )
        out.append(source)
    return out


def _composite_sort_key(
    key: tuple[Any, ...], sources: Sequence[_CompositeSource]
) -> tuple[Any, ...]:
    return tuple(_directed(v, s.order == "desc") for v, s in zip(key, sources, strict=True))


def _flatten(result: Mapping[str, Any], depth: int) -> Iterable[tuple[tuple[Any, ...], int]]:
    buckets = result.get("buckets", [])
    if isinstance(buckets, Mapping):
        buckets = list(buckets.values())
    for b in buckets:
        if not b.get("doc_count"):
            continue
        key = b["key"]
        if "from" in b or "to" in b:  # a calendar range bucket: its start
            key = int(b["from"])
        if depth == 1:
            yield (key,), int(b["doc_count"])
            continue
        for rest, count in _flatten(b.get("a", {}), depth - 1):
            yield (key, *rest), count


# -- top hits helpers ------------------------------------------------------------------------


def _top_hits_sort(spec: AggregationSpec) -> tuple[str | None, bool, bool]:
    """(sort field or None, descending, by score)."""
    raw = spec.params.get("sort")
    if raw is None:
        return None, True, True
    items = raw if isinstance(raw, list) else [raw]
    if len(items) > 1:
        raise IllegalArgument(
            f"top_hits [{spec.name}] sorts on one key only on this node, got {len(items)}"
        )
    item = items[0]
    if isinstance(item, str):
        name, direction = item, "desc" if item == "_score" else "asc"
    elif isinstance(item, Mapping) and len(item) == 1:
        ((name, how),) = item.items()
        direction = how.get("order", "asc") if isinstance(how, Mapping) else how
    else:
        raise ParsingError(f"malformed [sort] in top_hits [{spec.name}]")
    if name == "_score":
        return None, True, True
    return str(name), direction == "desc", False


def _sort_hits(
    rows: list[tuple[Any, int, AggregationTarget, Any]], *, descending: bool
) -> list[Any]:
    return sorted(rows, key=lambda r: _directed(r[0], descending))


def _sort_value(key: Any) -> Any:
    return key


# -- numbers as Elasticsearch prints them ----------------------------------------------------


def _java_double(value: float) -> str:
    """Java's Double.toString: ``100.0``, ``1.5E12``, ``1.0E-4``."""
    value = float(value)
    if value == 0:
        return "0.0"
    if math.isinf(value) or math.isnan(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if 1e-3 <= abs(value) < 1e7:
        text = repr(value)
        return text if "." in text else text + ".0"
    mantissa, _, exponent = f"{value!r}".partition("e")
    if not exponent:  # repr printed it positionally (e.g. 1e7 as 10000000.0)
        mantissa, _, exponent = f"{value:.17e}".partition("e")
        mantissa = repr(float(f"{float(mantissa):.15g}"))
    mantissa = mantissa if "." in mantissa else mantissa + ".0"
    return f"{mantissa}E{int(exponent)}"


def _decimal_format(value: float, pattern: str) -> str:
    """Java DecimalFormat for the patterns clients use (``0``, ``0.00``, ``#,##0.0``)."""
    integer, _, fraction = pattern.partition(".")
    places = len(fraction.rstrip("#"))
    optional = len(fraction) - places
    text = f"{value:,.{places + optional}f}" if "," in integer else f"{value:.{places + optional}f}"
    if optional and "." in text:
        head, _, tail = text.partition(".")
        tail = tail[: places + optional]
        while len(tail) > places and tail.endswith("0"):
            tail = tail[:-1]
        text = head + ("." + tail if tail else "")
    return text


def _int_param(spec: AggregationSpec, name: str, default: int) -> int:
    value = spec.params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ParsingError(f"[{name}] must be a number in [{spec.name}]")
    try:
        return int(value)
    except ValueError:
        raise ParsingError(f"[{name}] must be a number in [{spec.name}]") from None


def _datetime(millis: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=millis)

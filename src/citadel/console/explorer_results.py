"""What the data explorer shows of a deployment's answers, decided without I/O.

- `check_query` is the query runner's gate: the index is a name or pattern (never a path, so
  the only request the runner makes is ``POST /<index>/_search``) and the body is one JSON
  object asking for at most `MAX_HITS` hits.
- `aggregation_tables` turns a search's ``aggregations`` into tables (bucket aggregations: one
  row per bucket with its count and its metric sub-aggregations; metrics: their values) and
  bars (each bucket's count as a share of the largest), drawn by the template as inline SVG.
- `documents_window` bounds the documents page's paging to Elasticsearch's result window.
- `filters_admit` applies a deployment's traffic filters to the browser's address, the way
  the gateway applies them to every client (the gateway itself sees the control plane).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from citadel.errors import BadRequest
from citadel.traffic_filters.matching import Client, Filter
from citadel.traffic_filters.rules import ClaimView, compiled

MAX_HITS = 100
PAGE_SIZE = 20
RESULT_WINDOW = 10_000
MAX_BARS = 50
MAX_QUERY_CHARS = 64 * 1024
INDEX_FIELD = "index"
BODY_FIELD = "body"

NO_CLAIMS = ClaimView({}, frozenset())
"""A browser comes through no private endpoint: link claims never admit it."""

# An index name, alias or pattern (`logs-*`, `a,b`, `-old`): no path, query or fragment.
_INDEX_EXPRESSION = re.compile(r"[^\s/\\?#\"<>|%]{1,255}")


@dataclass(frozen=True)
class Query:
    """A checked query: the index expression and the search body."""

    index: str
    body: dict[str, Any]


def check_query(index: str, body_text: str) -> Query:
    """The query runner's input, or a 400 naming the field: the runner only runs ``_search``,
    so an index that is a path (``logs/_doc/1``, ``_bulk``) is refused, never sent."""
    index = index.strip()
    if not _INDEX_EXPRESSION.fullmatch(index) or (index.startswith("_") and index != "_all"):
        raise BadRequest(
            "index: give an index name or pattern (such as logs or logs-*); the query runner "
            "only runs _search, so paths and API names are refused.",
            fields=[INDEX_FIELD],
        )
    text = body_text.strip() or "{}"
    if len(text) > MAX_QUERY_CHARS:
        raise BadRequest("body: the query is longer than 64 KiB.", fields=[BODY_FIELD])
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise BadRequest(f"body: not JSON ({exc}).", fields=[BODY_FIELD]) from None
    if not isinstance(body, dict):
        raise BadRequest(
            'body: give a JSON object, such as {"query": {"match_all": {}}}.',
            fields=[BODY_FIELD],
        )
    size = body.get("size", 10)
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_HITS:
        raise BadRequest(
            f"body: size is a number of hits from 0 to {MAX_HITS}.", fields=[BODY_FIELD]
        )
    return Query(index, body)


@dataclass(frozen=True)
class AttachedRuleset:
    """A traffic filter associated with the deployment: its id, type and rules."""

    id: str
    type: str
    rules: Sequence[Mapping[str, Any]]


def filters_admit(rulesets: Sequence[AttachedRuleset], address: str | None) -> bool:
    """Whether the deployment's filters admit a browser at `address` (no filter: yes; an
    address that does not parse matches no rule). Same compiler and decision as the gateway."""
    rules = [compiled(r.id, r.type, r.rules, NO_CLAIMS) for r in rulesets]
    return Filter.compile(rules).decide(Client.of(address)).allowed


def documents_window(start: str | None) -> int:
    """The first document of a page (`from`), a multiple of `PAGE_SIZE` within the result
    window; anything else starts at 0."""
    if not start or not start.isdigit() or len(start) > 6:
        return 0
    value = int(start)
    value -= value % PAGE_SIZE
    return min(value, RESULT_WINDOW - PAGE_SIZE)


def total_hits(hits: Mapping[str, Any]) -> int:
    """``hits.total`` as a number (an object ``{"value"}`` or, from old nodes, a number)."""
    total = hits.get("total", 0)
    if isinstance(total, Mapping):
        total = total.get("value", 0)
    return int(total) if isinstance(total, int | float) else 0


def pretty(value: Any) -> str:
    """JSON for people: indented, non-ASCII kept (the template escapes it)."""
    return json.dumps(value, indent=2, ensure_ascii=False)


def number(value: Any) -> str:
    """A count or metric as text: integers whole, other numbers to four decimals."""
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.4f}".rstrip("0").rstrip(".")
    return str(value)


def size_in_bytes(value: Any) -> str:
    """A byte count (``_cat/indices?bytes=b``) the way people read it: 1.5 MiB."""
    try:
        amount = float(value)
    except (TypeError, ValueError):
        return "—"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if amount < 1024 or unit == "TiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return "—"  # pragma: no cover  (the loop always returns)


@dataclass(frozen=True)
class Bar:
    """One bucket in the chart: its label, count and share of the largest count (0-100)."""

    label: str
    value: str
    percent: float


@dataclass(frozen=True)
class AggregationTable:
    """One top-level aggregation as a table, and its bars when it has buckets."""

    name: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    bars: tuple[Bar, ...] = field(default=())


def aggregation_tables(aggregations: Mapping[str, Any]) -> list[AggregationTable]:
    """Every top-level aggregation of a search answer as a table (in the answer's order)."""
    tables = []
    for name, result in aggregations.items():
        if isinstance(result, Mapping):
            tables.append(_table(str(name), result))
    return tables


def _table(name: str, result: Mapping[str, Any]) -> AggregationTable:
    buckets = result.get("buckets")
    if isinstance(buckets, Mapping):  # keyed buckets (filters, keyed ranges)
        buckets = [{"key": k, **v} for k, v in buckets.items() if isinstance(v, Mapping)]
    if isinstance(buckets, list):
        return _bucket_table(name, [b for b in buckets if isinstance(b, Mapping)])
    if "value" in result:
        shown = result.get("value_as_string", result["value"])
        return AggregationTable(name, ("value",), ((number(shown),),))
    if "doc_count" in result:  # a single-bucket aggregation (filter, missing, global)
        metrics = _metric_names([result])
        row = (number(result["doc_count"]), *(_metric(result, m) for m in metrics))
        return AggregationTable(name, ("doc_count", *metrics), (row,))
    rows = tuple((key, number(value)) for key, value in _scalars(result))
    return AggregationTable(name, ("statistic", "value"), rows)


def _bucket_table(name: str, buckets: Sequence[Mapping[str, Any]]) -> AggregationTable:
    metrics = _metric_names(buckets)
    rows = []
    counts = []
    for bucket in buckets:
        key = bucket.get("key_as_string", bucket.get("key"))
        label = _label(key)
        count = bucket.get("doc_count", 0)
        counts.append((label, count if isinstance(count, int | float) else 0))
        rows.append((label, number(count), *(_metric(bucket, m) for m in metrics)))
    largest = max((c for _, c in counts), default=0)
    bars = tuple(
        Bar(label, number(count), round(100.0 * count / largest, 2) if largest > 0 else 0.0)
        for label, count in counts[:MAX_BARS]
    )
    return AggregationTable(name, ("key", "doc_count", *metrics), tuple(rows), bars)


def _label(key: Any) -> str:
    if isinstance(key, Mapping):  # composite and multi_terms keys
        return ", ".join(f"{k}={_label(v)}" for k, v in key.items())
    if isinstance(key, list):
        return ", ".join(_label(v) for v in key)
    return number(key) if not isinstance(key, str) else key


def _metric_names(buckets: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """The sub-aggregations of the buckets that have a single value, in first-seen order."""
    names: dict[str, None] = {}
    for bucket in buckets:
        for key, value in bucket.items():
            if isinstance(value, Mapping) and "value" in value:
                names[str(key)] = None
    return tuple(names)


def _metric(bucket: Mapping[str, Any], name: str) -> str:
    value = bucket.get(name)
    if not isinstance(value, Mapping):
        return "—"
    return number(value.get("value_as_string", value.get("value")))


def _scalars(result: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """The numbers of a multi-value metric (stats, percentiles' ``values``), flattened."""
    found: list[tuple[str, Any]] = []
    for key, value in result.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            found.extend(_scalars(value, f"{name}."))
        elif not str(key).endswith("_as_string") and (
            isinstance(value, int | float | str) or value is None
        ):
            found.append((name, value))
    return found

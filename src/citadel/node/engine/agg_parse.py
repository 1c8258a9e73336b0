"""The ``aggs`` of a search body, checked into a tree of `AggregationSpec`. Pure.

Every aggregation is one name holding one type (``terms``, ``avg`` …) with its parameters, and
optionally ``aggs``/``aggregations`` (sub-aggregations, bucket types only) and ``meta``. What
is wrong is a 400 in Elasticsearch's words, naming the aggregation: an unknown type
(``parsing_exception`` with a suggestion), an unknown parameter (``x_content_parse_exception``),
scripts (not supported here), types Elasticsearch has but this node does not run.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from citadel.node.errors import EsError, IllegalArgument, ParsingError, XContentParseError


class AggregationInitialization(EsError):
    """An aggregation that cannot be built as asked (sub-aggregations under a metric)."""

    type = "aggregation_initialization_exception"
    status = 400


_COMMON_VALUE = frozenset({"field", "missing", "format", "value_type"})

# Parameters each supported type accepts.
PARAMETERS: dict[str, frozenset[str]] = {
    "terms": _COMMON_VALUE
    | {
        "size",
        "shard_size",
        "order",
        "min_doc_count",
        "shard_min_doc_count",
        "include",
        "exclude",
        "show_term_doc_count_error",
        "execution_hint",
        "collect_mode",
    },
    "histogram": _COMMON_VALUE
    | {"interval", "offset", "min_doc_count", "extended_bounds", "hard_bounds", "keyed", "order"},
    "date_histogram": _COMMON_VALUE
    | {
        "fixed_interval",
        "calendar_interval",
        "time_zone",
        "offset",
        "min_doc_count",
        "extended_bounds",
        "hard_bounds",
        "keyed",
        "order",
    },
    "range": _COMMON_VALUE | {"ranges", "keyed"},
    "date_range": _COMMON_VALUE | {"ranges", "keyed", "time_zone"},
    "filter": frozenset(),  # the body is a query
    "filters": frozenset({"filters", "other_bucket", "other_bucket_key", "keyed"}),
    "missing": frozenset({"field", "value_type"}),
    "avg": _COMMON_VALUE,
    "sum": _COMMON_VALUE,
    "min": _COMMON_VALUE,
    "max": _COMMON_VALUE,
    "value_count": _COMMON_VALUE,
    "stats": _COMMON_VALUE,
    "extended_stats": _COMMON_VALUE | {"sigma"},
    "cardinality": _COMMON_VALUE | {"precision_threshold", "execution_hint"},
    "percentiles": _COMMON_VALUE | {"percents", "keyed", "tdigest", "hdr"},
    "top_hits": frozenset({"size", "from", "sort", "_source"}),
    "composite": frozenset({"sources", "size", "after"}),
}
BUCKET_TYPES = frozenset(
    {
        "terms",
        "histogram",
        "date_histogram",
        "range",
        "date_range",
        "filter",
        "filters",
        "missing",
        "composite",
    }
)
# Types Elasticsearch has that this node refuses by name (never ignores).
_KNOWN_UNSUPPORTED = frozenset(
    {
        "adjacency_matrix",
        "auto_date_histogram",
        "avg_bucket",
        "boxplot",
        "bucket_script",
        "bucket_selector",
        "bucket_sort",
        "categorize_text",
        "children",
        "cumulative_cardinality",
        "cumulative_sum",
        "derivative",
        "diversified_sampler",
        "extended_stats_bucket",
        "geo_bounds",
        "geo_centroid",
        "geo_distance",
        "geohash_grid",
        "geotile_grid",
        "global",
        "ip_range",
        "ip_prefix",
        "matrix_stats",
        "max_bucket",
        "median_absolute_deviation",
        "min_bucket",
        "moving_fn",
        "moving_percentiles",
        "multi_terms",
        "nested",
        "normalize",
        "parent",
        "percentile_ranks",
        "percentiles_bucket",
        "rare_terms",
        "reverse_nested",
        "sampler",
        "random_sampler",
        "scripted_metric",
        "serial_diff",
        "significant_terms",
        "significant_text",
        "stats_bucket",
        "string_stats",
        "sum_bucket",
        "t_test",
        "top_metrics",
        "variable_width_histogram",
        "weighted_avg",
        "rate",
        "frequent_item_sets",
        "time_series",
    }
)


@dataclass(frozen=True)
class AggregationSpec:
    """One requested aggregation: its name, type, parameters, sub-aggregations and meta."""

    name: str
    type: str
    params: Mapping[str, Any]
    subs: tuple[AggregationSpec, ...] = ()
    meta: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class AggregationTree:
    """The top-level aggregations of one search, in request order."""

    aggs: tuple[AggregationSpec, ...] = field(default=())

    def __bool__(self) -> bool:
        return bool(self.aggs)


def parse_aggregations(body: Mapping[str, Any]) -> AggregationTree:
    """The ``aggs`` (or ``aggregations``) object of a search body, checked; 400 when wrong."""
    return AggregationTree(_parse_level(body, parent=None))


def _parse_level(body: object, *, parent: str | None) -> tuple[AggregationSpec, ...]:
    if not isinstance(body, Mapping):
        where = f"[{parent}]" if parent else "[aggs]"
        raise ParsingError(f"Aggregation definition for {where} starts with a non-object")
    specs = []
    for name, definition in body.items():
        specs.append(_parse_one(str(name), definition))
    return tuple(specs)


def _parse_one(name: str, definition: object) -> AggregationSpec:
    if not name or any(c in name for c in "[]>"):
        raise ParsingError(
            f"Invalid aggregation name [{name}]. Aggregation names can contain any character "
            "except '[', ']', and '>'"
        )
    if not isinstance(definition, Mapping):
        raise ParsingError(
            f"Aggregation definition for [{name}] starts with a [VALUE_STRING], expected a "
            "[START_OBJECT]."
        )
    subs: tuple[AggregationSpec, ...] = ()
    meta = None
    kind = None
    params: Any = None
    for key, value in definition.items():
        if key in ("aggs", "aggregations"):
            if subs:
                raise ParsingError(f"Found two sub aggregation definitions under [{name}]")
            subs = _parse_level(value, parent=name)
        elif key == "meta":
            if not isinstance(value, Mapping):
                raise ParsingError(
                    f"Expected [START_OBJECT] under [meta], but got a value in [{name}]"
                )
            meta = dict(value)
        elif kind is not None:
            raise ParsingError(
                f"Found two aggregation type definitions in [{name}]: [{kind}] and [{key}]"
            )
        else:
            kind, params = str(key), value
    if kind is None:
        raise ParsingError(f"Missing definition for aggregation [{name}]")
    _check_type(name, kind)
    params = _check_params(name, kind, params)
    if subs and kind not in BUCKET_TYPES:
        raise AggregationInitialization(
            f"Aggregator [{name}] of type [{kind}] cannot accept sub-aggregations"
        )
    return AggregationSpec(name, kind, params, subs, meta)


def _check_type(name: str, kind: str) -> None:
    if kind in PARAMETERS:
        return
    if kind in _KNOWN_UNSUPPORTED:
        raise IllegalArgument(
            f"aggregation [{name}] is of type [{kind}], which this node does not support"
        )
    known = sorted(PARAMETERS) + sorted(_KNOWN_UNSUPPORTED)
    close = difflib.get_close_matches(kind, known, n=5, cutoff=0.7)
    if len(close) == 1:
        hint = f" did you mean [{close[0]}]?"
    elif close:
        hint = f" did you mean any of {_list(close)}?"
    else:
        hint = ""
    raise ParsingError(f"Unknown aggregation type [{kind}]{hint}", aggregation=name)


def _list(items: list[str]) -> str:
    return "[" + ", ".join(items) + "]"


def _check_params(name: str, kind: str, params: object) -> dict[str, Any]:
    if not isinstance(params, Mapping):
        raise ParsingError(f"Expected [START_OBJECT] under [{kind}], but got a [VALUE] in [{name}]")
    if kind == "filter":
        if "script" in params:
            _no_script(name)
        return {"query": dict(params)}
    for key in params:
        if key == "script" or key == "script_field":
            _no_script(name)
        if key not in PARAMETERS[kind]:
            raise XContentParseError(f"[{kind}] unknown field [{key}]", aggregation=name)
    if kind not in ("filter", "filters", "top_hits", "composite") and "field" not in params:
        raise IllegalArgument(
            f"Required one of fields [field, script], but none were specified. "
            f"(aggregation [{name}])"
        )
    if "field" in params and not isinstance(params["field"], str):
        raise XContentParseError(f"[{kind}] field doesn't support values of that type")
    return dict(params)


def _no_script(name: str) -> None:
    raise IllegalArgument(
        f"scripts are not supported by this node; aggregation [{name}] uses [script]"
    )

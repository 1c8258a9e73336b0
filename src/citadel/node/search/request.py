"""A search or count request, from its JSON body and URL parameters. Pure.

URL parameters win over the body, as in Elasticsearch (``q`` replaces the body's query).
Unknown body keys are ``parsing_exception``s, unknown URL parameters
``illegal_argument_exception``s; options Elasticsearch has but this node does not implement
(suggesters, rescoring, scripts, ...) are refused by name rather than ignored. ``timeout`` is
validated and otherwise has nothing to do: a search here runs to its end (``timed_out`` false).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from citadel.node.engine.agg_parse import AggregationTree, parse_aggregations
from citadel.node.errors import (
    ActionRequestValidation,
    IllegalArgument,
    ParsingError,
    XContentParseError,
)
from citadel.node.search.dsl import FieldBoost, MatchAll, Operator, Query, parse_query
from citadel.node.search.fetch import FieldSpec, parse_field_specs
from citadel.node.search.highlight import HighlightSpec, parse_highlight
from citadel.node.search.query_string import parse_query_string
from citadel.node.search.sort import SHARD_DOC, SortKey, parse_sort, parse_sort_param
from citadel.node.search.time_values import parse_time_value
from citadel.node.store.source import (
    FETCH_ALL,
    FETCH_NONE,
    SourceFilter,
    parse_source,
    parse_source_params,
)
from citadel.node.xcontent import token_of

MAX_RESULT_WINDOW = 10_000
DEFAULT_TRACK_TOTAL_HITS = 10_000
EXACT = math.inf  # track_total_hits: true

_UNSUPPORTED = frozenset(
    {
        "suggest",
        "rescore",
        "knn",
        "runtime_mappings",
        "script_fields",
        "slice",
        "retriever",
        "rank",
    }
)
_OFF_BY_DEFAULT = frozenset({"profile", "stats", "ext"})
"""Options this node has nothing behind (no profiler, no search-stats groups, no search
extensions): their empty or false value is accepted, anything else is a 400."""
MAX_TERMINATE_AFTER = 2**31 - 1
_COMMON_PARAMS = frozenset(
    {
        "pretty",
        "human",
        "error_trace",
        "filter_path",
        "format",
        "ignore_unavailable",
        "allow_no_indices",
        "expand_wildcards",
        "ignore_throttled",
        "preference",
        "routing",
        "q",
        "df",
        "default_operator",
        "analyzer",
        "analyze_wildcard",
        "lenient",
        "timeout",
        "terminate_after",
    }
)
_SEARCH_PARAMS = _COMMON_PARAMS | {
    "from",
    "size",
    "sort",
    "_source",
    "_source_includes",
    "_source_excludes",
    "_source_include",
    "_source_exclude",
    "track_total_hits",
    "track_scores",
    "version",
    "seq_no_primary_term",
    "rest_total_hits_as_int",
    "typed_keys",
    "request_cache",
    "search_type",
    "batched_reduce_size",
    "max_concurrent_shard_requests",
    "pre_filter_shard_size",
    "ccs_minimize_roundtrips",
    "allow_partial_search_results",
    "explain",
    "stored_fields",
    "stats",
    "min_compatible_shard_node",
    "scroll",
    "docvalue_fields",
}
_COUNT_PARAMS = _COMMON_PARAMS | {"min_score"}


@dataclass(frozen=True)
class SearchRequest:
    """Everything a search asks for, defaults as in Elasticsearch."""

    query: Query = field(default_factory=MatchAll)
    from_: int = 0
    size: int = 10
    sort: tuple[SortKey, ...] = ()
    source: SourceFilter = FETCH_ALL
    track_total_hits: float | None = DEFAULT_TRACK_TOTAL_HITS  # None: not counted; EXACT
    track_scores: bool = False
    post_filter: Query | None = None
    min_score: float | None = None
    version: bool = False
    seq_no_primary_term: bool = False
    total_as_int: bool = False
    aggregations: AggregationTree | None = None
    search_after: tuple[Any, ...] | None = None
    pit: PitRef | None = None
    scroll_s: float | None = None  # the scroll's keep_alive, seconds
    highlight: HighlightSpec | None = None
    fetch_fields: tuple[FieldSpec, ...] = ()
    docvalue_fields: tuple[FieldSpec, ...] = ()
    stored_fields: tuple[str, ...] | None = None
    collapse: str | None = None
    indices_boost: tuple[tuple[str, float], ...] = ()
    terminate_after: int | None = None
    explain: bool = False

    @property
    def effective_sort(self) -> tuple[SortKey, ...]:
        """The sort, with the ``_shard_doc`` tiebreaker a point in time adds to explicit sorts."""
        if self.pit is None or not self.sort or any(k.field == SHARD_DOC for k in self.sort):
            return self.sort
        return (*self.sort, SortKey(SHARD_DOC))


@dataclass(frozen=True)
class PitRef:
    """The ``pit`` of a search body: the id and, optionally, a new keep-alive."""

    id: str
    keep_alive_s: float | None = None


@dataclass(frozen=True)
class IndexOptions:
    """How an index expression resolves (URL parameters shared by search and count)."""

    ignore_unavailable: bool = False
    allow_no_indices: bool = True
    expand_hidden: bool = False


def parse_search(body: Any, params: Mapping[str, str], *, path: str) -> SearchRequest:
    """The search request of a body (None or an object) and URL parameters."""
    _check_params(params, _SEARCH_PARAMS, path)
    values: dict[str, Any] = {}
    if body is not None:
        if not isinstance(body, Mapping):
            raise ParsingError("request body must be an object")
        values = _search_body(body)
    if "size" in params:
        values["size"] = _param_int(params, "size")
    if "from" in params:
        values["from_"] = _param_int(params, "from")
    if "sort" in params:
        values["sort"] = parse_sort_param(params["sort"])
    source = parse_source_params(params)
    if source is not None:
        values["source"] = source
    if "stored_fields" in params:
        _stored_fields(values, [p.strip() for p in params["stored_fields"].split(",")])
    if "docvalue_fields" in params:
        names = [p.strip() for p in params["docvalue_fields"].split(",") if p.strip()]
        values["docvalue_fields"] = parse_field_specs("docvalue_fields", names)
    if "scroll" in params:
        values["scroll_s"] = parse_time_value(params["scroll"], "scroll")
    if "timeout" in params:
        parse_time_value(params["timeout"], "timeout")
    if "terminate_after" in params:
        values["terminate_after"] = _terminate_after(_param_int(params, "terminate_after"))
    if params.get("stats"):
        _refuse_unless_off("stats", params["stats"])
    if "explain" in params:
        values["explain"] = _param_bool(params, "explain")
    if "track_total_hits" in params:
        values["track_total_hits"] = _track_total_hits(_param_scalar(params["track_total_hits"]))
    for flag in ("track_scores", "version", "seq_no_primary_term"):
        if flag in params:
            values[flag] = _param_bool(params, flag)
    if _param_bool(params, "rest_total_hits_as_int"):
        values["total_as_int"] = True
        values.setdefault("track_total_hits", EXACT)
    query = _query_param(params)
    if query is not None:
        values["query"] = query
    request = SearchRequest(**values)
    if request.size < 0:
        raise IllegalArgument(f"[size] parameter cannot be negative, found [{request.size}]")
    if request.from_ < 0:
        raise IllegalArgument(f"[from] parameter cannot be negative, found [{request.from_}]")
    _check_combinations(request)
    if request.scroll_s is None and request.from_ + request.size > MAX_RESULT_WINDOW:
        raise IllegalArgument(
            "Result window is too large, from + size must be less than or equal to: "
            f"[{MAX_RESULT_WINDOW}] but was [{request.from_ + request.size}]. See the scroll api "
            "for a more efficient way to request large data sets. This limit can be set by "
            "changing the [index.max_result_window] index level setting."
        )
    return request


def parse_count(body: Any, params: Mapping[str, str], *, path: str) -> tuple[Query, float | None]:
    """The query and ``min_score`` of a ``_count`` request."""
    _check_params(params, _COUNT_PARAMS, path)
    query: Query = MatchAll()
    min_score = None
    if body is not None:
        if not isinstance(body, Mapping):
            raise ParsingError("request body must be an object")
        for key, value in body.items():
            if key == "query":
                query = parse_query(value)
            elif key == "min_score":
                min_score = _number("min_score", value)
            else:
                raise ParsingError(f"request does not support [{key}]")
    if "min_score" in params:
        min_score = _number("min_score", params["min_score"])
    from_param = _query_param(params)
    return (from_param if from_param is not None else query), min_score


def parse_index_options(params: Mapping[str, str]) -> IndexOptions:
    """``ignore_unavailable``, ``allow_no_indices`` and ``expand_wildcards`` (``hidden`` or
    ``all`` let wildcards reach ``.hidden`` indices; open and closed are the same here)."""
    expand = {w.strip() for w in params.get("expand_wildcards", "open").split(",")}
    unknown = expand - {"open", "closed", "hidden", "all", "none"}
    if unknown:
        raise IllegalArgument(f"No enum constant for expand_wildcards [{sorted(unknown)[0]}]")
    return IndexOptions(
        ignore_unavailable=_param_bool(params, "ignore_unavailable"),
        allow_no_indices=_param_bool(params, "allow_no_indices", default=True),
        expand_hidden=bool(expand & {"hidden", "all"}),
    )


# -- body ---------------------------------------------------------------------------------


def _search_body(body: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in body.items():
        if key == "query":
            values["query"] = parse_query(value)
        elif key == "from":
            values["from_"] = _int(key, value)
        elif key == "size":
            values["size"] = _int(key, value)
        elif key == "sort":
            values["sort"] = parse_sort(value)
        elif key == "_source":
            values["source"] = parse_source(value)
        elif key == "stored_fields":
            names = value if isinstance(value, list) else [value]
            if not all(isinstance(n, str) for n in names):
                raise XContentParseError("[search] failed to parse field [stored_fields]")
            _stored_fields(values, names)
        elif key == "fields":
            values["fetch_fields"] = parse_field_specs(key, value)
        elif key == "docvalue_fields":
            values["docvalue_fields"] = parse_field_specs(key, value)
        elif key == "highlight":
            values["highlight"] = parse_highlight(value)
        elif key == "search_after":
            if not isinstance(value, list):
                raise XContentParseError("[search] failed to parse field [search_after]")
            values["search_after"] = tuple(_after_value(v) for v in value)
        elif key == "pit":
            values["pit"] = _pit(value)
        elif key == "collapse":
            values["collapse"] = _collapse(value)
        elif key == "indices_boost":
            values["indices_boost"] = _indices_boost(value)
        elif key == "timeout":
            if not isinstance(value, str | int) or isinstance(value, bool):
                raise XContentParseError("[search] failed to parse field [timeout]")
            parse_time_value(str(value), "timeout")
        elif key == "terminate_after":
            values["terminate_after"] = _terminate_after(_int(key, value))
        elif key == "explain":
            values["explain"] = _flag(key, value)
        elif key == "track_total_hits":
            values["track_total_hits"] = _track_total_hits(value)
        elif key in ("track_scores", "version", "seq_no_primary_term"):
            values[key] = _flag(key, value)
        elif key in ("aggs", "aggregations"):
            if "aggregations" in values:
                raise ParsingError(f"Found two aggregation type definitions in [{key}]")
            values["aggregations"] = parse_aggregations(value)
        elif key == "post_filter":
            values["post_filter"] = parse_query(value)
        elif key == "min_score":
            values["min_score"] = _number(key, value)
        elif key in _UNSUPPORTED:
            raise IllegalArgument(f"[{key}] is not supported by this node")
        elif key in _OFF_BY_DEFAULT:
            _refuse_unless_off(key, value)
        else:
            raise ParsingError(f"Unknown key for a {token_of(value)} in [{key}].")
    return values


def _refuse_unless_off(key: str, value: Any) -> None:
    """A 400 for a `profile`, `stats` or `ext` that asks for something (never ignored)."""
    if value in (False, None, "false") or value == [] or value == {}:
        return
    raise IllegalArgument(f"[{key}] is not supported by this node")


def _stored_fields(values: dict[str, Any], names: list[str]) -> None:
    """``stored_fields``: ``_none_`` drops the source and metadata; otherwise the source is
    returned only when listed (no mapped field is stored apart from ``_source``)."""
    if "_none_" in names:
        if len(names) > 1:
            raise IllegalArgument(
                "The field [_none_] cannot be used in combination with other field names"
            )
        values["source"] = FETCH_NONE
        values["stored_fields"] = ("_none_",)
        return
    values["stored_fields"] = tuple(names)
    if "_source" not in names and "source" not in values:
        values["source"] = FETCH_NONE


def _after_value(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise XContentParseError("[search_after] failed to parse field [search_after]")


def _pit(value: Any) -> PitRef:
    if not isinstance(value, Mapping):
        raise XContentParseError("[search] failed to parse field [pit]")
    for key in value:
        if key not in ("id", "keep_alive"):
            raise ParsingError(f"[point_in_time] unknown field [{key}]")
    pit_id = value.get("id")
    if not isinstance(pit_id, str) or not pit_id:
        raise ParsingError("[point_in_time] requires [id]")
    keep_alive = value.get("keep_alive")
    return PitRef(
        pit_id,
        None if keep_alive is None else parse_time_value(str(keep_alive), "keep_alive"),
    )


def _collapse(value: Any) -> str:
    if not isinstance(value, Mapping):
        raise XContentParseError("[search] failed to parse field [collapse]")
    for key in value:
        if key == "inner_hits":
            raise IllegalArgument("[collapse] [inner_hits] is not supported by this node")
        if key not in ("field", "max_concurrent_group_searches"):
            raise ParsingError(f"[collapse] unknown field [{key}]")
    name = value.get("field")
    if not isinstance(name, str) or not name:
        raise ParsingError("[collapse] requires [field]")
    return name


def _indices_boost(value: Any) -> tuple[tuple[str, float], ...]:
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if not isinstance(item, Mapping) or len(item) != 1:
            raise ParsingError("[indices_boost] expects an array of {index: boost} objects")
        name, boost = next(iter(item.items()))
        out.append((name, _number("indices_boost", boost)))
    return tuple(out)


def _terminate_after(value: int) -> int | None:
    if value < 0:
        raise IllegalArgument("terminateAfter must be > 0")
    return value or None


def _check_combinations(request: SearchRequest) -> None:
    """Options that do not go together, refused with Elasticsearch's messages."""
    if request.scroll_s is not None:
        if request.search_after is not None:
            raise ActionRequestValidation(
                "Validation Failed: 1: [search_after] cannot be used in a scroll context;"
            )
        if request.pit is not None:
            raise ActionRequestValidation(
                "Validation Failed: 1: using [point in time] is not allowed in a scroll context;"
            )
        if request.collapse is not None:
            raise ActionRequestValidation(
                "Validation Failed: 1: cannot use `collapse` in a scroll context;"
            )
        if request.size == 0:
            raise ActionRequestValidation(
                "Validation Failed: 1: [size] cannot be [0] in a scroll context;"
            )
    if request.search_after is not None:
        if request.from_ not in (0, -1):
            raise ActionRequestValidation(
                "Validation Failed: 1: [from] parameter must be set to 0 when [search_after] "
                "is used;"
            )
        keys = len(request.effective_sort) or 1
        if len(request.search_after) != keys:
            raise IllegalArgument(
                f"search_after has {len(request.search_after)} value(s) but sort has {keys}."
            )
    if request.collapse is not None and request.search_after is not None:
        sort = request.sort
        if len(sort) != 1 or sort[0].field != request.collapse:
            raise ActionRequestValidation(
                "Validation Failed: 1: cannot use `collapse` in conjunction with "
                "`search_after` unless the search is sorted on the same field. Multiple sort "
                "fields are not allowed.;"
            )
    if any(k.field == SHARD_DOC for k in request.sort) and request.pit is None:
        raise ActionRequestValidation(
            "Validation Failed: 1: [_shard_doc] sort field cannot be used without [point in time];"
        )


def _int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise XContentParseError(f"[search] failed to parse field [{key}]")
    try:
        return int(value)
    except ValueError:
        raise XContentParseError(f"[search] failed to parse field [{key}]") from None


def _number(key: str, value: Any) -> float:
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
    except (TypeError, ValueError):
        raise XContentParseError(f"[search] failed to parse field [{key}]") from None
    if not math.isfinite(number):
        raise XContentParseError(f"[search] failed to parse field [{key}]")
    return number


def _flag(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise XContentParseError(f"[search] failed to parse field [{key}]")
    return value


def _track_total_hits(value: Any) -> float | None:
    if value is True:
        return EXACT
    if value is False:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if value == -1:
            return EXACT
        if value < 0:
            raise IllegalArgument(
                f"[track_total_hits] parameter must be positive or equals to -1, got {value}"
            )
        return value
    raise XContentParseError("[search] failed to parse field [track_total_hits]")


# -- URL parameters -------------------------------------------------------------------------


def _check_params(params: Mapping[str, str], known: frozenset[str], path: str) -> None:
    unknown = sorted(p for p in params if p not in known)
    if unknown:
        names = ",".join(unknown)
        raise IllegalArgument(f"request [{path}] contains unrecognized parameter: [{names}]")


def _param_int(params: Mapping[str, str], name: str) -> int:
    text = params[name].strip()
    if not text.lstrip("-").isdigit():
        raise IllegalArgument(f"Failed to parse int parameter [{name}] with value [{text}]")
    return int(text)


def _param_bool(params: Mapping[str, str], name: str, *, default: bool = False) -> bool:
    text = params.get(name)
    if text is None:
        return default
    if text in ("", "true"):
        return True
    if text == "false":
        return False
    raise IllegalArgument(f"Failed to parse value [{text}] as only [true] or [false] are allowed.")


def _param_scalar(text: str) -> Any:
    if text in ("", "true"):
        return True
    if text == "false":
        return False
    if text.lstrip("-").isdigit():
        return int(text)
    raise IllegalArgument(f"Failed to parse value [{text}] for [track_total_hits]")


def _query_param(params: Mapping[str, str]) -> Query | None:
    text = params.get("q")
    if text is None:
        return None
    operator = Operator.OR
    if "default_operator" in params:
        name = params["default_operator"].lower()
        if name not in ("and", "or"):
            raise IllegalArgument(f"Unsupported default_operator [{params['default_operator']}]")
        operator = Operator(name)
    fields = (FieldBoost(params["df"]),) if params.get("df") else None
    return parse_query_string(text, fields=fields, default_operator=operator)

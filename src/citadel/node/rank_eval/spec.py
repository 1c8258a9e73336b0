"""A ``_rank_eval`` body, read and checked as Elasticsearch's ``RankEvalSpec``. Pure.

``requests`` (each an ``id``, ``ratings``, and either a ``request`` search body or a
``template_id`` with ``params``; optional ``summary_fields``), ``metric`` (exactly one of
`METRIC_NAMES`), ``templates`` (``id`` and a ``template`` script: ``source`` or a stored
``id``) and ``max_concurrent_searches`` (accepted; searches here run one after another). A
rated search may not carry aggregations, suggesters, highlighting, ``explain`` or ``profile``.
At most `MAX_REQUESTS` requests of `MAX_RATINGS` ratings each; ``k`` at most 10,000.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from citadel.node.errors import IllegalArgument, XContentParseError
from citadel.node.rank_eval.metrics import METRIC_NAMES, DocKey, Metric
from citadel.node.search.templates import TemplateRequest
from citadel.node.xcontent import token_of

MAX_REQUESTS = 1_000
MAX_RATINGS = 10_000
MAX_K = 10_000
_METRIC_FIELDS = {
    "precision": ("k", "relevant_rating_threshold", "ignore_unlabeled"),
    "recall": ("k", "relevant_rating_threshold"),
    "mean_reciprocal_rank": ("k", "relevant_rating_threshold"),
    "dcg": ("k", "normalize", "unknown_doc_rating"),
    "expected_reciprocal_rank": ("k", "maximum_relevance", "unknown_doc_rating"),
}


@dataclass(frozen=True)
class RatedRequest:
    """One rated search: its body (or template and params) and its ratings."""

    id: str
    ratings: dict[DocKey, int]
    request: dict[str, Any] | None = None
    template_id: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    summary_fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class RankEvalSpec:
    """The whole evaluation."""

    requests: tuple[RatedRequest, ...]
    metric: Metric
    templates: dict[str, TemplateRequest] = field(default_factory=dict)


def parse_spec(body: Any) -> RankEvalSpec:
    """The evaluation a ``_rank_eval`` body asks for."""
    if not isinstance(body, Mapping):
        raise XContentParseError("[rank_eval] expected an object")
    _known(body, "rank_eval", ("requests", "metric", "templates", "max_concurrent_searches"))
    if "max_concurrent_searches" in body:
        _int("rank_eval", "max_concurrent_searches", body["max_concurrent_searches"])
    raw_requests = body.get("requests")
    if raw_requests is None:
        raise XContentParseError("Required [requests]")
    if not isinstance(raw_requests, list):
        raise XContentParseError("[rank_eval] failed to parse field [requests]")
    if not raw_requests:
        raise IllegalArgument(
            "Cannot evaluate ranking if no search requests with rated results are provided. "
            "Seen: [[]]"
        )
    if len(raw_requests) > MAX_REQUESTS:
        raise IllegalArgument(f"[rank_eval] takes at most {MAX_REQUESTS} requests on this node")
    if body.get("metric") is None:
        raise IllegalArgument("Cannot evaluate ranking if no evaluation metric is provided.")
    metric = parse_metric(body["metric"])
    templates = _templates(body.get("templates", []))
    requests = tuple(_rated_request(r) for r in raw_requests)
    seen: set[str] = set()
    for request in requests:
        if request.id in seen:
            raise IllegalArgument(f"the evaluation holds request id [{request.id}] more than once")
        seen.add(request.id)
        if request.template_id is not None and request.template_id not in templates:
            raise IllegalArgument(
                f"Cannot evaluate ranking: request [{request.id}] uses template "
                f"[{request.template_id}], which the templates do not define"
            )
    return RankEvalSpec(requests, metric, templates)


def parse_metric(value: Any) -> Metric:
    """The ``metric`` object: one metric name and its parameters."""
    if not isinstance(value, Mapping) or len(value) != 1:
        raise XContentParseError("[metric] must hold exactly one metric")
    ((name, raw),) = value.items()
    if name not in _METRIC_FIELDS:
        raise XContentParseError(
            f"[rank_eval] unknown metric [{name}]; known metrics: {', '.join(METRIC_NAMES)}"
        )
    if not isinstance(raw, Mapping):
        raise XContentParseError(f"[{name}] expected an object")
    _known(raw, name, _METRIC_FIELDS[name])
    values: dict[str, Any] = {}
    for key, item in raw.items():
        if key in ("ignore_unlabeled", "normalize"):
            if not isinstance(item, bool):
                raise XContentParseError(f"[{name}] failed to parse field [{key}]")
            values[key] = item
        elif key == "unknown_doc_rating" and item is None:
            values[key] = None
        else:
            values[key] = _int(name, key, item)
    metric = Metric(name, **values)
    if metric.k <= 0:
        raise IllegalArgument("Window size k must be positive.")
    if metric.k > MAX_K:
        raise IllegalArgument(f"Window size k must be at most {MAX_K}.")
    if metric.relevant_rating_threshold < 0:
        raise IllegalArgument(f"Relevant rating threshold for {name} must be positive integer.")
    if name == "expected_reciprocal_rank":
        if metric.maximum_relevance is None:
            raise XContentParseError("Required [maximum_relevance]")
        if metric.maximum_relevance <= 0:
            raise IllegalArgument("Maximal relevance must be a positive integer.")
    return metric


def _rated_request(value: Any) -> RatedRequest:
    if not isinstance(value, Mapping):
        raise XContentParseError("[requests] expected objects")
    _known(
        value, "requests", ("id", "request", "ratings", "params", "template_id", "summary_fields")
    )
    request_id = value.get("id")
    if not isinstance(request_id, str):
        raise XContentParseError("Required [id]")
    raw_ratings = value.get("ratings")
    if not isinstance(raw_ratings, list):
        raise XContentParseError("Required [ratings]")
    if len(raw_ratings) > MAX_RATINGS:
        raise IllegalArgument(f"a rated request holds at most {MAX_RATINGS} ratings on this node")
    ratings: dict[DocKey, int] = {}
    for raw in raw_ratings:
        key, rating = _rating(raw)
        if key in ratings:
            raise IllegalArgument(
                f'Found duplicate rated document key [{{ "_index" : "{key[0]}", "_id" : '
                f'"{key[1]}" }}] in evaluation request [{request_id}]'
            )
        ratings[key] = rating
    search = value.get("request")
    if search is not None and not isinstance(search, Mapping):
        raise XContentParseError("[requests] failed to parse field [request]")
    params = value.get("params") or {}
    if not isinstance(params, Mapping):
        raise XContentParseError("[requests] failed to parse field [params]")
    template_id = value.get("template_id")
    if template_id is not None and not isinstance(template_id, str):
        raise XContentParseError("[requests] failed to parse field [template_id]")
    if search is not None and (params or template_id is not None):
        raise IllegalArgument(
            "Ambiguous rated request: Set both, verbatim test request and test request template "
            "parameters."
        )
    if search is None and not params:
        raise IllegalArgument(
            "Need to set at least test request or test request template parameters."
        )
    if params and template_id is None:
        raise IllegalArgument(
            "If template parameters are supplied need to set id of template to apply them to too."
        )
    if search is not None:
        check_evaluated_request(search)
    return RatedRequest(
        request_id,
        ratings,
        dict(search) if search is not None else None,
        template_id,
        dict(params),
        _summary_fields(value.get("summary_fields", [])),
    )


def check_evaluated_request(search: Mapping[str, Any]) -> None:
    """What a rated search may not carry (Elasticsearch's ``validateEvaluatedQuery``)."""
    if "suggest" in search:
        raise IllegalArgument("Query in rated requests should not contain a suggest section.")
    if "aggs" in search or "aggregations" in search:
        raise IllegalArgument("Query in rated requests should not contain aggregations.")
    if "highlight" in search:
        raise IllegalArgument("Query in rated requests should not contain a highlighter section.")
    if search.get("explain") is True:
        raise IllegalArgument("Query in rated requests should not use explain.")
    if search.get("profile") is True:
        raise IllegalArgument("Query in rated requests should not use profile.")


def _rating(value: Any) -> tuple[DocKey, int]:
    if not isinstance(value, Mapping):
        raise XContentParseError("[ratings] expected objects")
    _known(value, "rated_document", ("_index", "_id", "rating"))
    for name in ("_index", "_id", "rating"):
        if name not in value:
            raise XContentParseError(f"Required [{name}]")
    index, doc_id = value["_index"], value["_id"]
    if not isinstance(index, str) or not isinstance(doc_id, str):
        raise XContentParseError("[rated_document] _index and _id must be strings")
    return (index, doc_id), _int("rated_document", "rating", value["rating"])


def _templates(value: Any) -> dict[str, TemplateRequest]:
    if not isinstance(value, list):
        raise XContentParseError("[rank_eval] failed to parse field [templates]")
    out: dict[str, TemplateRequest] = {}
    for item in value:
        if not isinstance(item, Mapping):
            raise XContentParseError("[templates] expected objects")
        _known(item, "templates", ("id", "template"))
        template_id, script = item.get("id"), item.get("template")
        if not isinstance(template_id, str) or not isinstance(script, Mapping):
            raise XContentParseError("[templates] each needs an [id] and a [template] object")
        _known(script, "script", ("source", "id", "lang"))
        if script.get("lang", "mustache") != "mustache":
            raise IllegalArgument(f"rank_eval templates must be mustache, not [{script['lang']}]")
        source = script.get("source")
        if isinstance(source, Mapping):
            source = json.dumps(source, separators=(",", ":"), ensure_ascii=False)
        stored = script.get("id")
        if (source is None) == (stored is None):
            raise XContentParseError("[template] must hold exactly one of [source] or [id]")
        out[template_id] = TemplateRequest(source=source, id=stored)
    return out


def _summary_fields(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise XContentParseError("[requests] failed to parse field [summary_fields]")
    return tuple(value)


def _known(value: Mapping[str, Any], owner: str, allowed: tuple[str, ...]) -> None:
    for key, item in value.items():
        if key not in allowed:
            raise XContentParseError(f"[{owner}] unknown field [{key}] of type {token_of(item)}")


def _int(owner: str, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise XContentParseError(f"[{owner}] failed to parse field [{key}]")
    return value

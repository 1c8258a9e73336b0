"""``[/{index}]/_rank_eval``: run each rated search and score it (`citadel.node.rank_eval`).

Each search runs over the path's index expression through the search service, with the
metric's ``k`` as its size and ``_source`` limited to the request's ``summary_fields`` (none by
default), as Elasticsearch runs them. A request that fails (a bad query, a template that does
not render, an index the caller may not read) lands in ``failures`` and the others still run.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from citadel.node.errors import EsError, IllegalArgument
from citadel.node.http.access import IndexAccess
from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.router import AUTHENTICATED, Router
from citadel.node.rank_eval.metrics import combine, evaluate
from citadel.node.rank_eval.spec import (
    RankEvalSpec,
    RatedRequest,
    check_evaluated_request,
    parse_spec,
)
from citadel.node.scripts import catalog
from citadel.node.search import service
from citadel.node.search.request import parse_index_options, parse_search
from citadel.node.search.templates import render_template
from citadel.node.security.realm import index_forbidden
from citadel.node.services import NodeServices

READ = "read"
_PARAMS = frozenset({"ignore_unavailable", "allow_no_indices", "expand_wildcards", "search_type"})
_SEARCH_TYPES = ("query_then_fetch", "dfs_query_then_fetch")


def register(router: Router, services: NodeServices) -> None:
    """Add the ranking evaluation routes to `router`."""
    routes = RankEvalRoutes(services)
    for method in ("GET", "POST"):
        for prefix in ("", "/{index}"):
            router.add(method, f"{prefix}/_rank_eval", routes.rank_eval, AUTHENTICATED)


class RankEvalRoutes:
    """Handlers over the search service and the stored templates."""

    def __init__(self, services: NodeServices) -> None:
        self.services = services

    def rank_eval(self, request: NodeRequest) -> NodeResponse:
        """``[/{index}]/_rank_eval``."""
        unknown = sorted(p for p in request.query if p not in _PARAMS)
        if unknown:
            raise IllegalArgument(
                f"request [{request.path}] contains unrecognized parameter: [{','.join(unknown)}]"
            )
        search_type = request.query.get("search_type", "query_then_fetch")
        if search_type not in _SEARCH_TYPES:
            raise IllegalArgument(f"No search type for [{search_type}]")
        spec = parse_spec(request.json(required=True))
        details: dict[str, Any] = {}
        failures: dict[str, Any] = {}
        scores: list[float] = []
        for rated in spec.requests:
            try:
                hits = self._search(request, spec, rated)
            except EsError as exc:
                failures[rated.id] = {"error": exc.body()["error"]}
                continue
            keys = [(hit["_index"], hit["_id"]) for hit in hits]
            result = evaluate(spec.metric, keys, rated.ratings)
            scores.append(result.score)
            details[rated.id] = {
                "metric_score": result.score,
                "unrated_docs": [
                    {"_index": k[0], "_id": k[1]}
                    for k, r in zip(keys, result.ratings, strict=False)
                    if r is None
                ],
                "hits": [
                    {"hit": hit, "rating": rating}
                    for hit, rating in zip(hits, result.ratings, strict=False)
                ],
                "metric_details": result.details,
            }
        overall = combine(scores)
        body = {
            "metric_score": "NaN" if math.isnan(overall) else overall,
            "details": details,
            "failures": failures,
        }
        return NodeResponse(body=body)

    def _search(
        self, request: NodeRequest, spec: RankEvalSpec, rated: RatedRequest
    ) -> list[dict[str, Any]]:
        """The hits of one rated search, at most the metric's ``k``."""
        if rated.request is not None:
            body = dict(rated.request)
        else:
            template = spec.templates[str(rated.template_id)]
            with_params = replace(template, params=dict(rated.params))
            rendered = render_template(with_params, self._stored)
            if not isinstance(rendered, dict):
                raise IllegalArgument("the rendered rank_eval template must be a JSON object")
            check_evaluated_request(rendered)
            body = rendered
        body["size"] = spec.metric.k
        body["_source"] = list(rated.summary_fields) if rated.summary_fields else False
        parsed = parse_search(body, {}, path=request.path)
        options = parse_index_options(request.query)
        access = IndexAccess(self.services.realm, request.identity)
        with self.services.store.read() as conn:
            opened = service.open_indices(
                conn,
                request.params.get("index"),
                options,
                access.expanding(READ),
            )
            if opened.denied:
                raise index_forbidden(request.identity, READ, opened.denied)
            records = service.secured(conn, opened.indices, request.identity)
        out = service.search(self.services.engine, records, parsed, now=self.services.clock.now())
        return list(out["hits"]["hits"])

    def _stored(self, script_id: str) -> str:
        with self.services.store.read() as conn:
            return catalog.template(conn, script_id)

"""Search templates: ``[/{index}]/_search/template``, ``_render/template[/{id}]``,
``[/{index}]/_msearch/template``.

A template renders (`citadel.node.search.templates`) into a search body that runs through the
search routes' own `SearchRoutes` (index resolution and authorization, scroll and point-in-time
contexts included), so a templated search answers exactly as ``_search`` with that body would.
Rendering alone (``_render/template``) reads no index and needs only a signed-in caller.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from citadel.node.errors import EsError, IllegalArgument
from citadel.node.http import routes_search
from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.router import AUTHENTICATED, Router
from citadel.node.scripts import catalog
from citadel.node.search.templates import (
    TemplateRequest,
    parse_template_request,
    render_template,
    search_body,
)
from citadel.node.services import NodeServices

_SEARCH_PARAMS = frozenset(
    {
        "allow_no_indices",
        "ccs_minimize_roundtrips",
        "expand_wildcards",
        "ignore_throttled",
        "ignore_unavailable",
        "preference",
        "routing",
        "scroll",
        "search_type",
        "rest_total_hits_as_int",
        "typed_keys",
    }
)
_FLAG_PARAMS = ("explain", "profile")
_MSEARCH_PARAMS = frozenset(
    {
        "ccs_minimize_roundtrips",
        "max_concurrent_searches",
        "rest_total_hits_as_int",
        "search_type",
        "typed_keys",
    }
)


def register(router: Router, services: NodeServices, search: routes_search.SearchRoutes) -> None:
    """Add the search template routes to `router`, searching through `search`."""
    routes = TemplateRoutes(services, search)
    for method in ("GET", "POST"):
        for prefix in ("", "/{index}"):
            router.add(method, f"{prefix}/_search/template", routes.search, AUTHENTICATED)
            router.add(method, f"{prefix}/_msearch/template", routes.msearch, AUTHENTICATED)
        router.add(method, "/_render/template", routes.render, AUTHENTICATED)
        router.add(method, "/_render/template/{id}", routes.render, AUTHENTICATED)


class TemplateRoutes:
    """Handlers over the stored scripts and the search routes."""

    def __init__(self, services: NodeServices, search: routes_search.SearchRoutes) -> None:
        self.services = services
        self.search_routes = search

    def render(self, request: NodeRequest) -> NodeResponse:
        """``_render/template[/{id}]``: the rendered template as ``template_output``."""
        _check_params(request, frozenset())
        parsed = parse_template_request(request.json(), stored_id=request.params.get("id"))
        return NodeResponse(body={"template_output": render_template(parsed, self._stored)})

    def search(self, request: NodeRequest) -> NodeResponse:
        """``[/{index}]/_search/template``: render, then search as ``_search`` would."""
        started = time.perf_counter()
        _check_params(request, _SEARCH_PARAMS | set(_FLAG_PARAMS))
        parsed = _with_flag_params(parse_template_request(request.json(required=True)), request)
        params = {k: v for k, v in request.query.items() if k not in _FLAG_PARAMS}
        out = self._run(request, request.params.get("index"), parsed, params)
        took = int((time.perf_counter() - started) * 1000)
        return NodeResponse(body={"took": took, **out})

    def msearch(self, request: NodeRequest) -> NodeResponse:
        """``[/{index}]/_msearch/template``: NDJSON header and template lines, one answer each."""
        started = time.perf_counter()
        _check_params(request, _MSEARCH_PARAMS)
        items, shared = routes_search.msearch_lines(request)
        responses = []
        for header, body in items:
            try:
                params, expression = routes_search.msearch_item_params(
                    header, shared, request.params.get("index")
                )
                one_started = time.perf_counter()
                out = self._run(request, expression, parse_template_request(body), params)
                took = int((time.perf_counter() - one_started) * 1000)
                responses.append({"took": took, **out, "status": 200})
            except EsError as exc:
                responses.append(exc.body())
        took = int((time.perf_counter() - started) * 1000)
        return NodeResponse(body={"took": took, "responses": responses})

    def _run(
        self,
        request: NodeRequest,
        expression: str | None,
        parsed: TemplateRequest,
        params: dict[str, str],
    ) -> dict[str, Any]:
        body = search_body(parsed, self._stored)
        return self.search_routes._search(request, expression, body, params, request.path)

    def _stored(self, script_id: str) -> str:
        with self.services.store.read() as conn:
            return catalog.template(conn, script_id)


def _with_flag_params(parsed: TemplateRequest, request: NodeRequest) -> TemplateRequest:
    """``?explain`` and ``?profile`` set the same flags as the body's."""
    for name in _FLAG_PARAMS:
        text = request.query.get(name)
        if text is None:
            continue
        if text not in ("", "true", "false"):
            raise IllegalArgument(
                f"Failed to parse value [{text}] as only [true] or [false] are allowed."
            )
        on = text != "false"
        parsed = replace(parsed, explain=on) if name == "explain" else replace(parsed, profile=on)
    return parsed


def _check_params(request: NodeRequest, known: frozenset[str] | set[str]) -> None:
    unknown = sorted(p for p in request.query if p not in known)
    if unknown:
        raise IllegalArgument(
            f"request [{request.path}] contains unrecognized parameter: [{','.join(unknown)}]"
        )

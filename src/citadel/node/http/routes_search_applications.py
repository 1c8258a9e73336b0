"""Search applications and behavioral analytics: ``_application/search_application[/{name}]``
(put, get, delete, list, ``_search``, ``_render_query``) and ``_application/analytics``.

Managing applications needs ``manage_search_application``; collections
``manage_behavioral_analytics``; posting events ``post_behavioral_analytics_event``.
An application's search renders its template (`citadel.node.search_applications.applications`)
and runs the body through the search routes' `SearchRoutes` over the application's indices, so
the caller needs ``read`` on those indices (Elasticsearch checks ``read`` on an alias named
after the application instead; no alias is created here). ``_render_query`` answers the
rendered body as the template wrote it, where Elasticsearch prints the parsed search source
in its canonical form.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from citadel.node.errors import IllegalArgument
from citadel.node.http.access import IndexAccess
from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.router import AUTHENTICATED, Router, cluster
from citadel.node.http.routes_search import SearchRoutes
from citadel.node.search.request import parse_search
from citadel.node.search_applications import catalog
from citadel.node.search_applications.analytics import (
    check_collection_name,
    event_data_stream,
    parse_event,
)
from citadel.node.search_applications.applications import (
    check_name,
    parse_application,
    parse_search_params,
    render,
)
from citadel.node.security.realm import index_forbidden
from citadel.node.services import NodeServices
from citadel.node.store import indices
from citadel.node.synonyms.rules import page

MANAGE = cluster("manage_search_application")
MANAGE_ANALYTICS = cluster("manage_behavioral_analytics")
POST_EVENT = cluster("post_behavioral_analytics_event")
_APPS = "/_application/search_application"
_ANALYTICS = "/_application/analytics"


def register(router: Router, services: NodeServices) -> None:
    """Add the search application and analytics routes to `router`."""
    routes = SearchApplicationRoutes(services)
    router.add("GET", _APPS, routes.list_applications, MANAGE)
    router.add("PUT", _APPS + "/{name}", routes.put_application, MANAGE)
    router.add("GET", _APPS + "/{name}", routes.get_application, MANAGE)
    router.add("DELETE", _APPS + "/{name}", routes.delete_application, MANAGE)
    for method in ("GET", "POST"):
        router.add(method, _APPS + "/{name}/_search", routes.search, AUTHENTICATED)
    router.add("POST", _APPS + "/{name}/_render_query", routes.render_query, AUTHENTICATED)
    router.add("GET", _ANALYTICS, routes.get_collections, MANAGE_ANALYTICS)
    router.add("GET", _ANALYTICS + "/{name}", routes.get_collections, MANAGE_ANALYTICS)
    router.add("PUT", _ANALYTICS + "/{name}", routes.put_collection, MANAGE_ANALYTICS)
    router.add("DELETE", _ANALYTICS + "/{name}", routes.delete_collection, MANAGE_ANALYTICS)
    router.add("POST", _ANALYTICS + "/{name}/event/{event_type}", routes.post_event, POST_EVENT)


class SearchApplicationRoutes:
    """Handlers over the catalog's applications and collections and the search routes."""

    def __init__(self, services: NodeServices) -> None:
        self.services = services
        self.search_routes = SearchRoutes(services)

    def _millis(self) -> int:
        return int(self.services.clock.now().timestamp() * 1000)

    def put_application(self, request: NodeRequest) -> NodeResponse:
        """``PUT _application/search_application/{name}``: create or replace an application."""
        _check_params(request, ("create",))
        name = request.params["name"]
        check_name(name)
        definition = parse_application(request.json(required=True))
        create = request.flag("create")
        with self.services.store.write() as conn:
            known = indices.all_names(conn)
            for expression in definition["indices"]:
                indices.resolve_names(expression, known, allow_no_indices=False)
            created = catalog.put_application(
                conn, name, definition, now_millis=self._millis(), create=create
            )
        body = {"result": "created" if created else "updated"}
        return NodeResponse(status=201 if created else 200, body=body)

    def get_application(self, request: NodeRequest) -> NodeResponse:
        """``GET _application/search_application/{name}``."""
        _check_params(request, ())
        name = request.params["name"]
        with self.services.store.read() as conn:
            definition, updated = catalog.application(conn, name)
        return NodeResponse(body={"name": name, **definition, "updated_at_millis": updated})

    def list_applications(self, request: NodeRequest) -> NodeResponse:
        """``GET _application/search_application``: names matching ``q``, a page at a time."""
        _check_params(request, ("q", "from", "size"))
        start, size = page(request.query)
        with self.services.store.read() as conn:
            total, found = catalog.applications(conn, request.query.get("q") or "*", start, size)
        results = []
        for name, definition, updated in found:
            item: dict[str, Any] = {"name": name, "updated_at_millis": updated}
            if "analytics_collection_name" in definition:
                item["analytics_collection_name"] = definition["analytics_collection_name"]
            results.append(item)
        return NodeResponse(body={"count": total, "results": results})

    def delete_application(self, request: NodeRequest) -> NodeResponse:
        """``DELETE _application/search_application/{name}``."""
        _check_params(request, ())
        with self.services.store.write() as conn:
            catalog.delete_application(conn, request.params["name"])
        return NodeResponse(body={"acknowledged": True})

    def search(self, request: NodeRequest) -> NodeResponse:
        """``_application/search_application/{name}/_search``: render, then search its indices."""
        started = time.perf_counter()
        _check_params(request, ("typed_keys",))
        definition = self._definition(request.params["name"])
        body = render(definition, parse_search_params(request.json()))
        expression = ",".join(definition["indices"])
        params = {k: v for k, v in request.query.items() if k == "typed_keys"}
        out = self.search_routes._search(request, expression, body, params, request.path)
        took = int((time.perf_counter() - started) * 1000)
        return NodeResponse(body={"took": took, **out})

    def render_query(self, request: NodeRequest) -> NodeResponse:
        """``_application/search_application/{name}/_render_query``: the rendered search body."""
        _check_params(request, ())
        definition = self._definition(request.params["name"])
        access = IndexAccess(self.services.realm, request.identity)
        with self.services.store.read() as conn:
            known = indices.all_names(conn)
            names = [
                n
                for expression in definition["indices"]
                for n in indices.resolve_names(expression, known)
            ]
        denied = [n for n in names if not access.allowed("read", n)]
        if denied:
            raise index_forbidden(request.identity, "read", denied)
        body = render(definition, parse_search_params(request.json()))
        parse_search(body, {}, path=request.path)
        return NodeResponse(body=body)

    def _definition(self, name: str) -> dict[str, Any]:
        with self.services.store.read() as conn:
            definition, _updated = catalog.application(conn, name)
        return definition

    def put_collection(self, request: NodeRequest) -> NodeResponse:
        """``PUT _application/analytics/{name}``."""
        _check_params(request, ())
        name = request.params["name"]
        check_collection_name(name)
        with self.services.store.write() as conn:
            catalog.put_collection(conn, name, now_millis=self._millis())
        return NodeResponse(body={"acknowledged": True, "name": name})

    def get_collections(self, request: NodeRequest) -> NodeResponse:
        """``GET _application/analytics[/{name}]``: each collection with its events' stream."""
        _check_params(request, ())
        given = request.params.get("name")
        names = [n for n in given.split(",") if n] if given else None
        with self.services.store.read() as conn:
            found = catalog.collections(conn, names)
        body = {n: {"event_data_stream": {"name": event_data_stream(n)}} for n in found}
        return NodeResponse(body=body)

    def delete_collection(self, request: NodeRequest) -> NodeResponse:
        """``DELETE _application/analytics/{name}`` (its kept events with it)."""
        _check_params(request, ())
        with self.services.store.write() as conn:
            catalog.delete_collection(conn, request.params["name"])
        return NodeResponse(body={"acknowledged": True})

    def post_event(self, request: NodeRequest) -> NodeResponse:
        """``POST _application/analytics/{name}/event/{event_type}``: keep one event."""
        _check_params(request, ())
        event = parse_event(
            request.params["event_type"], request.json(required=True), now_millis=self._millis()
        )
        with self.services.store.write() as conn:
            catalog.add_event(conn, request.params["name"], event)
        return NodeResponse(status=202, body={"accepted": True})


def _check_params(request: NodeRequest, known: Iterable[str]) -> None:
    unknown = sorted(p for p in request.query if p not in known)
    if unknown:
        raise IllegalArgument(
            f"request [{request.path}] contains unrecognized parameter: [{','.join(unknown)}]"
        )

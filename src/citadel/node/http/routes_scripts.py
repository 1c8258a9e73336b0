"""Stored scripts: ``_scripts/{id}`` (put, get, delete), ``_script_context``,
``_script_language``; ``_scripts/painless/_execute`` is a 400 (no Painless runs here).

Every route but the Painless refusal needs the ``manage`` cluster privilege, as the
``cluster:admin/script*`` actions do in Elasticsearch.
"""

from __future__ import annotations

from collections.abc import Iterable

from citadel.node.errors import IllegalArgument
from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.router import AUTHENTICATED, Router, cluster
from citadel.node.scripts import catalog
from citadel.node.scripts.contexts import script_contexts, script_languages
from citadel.node.scripts.stored import check_id, parse_stored_script
from citadel.node.search.time_values import parse_time_value
from citadel.node.services import NodeServices

MANAGE = cluster("manage")
_TIMEOUTS = ("timeout", "master_timeout")


def register(router: Router, services: NodeServices) -> None:
    """Add the stored script routes to `router`."""
    routes = ScriptRoutes(services)
    for method in ("PUT", "POST"):
        router.add(method, "/_scripts/{id}", routes.put, MANAGE)
        router.add(method, "/_scripts/{id}/{context}", routes.put, MANAGE)
    router.add("GET", "/_scripts/{id}", routes.get, MANAGE)
    router.add("DELETE", "/_scripts/{id}", routes.delete, MANAGE)
    router.add("GET", "/_script_context", routes.contexts, MANAGE)
    router.add("GET", "/_script_language", routes.languages, MANAGE)
    for method in ("GET", "POST"):
        router.add(method, "/_scripts/painless/_execute", routes.painless_execute, AUTHENTICATED)


class ScriptRoutes:
    """Handlers over the catalog's stored scripts."""

    def __init__(self, services: NodeServices) -> None:
        self.services = services

    def put(self, request: NodeRequest) -> NodeResponse:
        """``PUT|POST _scripts/{id}[/{context}]``: store a mustache or painless script."""
        _check_params(request, (*_TIMEOUTS, "context"))
        context = request.params.get("context", request.query.get("context"))
        script_id = request.params["id"]
        script = parse_stored_script(script_id, request.json(required=True), context)
        with self.services.store.write() as conn:
            catalog.put(conn, script_id, script)
        return NodeResponse(body={"acknowledged": True})

    def get(self, request: NodeRequest) -> NodeResponse:
        """``GET _scripts/{id}``: 404 with ``found: false`` when there is none."""
        _check_params(request, ("master_timeout",))
        script_id = request.params["id"]
        with self.services.store.read() as conn:
            script = catalog.get(conn, script_id)
        if script is None:
            return NodeResponse(status=404, body={"_id": script_id, "found": False})
        return NodeResponse(body={"_id": script_id, "found": True, "script": script.as_json()})

    def delete(self, request: NodeRequest) -> NodeResponse:
        """``DELETE _scripts/{id}``."""
        _check_params(request, _TIMEOUTS)
        check_id(request.params["id"])
        with self.services.store.write() as conn:
            catalog.delete(conn, request.params["id"])
        return NodeResponse(body={"acknowledged": True})

    def contexts(self, request: NodeRequest) -> NodeResponse:
        """``GET _script_context``."""
        _check_params(request, ())
        return NodeResponse(body=script_contexts())

    def languages(self, request: NodeRequest) -> NodeResponse:
        """``GET _script_language``."""
        _check_params(request, ())
        return NodeResponse(body=script_languages())

    def painless_execute(self, request: NodeRequest) -> NodeResponse:
        """``_scripts/painless/_execute``: a 400, this node runs no Painless."""
        raise IllegalArgument(
            "[_scripts/painless/_execute] is not supported by this node: it runs no Painless "
            "scripts (mustache search templates only)"
        )


def _check_params(request: NodeRequest, known: Iterable[str]) -> None:
    unknown = sorted(p for p in request.query if p not in known)
    if unknown:
        raise IllegalArgument(
            f"request [{request.path}] contains unrecognized parameter: [{','.join(unknown)}]"
        )
    for name in _TIMEOUTS:
        if name in request.query:
            parse_time_value(request.query[name], name)

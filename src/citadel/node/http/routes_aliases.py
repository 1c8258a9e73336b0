"""Alias routes: ``_alias``/``_aliases`` on indices, ``POST _aliases``, ``_cat/aliases``."""

from __future__ import annotations

from typing import Any

from citadel.node.http.access import IndexAccess
from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.router import AUTHENTICATED, Router, index
from citadel.node.services import NodeServices
from citadel.node.store import aliases, indices
from citadel.node.store.aliases import Action

ACKNOWLEDGED = {"acknowledged": True}
TEXT = "text/plain; charset=UTF-8"


def register(router: Router, services: NodeServices) -> None:
    """Add this area's routes to `router`."""
    routes = AliasRoutes(services)
    for plural in ("_alias", "_aliases"):
        for method in ("PUT", "POST"):
            router.add(method, f"/{{index}}/{plural}/{{name}}", routes.put, index("manage"))
        router.add("DELETE", f"/{{index}}/{plural}/{{name}}", routes.delete, index("manage"))
    router.add("POST", "/_aliases", routes.update, AUTHENTICATED)
    router.add("GET", "/_alias", routes.get, AUTHENTICATED)
    router.add("GET", "/_alias/{name}", routes.get, AUTHENTICATED)
    router.add("GET", "/{index}/_alias", routes.get, AUTHENTICATED)
    router.add("GET", "/{index}/_alias/{name}", routes.get, AUTHENTICATED)
    router.add("GET", "/_cat/aliases", routes.cat, AUTHENTICATED)
    router.add("GET", "/_cat/aliases/{name}", routes.cat, AUTHENTICATED)


class AliasRoutes:
    """Handlers over the catalog's aliases."""

    def __init__(self, services: NodeServices) -> None:
        self.services = services

    def put(self, request: NodeRequest) -> NodeResponse:
        """``PUT /{index}/_alias/{name}`` with an optional definition body."""
        body = request.json() or {}
        action = Action(
            "add",
            (request.params["index"],),
            (request.params["name"],),
            aliases.definition(request.params["name"], body),
        )
        self._apply(request, [action])
        return NodeResponse(body=ACKNOWLEDGED)

    def delete(self, request: NodeRequest) -> NodeResponse:
        """``DELETE /{index}/_alias/{name}`` (names may be lists and wildcards)."""
        names = tuple(n for n in request.params["name"].split(",") if n)
        self._apply(request, [Action("remove", (request.params["index"],), names, {})])
        return NodeResponse(body=ACKNOWLEDGED)

    def update(self, request: NodeRequest) -> NodeResponse:
        """``POST /_aliases``: add, remove, remove_index, applied together or not at all."""
        actions = aliases.parse_actions(request.json(required=True))
        access = IndexAccess(self.services.realm, request.identity)
        for action in actions:
            for name in action.indices:
                if not indices.is_pattern(name):
                    access.require("manage", name)
        self._apply(request, actions)
        return NodeResponse(body={"acknowledged": True, "errors": False})

    def _apply(self, request: NodeRequest, actions: list[Action]) -> None:
        access = IndexAccess(self.services.realm, request.identity)
        with self.services.store.write() as conn:
            aliases.apply(conn, actions, lambda n: access.allowed("manage", n))

    def get(self, request: NodeRequest) -> NodeResponse:
        """``GET [/{index}]/_alias[/{name}]``; 404 naming aliases that match nothing."""
        names = request.params.get("name")
        access = IndexAccess(self.services.realm, request.identity)
        access.require_named(request.params.get("index"), "view_index_metadata")
        with self.services.store.read() as conn:
            records = indices.resolve(
                conn,
                request.params.get("index"),
                allowed=access.expanding("view_index_metadata"),
                ignore_unavailable=request.flag("ignore_unavailable"),
                expand_hidden=request.query.get("expand_wildcards") in ("all", "hidden"),
                closed_ok=True,
            )
        keep_empty = names is None and request.params.get("index") is not None
        body = aliases.view(records, names, keep_empty=keep_empty)
        absent = aliases.missing(records, names)
        if names is not None and not body and not absent:
            absent = [names]
        if absent:
            shown = ",".join(absent)
            reason = (
                f"alias [{shown}] missing" if len(absent) == 1 else f"aliases [{shown}] missing"
            )
            return NodeResponse(status=404, body={"error": reason, "status": 404, **body})
        return NodeResponse(body=body)

    def cat(self, request: NodeRequest) -> NodeResponse:
        """``_cat/aliases``: alias, index, filter, routing.index, routing.search, is_write_index."""
        access = IndexAccess(self.services.realm, request.identity)
        names = request.params.get("name")
        with self.services.store.read() as conn:
            records = indices.resolve(
                conn,
                None,
                allowed=access.expanding("view_index_metadata"),
                expand_hidden=True,
                expand_closed=True,
            )
        rows = []
        for index_name, shown in aliases.view(records, names, keep_empty=False).items():
            for alias, spec in shown["aliases"].items():
                rows.append(
                    {
                        "alias": alias,
                        "index": index_name,
                        "filter": "*" if spec.get("filter") else "-",
                        "routing.index": "-",
                        "routing.search": "-",
                        "is_write_index": _write_flag(spec),
                    }
                )
        rows.sort(key=lambda r: (r["alias"], r["index"]))
        if request.query.get("format") == "json":
            return NodeResponse(body=rows)
        return NodeResponse(body=_table(rows, headers=request.flag("v")), content_type=TEXT)


def _write_flag(spec: dict[str, Any]) -> str:
    value = spec.get("is_write_index")
    return "-" if value is None else str(value).lower()


def _table(rows: list[dict[str, str]], *, headers: bool) -> str:
    columns = ["alias", "index", "filter", "routing.index", "routing.search", "is_write_index"]
    lines = [columns] if headers else []
    lines += [[row[c] for c in columns] for row in rows]
    if not lines:
        return ""
    widths = [max(len(line[i]) for line in lines) for i in range(len(columns))]
    return "".join(
        " ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() + "\n"
        for line in lines
    )

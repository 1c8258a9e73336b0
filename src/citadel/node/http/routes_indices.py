"""Index routes: create, delete, exists, get, ``_mapping``, ``_settings``, ``_refresh``."""

from __future__ import annotations

from typing import Any

from citadel.node.errors import IllegalArgument, IndexNotFound
from citadel.node.http.access import IndexAccess
from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.router import AUTHENTICATED, Router, index
from citadel.node.security.realm import index_forbidden
from citadel.node.services import NodeServices
from citadel.node.store import indices

ACKNOWLEDGED = {"acknowledged": True}
_REFRESH_PRIVILEGES = ("read", "write", "manage", "index", "create", "delete")


def register(router: Router, services: NodeServices) -> None:
    """Add this area's routes to `router`."""
    routes = IndexRoutes(services)
    router.add("PUT", "/{index}", routes.create, index("create_index"))
    router.add("DELETE", "/{index}", routes.delete, index("delete_index"))
    router.add("GET", "/{index}", routes.get, index("view_index_metadata"))
    router.add("GET", "/_mapping", routes.get_mapping, AUTHENTICATED)
    router.add("GET", "/{index}/_mapping", routes.get_mapping, index("view_index_metadata"))
    router.add("PUT", "/{index}/_mapping", routes.put_mapping, index("manage"))
    router.add("POST", "/{index}/_mapping", routes.put_mapping, index("manage"))
    router.add("GET", "/_settings", routes.get_settings, AUTHENTICATED)
    router.add("GET", "/{index}/_settings", routes.get_settings, index("view_index_metadata"))
    router.add("PUT", "/{index}/_settings", routes.put_settings, index("manage"))
    for method in ("POST", "GET"):
        router.add(method, "/_refresh", routes.refresh, AUTHENTICATED)
        router.add(method, "/{index}/_refresh", routes.refresh, AUTHENTICATED)


class IndexRoutes:
    """Handlers over the node's store."""

    def __init__(self, services: NodeServices) -> None:
        self.services = services

    def create(self, request: NodeRequest) -> NodeResponse:
        """``PUT /{index}``."""
        name = request.params["index"]
        body = request.json()
        with self.services.store.write() as conn:
            indices.create(conn, self.services.clock, name, body)
        return NodeResponse(body={"acknowledged": True, "shards_acknowledged": True, "index": name})

    def delete(self, request: NodeRequest) -> NodeResponse:
        """``DELETE /{index}``: named indices only (no wildcards, as Elasticsearch 8)."""
        expression = request.params["index"]
        if indices.is_pattern(expression):
            raise IllegalArgument("Wildcard expressions or all indices are not allowed")
        with self.services.store.write() as conn:
            records = indices.resolve(
                conn, expression, ignore_unavailable=request.flag("ignore_unavailable")
            )
            for record in records:
                indices.delete(conn, record)
        for record in records:
            self.services.engine.drop(record.uuid)
        return NodeResponse(body=ACKNOWLEDGED)

    def get(self, request: NodeRequest) -> NodeResponse:
        """``GET /{index}`` (and ``HEAD``, which answers 200 or 404 with no body)."""
        with self.services.store.read() as conn:
            records = self._resolve(conn, request, "view_index_metadata")
        if not records and request.method == "HEAD":
            raise IndexNotFound(request.params["index"])
        flat = request.flag("flat_settings")
        return NodeResponse(body={r.name: indices.describe(r, flat_settings=flat) for r in records})

    def get_mapping(self, request: NodeRequest) -> NodeResponse:
        """``GET [/{index}]/_mapping``."""
        with self.services.store.read() as conn:
            records = self._resolve(conn, request, "view_index_metadata")
        return NodeResponse(body={r.name: {"mappings": r.mappings} for r in records})

    def put_mapping(self, request: NodeRequest) -> NodeResponse:
        """``PUT /{index}/_mapping``: add fields; changing a field's type is a 400."""
        body = request.json(required=True)
        with self.services.store.write() as conn:
            records = self._resolve(conn, request, "manage")
            for record in records:
                indices.put_mapping(conn, record, body)
        return NodeResponse(body=ACKNOWLEDGED)

    def get_settings(self, request: NodeRequest) -> NodeResponse:
        """``GET [/{index}]/_settings``."""
        flat = request.flag("flat_settings")
        with self.services.store.read() as conn:
            records = self._resolve(conn, request, "view_index_metadata")
        return NodeResponse(
            body={r.name: {"settings": indices.settings_view(r, flat=flat)} for r in records}
        )

    def put_settings(self, request: NodeRequest) -> NodeResponse:
        """``PUT /{index}/_settings``: dynamic settings only."""
        body = request.json(required=True)
        with self.services.store.write() as conn:
            records = self._resolve(conn, request, "manage")
            for record in records:
                indices.put_settings(conn, record, body)
        for record in records:
            self.services.engine.set_refresh_interval(record.uuid, record.refresh_s)
        return NodeResponse(body=ACKNOWLEDGED)

    def refresh(self, request: NodeRequest) -> NodeResponse:
        """``_refresh``: make every acknowledged write searchable now."""
        access = IndexAccess(self.services.realm, request.identity)
        with self.services.store.read() as conn:
            records = indices.resolve(
                conn,
                request.params.get("index"),
                allowed=lambda n: access.allowed_any(_REFRESH_PRIVILEGES, n),
                ignore_unavailable=request.flag("ignore_unavailable"),
            )
        for record in records:
            if not access.allowed_any(_REFRESH_PRIVILEGES, record.name):
                raise index_forbidden(request.identity, "manage", [record.name])
        for record in records:
            self.services.engine.shard(record).refresh()
        count = len(records)
        return NodeResponse(body={"_shards": {"total": count, "successful": count, "failed": 0}})

    def _resolve(
        self, conn: Any, request: NodeRequest, privilege: str
    ) -> list[indices.IndexRecord]:
        """The indices named in the path (all when none), wildcards expanded to allowed ones."""
        access = IndexAccess(self.services.realm, request.identity)
        return indices.resolve(
            conn,
            request.params.get("index"),
            allowed=lambda n: access.allowed(privilege, n),
            ignore_unavailable=request.flag("ignore_unavailable"),
            allow_no_indices=request.flag("allow_no_indices", True),
            expand_hidden=request.query.get("expand_wildcards") in ("all", "hidden"),
        )

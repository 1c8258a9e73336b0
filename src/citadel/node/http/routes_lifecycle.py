"""Data stream lifecycle routes: ``_data_stream/{name}/_lifecycle`` (put, get, delete),
``{index}/_lifecycle/explain`` and ``_lifecycle/stats``.

Retention is enforced by `citadel.node.lifecycle_loop`; the rules are in
`citadel.node.store.lifecycle`.
"""

from __future__ import annotations

from citadel.node.http.access import IndexAccess
from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.router import AUTHENTICATED, Router, cluster, index
from citadel.node.security.realm import index_forbidden
from citadel.node.services import NodeServices
from citadel.node.store import indices, lifecycle

ACKNOWLEDGED = {"acknowledged": True}
MANAGE = index("manage_data_stream_lifecycle", "name")
_EXPLAIN = ("view_index_metadata", "manage_data_stream_lifecycle")


def register(router: Router, services: NodeServices) -> None:
    """Add the lifecycle routes to `router`."""
    r = LifecycleRoutes(services)
    router.add("PUT", "/_data_stream/{name}/_lifecycle", r.put, MANAGE)
    router.add(
        "GET", "/_data_stream/{name}/_lifecycle", r.get, index("view_index_metadata", "name")
    )
    router.add("DELETE", "/_data_stream/{name}/_lifecycle", r.delete, MANAGE)
    router.add("GET", "/{index}/_lifecycle/explain", r.explain, AUTHENTICATED)
    router.add("GET", "/_lifecycle/stats", r.stats, cluster("monitor"))


class LifecycleRoutes:
    """Handlers over the data streams' lifecycles."""

    def __init__(self, services: NodeServices) -> None:
        self.services = services

    def _now_ms(self) -> int:
        return int(self.services.clock.now().timestamp() * 1000)

    def put(self, request: NodeRequest) -> NodeResponse:
        """``PUT _data_stream/{name}/_lifecycle``."""
        body = request.json()
        with self.services.store.write() as conn:
            lifecycle.put(conn, request.params["name"], body)
        return NodeResponse(body=ACKNOWLEDGED)

    def get(self, request: NodeRequest) -> NodeResponse:
        """``GET _data_stream/{name}/_lifecycle`` (``include_defaults`` adds nothing: the node
        keeps no rollover configuration)."""
        with self.services.store.read() as conn:
            body = lifecycle.get(conn, request.params["name"])
        return NodeResponse(body=body)

    def delete(self, request: NodeRequest) -> NodeResponse:
        """``DELETE _data_stream/{name}/_lifecycle``."""
        with self.services.store.write() as conn:
            lifecycle.delete(conn, request.params["name"])
        return NodeResponse(body=ACKNOWLEDGED)

    def explain(self, request: NodeRequest) -> NodeResponse:
        """``GET {index}/_lifecycle/explain``: each index, managed or not."""
        access = IndexAccess(self.services.realm, request.identity)
        access.require_named(request.params["index"], *_EXPLAIN)
        with self.services.store.read() as conn:
            records = indices.resolve(
                conn,
                request.params["index"],
                allowed=access.expanding(*_EXPLAIN),
                expand_hidden=True,
            )
            for record in records:
                if not access.allowed_any(_EXPLAIN, record.name):
                    raise index_forbidden(request.identity, _EXPLAIN[0], [record.name])
            body = lifecycle.explain(conn, sorted(records, key=lambda r: r.name), self._now_ms())
        return NodeResponse(body=body)

    def stats(self, request: NodeRequest) -> NodeResponse:
        """``GET _lifecycle/stats``."""
        with self.services.store.read() as conn:
            body = lifecycle.stats(conn)
        return NodeResponse(body=body)

"""``PUT|POST /{index}/_clone|_shrink|_split/{target}`` (rules in `citadel.node.store.resize`).

The target's catalog row and its files are made in one write transaction: the source shard is
committed and its tantivy files copied into the target's directory before the row commits, and
the directory is removed if anything fails.
"""

from __future__ import annotations

import shutil

from citadel.node.http.access import IndexAccess
from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.router import AUTHENTICATED, Router
from citadel.node.services import NodeServices
from citadel.node.store import resize
from citadel.node.store.resize import ResizeType


def register(router: Router, services: NodeServices) -> None:
    """Add this area's routes to `router`."""
    routes = ResizeRoutes(services)
    for kind in ResizeType:
        for method in ("PUT", "POST"):
            router.add(
                method, f"/{{index}}/_{kind.value}/{{target}}", routes.handler(kind), AUTHENTICATED
            )


class ResizeRoutes:
    """Handlers over the catalog and the engine."""

    def __init__(self, services: NodeServices) -> None:
        self.services = services

    def handler(self, kind: ResizeType):
        """The handler of one resize type."""

        def handle(request: NodeRequest) -> NodeResponse:
            return self.resize(request, kind)

        handle.__doc__ = f"``/{{index}}/_{kind.value}/{{target}}``."
        return handle

    def resize(self, request: NodeRequest, kind: ResizeType) -> NodeResponse:
        """Create the target index from the source's settings, mappings and files."""
        access = IndexAccess(self.services.realm, request.identity)
        source_name, target = request.params["index"], request.params["target"]
        access.require("manage", source_name)
        access.require("manage", target)
        engine = self.services.engine
        directory = None
        try:
            with self.services.store.write() as conn:
                done = resize.resize(
                    conn, self.services.clock, kind, source_name, target, request.json()
                )
                access.require("manage", done.source.name)
                directory = engine.root / done.target.uuid
                engine.shard(done.source).copy_to(directory)
        except BaseException:
            if directory is not None:
                shutil.rmtree(directory, ignore_errors=True)
            raise
        return NodeResponse(
            body={"acknowledged": True, "shards_acknowledged": True, "index": target}
        )

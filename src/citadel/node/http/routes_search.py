"""``_search`` and ``_count``, over all indices or an index expression.

Routes ask only for an authenticated caller: the index expression is resolved here, with
wildcards expanded to the indices the caller may read and explicit names checked one by one
(403 for a name the caller may not read, 404 for one that does not exist).
"""

from __future__ import annotations

import time
from typing import Any

from citadel.node.http.access import IndexAccess
from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.router import AUTHENTICATED, Router
from citadel.node.search import service
from citadel.node.search.request import (
    IndexOptions,
    parse_count,
    parse_index_options,
    parse_search,
)
from citadel.node.security.realm import index_forbidden
from citadel.node.services import NodeServices

READ = "read"


def register(router: Router, services: NodeServices) -> None:
    """Add the search routes to `router`."""
    routes = SearchRoutes(services)
    for method in ("GET", "POST"):
        for prefix in ("", "/_all", "/{index}"):
            router.add(method, f"{prefix}/_search", routes.search, AUTHENTICATED)
            router.add(method, f"{prefix}/_count", routes.count, AUTHENTICATED)


class SearchRoutes:
    """Handlers over the store, the realm and the clock."""

    def __init__(self, services: NodeServices) -> None:
        self.services = services

    def search(self, request: NodeRequest) -> NodeResponse:
        """``GET|POST [/{index}]/_search``."""
        started = time.perf_counter()
        parsed = parse_search(request.json(), request.query, path=request.path)
        options = parse_index_options(request.query)
        with self.services.store.read() as conn:
            opened = self._open(conn, request, options)
        body = service.search(
            self.services.engine, opened.indices, parsed, now=self.services.clock.now()
        )
        took = int((time.perf_counter() - started) * 1000)
        return NodeResponse(body={"took": took, **body})

    def count(self, request: NodeRequest) -> NodeResponse:
        """``GET|POST [/{index}]/_count``."""
        query, min_score = parse_count(request.json(), request.query, path=request.path)
        options = parse_index_options(request.query)
        with self.services.store.read() as conn:
            opened = self._open(conn, request, options)
        total = service.count(
            self.services.engine,
            opened.indices,
            query,
            min_score=min_score,
            now=self.services.clock.now(),
        )
        return NodeResponse(body={"count": total, "_shards": service.shards(len(opened.indices))})

    def _open(self, conn: Any, request: NodeRequest, options: IndexOptions) -> service.Opened:
        """The searched indices; 403 for an explicitly named one the caller may not read."""
        access = IndexAccess(self.services.realm, request.identity)
        opened = service.open_indices(
            conn, request.params.get("index"), options, lambda name: access.allowed(READ, name)
        )
        if opened.denied:
            raise index_forbidden(request.identity, READ, opened.denied)
        return opened

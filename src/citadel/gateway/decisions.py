"""A connection's routing and filter decisions, cached for the connection's life (pure).

`routing.decide` is a pure function of the route table, the connection's SNI and client (both
fixed when the connection is accepted) and the request's Host and ``X-Found-Cluster``. So a
connection asks it once per distinct (Host, X-Found-Cluster) pair and table, and every later
request on the connection with the same pair gets the same `Decision` from a dictionary: no
host parsing and no filter lookup per request. A new snapshot is a new `RouteTable` object,
and the first request after it is installed empties the cache, so a filter or state change
applies to open connections from their next request on, exactly as without the cache.

The cache holds at most `MAX_ENTRIES` pairs; a connection naming more distinct ones (a client
varying its Host) is decided afresh for each further request, never stored.
"""

from __future__ import annotations

from citadel.gateway.routing import Decision, RouteTable, decide
from citadel.traffic_filters.matching import Client

MAX_ENTRIES = 8


class ConnectionDecisions:
    """`decide` for one connection, memoised per table and (Host, X-Found-Cluster)."""

    __slots__ = ("_decided", "_table", "client", "server_names", "sni")

    def __init__(
        self,
        sni: str | None,
        client: Client,
        server_names: frozenset[str] = frozenset({"localhost"}),
    ) -> None:
        self.sni = sni
        self.client = client
        self.server_names = server_names
        self._table: RouteTable | None = None
        self._decided: dict[tuple[str | None, str | None], Decision] = {}

    def decide(self, table: RouteTable, host: str | None, found_cluster: str | None) -> Decision:
        """The decision `routing.decide` gives for this connection and request."""
        if table is not self._table:
            self._table = table
            self._decided = {}
        key = (host, found_cluster)
        decision = self._decided.get(key)
        if decision is None:
            decision = decide(
                table,
                sni=self.sni,
                host=host,
                found_cluster=found_cluster,
                client=self.client,
                server_names=self.server_names,
            )
            if len(self._decided) < MAX_ENTRIES:
                self._decided[key] = decision
        return decision

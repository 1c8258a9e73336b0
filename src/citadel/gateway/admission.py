"""How much one client address and one deployment may hold of a gateway worker (issue 17.1).

A node has a fixed number of descriptors; every request the gateway forwards holds one of
them (an upstream connection) until its response ends, however slowly its body arrives. So
one client address could hold them all. Three counts bound that, each kept by the worker
that owns the connections (no lock, no I/O: the event loop's thread alone touches them):

- connections per client address: past the cap, a connection is answered 429 at its first
  request and closed;
- requests in flight per client address (forwarded and not yet answered): past the cap, a
  request is answered 429 and never reaches a node;
- upstream connections per deployment (connecting, busy or idle): below the node's
  descriptor limit; past it, an idle one is closed to make room, else the request is
  answered 429.

The caps are per worker: `per_worker` divides a gateway-wide figure over the workers (the
kernel spreads an address's connections over them by hash, so the share is even). The
client address is the connection's client (`ConnectionContext.client`), the one traffic
filters decide on: behind a PROXY balancer, the address the PROXY header names.
"""

from __future__ import annotations

import math

UNKNOWN_CLIENT = "unknown"


def per_worker(total: int, workers: int) -> int:
    """A worker's share of a gateway-wide cap: rounded up, at least 1."""
    return max(1, math.ceil(total / max(1, workers)))


class Admission:
    """One worker's counts of connections and requests per client address and of upstream
    connections per deployment (node socket), checked against their caps."""

    __slots__ = (
        "connections",
        "max_connections_per_client",
        "max_requests_per_client",
        "max_upstreams_per_deployment",
        "requests",
        "upstreams",
    )

    def __init__(
        self,
        *,
        max_connections_per_client: int,
        max_requests_per_client: int,
        max_upstreams_per_deployment: int,
    ) -> None:
        self.max_connections_per_client = max_connections_per_client
        self.max_requests_per_client = max_requests_per_client
        self.max_upstreams_per_deployment = max_upstreams_per_deployment
        self.connections: dict[str, int] = {}
        self.requests: dict[str, int] = {}
        self.upstreams: dict[str, int] = {}

    # --- connections per client address --------------------------------------------
    def open_connection(self, client_ip: str) -> bool:
        """Count a new connection from `client_ip`; False (not counted) past the cap."""
        count = self.connections.get(client_ip, 0)
        if count >= self.max_connections_per_client:
            return False
        self.connections[client_ip] = count + 1
        return True

    def close_connection(self, client_ip: str) -> None:
        """A counted connection ended."""
        _decrement(self.connections, client_ip)

    # --- requests in flight per client address -------------------------------------
    def start_request(self, client_ip: str) -> bool:
        """Count a request about to be forwarded; False (not counted) past the cap."""
        requests = self.requests
        count = requests.get(client_ip, 0)
        if count >= self.max_requests_per_client:
            return False
        requests[client_ip] = count + 1
        return True

    def end_request(self, client_ip: str) -> None:
        """A counted request was answered (or its connection ended)."""
        _decrement(self.requests, client_ip)

    # --- upstream connections per deployment ---------------------------------------
    def reserve_upstream(self, node_socket: str) -> bool:
        """Count an upstream connection about to be opened; False past the budget."""
        count = self.upstreams.get(node_socket, 0)
        if count >= self.max_upstreams_per_deployment:
            return False
        self.upstreams[node_socket] = count + 1
        return True

    def release_upstream(self, node_socket: str) -> None:
        """A counted upstream connection closed (or never opened)."""
        _decrement(self.upstreams, node_socket)


def _decrement(counts: dict[str, int], key: str) -> None:
    left = counts.get(key, 0) - 1
    if left > 0:
        counts[key] = left
    else:
        counts.pop(key, None)

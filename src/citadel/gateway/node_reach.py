"""Where a route's node is reached: its unix socket on this host, or its address on another.

A node on this host is reached on its unix socket (`Route.node_socket`); a node on another
allocator host (ADR 31) at `Route.node_address`, ``host:port`` (``[v6]:port`` for an IPv6
address): the allocator's TCP listener, which splices to the node's socket. Either way the
gateway speaks the same mutual TLS to the node itself. `node_accepts` is the wake path's
cheap "is it up" probe (`citadel.gateway.wake`): one connect, closed at once, no TLS.
"""

from __future__ import annotations

import asyncio
import contextlib

from citadel.gateway.routing import Route
from citadel.gateway.unix_sockets import accepts

CONNECT_PROBE_S = 1.0


def split_node_address(address: str) -> tuple[str, int]:
    """``"10.0.0.5:20001"`` -> ``("10.0.0.5", 20001)``; ``"[fd00::5]:20001"`` ->
    ``("fd00::5", 20001)``. Raises ValueError for anything else."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"not a node address (host:port): {address!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"an IPv6 node address needs brackets: {address!r}")
    return host, int(port)


async def node_accepts(route: Route) -> bool:
    """Whether something listens where the route's node is reached: its address when it has
    one, else its unix socket. A missing, refusing or unreachable one is False."""
    if not route.node_address:
        return await accepts(route.node_socket)
    try:
        host, port = split_node_address(route.node_address)
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port), timeout=CONNECT_PROBE_S
        )
    except (OSError, ValueError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True

"""The clients gateways report seeing, kept in memory for the lockout guard.

Gateways POST what they saw (internal API) every few seconds; an entry is forgotten after
`ttl_s`. Nothing here is durable: after a restart the guard knows only what gateways report
again, which takes one reporting interval.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class SeenClient:
    """One client of one deployment, as a gateway saw it."""

    deployment_id: str
    client_ip: str
    endpoint_id: str | None
    last_seen: float
    connected: bool


class RecentClients:
    """Thread-safe: the API serves requests on worker threads."""

    def __init__(self, ttl_s: float = 600.0, clock: Callable[[], float] = time.time) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str, str | None], SeenClient] = {}

    def report(self, clients: Iterable[SeenClient]) -> None:
        with self._lock:
            for client in clients:
                key = (client.deployment_id, client.client_ip, client.endpoint_id)
                old = self._seen.get(key)
                if old is None or old.last_seen <= client.last_seen:
                    self._seen[key] = client
            self._expire()

    def current(self) -> list[SeenClient]:
        """Every client seen within `ttl_s`."""
        with self._lock:
            self._expire()
            return list(self._seen.values())

    def _expire(self) -> None:
        horizon = self.clock() - self.ttl_s
        for key in [k for k, c in self._seen.items() if c.last_seen < horizon]:
            del self._seen[key]

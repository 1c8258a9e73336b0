"""The gateway's traffic-filter refusals as security audit events of their deployments.

A request a deployment's traffic filters refuse never reaches its node, so the node cannot
audit it; the gateway does, as Elasticsearch audits an IP filter refusal:
``{"event.type": "ip_filter", "event.action": "connection_denied", "origin.address": ...,
"rule": "BLOCKED_BY_IP_FILTER", "request.id": ...}`` (with the private-link endpoint the
connection came through, when it came through one, as ``origin.private_endpoint``).

The data path pays one small dict per refused request, appended to a bounded buffer
(`CAPACITY`); when it is full the event is dropped and counted for its deployment. Every
`SEND_INTERVAL_S` `send_forever` posts what is waiting to ``<internal>/gateway/security-events``
(the contract's `GatewaySecurityEvents`, within its bounds) with the dropped counts; a failed
post puts the events back (those the buffer has no room for any more are counted dropped) and
is tried again, with one warning per outage. Serving never waits for it.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import structlog

from citadel.contract.client import ControlPlane
from citadel.contract.messages import (
    MAX_SECURITY_EVENTS,
    MAX_SECURITY_POST_BYTES,
    DeploymentSecurityEvents,
    GatewaySecurityEvents,
    security_event_size,
)
from citadel.traffic_filters.matching import Client

log = structlog.get_logger("citadel.gateway.security_events")

CAPACITY = 10_000
SEND_INTERVAL_S = 2.0

Waiting = tuple[str, dict[str, Any]]


class DeniedConnections:
    """The refused requests' ``connection_denied`` events, waiting to be posted."""

    def __init__(self, *, capacity: int = CAPACITY, clock: Callable[[], float] = time.time):
        self.capacity = capacity
        self.clock = clock
        self._waiting: deque[Waiting] = deque()
        self.dropped: Counter[str] = Counter()  # by deployment, not yet posted
        self.dropped_total = 0  # since the gateway started (its metrics)

    def record(self, deployment_id: str, client: Client, rule: str, request_id: str) -> None:
        """A request to `deployment_id` from `client` was refused by its traffic filters."""
        if len(self._waiting) >= self.capacity:
            self.dropped[deployment_id] += 1
            self.dropped_total += 1
            return
        at = datetime.fromtimestamp(self.clock(), UTC).isoformat(timespec="milliseconds")
        event: dict[str, Any] = {
            "@timestamp": at.replace("+00:00", "Z"),
            "event.type": "ip_filter",
            "event.action": "connection_denied",
            "origin.type": "rest",
            "origin.address": client.ip or "unknown",
            "transport.profile": ".http",
            "rule": rule,
            "request.id": request_id,
        }
        if client.endpoint:
            event["origin.private_endpoint"] = client.endpoint
        self._waiting.append((deployment_id, event))

    def pending(self) -> int:
        """Events waiting to be posted."""
        return len(self._waiting)

    def take(self) -> tuple[list[Waiting], Counter[str]]:
        """The next post's events (within the contract's bounds) and the dropped counts,
        removed from the buffer."""
        taken: list[Waiting] = []
        size = 0
        while self._waiting and len(taken) < MAX_SECURITY_EVENTS:
            cost = security_event_size(self._waiting[0][1]) + 64
            if taken and size + cost > MAX_SECURITY_POST_BYTES:
                break
            taken.append(self._waiting.popleft())
            size += cost
        dropped, self.dropped = self.dropped, Counter()
        return taken, dropped

    def put_back(self, taken: list[Waiting], dropped: Counter[str]) -> None:
        """A post failed: its events go back in front, as far as there is room."""
        self.dropped.update(dropped)
        for deployment_id, event in reversed(taken):
            if len(self._waiting) >= self.capacity:
                self.dropped[deployment_id] += 1
                self.dropped_total += 1
                continue
            self._waiting.appendleft((deployment_id, event))

    async def send_forever(
        self,
        client: httpx.AsyncClient,
        control_plane: ControlPlane,
        *,
        interval_s: float = SEND_INTERVAL_S,
    ) -> None:
        """Post what is waiting every `interval_s` (several posts when there is more)."""
        reachable: bool | None = None
        while True:
            await asyncio.sleep(interval_s)
            while self._waiting or self.dropped:
                taken, dropped = self.take()
                try:
                    await control_plane.send_gateway_security_events(
                        client, message(taken, dropped)
                    )
                except asyncio.CancelledError:
                    self.put_back(taken, dropped)
                    raise
                except (httpx.HTTPError, OSError, ValueError) as exc:
                    self.put_back(taken, dropped)
                    if reachable is not False:
                        log.warning("gateway.security_events.post_failed", error=type(exc).__name__)
                    reachable = False
                    break
                if reachable is False:
                    log.info("gateway.security_events.post_resumed")
                reachable = True


def message(taken: list[Waiting], dropped: Counter[str]) -> GatewaySecurityEvents:
    """The contract's message: the events and dropped counts grouped by deployment."""
    events: dict[str, list[dict[str, Any]]] = {}
    for deployment_id, event in taken:
        events.setdefault(deployment_id, []).append(event)
    ids = list(events) + [d for d in dropped if d not in events]
    return GatewaySecurityEvents(
        deployments=tuple(
            DeploymentSecurityEvents(
                deployment_id=d, events=tuple(events.get(d, ())), dropped=dropped.get(d, 0)
            )
            for d in ids
        )
    )

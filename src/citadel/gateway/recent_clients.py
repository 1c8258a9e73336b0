"""The clients each deployment has admitted recently, reported to the control plane.

The control plane's lockout guard asks "who would this filter change lock out?"; the gateway
answers with what it has seen. Per deployment it remembers up to `per_deployment` clients
(address and private-link endpoint), when each was last seen and whether a connection of it
is open now; a client with no open connection is forgotten `forget_after_s` after it was last
seen. The data path pays one dictionary update when a connection first reaches a deployment
and one when it closes, never per request. `report_forever` posts the list to
`<internal>/gateway/clients` every `interval_s` when it changed (and at least every
`heartbeat_s`), quietly: one warning per outage, serving never waits for it. What it posts is
the internal contract's `SeenClients` (ADR 17).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import structlog

from citadel.contract.messages import SeenClients, to_json
from citadel.traffic_filters.matching import Client

log = structlog.get_logger("citadel.gateway.clients")

REPORT_INTERVAL_S = 2.0
HEARTBEAT_S = 60.0
PER_DEPLOYMENT = 256
FORGET_AFTER_S = 600.0


@dataclass(slots=True)
class _Sighting:
    last_seen: float
    open: int = 0


class RecentClients:
    """Per deployment, the clients seen recently; bounded, oldest first out."""

    def __init__(
        self,
        *,
        per_deployment: int = PER_DEPLOYMENT,
        forget_after_s: float = FORGET_AFTER_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.per_deployment = per_deployment
        self.forget_after_s = forget_after_s
        self.clock = clock
        self.changed = False
        self._seen: dict[str, OrderedDict[Client, _Sighting]] = {}

    def connected(self, deployment_id: str, client: Client) -> None:
        """A connection of `client` reached the deployment (counted once per connection)."""
        seen = self._seen.get(deployment_id)
        if seen is None:
            seen = self._seen[deployment_id] = OrderedDict()
        sighting = seen.get(client)
        if sighting is None:
            sighting = seen[client] = _Sighting(self.clock())
            if len(seen) > self.per_deployment:
                seen.popitem(last=False)
        else:
            sighting.last_seen = self.clock()
            seen.move_to_end(client)
        sighting.open += 1
        self.changed = True

    def disconnected(self, deployment_id: str, client: Client) -> None:
        """That connection closed."""
        seen = self._seen.get(deployment_id)
        sighting = seen.get(client) if seen is not None else None
        if sighting is None:
            return  # pushed out by newer clients meanwhile
        sighting.open = max(0, sighting.open - 1)
        sighting.last_seen = self.clock()
        self.changed = True

    def snapshot(self) -> list[dict[str, object]]:
        """Forget what is too old, then list the rest in the report's shape."""
        now = self.clock()
        horizon = now - self.forget_after_s
        report: list[dict[str, object]] = []
        for deployment_id in list(self._seen):
            seen = self._seen[deployment_id]
            for client in [c for c, s in seen.items() if not s.open and s.last_seen < horizon]:
                del seen[client]
            if not seen:
                del self._seen[deployment_id]
                continue
            for client, sighting in seen.items():
                report.append(
                    {
                        "deployment_id": deployment_id,
                        "client_ip": client.ip,
                        "endpoint_id": client.endpoint,
                        "last_seen": now if sighting.open else sighting.last_seen,
                        "connected": sighting.open > 0,
                    }
                )
        return report

    async def report_forever(
        self,
        client: httpx.AsyncClient,
        url: str,
        *,
        interval_s: float = REPORT_INTERVAL_S,
        heartbeat_s: float = HEARTBEAT_S,
    ) -> None:
        """Post the list whenever it changed, at most every `interval_s`."""
        reachable: bool | None = None
        last_post = 0.0
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(interval_s)
            if not self.changed and loop.time() - last_post < heartbeat_s:
                continue
            self.changed = False
            try:
                report = SeenClients.model_validate({"clients": self.snapshot()})
                response = await client.post(url, json=to_json(report))
                response.raise_for_status()
            except asyncio.CancelledError:
                self.changed = True
                raise
            except (httpx.HTTPError, OSError, ValueError) as exc:
                self.changed = True  # try again next time
                if reachable is not False:
                    log.warning("gateway.clients.report_failed", error=type(exc).__name__)
                reachable = False
                continue
            if reachable is False:
                log.info("gateway.clients.report_resumed")
            reachable = True
            last_post = loop.time()

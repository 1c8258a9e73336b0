"""When each serverless project last had a request forwarded, reported to the control plane.

The control plane stops a project no gateway has forwarded a request to for
`project_idle_timeout_s` (ADR 29); this is what it learns that from. The data path pays one
dictionary store per request forwarded to a project (deployments are not tracked).
`report_forever` posts what changed since the last post — each project with its latest
request time, the internal contract's `ProjectActivity` — every `interval_s`, and nothing
when nothing was forwarded. A failed post keeps its entries for the next one (quietly: one
warning per outage); serving never waits for it. Each worker reports its own requests; the
control plane keeps the latest time per project over every report it receives.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable

import httpx
import structlog

from citadel.contract.client import ControlPlane, ControlPlaneUnavailable
from citadel.contract.messages import ProjectActivity, ProjectSeen

log = structlog.get_logger("citadel.gateway.activity")

REPORT_INTERVAL_S = 2.0


class ProjectRequests:
    """Per project, the time (epoch seconds) of the latest request forwarded to it since the
    last report."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._latest: dict[str, float] = {}

    def forwarded(self, project_id: str) -> None:
        """A request was forwarded to the project now."""
        self._latest[project_id] = self.clock()

    def take(self) -> dict[str, float]:
        """What was forwarded since the last `take` (emptied)."""
        latest, self._latest = self._latest, {}
        return latest

    def put_back(self, latest: dict[str, float]) -> None:
        """Entries a report could not deliver: kept, unless a newer request replaced them."""
        for project_id, at in latest.items():
            if self._latest.get(project_id, 0.0) < at:
                self._latest[project_id] = at

    async def report_forever(
        self,
        control_plane: ControlPlane,
        client: httpx.AsyncClient,
        *,
        interval_s: float = REPORT_INTERVAL_S,
    ) -> None:
        """Post the projects forwarded to since the last post, every `interval_s`."""
        reachable: bool | None = None
        while True:
            await asyncio.sleep(interval_s)
            latest = self.take()
            if not latest:
                continue
            activity = ProjectActivity(
                projects=tuple(
                    ProjectSeen(project_id=project_id, last_request_at=at)
                    for project_id, at in latest.items()
                )
            )
            try:
                await control_plane.report_activity(client, activity)
            except asyncio.CancelledError:
                self.put_back(latest)
                raise
            except (httpx.HTTPError, ControlPlaneUnavailable, ssl.SSLError, OSError) as exc:
                self.put_back(latest)
                if reachable is not False:
                    log.warning("gateway.activity.report_failed", error=type(exc).__name__)
                reachable = False
                continue
            if reachable is False:
                log.info("gateway.activity.report_resumed")
            reachable = True

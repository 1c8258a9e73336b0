"""Holding a request for a stopped serverless project while the control plane starts it.

A project stopped for idleness (ADR 29) is still in the snapshot, marked wakeable
(`routing.Project.wakes`); its traffic filter has already admitted the client (a filtered
client never wakes a project). The data path then holds the request and asks `Waker.ready`:

- If the project's node accepts a connection (on its socket, or at its address on another
  host: `citadel.gateway.node_reach`), it is up: forward now, without waiting for the next
  snapshot to say so.
- Otherwise one wake per project is in progress at a time: the first held request calls the
  control plane's ``POST /internal/v1/projects/{id}/wake`` and polls the node every `poll_s`
  until it accepts; every other request for the project waits on the same task. Each poll
  looks where the current snapshot says the node is (`current_route`): a project woken on
  another host gets its address in a later snapshot.
- The whole wait is bounded by `timeout_s` (`project_wake_timeout_s`); past it, or when the
  control plane does not answer, or answers that the project will not run (deleted, locked,
  failed), the held requests are answered by the gateway (503 with ``Retry-After``, or the
  usual not-running answer).

A node that accepts but then fails the forwarded request's connection before anything was
sent (it was still stopping when the request came) gets the request held once more, this
time with a wake call whatever the socket says, so the node is started again; the client
sees a slower answer instead of a 502.

Holding is bounded too: at most `max_held_per_project` requests per project and `max_held`
in all (per worker) wait at once; one more is answered 503 with ``Retry-After`` at once, so a
burst against a cold project cannot pile up memory or connections. A held request whose
client goes away gives its place back immediately; the wake it started goes on for the
others. Each wake is counted by outcome with its duration in the worker's `WorkerStats`.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from enum import StrEnum

import httpx
import structlog

from citadel.contract.client import ControlPlane, ControlPlaneUnavailable
from citadel.contract.states import ObservedState
from citadel.gateway.metrics import WorkerStats
from citadel.gateway.node_reach import node_accepts
from citadel.gateway.routing import Route

log = structlog.get_logger("citadel.gateway.wake")

POLL_S = 0.05
MAX_HELD_PER_PROJECT = 64
MAX_HELD = 1024
# The control plane answered that the project will not run: nothing to wait for.
_WONT_RUN = frozenset({ObservedState.DELETED, ObservedState.LOCKED, ObservedState.FAILED})


class WakeOutcome(StrEnum):
    """How waiting for a project ended (the ``outcome`` label of the wake counter)."""

    READY = "ready"  # its node accepts connections: forward
    TIMED_OUT = "timed_out"  # not up within the wake timeout
    FAILED = "failed"  # the control plane did not answer, or refused the wake
    WONT_RUN = "wont_run"  # the control plane says it will not run (deleted, locked, failed)


class Waker:
    """One worker's wakes in progress and held requests, with their caps."""

    def __init__(
        self,
        stats: WorkerStats,
        *,
        timeout_s: float = 60.0,
        max_held_per_project: int = MAX_HELD_PER_PROJECT,
        max_held: int = MAX_HELD,
        poll_s: float = POLL_S,
        node_accepts: Callable[[Route], Awaitable[bool]] = node_accepts,
        current_route: Callable[[str], Route | None] | None = None,
    ) -> None:
        """`current_route`: the route of an id in the snapshot served now (None: the route
        the request was held with)."""
        self.stats = stats
        self.timeout_s = timeout_s
        self.max_held_per_project = max_held_per_project
        self.max_held = max_held
        self.poll_s = poll_s
        self.node_accepts = node_accepts
        self.current_route = current_route
        self.control_plane: ControlPlane | None = None
        self.client: httpx.AsyncClient | None = None
        self.held: dict[str, int] = {}  # requests held now, by project
        self.held_total = 0
        self._waking: dict[str, asyncio.Future[WakeOutcome]] = {}

    def bind(self, control_plane: ControlPlane, client: httpx.AsyncClient) -> None:
        """Wake projects through this control plane, with this (mTLS) client."""
        self.control_plane = control_plane
        self.client = client

    def hold(self, project_id: str) -> bool:
        """Count one more held request for the project; False (nothing counted) past a cap."""
        held = self.held.get(project_id, 0)
        if held >= self.max_held_per_project or self.held_total >= self.max_held:
            return False
        self.held[project_id] = held + 1
        self.held_total += 1
        self.stats.held_requests += 1
        self.stats.held_now = self.held_total
        return True

    def release(self, project_id: str) -> None:
        """A held request is no longer held (forwarded, answered, or its client left)."""
        left = self.held.get(project_id, 1) - 1
        if left > 0:
            self.held[project_id] = left
        else:
            self.held.pop(project_id, None)
        self.held_total = max(0, self.held_total - 1)
        self.stats.held_now = self.held_total

    async def ready(self, route: Route, *, probe: bool = True) -> WakeOutcome:
        """Wait until the route's node accepts connections, waking the project (one wake per
        project at a time); cancelling the caller leaves the wake running for the others.
        With `probe` a node that accepts already is ready without a wake; without, the wake
        is asked for anyway (the node that accepted failed the request's connection)."""
        if probe and await self.node_accepts(route):
            return WakeOutcome.READY
        waking = self._waking.get(route.id)
        if waking is None:
            waking = asyncio.ensure_future(self._wake(route))
            self._waking[route.id] = waking

            def done(_: asyncio.Future[WakeOutcome]) -> None:
                if self._waking.get(route.id) is waking:
                    del self._waking[route.id]

            waking.add_done_callback(done)
        return await asyncio.shield(waking)

    def _current(self, route: Route) -> Route:
        """The route as the snapshot served now has it (where its node is may have moved)."""
        found = self.current_route(route.id) if self.current_route is not None else None
        return found or route

    def waking(self, project_id: str) -> bool:
        """Whether a wake of the project is in progress."""
        return project_id in self._waking

    async def _wake(self, route: Route) -> WakeOutcome:
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + self.timeout_s
        log.info("gateway.project.waking", project_id=route.id, state=route.state)
        outcome = await self._ask(route, deadline)
        if outcome is None:
            outcome = WakeOutcome.TIMED_OUT
            while loop.time() < deadline:
                if await self.node_accepts(self._current(route)):
                    outcome = WakeOutcome.READY
                    break
                await asyncio.sleep(min(self.poll_s, max(0.0, deadline - loop.time())))
        seconds = loop.time() - started
        self.stats.wake(outcome.value, seconds)
        log.info(
            "gateway.project.woken"
            if outcome is WakeOutcome.READY
            else "gateway.project.wake_failed",
            project_id=route.id,
            outcome=outcome.value,
            duration_ms=round(seconds * 1000, 1),
        )
        return outcome

    async def _ask(self, route: Route, deadline: float) -> WakeOutcome | None:
        """Ask the control plane to start the project: None when it will (then wait for the
        node), else why there is nothing to wait for."""
        if self.control_plane is None or self.client is None:
            log.warning("gateway.project.no_control_plane", project_id=route.id)
            return WakeOutcome.FAILED
        remaining = max(0.0, deadline - asyncio.get_running_loop().time())
        try:
            answer = await asyncio.wait_for(
                self.control_plane.wake_project(self.client, route.id), remaining
            )
        except TimeoutError:
            return WakeOutcome.TIMED_OUT
        except (httpx.HTTPError, ControlPlaneUnavailable, ssl.SSLError, OSError) as exc:
            log.warning(
                "gateway.project.wake_refused",
                project_id=route.id,
                error=type(exc).__name__,
                detail=str(exc) if isinstance(exc, ControlPlaneUnavailable) else None,
            )
            return WakeOutcome.FAILED
        if answer.state in _WONT_RUN:
            return WakeOutcome.WONT_RUN
        return None

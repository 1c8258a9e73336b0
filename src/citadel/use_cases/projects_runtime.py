"""Scale to zero, the control plane's side (ADR 29): the sweep that stops idle projects, the
wake-up a gateway asks for and the activity the gateways report.

Who does what: the gateways report when they last forwarded a request to each project
(`record_activity`, every few seconds); the control plane's sweep (`sweep_idle_projects`,
every ``project_sweep_interval_s``) sets the runtime instance of each project idle past
``project_idle_timeout_s`` (or beyond the warm memory budget, `citadel.projects.idle`) to
desired ``stopped`` and marks the project ``idle_stopped``; the allocator stops its node as it
stops a shut-down deployment's. A gateway holding a request for a stopped project asks for it
back (`wake_project`): the instance is desired ``running`` again, and the wake-up counts as a
request, so the next sweep cannot stop it before it has served.

A project stays ``initialized`` while idle-stopped: to its clients it is available, only
slower to answer the first request. Neither the sweep nor a wake-up changes what the project
API shows, so neither bumps the project's revision (its ETag). Both change the instance, so
the allocations and the gateway's routes get a new version.

The sweep decides in a read transaction and writes only when there is something to stop, then
decides again on the rows locked for update (PostgreSQL; SQLite's writers queue), so a
wake-up or a request reported in between wins, and two control-plane replicas that sweep at
the same time stop a project once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum

import sqlalchemy as sa

from citadel.audit.tags import AuditAction, TargetType
from citadel.authn.context import Context
from citadel.contract.messages import ObservedState, ProjectActivity
from citadel.deployments.lifecycle import Desired, Observed
from citadel.deployments.models import PROJECT, Deployment
from citadel.deployments.service import touch
from citadel.log import get_logger
from citadel.projects import idle
from citadel.projects.errors import ProjectNotFound
from citadel.projects.models import Project
from citadel.projects.phases import Phase
from citadel.use_cases.units import Units

log = get_logger(__name__)

INITIALIZING, INITIALIZED, DELETING = Phase.INITIALIZING, Phase.INITIALIZED, Phase.DELETING
WARM_PHASES = (INITIALIZING, INITIALIZED)
"""Phases whose running instance holds memory against the warm budget."""
SERVING = frozenset({Observed.RUNNING, Observed.FAILED})
"""Observed states of an instance that has had its chance to serve: only an ``initialized``
project whose instance is in one of them is ever stopped (one woken and still starting is
not, however long its start takes). The allocator reports a state when it changes, so the
instance's ``observed_at`` is when it came up, which counts as activity too."""
_ACTIVITY_BATCH = 500


def _running(ctx: Context, *, lock: bool) -> Sequence[sa.Row[Project, Deployment]]:
    stmt = (
        sa.select(Project, Deployment)
        .join(Deployment, Deployment.id == Project.id)
        .where(
            Deployment.kind == PROJECT,
            Deployment.desired_state == Desired.RUNNING,
            Project.phase.in_(WARM_PHASES),
        )
        .order_by(Project.id)
    )
    return ctx.session.execute(stmt.with_for_update() if lock else stmt).all()


def _decide(
    ctx: Context,
    rows: Sequence[sa.Row[Project, Deployment]],
    *,
    idle_timeout_s: float,
    warm_memory_mb: int | None,
) -> list[idle.Stop]:
    running = [
        idle.RunningProject(
            project.id,
            instance.size,
            idle.last_active(
                project.last_request_at,
                instance.observed_at,
                project.phase_changed_at,
                project.updated_at,
                project.created_at,
            ),
            serving=project.phase == INITIALIZED and instance.observed_state in SERVING,
        )
        for project, instance in rows
    ]
    return idle.to_stop(
        running,
        now=ctx.clock.now(),
        idle_timeout_s=idle_timeout_s,
        warm_memory_mb=warm_memory_mb,
    )


def sweep_idle_projects(
    units: Units, *, idle_timeout_s: float, warm_memory_mb: int | None
) -> list[idle.Stop]:
    """Stop the projects idle past `idle_timeout_s`, then those the warm budget has no room
    for (longest idle first); each stop is audited as the platform's. Returns the stops."""
    with units.read() as ctx:
        if not _decide(
            ctx,
            _running(ctx, lock=False),
            idle_timeout_s=idle_timeout_s,
            warm_memory_mb=warm_memory_mb,
        ):
            return []
    with units.write() as ctx:
        rows = _running(ctx, lock=True)
        stops = _decide(ctx, rows, idle_timeout_s=idle_timeout_s, warm_memory_mb=warm_memory_mb)
        by_id = {project.id: (project, instance) for project, instance in rows}
        for stop in stops:
            project, instance = by_id[stop.project_id]
            instance.desired_state = Desired.STOPPED
            touch(ctx, instance)
            project.idle_stopped = True
            ctx.record(
                AuditAction.PROJECT_IDLE_STOPPED,
                organization_id=project.organization_id,
                target_type=TargetType.PROJECT,
                target_id=project.id,
                details={
                    "reason": str(stop.reason),
                    "idle_s": round(stop.idle_s),
                    "memory_mb": instance.size,
                },
            )
            log.info(
                "project.idle_stopped",
                project_id=project.id,
                reason=str(stop.reason),
                idle_s=round(stop.idle_s),
            )
        ctx.session.flush()
    return stops


def wake_project(units: Units, project_id: str) -> ObservedState:
    """Have the project run again (a gateway holds a request for it): its instance is desired
    running, it is no longer idle-stopped, and the wake-up counts as a request. Returns the
    instance's observed state as it was (the gateway then waits for the node). A project that
    does not exist or is being deleted is a 404."""
    with units.write() as ctx:
        project = ctx.session.get(Project, project_id, with_for_update=True)
        instance = ctx.session.get(Deployment, project_id, with_for_update=True)
        if (
            project is None
            or instance is None
            or instance.kind != PROJECT
            or project.phase == DELETING
            or instance.desired_state == Desired.DELETED
        ):
            raise ProjectNotFound()
        now = ctx.clock.now()
        if project.last_request_at is None or project.last_request_at < now:
            project.last_request_at = now
        _run_again(ctx, project, instance, cause=WakeCause.HELD_REQUEST)
        ctx.session.flush()
        return ObservedState(instance.observed_state)


class WakeCause(StrEnum):
    """Why a stopped project runs again (the ``cause`` of its ``project.woken`` event)."""

    HELD_REQUEST = "held_request"
    """A gateway holds a request for it and asked."""
    REQUEST_WHILE_STOPPING = "request_while_stopping"
    """A gateway reported a request it forwarded after the sweep had decided to stop it (the
    node was still up): the stop is undone."""


def _run_again(ctx: Context, project: Project, instance: Deployment, *, cause: WakeCause) -> None:
    project.idle_stopped = False
    if instance.desired_state != Desired.STOPPED:
        return
    instance.desired_state = Desired.RUNNING
    touch(ctx, instance)
    ctx.record(
        AuditAction.PROJECT_WOKEN,
        organization_id=project.organization_id,
        target_type=TargetType.PROJECT,
        target_id=project.id,
        details={"observed_state": instance.observed_state, "cause": str(cause)},
    )
    log.info(
        "project.woken", project_id=project.id, observed=instance.observed_state, cause=str(cause)
    )


def _moment(epoch_s: float, now: datetime) -> datetime | None:
    """A reported time as a UTC datetime, never later than `now` (a gateway's clock ahead of
    ours must not keep a project warm); None for a time that is no time."""
    if not math.isfinite(epoch_s) or epoch_s <= 0:
        return None
    try:
        return min(datetime.fromtimestamp(epoch_s, UTC), now)
    except (OverflowError, OSError, ValueError):
        return None


def record_activity(units: Units, report: ProjectActivity) -> int:
    """Keep each project's latest request a gateway reported (the later of the stored and the
    reported time; unknown or deleted projects are passed over). Returns how many moved.

    A newer request for a project the sweep stopped means a gateway forwarded it while the
    node was still up (the sweep knew of no request that recent): the project is in use, so
    the stop is undone as a wake-up would."""
    if not report.projects:
        return 0
    moved = 0
    with units.write() as ctx:
        now = ctx.clock.now()
        latest: dict[str, datetime] = {}
        for seen in report.projects:
            moment = _moment(seen.last_request_at, now)
            if moment is not None and (
                seen.project_id not in latest or latest[seen.project_id] < moment
            ):
                latest[seen.project_id] = moment
        ids = sorted(latest)
        for start in range(0, len(ids), _ACTIVITY_BATCH):
            batch = ids[start : start + _ACTIVITY_BATCH]
            for row in ctx.session.scalars(sa.select(Project).where(Project.id.in_(batch))):
                moment = latest[row.id]
                if row.last_request_at is None or row.last_request_at < moment:
                    row.last_request_at = moment
                    moved += 1
                    if row.idle_stopped and row.phase != DELETING:
                        instance = ctx.session.get(Deployment, row.id)
                        if instance is not None:
                            _run_again(ctx, row, instance, cause=WakeCause.REQUEST_WHILE_STOPPING)
        ctx.session.flush()
    return moved

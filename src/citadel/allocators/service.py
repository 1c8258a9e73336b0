"""Allocators: their registration by heartbeat, placing deployments on them, and bringing
back the deployments of one that stopped reporting (ADR 31).

The decisions are `citadel.allocators.placement` (pure); here they are read from and written
to the database. An allocator is healthy while its last heartbeat is at most
``allocator_unhealthy_after_s`` old (`Policies`); nothing about health is stored. Every change
of a deployment's placement bumps its revision, so the allocations' and routes' entity tag
changes with it (an allocator that moved nothing still refetches: a correct, cheap answer).

Placing locks the allocator rows first (``FOR UPDATE`` on PostgreSQL; SQLite serialises
writes anyway), so two creates on two replicas never both take an allocator's last room.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from citadel.allocators.models import Allocator
from citadel.allocators.placement import (
    Host,
    Lost,
    Placement,
    Recovery,
    Request,
    RestoreChoice,
    choose,
    is_healthy,
    place_all,
    recover,
)
from citadel.audit.tags import AuditAction, TargetType
from citadel.authn.context import Context
from citadel.deployments.lifecycle import Desired, Observed
from citadel.deployments.models import Deployment
from citadel.deployments.service import touch
from citadel.log import get_logger

log = get_logger(__name__)


def _placed() -> sa.ColumnElement[bool]:
    """Rows that take memory where they are placed: every one not deleted."""
    return sa.and_(
        Deployment.allocator_id.is_not(None), Deployment.desired_state != Desired.DELETED
    )


def heartbeat(
    ctx: Context, allocator_id: str, *, address: str, zone: str, capacity_mb: int
) -> Allocator:
    """Record an allocator's heartbeat: its address, zone and capacity now (a new one is
    registered, audited as a platform event)."""
    now = ctx.clock.now()
    row = ctx.session.get(Allocator, allocator_id, with_for_update=True)
    if row is None:
        row = Allocator(
            id=allocator_id,
            address=address,
            zone=zone,
            capacity_mb=capacity_mb,
            registered_at=now,
            last_seen_at=now,
        )
        ctx.session.add(row)
        ctx.record(
            AuditAction.ALLOCATOR_REGISTERED,
            organization_id=None,
            target_type=TargetType.ALLOCATOR,
            target_id=allocator_id,
            details={"address": address, "zone": zone, "capacity_mb": capacity_mb},
        )
        log.info("allocator.registered", allocator_id=allocator_id, zone=zone)
    else:
        row.address, row.zone, row.capacity_mb, row.last_seen_at = address, zone, capacity_mb, now
    ctx.session.flush()
    return row


def usage(ctx: Context) -> dict[str, int]:
    """The memory (MB) placed on each allocator: the sizes of its deployments not deleted."""
    rows = ctx.session.execute(
        sa.select(Deployment.allocator_id, sa.func.sum(Deployment.size))
        .where(_placed())
        .group_by(Deployment.allocator_id)
    )
    return {str(allocator_id): int(total or 0) for allocator_id, total in rows}


def spread(ctx: Context) -> Counter[tuple[str, str]]:
    """How many deployments (not deleted) each organization has in each zone."""
    rows = ctx.session.execute(
        sa.select(Deployment.organization_id, Allocator.zone, sa.func.count())
        .join(Allocator, Allocator.id == Deployment.allocator_id)
        .where(_placed())
        .group_by(Deployment.organization_id, Allocator.zone)
    )
    return Counter({(org, zone): int(n) for org, zone, n in rows})


def hosts(ctx: Context, now: datetime, *, lock: bool = False) -> list[Host]:
    """Every allocator as placement sees it (`lock`: the rows stay locked until commit)."""
    query = sa.select(Allocator).order_by(Allocator.id)
    if lock:
        query = query.with_for_update()
    rows = ctx.session.scalars(query).all()
    used = usage(ctx)
    after = ctx.policies.allocator_unhealthy_after_s
    return [
        Host(
            id=row.id,
            zone=row.zone,
            capacity_mb=row.capacity_mb,
            used_mb=used.get(row.id, 0),
            healthy=is_healthy(row.last_seen_at, now, after),
        )
        for row in rows
    ]


def _request(row: Deployment, avoid_zone: str | None = None) -> Request:
    return Request(row.id, row.organization_id, row.size, avoid_zone)


def place(ctx: Context, row: Deployment) -> str | None:
    """Place a new deployment (or project instance) on the best healthy allocator with room;
    None leaves it unplaced, to be placed when room appears. Returns the allocator id."""
    host = choose(_request(row), hosts(ctx, ctx.clock.now(), lock=True), spread(ctx))
    if host is None:
        log.info("deployment.unplaced", deployment_id=row.id, size_mb=row.size)
        return None
    row.allocator_id = host.id
    ctx.session.flush()
    return host.id


def waiting(ctx: Context) -> Sequence[Deployment]:
    """The deployments not placed yet (none deleted), oldest first."""
    return ctx.session.scalars(
        sa.select(Deployment)
        .where(Deployment.allocator_id.is_(None), Deployment.desired_state != Desired.DELETED)
        .order_by(Deployment.created_at, Deployment.id)
    ).all()


def any_waiting(ctx: Context) -> bool:
    """Whether some deployment waits for an allocator (a cheap look before a write)."""
    found = ctx.session.scalar(
        sa.select(Deployment.id)
        .where(Deployment.allocator_id.is_(None), Deployment.desired_state != Desired.DELETED)
        .limit(1)
    )
    return found is not None


def any_placeable(ctx: Context) -> bool:
    """Whether some waiting deployment fits on a healthy allocator now: decided in a read, so
    a poll opens a write only when it will place something (not at every poll while a
    deployment waits for room that is not there)."""
    if not any_waiting(ctx):
        return False
    rows = waiting(ctx)
    decided = place_all([_request(r) for r in rows], hosts(ctx, ctx.clock.now()), spread(ctx))
    return any(d.allocator_id is not None for d in decided)


def place_waiting(ctx: Context) -> list[Placement]:
    """Place every waiting deployment that fits somewhere now (oldest first); returns the
    decisions made (those still without room are left out)."""
    rows = waiting(ctx)
    if not rows:
        return []
    decided = place_all(
        [_request(r) for r in rows], hosts(ctx, ctx.clock.now(), lock=True), spread(ctx)
    )
    by_id = {r.id: r for r in rows}
    placed = []
    for decision in decided:
        if decision.allocator_id is None:
            continue
        row = by_id[decision.deployment_id]
        row.allocator_id = decision.allocator_id
        touch(ctx, row)
        placed.append(decision)
        log.info("deployment.placed", deployment_id=row.id, allocator_id=decision.allocator_id)
    return placed


def _stranded(healthy: set[str]) -> sa.Select[Deployment]:
    """The deployments placed on an allocator not in `healthy` that still need something
    done: not deleted, or deleted and not yet observed gone."""
    return sa.select(Deployment).where(
        Deployment.allocator_id.is_not(None),
        Deployment.allocator_id.not_in(healthy) if healthy else sa.true(),
        sa.or_(
            Deployment.desired_state != Desired.DELETED,
            Deployment.observed_state != Observed.DELETED,
        ),
    )


def any_lost(ctx: Context, now: datetime) -> bool:
    """Whether some deployment sits on an unhealthy allocator (a read before the write that
    recovers them)."""
    healthy = {h.id for h in hosts(ctx, now) if h.healthy}
    return ctx.session.scalar(_stranded(healthy).limit(1)) is not None


def recover_lost_allocators(ctx: Context, now: datetime) -> list[Recovery]:
    """Bring back the deployments of every allocator with no heartbeat for
    ``allocator_unhealthy_after_s``: each is placed on a healthy allocator, in another zone
    when one has room, and restored there from its latest snapshot (one with none starts
    empty and says its data is lost); a deleted one is marked gone with its host. Audited:
    the allocator's loss (platform) and each deployment's move (its organization)."""
    found = hosts(ctx, now, lock=True)
    zones = {h.id: h.zone for h in found}
    rows = ctx.session.scalars(
        _stranded({h.id for h in found if h.healthy}).order_by(Deployment.created_at, Deployment.id)
    ).all()
    if not rows:
        return []
    for row in rows:
        if row.desired_state == Desired.DELETED:
            _gone_with_host(ctx, row, now)
    live = [r for r in rows if r.desired_state != Desired.DELETED]
    lost = [
        Lost(
            request=_request(r, zones.get(r.allocator_id or "")),
            allocator_id=r.allocator_id or "",
            has_snapshot=r.snapshot_latest_name is not None or r.snapshot_count > 0,
            restore_pending=r.restore_source_id is not None,
        )
        for r in live
    ]
    decided = recover(lost, found, spread(ctx))
    for allocator_id in sorted({item.allocator_id for item in lost}):
        moved = [d for d in decided if d.lost_allocator_id == allocator_id]
        ctx.record(
            AuditAction.ALLOCATOR_LOST,
            organization_id=None,
            target_type=TargetType.ALLOCATOR,
            target_id=allocator_id,
            details={
                "deployments": len(moved),
                "placed": sum(1 for d in moved if d.allocator_id is not None),
            },
        )
        log.warning("allocator.lost", allocator_id=allocator_id, deployments=len(moved))
    by_id = {r.id: r for r in live}
    for decision in decided:
        _relocate(ctx, by_id[decision.deployment_id], decision, now)
    return decided


def _relocate(ctx: Context, row: Deployment, decision: Recovery, now: datetime) -> None:
    """Write one recovery decision: the new allocator, the restore to make before the first
    start, and an honest observed state until that allocator reports."""
    row.allocator_id = decision.allocator_id
    row.node_port = None
    if decision.restore is RestoreChoice.OWN_LATEST:
        row.restore_source_id = row.id
        row.restore_snapshot = None
        row.restore_include_security = True
    elif decision.restore is RestoreChoice.NONE:
        row.restore_source_id = None
        row.restore_snapshot = None
        row.restore_include_security = False
    row.observed_state = Observed.INITIALIZING
    row.healthy = False
    row.observed_detail = decision.detail[:255]
    row.observed_at = now
    touch(ctx, row)
    ctx.record(
        AuditAction.DEPLOYMENT_RELOCATED,
        organization_id=row.organization_id,
        target_type=TargetType.DEPLOYMENT,
        target_id=row.id,
        details={
            "from_allocator": decision.lost_allocator_id,
            "to_allocator": decision.allocator_id,
            "restore": str(decision.restore),
            "snapshot": row.snapshot_latest_name,
        },
    )
    log.warning(
        "deployment.relocated",
        deployment_id=row.id,
        from_allocator=decision.lost_allocator_id,
        to_allocator=decision.allocator_id,
        restore=str(decision.restore),
    )


def _gone_with_host(ctx: Context, row: Deployment, now: datetime) -> None:
    """A deleted deployment whose allocator was lost: nothing runs it any more; it is
    observed deleted (its volume, if the host comes back, stays closed under a key that the
    deletion shreds)."""
    row.observed_state = Observed.DELETED
    row.healthy = False
    row.observed_detail = f"allocator {row.allocator_id} lost"[:255]
    row.observed_at = now
    touch(ctx, row)


@dataclass(frozen=True)
class AllocatorView:
    """One allocator for the platform API: its row, the memory placed on it, whether it
    sends heartbeats, and the deployments placed on it."""

    row: Allocator
    used_mb: int
    connected: bool
    deployments: Sequence[Deployment]


def overview(ctx: Context) -> list[AllocatorView]:
    """Every allocator with its placements, by zone then id."""
    now = ctx.clock.now()
    after = ctx.policies.allocator_unhealthy_after_s
    rows = ctx.session.scalars(sa.select(Allocator).order_by(Allocator.zone, Allocator.id)).all()
    placed = ctx.session.scalars(
        sa.select(Deployment).where(_placed()).order_by(Deployment.created_at, Deployment.id)
    ).all()
    by_allocator: dict[str, list[Deployment]] = {}
    for dep in placed:
        by_allocator.setdefault(dep.allocator_id or "", []).append(dep)
    return [
        AllocatorView(
            row=row,
            used_mb=sum(d.size for d in by_allocator.get(row.id, [])),
            connected=is_healthy(row.last_seen_at, now, after),
            deployments=by_allocator.get(row.id, []),
        )
        for row in rows
    ]


def one(ctx: Context, allocator_id: str) -> AllocatorView | None:
    """One allocator's view, or None when no allocator has that id."""
    return next((v for v in overview(ctx) if v.row.id == allocator_id), None)

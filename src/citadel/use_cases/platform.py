"""The platform's own infrastructure (issue 20, ADR 31): who may look after it, its
allocators as owners see them, and the allocators' side of placement (heartbeats, waiting
deployments placed when room appears, deployments of a lost allocator brought back).

Platform owners are the Organization owners of the platform organization: the first
organization, made at the first start (`citadel.bootstrap.ensure_first_organization`).
Anyone else is refused with a 403 ``platform.forbidden``, which the edge that refused it
audits (``request.denied`` with that code, in the platform's chain, `citadel.web.refusals`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from citadel.allocators import service as allocators
from citadel.allocators.errors import AllocatorNotFound
from citadel.allocators.placement import Placement, Recovery
from citadel.allocators.service import AllocatorView
from citadel.authn.context import Context
from citadel.contract.messages import AllocatorHeartbeat
from citadel.errors import Forbidden, Unauthenticated
from citadel.orgs.models import Organization, RoleAssignment
from citadel.use_cases.units import Units


class PlatformForbidden(Forbidden):
    code = "platform.forbidden"
    default_message = (
        "Only the platform's owners (Organization owners of the platform's first "
        "organization) may do this."
    )


def platform_organization_id(ctx: Context) -> str | None:
    """The platform organization: the first one made (None before the first start). Two made
    in the same microsecond are told apart by their founding owner's role assignment, whose
    id counts up."""
    founded = (
        sa.select(sa.func.min(RoleAssignment.id))
        .where(RoleAssignment.organization_id == Organization.id)
        .scalar_subquery()
    )
    return ctx.session.scalar(
        sa.select(Organization.id)
        .order_by(Organization.created_at, founded, Organization.id)
        .limit(1)
    )


def require_platform_owner(ctx: Context) -> None:
    """Raise unless the caller is a platform owner: an Organization owner (user or API key)
    of the platform organization. The platform itself (`caller.system`) is one."""
    caller = ctx.caller
    if caller.system:
        return
    if caller.principal is None:
        raise Unauthenticated()
    platform = platform_organization_id(ctx)
    if platform is None or not caller.subject.is_owner_of(platform):
        raise PlatformForbidden()


# --- what owners see ---------------------------------------------------------------------


def list_allocators(units: Units) -> list[AllocatorView]:
    """Every allocator with its capacity and placements (platform owners only)."""
    with units.read() as ctx:
        require_platform_owner(ctx)
        return allocators.overview(ctx)


def get_allocator(units: Units, allocator_id: str) -> AllocatorView:
    """One allocator (platform owners only); 404 ``allocators.not_found`` if none has the id."""
    with units.read() as ctx:
        require_platform_owner(ctx)
        found = allocators.one(ctx, allocator_id)
    if found is None:
        raise AllocatorNotFound()
    return found


# --- the allocators' side ----------------------------------------------------------------


def heartbeat(units: Units, allocator_id: str, beat: AllocatorHeartbeat) -> list[Placement]:
    """An allocator's heartbeat: its address, zone and capacity recorded; deployments waiting
    for room placed (a new allocator is room appearing)."""
    with units.write() as ctx:
        allocators.heartbeat(
            ctx, allocator_id, address=beat.address, zone=beat.zone, capacity_mb=beat.capacity_mb
        )
        return allocators.place_waiting(ctx)


def place_waiting(units: Units) -> list[Placement]:
    """Place the deployments waiting for an allocator that fit somewhere now: a read decides
    first, so an allocator's poll writes only when there is something to place."""
    with units.read() as ctx:
        if not allocators.any_placeable(ctx):
            return []
    with units.write() as ctx:
        return allocators.place_waiting(ctx)


def watch_allocators(units: Units, now: datetime | None = None) -> Sequence[Recovery]:
    """One round of the control plane's allocator watch: bring back the deployments of lost
    allocators (`allocators.recover_lost_allocators`), then place those waiting for room. A
    read decides first whether there is anything to do, so a quiet round writes nothing."""
    with units.read() as ctx:
        at = now or ctx.clock.now()
        if not allocators.any_lost(ctx, at) and not allocators.any_placeable(ctx):
            return []
    with units.write() as ctx:
        recovered = allocators.recover_lost_allocators(ctx, at)
        allocators.place_waiting(ctx)
        return recovered

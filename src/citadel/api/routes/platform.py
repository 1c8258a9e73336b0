"""Facts about the platform itself: its static IPs (our addition to the Cloud API), and for
platform owners its infrastructure (ECE's `/platform/infrastructure/allocators`, ADR 31)."""

from __future__ import annotations

from fastapi import APIRouter, Path

from citadel.allocators.schemas import (
    AllocatorInfoOut,
    AllocatorOverviewOut,
    allocator_out,
    overview_out,
)
from citadel.api.deps import ServicesDep, WorkDep, signed_in
from citadel.deployments.schemas import RegionAddressesOut, StaticIpsOut
from citadel.use_cases import platform

router = APIRouter(prefix="/platform", tags=["platform"])


@router.get("/static-ips", dependencies=[signed_in()])
def static_ips(services: ServicesDep) -> StaticIpsOut:
    """Per region, the addresses traffic to deployments arrives at (ingress) and traffic from
    them leaves from (egress), as the operator configured them (`CITADEL_STATIC_IPS`); shaped
    like the managed cloud's published list: `{"regions": {"<region>": {...}}}`."""
    settings = services.settings
    regions = {}
    for region in settings.regions:
        configured = settings.static_ips.get(region)
        regions[region] = RegionAddressesOut(
            ingress=list(configured.ingress) if configured else [],
            egress=list(configured.egress) if configured else [],
        )
    return StaticIpsOut(regions=regions)


AllocatorId = Path(max_length=64)


@router.get("/infrastructure/allocators", dependencies=[signed_in()])
def list_allocators(work: WorkDep) -> AllocatorOverviewOut:
    """Every allocator by zone, with its capacity, health and the deployments placed on it
    (ECE's `AllocatorOverview`); platform owners only (403 ``platform.forbidden``)."""
    return overview_out(platform.list_allocators(work))


@router.get("/infrastructure/allocators/{allocator_id}", dependencies=[signed_in()])
def get_allocator(work: WorkDep, allocator_id: str = AllocatorId) -> AllocatorInfoOut:
    """One allocator (ECE's `AllocatorInfo`); platform owners only."""
    return allocator_out(platform.get_allocator(work, allocator_id))

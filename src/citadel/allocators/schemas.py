"""The allocators as the platform API shows them: ECE's ``AllocatorOverview`` shape
(`GET /platform/infrastructure/allocators`). The Cloud API subset has no such operation; the
shape is ECE's published one (ADR 31)."""

from __future__ import annotations

from citadel.allocators.service import AllocatorView
from citadel.deployments.models import DEPLOYMENT
from citadel.kit.schema import ResponseModel


class AllocatorHealthStatusOut(ResponseModel):
    """`AllocatorHealthStatus`: connected = a heartbeat within the unhealthy interval; healthy
    = connected or holding no instances (ECE's definition); no maintenance mode here."""

    connected: bool
    healthy: bool
    maintenance_mode: bool = False


class AllocatorCapacityMemoryOut(ResponseModel):
    """`AllocatorCapacityMemory`, in MB: `used` is the sizes of the deployments placed on it
    (more than `total` when a resize over-committed it)."""

    total: int
    used: int


class AllocatorCapacityOut(ResponseModel):
    memory: AllocatorCapacityMemoryOut


class AllocatorSettingsOut(ResponseModel):
    """`AllocatorSettings`: no capacity override (the allocator reports its own)."""

    capacity: int | None = None


class MetadataItemOut(ResponseModel):
    key: str
    value: str


class AllocatedInstanceStatusOut(ResponseModel):
    """`AllocatedInstanceStatus`: one deployment's (or project's) node on the allocator."""

    cluster_id: str
    cluster_name: str | None = None
    cluster_type: str = "elasticsearch"
    deployment_id: str | None = None
    instance_name: str = "instance-0000000000"
    node_memory: int
    healthy: bool
    cluster_healthy: bool | None = None
    moving: bool = False


class AllocatorInfoOut(ResponseModel):
    """`AllocatorInfo`."""

    allocator_id: str
    zone_id: str
    host_ip: str
    public_hostname: str
    status: AllocatorHealthStatusOut
    capacity: AllocatorCapacityOut
    settings: AllocatorSettingsOut
    instances: list[AllocatedInstanceStatusOut]
    features: list[str]
    metadata: list[MetadataItemOut]


class AllocatorZoneInfoOut(ResponseModel):
    """`AllocatorZoneInfo`."""

    zone_id: str
    allocators: list[AllocatorInfoOut]


class AllocatorOverviewOut(ResponseModel):
    """`AllocatorOverview`: every allocator, by zone."""

    zones: list[AllocatorZoneInfoOut]


def allocator_out(view: AllocatorView) -> AllocatorInfoOut:
    """One allocator in ECE's `AllocatorInfo` shape; its heartbeat times are metadata."""
    row = view.row
    instances = [
        AllocatedInstanceStatusOut(
            cluster_id=dep.id,
            cluster_name=dep.name,
            deployment_id=dep.id if dep.kind == DEPLOYMENT else None,
            node_memory=dep.size,
            healthy=dep.healthy,
            cluster_healthy=dep.healthy,
        )
        for dep in view.deployments
    ]
    return AllocatorInfoOut(
        allocator_id=row.id,
        zone_id=row.zone,
        host_ip=row.address,
        public_hostname=row.address,
        status=AllocatorHealthStatusOut(
            connected=view.connected, healthy=view.connected or not instances
        ),
        capacity=AllocatorCapacityOut(
            memory=AllocatorCapacityMemoryOut(total=row.capacity_mb, used=view.used_mb)
        ),
        settings=AllocatorSettingsOut(),
        instances=instances,
        features=[],
        metadata=[
            MetadataItemOut(key="registered_at", value=row.registered_at.isoformat()),
            MetadataItemOut(key="last_seen_at", value=row.last_seen_at.isoformat()),
        ],
    )


def overview_out(views: list[AllocatorView]) -> AllocatorOverviewOut:
    """Every allocator by zone (zones and allocators in id order)."""
    zones: dict[str, list[AllocatorInfoOut]] = {}
    for view in sorted(views, key=lambda v: (v.row.zone, v.row.id)):
        zones.setdefault(view.row.zone, []).append(allocator_out(view))
    return AllocatorOverviewOut(
        zones=[AllocatorZoneInfoOut(zone_id=z, allocators=a) for z, a in zones.items()]
    )

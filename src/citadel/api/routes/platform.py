"""Facts about the platform itself (our addition to the Cloud API): its static IPs."""

from __future__ import annotations

from fastapi import APIRouter

from citadel.api.deps import ServicesDep, signed_in
from citadel.deployments.schemas import RegionAddressesOut, StaticIpsOut

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

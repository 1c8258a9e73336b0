"""The regions of the serverless API (`GET /serverless/regions`): pure, no I/O (ADR 28).

A project's `region_id` is one of the platform's regions (`Settings.regions`), the same ids
deployments use, so a project and a deployment of one region share its gateway and its
traffic filters' region. Citadel runs on the operator's machines, not a cloud provider's:
`csp` is what the operator declares (`serverless_csp`, default ``aws``, so clients that
expect one of the contract's three values accept it), `csp_region` is the region id itself,
and every region accepts new projects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

COUNTRY_CODE = "US"
"""The contract requires a country code; Citadel does not know where its operator's machines
are, so it answers the contract's example."""


@dataclass(frozen=True)
class Region:
    """One region as the serverless API describes it."""

    id: str
    name: str
    csp: str
    csp_region: str
    country_code: str
    project_creation_enabled: bool


def regions(ids: Sequence[str], csp: str) -> list[Region]:
    """The platform's regions, in the operator's order."""
    return [
        Region(
            id=region_id,
            name=f"{region_id} ({csp})",
            csp=csp,
            csp_region=region_id,
            country_code=COUNTRY_CODE,
            project_creation_enabled=True,
        )
        for region_id in ids
    ]


def region(ids: Sequence[str], csp: str, region_id: str) -> Region | None:
    """One of the platform's regions, or None."""
    return next((r for r in regions(ids, csp) if r.id == region_id), None)

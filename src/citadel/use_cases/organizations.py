"""Organization use cases that span the organization and its SSO enforcement."""

from __future__ import annotations

from citadel.orgs import service as orgs
from citadel.orgs.models import Organization
from citadel.orgs.schemas import OrganizationUpdateIn
from citadel.sso import enforcement
from citadel.use_cases.units import Units


def update_organization(
    units: Units, organization_id: str, changes: OrganizationUpdateIn
) -> Organization:
    """Apply the fields present in `changes` in one transaction; `enforce_authentication_method`
    goes through SSO enforcement (its own checks and audit record)."""
    with units.write() as ctx:
        if "enforce_authentication_method" in changes.model_fields_set:
            method = changes.enforce_authentication_method
            enforcement.set_enforcement(ctx, organization_id, method)
        return orgs.update_organization(ctx, organization_id, changes)

"""Organization routes: list, found, get, update."""

from __future__ import annotations

from fastapi import APIRouter

from citadel.api.deps import OrgId, WorkDep, permitted, require_user, signed_in
from citadel.authz.permissions import Permission
from citadel.orgs import service
from citadel.orgs.models import Organization
from citadel.orgs.schemas import (
    OrganizationCreateIn,
    OrganizationListOut,
    OrganizationOut,
    OrganizationUpdateIn,
)
from citadel.use_cases import organizations

router = APIRouter(tags=["organizations"])


def shape(org: Organization) -> OrganizationOut:
    return OrganizationOut.model_validate(org, from_attributes=True)


@router.get("/organizations", dependencies=[signed_in()])
def list_organizations(work: WorkDep) -> OrganizationListOut:
    """The organizations you belong to."""
    with work.read() as ctx:
        orgs = service.list_organizations(ctx)
        return OrganizationListOut(organizations=[shape(o) for o in orgs])


@router.post("/organizations", status_code=201, dependencies=[signed_in()])
def create_organization(body: OrganizationCreateIn, work: WorkDep) -> OrganizationOut:
    """Found an organization; you become its Organization owner (users only, not API keys)."""
    user_id = require_user(work.caller)
    with work.write() as ctx:
        org = service.found_organization(ctx, name=body.name, owner_user_id=user_id)
        return shape(org)


@router.get(
    "/organizations/{organization_id}",
    dependencies=[permitted(Permission.ORGANIZATION_READ)],
)
def get_organization(work: WorkDep, organization_id: str = OrgId) -> OrganizationOut:
    """One organization."""
    with work.read() as ctx:
        return shape(service.get_organization(ctx, organization_id))


@router.put(
    "/organizations/{organization_id}",
    dependencies=[permitted(Permission.ORGANIZATION_UPDATE)],
)
def update_organization(
    body: OrganizationUpdateIn, work: WorkDep, organization_id: str = OrgId
) -> OrganizationOut:
    """Change name, contacts and security settings (only the fields given).

    `enforce_authentication_method: "saml"` needs your own SSO sign-in with the current
    configuration; `null` turns enforcement off (an Organization-owner API key may: the
    break-glass when the IdP is unavailable)."""
    return shape(organizations.update_organization(work, organization_id, body))

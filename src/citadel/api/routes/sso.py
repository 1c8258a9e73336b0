"""Organization SSO (inventory 8.3-8.7; the routes are our addition): the IdP registration
and SP details, and the role mappings. Organization owners only."""

from __future__ import annotations

from fastapi import APIRouter, Path

from citadel.api.deps import OrgId, WorkDep, permitted
from citadel.authn.context import Context
from citadel.authn.principal import PrincipalKind
from citadel.authz.permissions import Permission
from citadel.kit.schema import EmptyOut
from citadel.orgs.service import load as load_org
from citadel.sso import configuration, role_mappings
from citadel.sso.models import SsoConfiguration
from citadel.sso.schemas import (
    RoleMappingIn,
    RoleMappingOut,
    RoleMappingsOut,
    SsoConfigurationIn,
    SsoConfigurationOut,
    configuration_info,
    role_mapping_info,
)

router = APIRouter(prefix="/organizations/{organization_id}/sso", tags=["sso"])
MANAGE = permitted(Permission.SSO_MANAGE)
MappingId = Path(min_length=1, max_length=32, description="The role mapping's id.")


def _info(ctx: Context, row: SsoConfiguration) -> SsoConfigurationOut:
    principal = ctx.caller.principal
    user_id = principal.user_id if principal and principal.kind is PrincipalKind.USER else None
    org = load_org(ctx.session, row.organization_id)
    return configuration_info(
        row,
        base_url=ctx.policies.public_url,
        enforced=configuration.enforced(org),
        caller_verified=configuration.signed_in_with_current(ctx, row, user_id),
    )


@router.get("", dependencies=[MANAGE])
def get_configuration(work: WorkDep, organization_id: str = OrgId) -> SsoConfigurationOut:
    """The IdP this organization trusts and the SP details to give it."""
    with work.read() as ctx:
        return _info(ctx, configuration.get_configuration(ctx, organization_id))


@router.put("", dependencies=[MANAGE])
def configure(
    body: SsoConfigurationIn, work: WorkDep, organization_id: str = OrgId
) -> SsoConfigurationOut:
    """Register (or change) the IdP, by fields or metadata; the answer carries the SP's
    entity id, ACS URL, login URL, metadata URL and signing certificate."""
    with work.write() as ctx:
        return _info(ctx, configuration.configure(ctx, organization_id, body))


@router.delete("", dependencies=[MANAGE])
def remove_configuration(work: WorkDep, organization_id: str = OrgId) -> EmptyOut:
    """Forget the IdP and the SP key (enforcement must be off)."""
    with work.write() as ctx:
        configuration.remove_configuration(ctx, organization_id)
    return EmptyOut()


@router.get("/role-mappings", dependencies=[MANAGE])
def list_role_mappings(work: WorkDep, organization_id: str = OrgId) -> RoleMappingsOut:
    with work.read() as ctx:
        rows = role_mappings.list_mappings(ctx, organization_id)
        return RoleMappingsOut(role_mappings=[role_mapping_info(r) for r in rows])


@router.post("/role-mappings", status_code=201, dependencies=[MANAGE])
def create_role_mapping(
    body: RoleMappingIn, work: WorkDep, organization_id: str = OrgId
) -> RoleMappingOut:
    """Add a mapping; 409 `sso.mapping_leaves_no_owner` (with the evaluated result in
    `details`) when no member would remain Organization owner."""
    with work.write() as ctx:
        return role_mapping_info(role_mappings.create_mapping(ctx, organization_id, body))


@router.get("/role-mappings/{mapping_id}", dependencies=[MANAGE])
def get_role_mapping(
    work: WorkDep, organization_id: str = OrgId, mapping_id: str = MappingId
) -> RoleMappingOut:
    with work.read() as ctx:
        return role_mapping_info(role_mappings.get_mapping(ctx, organization_id, mapping_id))


@router.put("/role-mappings/{mapping_id}", dependencies=[MANAGE])
def update_role_mapping(
    body: RoleMappingIn, work: WorkDep, organization_id: str = OrgId, mapping_id: str = MappingId
) -> RoleMappingOut:
    """Replace a mapping as a whole (same checks as creating one)."""
    with work.write() as ctx:
        row = role_mappings.update_mapping(ctx, organization_id, mapping_id, body)
        return role_mapping_info(row)


@router.delete("/role-mappings/{mapping_id}", dependencies=[MANAGE])
def delete_role_mapping(
    work: WorkDep, organization_id: str = OrgId, mapping_id: str = MappingId
) -> EmptyOut:
    """Remove a mapping, unless no owner would remain without it (409, with the result)."""
    with work.write() as ctx:
        role_mappings.delete_mapping(ctx, organization_id, mapping_id)
    return EmptyOut()

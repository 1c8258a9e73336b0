"""Request bodies of the SSO routes, and the shaping of answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from citadel.authz import assignments
from citadel.authz.assignments import RoleAssignmentsIn
from citadel.kit.schema import ResponseModel, StrictModel
from citadel.sso.models import SsoConfiguration, SsoRoleMapping
from citadel.sso.urls import sp_urls


class SsoConfigurationIn(StrictModel):
    """The IdP to trust, given field by field or as its metadata document, and the prefix of
    the organization's login URL. Fields given next to metadata must agree with it."""

    login_prefix: str = Field(min_length=1, max_length=63)
    enabled: bool = True
    idp_entity_id: str | None = Field(default=None, min_length=1, max_length=1024)
    idp_sso_url: str | None = Field(default=None, min_length=1, max_length=2048)
    idp_certificates: list[str] | None = Field(default=None, min_length=1, max_length=2)
    """PEM signing certificates: one, or two while the IdP rolls its key over."""
    idp_metadata: str | None = Field(default=None, min_length=1, max_length=512 * 1024)
    rotate_sp_key: bool = False
    """Generate a new SP signing key (the IdP must then be given the new metadata)."""


class RuleIn(StrictModel):
    match: Literal["all", "any"]
    groups: list[str] = Field(min_length=1, max_length=64)


class RoleMappingIn(StrictModel):
    """A named rule over the `groups` attribute and the role assignments it grants."""

    name: str = Field(min_length=1, max_length=64)
    rule: RuleIn
    role_assignments: RoleAssignmentsIn


def _time(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def split_certificates(text: str) -> list[str]:
    """The PEM blocks stored one after the other."""
    end = "-----END CERTIFICATE-----"
    return [block.strip() + "\n" + end + "\n" for block in text.split(end) if block.strip()]


class IdentityProviderOut(ResponseModel):
    entity_id: str
    sso_url: str
    certificates: list[str]


class ServiceProviderOut(ResponseModel):
    """What to give the IdP."""

    entity_id: str
    acs_url: str
    metadata_url: str
    login_url: str
    certificate: str


class SsoConfigurationOut(ResponseModel):
    """The configuration as the API shows it: never the SP private key."""

    organization_id: str
    enabled: bool
    login_prefix: str
    generation: int
    enforced: bool
    caller_signed_in_with_current_configuration: bool
    identity_provider: IdentityProviderOut
    service_provider: ServiceProviderOut
    created: str
    updated: str


class RuleOut(ResponseModel):
    match: Literal["all", "any"]
    groups: list[str]


class RoleMappingOut(ResponseModel):
    id: str
    name: str
    rule: RuleOut
    role_assignments: dict[str, Any]
    """The Cloud API `RoleAssignments` object."""
    created: str
    updated: str


class RoleMappingsOut(ResponseModel):
    role_mappings: list[RoleMappingOut]


def configuration_info(
    row: SsoConfiguration, *, base_url: str, enforced: bool, caller_verified: bool
) -> SsoConfigurationOut:
    """The configuration as the API shows it: never the SP private key."""
    urls = sp_urls(base_url, row.organization_id, row.login_prefix)
    return SsoConfigurationOut(
        organization_id=row.organization_id,
        enabled=row.enabled,
        login_prefix=row.login_prefix,
        generation=row.generation,
        enforced=enforced,
        caller_signed_in_with_current_configuration=caller_verified,
        identity_provider=IdentityProviderOut(
            entity_id=row.idp_entity_id,
            sso_url=row.idp_sso_url,
            certificates=split_certificates(row.idp_certificate),
        ),
        service_provider=ServiceProviderOut(
            entity_id=urls.entity_id,
            acs_url=urls.acs_url,
            metadata_url=urls.metadata_url,
            login_url=urls.login_url,
            certificate=row.sp_certificate,
        ),
        created=_time(row.created_at),
        updated=_time(row.updated_at),
    )


def role_mapping_info(row: SsoRoleMapping) -> RoleMappingOut:
    """A role mapping as the API shows it (role assignments in the Cloud API shape)."""
    return RoleMappingOut(
        id=row.id,
        name=row.name,
        rule=RuleOut(match=row.match, groups=list(row.groups)),  # type: ignore[arg-type]
        role_assignments=assignments.to_response(assignments.from_stored(row.role_assignments)),
        created=_time(row.created_at),
        updated=_time(row.updated_at),
    )

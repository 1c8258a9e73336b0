"""Request and response bodies of the organization routes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from citadel.kit.schema import ResponseModel, StrictModel


class OrganizationOut(ResponseModel):
    """The Cloud API ``Organization``, plus our security settings."""

    id: str
    name: str
    created_at: datetime
    default_disk_usage_alerts_enabled: bool
    notifications_allowed_email_domains: list[str]
    billing_contacts: list[str]
    operational_contacts: list[str]
    enforce_authentication_method: Literal["saml"] | None = None
    allow_never_expiring_api_keys: bool
    disable_api_keys_on_member_removal: bool


class OrganizationListOut(ResponseModel):
    organizations: list[OrganizationOut]


class OrganizationCreateIn(StrictModel):
    """Our addition: a signed-in user founds an organization and becomes its owner."""

    name: str = Field(min_length=2, max_length=30)


class OrganizationUpdateIn(StrictModel):
    """The Cloud API ``OrganizationRequest`` plus our security settings; all optional."""

    name: str | None = None
    default_disk_usage_alerts_enabled: bool | None = None
    notifications_allowed_email_domains: list[str] | None = Field(default=None, max_length=50)
    billing_contacts: list[str] | None = Field(default=None, max_length=50)
    operational_contacts: list[str] | None = Field(default=None, max_length=50)
    enforce_authentication_method: Literal["saml"] | None = None
    allow_never_expiring_api_keys: bool | None = None
    disable_api_keys_on_member_removal: bool | None = None

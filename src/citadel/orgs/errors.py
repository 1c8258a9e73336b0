"""Errors about organizations."""

from citadel.authn.guard import OrganizationAccessDenied, OrganizationNotFound
from citadel.errors import BadRequest, Conflict

__all__ = [
    "InvalidContact",
    "InvalidOrganizationName",
    "OrganizationAccessDenied",
    "OrganizationNotFound",
    "SsoNotConfigured",
]


class InvalidOrganizationName(BadRequest):
    code = "organization.invalid_name"
    default_message = "The organization name must be 2 to 30 characters."


class InvalidContact(BadRequest):
    code = "organization.invalid_contact"


class SsoNotConfigured(Conflict):
    code = "organization.sso_not_configured"
    default_message = (
        "SSO enforcement needs a verified domain, an identity provider and a successful "
        "SSO sign-in with the current configuration."
    )

"""Errors about organizations."""

from citadel.authn.guard import OrganizationAccessDenied, OrganizationNotFound
from citadel.errors import BadRequest

__all__ = [
    "InvalidContact",
    "InvalidOrganizationName",
    "OrganizationAccessDenied",
    "OrganizationNotFound",
]


class InvalidOrganizationName(BadRequest):
    code = "organization.invalid_name"
    default_message = "The organization name must be 2 to 30 characters."


class InvalidContact(BadRequest):
    code = "organization.invalid_contact"

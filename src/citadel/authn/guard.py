"""Turning authorization decisions into errors, the same way everywhere.

A caller who is not a member of the organization gets the 404 a missing organization gets:
another organization's objects do not exist for them.
"""

from __future__ import annotations

from citadel.authn.principal import Caller
from citadel.authz.decide import Decision, Reason, Target, decide
from citadel.authz.permissions import Permission
from citadel.errors import Forbidden, NotFound


class OrganizationNotFound(NotFound):
    code = "organization.not_found"
    default_message = "The organization could not be found."


class OrganizationAccessDenied(Forbidden):
    code = "organization.invalid_access"
    default_message = "Your roles do not allow this in the organization."


def require(caller: Caller, permission: Permission, target: Target) -> Decision:
    """Raise unless `caller` holds `permission` on `target`."""
    decision = decide(caller.subject, permission, target)
    if decision.allowed:
        return decision
    if decision.reason is Reason.NOT_A_MEMBER:
        raise OrganizationNotFound()
    raise OrganizationAccessDenied()


def require_member(caller: Caller, organization_id: str) -> None:
    """Raise the not-found error unless `caller` belongs to the organization."""
    if organization_id not in caller.subject.organization_ids:
        raise OrganizationNotFound()

"""Errors about memberships and role assignments."""

from citadel.api_keys.errors import UnauthorizedRoleAssignments
from citadel.errors import BadRequest, Conflict, NotFound

__all__ = [
    "InvalidTargetUser",
    "LastOwner",
    "MembershipNotFound",
    "ResetElsewhere",
    "UnauthorizedRoleAssignments",
]


class MembershipNotFound(NotFound):
    code = "organization.membership_not_found"
    default_message = "No such member in this organization."


class LastOwner(Conflict):
    code = "organization.last_owner"
    default_message = "An organization must keep at least one Organization owner."


class InvalidTargetUser(BadRequest):
    code = "role_assignments.invalid_target_user_id"
    default_message = "The user is not a member of the organization of this role assignment."


class ResetElsewhere(Conflict):
    code = "organization.second_factor_reset_other_organizations"
    default_message = (
        "This person also belongs to other organizations, so one organization's owner cannot "
        "reset their second factor."
    )
    keeps_writes = True  # the refused attempt is audited

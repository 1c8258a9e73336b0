"""Request and response bodies of the invitation routes (Cloud API shapes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from citadel.authz.assignments import RoleAssignmentsIn
from citadel.kit.schema import ResponseModel, StrictModel
from citadel.orgs.schemas import OrganizationOut


class InvitationRequestIn(StrictModel):
    emails: list[str] = Field(min_length=1, max_length=100)
    expires_in: str | None = Field(default=None, max_length=16)
    role_assignments: RoleAssignmentsIn | None = None


class AcceptInvitationIn(StrictModel):
    """Our addition: a person without an account chooses a password when accepting."""

    password: str | None = Field(default=None, max_length=256)
    name: str | None = Field(default=None, max_length=128)
    email_code: str | None = Field(default=None, max_length=64)
    """The code the invitation email carries (its link's ``code``): a new account proves with
    it that the address is theirs. Not needed when signed in as the invited person."""


class InvitationOut(ResponseModel):
    token: str
    email: str
    created_at: datetime
    expires_at: datetime
    expired: bool
    accepted_at: datetime | None = None
    organization: OrganizationOut
    role_assignments: dict[str, Any]


class InvitationsOut(ResponseModel):
    invitations: list[InvitationOut]


class AcceptedOut(ResponseModel):
    """The Cloud API answers ``{}``; we add who joined."""

    user_id: str
    organization_id: str
    mfa_enrollment_required: bool

"""Response bodies of the member routes (Cloud API shapes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from citadel.kit.schema import ResponseModel


class MembershipOut(ResponseModel):
    organization_id: str
    user_id: str
    name: str | None = None
    email: str | None = None
    member_since: datetime
    role_assignments: dict[str, Any]


class MembershipsOut(ResponseModel):
    members: list[MembershipOut]

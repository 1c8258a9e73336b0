"""Request and response bodies of the API key routes (Cloud API shapes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from citadel.authz.assignments import RoleAssignmentsIn
from citadel.kit.schema import ResponseModel, StrictModel


class CreateApiKeyIn(StrictModel):
    description: str = Field(min_length=1, max_length=255)
    expiration: str | None = Field(default=None, max_length=16)
    role_assignments: RoleAssignmentsIn | None = None


class DeleteApiKeysIn(StrictModel):
    keys: list[str] = Field(min_length=1, max_length=500)


class ApiKeyOut(ResponseModel):
    id: str
    description: str
    user_id: str | None = None
    organization_id: str
    creation_date: datetime
    expiration_date: datetime | None = None
    role_assignments: dict[str, Any]
    last_used_at: datetime | None = None
    last_used_ip: str | None = None
    disabled: bool = False
    key: str | None = None


class ApiKeysOut(ResponseModel):
    keys: list[ApiKeyOut]

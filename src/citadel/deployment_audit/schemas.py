"""Request and response bodies of a deployment's security audit routes (ours: the Cloud API has
no deployment audit trail) and the shaping of answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from citadel.deployment_audit.models import DeploymentAuditEvent
from citadel.deployment_audit.rules import AuditSettingsChange
from citadel.deployment_audit.service import SettingsView
from citadel.kit.schema import ResponseModel, StrictModel


class AuditSettingsIn(StrictModel):
    """A change of what the deployment's node records; a field left out keeps its value."""

    enabled: bool | None = None
    include: list[str] | None = Field(default=None, max_length=64)
    """Event types recorded (Elasticsearch's names, or ``_all``); empty: the default set."""
    exclude: list[str] | None = Field(default=None, max_length=64)
    ignore_filters: dict[str, Any] | None = None
    """``{policy: {users|realms|actions|roles|indices: [pattern, ...]}}``."""

    def change(self) -> AuditSettingsChange:
        return AuditSettingsChange(self.enabled, self.include, self.exclude, self.ignore_filters)


class AuditSettingsOut(ResponseModel):
    enabled: bool
    include: list[str]
    exclude: list[str]
    ignore_filters: dict[str, Any]
    dropped_events: int
    """Events the node could not ship (its buffer was full), since the deployment began."""
    updated_at: datetime | None = None


class DeploymentAuditEventOut(ResponseModel):
    id: str
    at: datetime
    action: str
    principal: str | None = None
    realm: str | None = None
    origin_address: str | None = None
    request_id: str | None = None
    indices: list[str]
    event: dict[str, Any]
    """The whole event as the node recorded it (Elasticsearch's audit JSON)."""


class DeploymentAuditEventsOut(ResponseModel):
    events: list[DeploymentAuditEventOut]
    next_cursor: str | None = None
    dropped_events: int


def settings_out(view: SettingsView) -> AuditSettingsOut:
    s = view.settings
    return AuditSettingsOut(
        enabled=s.enabled,
        include=list(s.include),
        exclude=list(s.exclude),
        ignore_filters=dict(s.ignore_filters),
        dropped_events=view.dropped_events,
        updated_at=view.updated_at,
    )


def event_out(row: DeploymentAuditEvent) -> DeploymentAuditEventOut:
    return DeploymentAuditEventOut(
        id=row.id,
        at=row.at,
        action=row.action,
        principal=row.principal,
        realm=row.realm,
        origin_address=row.origin_address,
        request_id=row.request_id,
        indices=row.indices.split(",") if row.indices else [],
        event=row.event,
    )

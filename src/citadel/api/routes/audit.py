"""Audit-log routes."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query

from citadel.api.deps import WorkDep, permitted
from citadel.api.routes.orgs import OrgId
from citadel.audit.service import EventFilter, list_events
from citadel.authn.guard import require
from citadel.authz.decide import Target
from citadel.authz.permissions import Permission
from citadel.errors import BadRequest
from citadel.kit.schema import Instant, ResponseModel

router = APIRouter(tags=["audit"])
_CURSOR = re.compile(r"^[1-9][0-9]{0,17}$")  # a sequence number, well inside 64 bits


class AuditEventOut(ResponseModel):
    id: str
    seq: int
    occurred_at: datetime
    organization_id: str | None = None
    actor_type: str
    actor_id: str | None = None
    credential_id: str | None = None
    source_ip: str | None = None
    request_id: str | None = None
    action: str
    target_type: str | None = None
    target_id: str | None = None
    outcome: str
    details: dict[str, Any]
    prev_digest: str
    digest: str


class AuditEventsOut(ResponseModel):
    events: list[AuditEventOut]
    next_cursor: str | None = None


class InvalidCursor(BadRequest):
    code = "audit.invalid_cursor"


@router.get(
    "/organizations/{organization_id}/audit-events",
    dependencies=[permitted(Permission.AUDIT_READ)],
)
def list_audit_events(
    work: WorkDep,
    organization_id: str = OrgId,
    action: str | None = Query(default=None, max_length=64),
    actor_id: str | None = Query(default=None, max_length=64),
    since: Instant | None = None,
    until: Instant | None = None,
    cursor: str | None = Query(default=None, max_length=24),
    size: int = Query(default=100, ge=1, le=1000),
) -> AuditEventsOut:
    """The organization's events, newest first; pass `next_cursor` back for older ones."""
    after = 0
    if cursor is not None:
        if not _CURSOR.match(cursor):
            raise InvalidCursor("The cursor is not one this API gave.", fields=["query.cursor"])
        after = int(cursor)
    with work.read() as ctx:
        require(ctx.caller, Permission.AUDIT_READ, Target.organization(organization_id))
        rows = list_events(
            ctx.session,
            organization_id=organization_id,
            filters=EventFilter(action, actor_id, since, until),
            after_seq=after,
            limit=size + 1,
        )
    more = len(rows) > size
    rows = rows[:size]
    return AuditEventsOut(
        events=[AuditEventOut.model_validate(r, from_attributes=True) for r in rows],
        next_cursor=str(rows[-1].seq) if more and rows else None,
    )

"""A deployment's security audit trail (ours): its events, newest first and exportable as
NDJSON, and what its node records.

Reading takes ``deployments:update`` on the deployment (editors, admins, owners), changing the
settings ``deployments:manage_security`` (admins, owners); see `citadel.deployment_audit.service`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse

from citadel.api.deps import Work, WorkDep, deployment_access
from citadel.deployment_audit import service
from citadel.deployment_audit.schemas import (
    AuditSettingsIn,
    AuditSettingsOut,
    DeploymentAuditEventsOut,
    event_out,
    settings_out,
)
from citadel.deployment_audit.service import MAX_PAGE, EventQuery
from citadel.kit.schema import Instant

router = APIRouter(tags=["deployment security audit"])
DeploymentId = Path(max_length=32, description="Identifier for the Deployment")
READ = deployment_access(service.READ_PERMISSION)
MANAGE = deployment_access(service.MANAGE_PERMISSION)
NDJSON = "application/x-ndjson"


class Format(StrEnum):
    JSON = "json"
    NDJSON = "ndjson"


@router.get(
    "/deployments/{deployment_id}/security/audit",
    dependencies=[READ],
    response_model=DeploymentAuditEventsOut,
    responses={200: {"content": {NDJSON: {}}, "description": "With `format=ndjson`: every match."}},
)
def list_deployment_audit_events(
    work: WorkDep,
    deployment_id: str = DeploymentId,
    action: Annotated[
        list[str], Query(max_length=32, description="Event types (repeat, or comma-separated).")
    ] = [],  # noqa: B006 (FastAPI copies the default)
    principal: Annotated[str | None, Query(max_length=255)] = None,
    realm: Annotated[str | None, Query(max_length=128)] = None,
    since: Instant | None = None,
    until: Instant | None = None,
    index: Annotated[str | None, Query(max_length=255, description="Text in an index.")] = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    size: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    format: Format = Format.JSON,
) -> Any:
    """The deployment's security audit events, newest first; pass `next_cursor` back for older
    ones. `format=ndjson` streams every match (one Elasticsearch audit JSON object a line)."""
    actions = [a.strip() for item in action for a in item.split(",") if a.strip()]
    query = EventQuery(actions, principal, realm, since, until, index, cursor, size)
    org = work.organization
    if format is Format.NDJSON:
        first = _page(work, org, deployment_id, replace(query, size=MAX_PAGE))
        return StreamingResponse(
            _lines(work, org, deployment_id, query, first),
            media_type=NDJSON,
            headers={"content-disposition": f'attachment; filename="audit-{deployment_id}.ndjson"'},
        )
    with work.read() as ctx:
        page = service.query_events(ctx, org, deployment_id, query)
        return DeploymentAuditEventsOut(
            events=[event_out(r) for r in page.events],
            next_cursor=page.next_cursor,
            dropped_events=page.dropped_events,
        )


def _page(
    work: Work, org: str, deployment_id: str, query: EventQuery
) -> tuple[list[dict[str, Any]], str | None]:
    with work.read() as ctx:
        page = service.query_events(ctx, org, deployment_id, query)
        return [r.event for r in page.events], page.next_cursor


def _lines(
    work: Work,
    org: str,
    deployment_id: str,
    query: EventQuery,
    page: tuple[list[dict[str, Any]], str | None],
) -> Iterator[str]:
    """Page after page, each read in its own short transaction (a slow download holds none)."""
    while True:
        events, cursor = page
        for event in events:
            yield json.dumps(event, separators=(",", ":")) + "\n"
        if cursor is None:
            return
        page = _page(work, org, deployment_id, replace(query, cursor=cursor, size=MAX_PAGE))


@router.get("/deployments/{deployment_id}/security/audit/settings", dependencies=[READ])
def get_deployment_audit_settings(
    work: WorkDep, deployment_id: str = DeploymentId
) -> AuditSettingsOut:
    """What the deployment's node records, and how many events it dropped."""
    with work.read() as ctx:
        return settings_out(service.read_settings(ctx, work.organization, deployment_id))


@router.put("/deployments/{deployment_id}/security/audit/settings", dependencies=[MANAGE])
def update_deployment_audit_settings(
    body: AuditSettingsIn, work: WorkDep, deployment_id: str = DeploymentId
) -> AuditSettingsOut:
    """Change what the deployment's node records (fields left out keep their value); the node
    picks it up with its next allocation."""
    with work.write() as ctx:
        view = service.update_settings(ctx, work.organization, deployment_id, body.change())
        return settings_out(view)

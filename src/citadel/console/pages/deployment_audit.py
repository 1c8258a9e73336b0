"""A deployment's security audit trail (issue 18 item 6): the events its node shipped, filtered
by event type, user, realm, index and day, newest first, with an NDJSON export; and its audit
settings (on or off, which events, ignore filters), changed by those who manage the
deployment's security.

Reading takes ``deployments:update`` on the deployment (editors, admins, owners), changing
``deployments:manage_security``: `citadel.deployment_audit.service` decides, as for the API.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from fastapi import Request, Response
from fastapi.responses import StreamingResponse

from citadel.console.day_filters import utc_day
from citadel.console.routing import console_router
from citadel.console.web import PAGE_HEADERS, PostedForm, SignedIn, Visitor, org_of, page
from citadel.deployment_audit import service
from citadel.deployment_audit.errors import InvalidAuditSettings
from citadel.deployment_audit.rules import DEFAULT_INCLUDE, AuditSettingsChange, EventType
from citadel.deployment_audit.service import MAX_PAGE, EventQuery
from citadel.deployments import service as deployments
from citadel.errors import CitadelError

router = console_router()
BASE = "/deployments/{deployment_id}/security/audit"
PAGE_SIZE = 50
FILTERS = ("action", "user", "realm", "index", "since", "until")


def _query(request: Request) -> tuple[EventQuery, dict[str, str]]:
    q = request.query_params
    given = {k: q.get(k, "")[:255] for k in FILTERS}
    query = EventQuery(
        actions=[given["action"]] if given["action"] else [],
        principal=given["user"] or None,
        realm=given["realm"] or None,
        since=utc_day(given["since"], "since"),
        until=utc_day(given["until"], "until", end=True),
        index=given["index"] or None,
        cursor=q.get("cursor", "")[:64] or None,
        size=PAGE_SIZE,
    )
    return query, given


def _render(
    request: Request,
    visitor: Visitor,
    deployment_id: str,
    *,
    error: CitadelError | None = None,
    saved: bool = False,
    values: dict[str, Any] | None = None,
) -> Response:
    org = org_of(visitor)
    query, given = _query(request)
    with visitor.read() as ctx:
        row = deployments.get_deployment(ctx, org, deployment_id)
        settings = service.read_settings(ctx, org, deployment_id)
        events = service.query_events(ctx, org, deployment_id, query)
    filters = urlencode({k: v for k, v in given.items() if v})
    return page(
        request,
        visitor,
        "deployment_audit.html",
        status=error.status if error else 200,
        error=error,
        dep=row,
        events=events.events,
        next_cursor=events.next_cursor,
        dropped=events.dropped_events,
        settings=settings.settings,
        updated_at=settings.updated_at,
        given=given,
        filters=filters,
        event_types=[str(t) for t in EventType],
        default_include=[str(t) for t in DEFAULT_INCLUDE],
        values=values,
        saved=saved,
    )


@router.get(BASE)
def audit_page(request: Request, visitor: SignedIn, deployment_id: str) -> Response:
    """The deployment's newest security audit events matching the filters, and its settings."""
    return _render(request, visitor, deployment_id[:32])


@router.get(BASE + "/export.ndjson")
def export(request: Request, visitor: SignedIn, deployment_id: str) -> Response:
    """Every matching event, newest first, one Elasticsearch audit JSON object a line."""
    deployment_id = deployment_id[:32]
    query, _ = _query(request)
    first = _page(visitor, deployment_id, replace(query, size=MAX_PAGE, cursor=None))
    headers = PAGE_HEADERS | {
        "content-disposition": f'attachment; filename="audit-{deployment_id}.ndjson"'
    }
    return StreamingResponse(
        _lines(visitor, deployment_id, query, first),
        media_type="application/x-ndjson",
        headers=headers,
    )


def _page(
    visitor: Visitor, deployment_id: str, query: EventQuery
) -> tuple[list[dict[str, Any]], str | None]:
    with visitor.read() as ctx:
        found = service.query_events(ctx, org_of(visitor), deployment_id, query)
        return [r.event for r in found.events], found.next_cursor


def _lines(
    visitor: Visitor,
    deployment_id: str,
    query: EventQuery,
    page_: tuple[list[dict[str, Any]], str | None],
) -> Iterator[str]:
    """Page after page, each in its own short transaction."""
    while True:
        events, cursor = page_
        for event in events:
            yield json.dumps(event, separators=(",", ":")) + "\n"
        if cursor is None:
            return
        page_ = _page(visitor, deployment_id, replace(query, size=MAX_PAGE, cursor=cursor))


def _change(form: PostedForm) -> AuditSettingsChange:
    text = form.get("ignore_filters").strip()
    try:
        filters = json.loads(text) if text else {}
    except ValueError:
        raise InvalidAuditSettings(
            "The ignore filters are not JSON.", fields=["ignore_filters"]
        ) from None
    if not isinstance(filters, dict):
        raise InvalidAuditSettings(
            "The ignore filters are a JSON object of policies.", fields=["ignore_filters"]
        )
    return AuditSettingsChange(
        enabled=form.flag("enabled"),
        include=form.all("include"),
        exclude=form.all("exclude"),
        ignore_filters=filters,
    )


@router.post(BASE + "/settings")
def save_settings(
    request: Request, visitor: SignedIn, form: PostedForm, deployment_id: str
) -> Response:
    """Change what the deployment's node records, as ``PUT …/security/audit/settings`` does
    (every field: the form shows them all)."""
    deployment_id = deployment_id[:32]
    try:
        change = _change(form)
        with visitor.write() as ctx:
            service.update_settings(ctx, org_of(visitor), deployment_id, change)
    except CitadelError as exc:
        values = {
            "enabled": form.flag("enabled"),
            "include": form.all("include"),
            "exclude": form.all("exclude"),
            "ignore_filters": form.get("ignore_filters"),
        }
        return _render(request, visitor, deployment_id, error=exc, values=values)
    return _render(request, visitor, deployment_id, saved=True)

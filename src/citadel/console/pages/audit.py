"""The audit log: filter by action, actor and time; export as JSON lines or CSV; the
verification status of the organization's hash chain."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from fastapi import Request, Response
from fastapi.responses import StreamingResponse

from citadel.audit.models import AuditEvent
from citadel.audit.service import EventFilter, chained_fields, list_events, verify_chains
from citadel.audit.tags import AuditAction
from citadel.authz.decide import Target
from citadel.authz.permissions import Permission
from citadel.console.day_filters import utc_day
from citadel.console.routing import console_router
from citadel.console.web import PAGE_HEADERS, SignedIn, Visitor, org_of, page

router = console_router()
PAGE_SIZE = 50
EXPORT_LIMIT = 100_000
COLUMNS = (
    "seq",
    "occurred_at",
    "action",
    "outcome",
    "actor_type",
    "actor_id",
    "credential_id",
    "source_ip",
    "request_id",
    "target_type",
    "target_id",
    "details",
    "prev_digest",
    "digest",
)


def _filters(request: Request) -> tuple[EventFilter, dict[str, str]]:
    q = request.query_params
    given = {k: q.get(k, "")[:64] for k in ("action", "actor", "since", "until")}
    chosen = EventFilter(
        given["action"] or None,
        given["actor"] or None,
        utc_day(given["since"], "since"),
        utc_day(given["until"], "until", end=True),
    )
    return chosen, given


def _events(visitor: Visitor, chosen: EventFilter, after: int, limit: int) -> list[AuditEvent]:
    org = org_of(visitor)
    with visitor.read() as ctx:
        ctx.authorize(Permission.AUDIT_READ, Target.organization(org))
        rows = list_events(
            ctx.session, organization_id=org, filters=chosen, after_seq=after, limit=limit
        )
        ctx.session.expunge_all()
    return rows


@router.get("/audit")
def audit_page(request: Request, visitor: SignedIn) -> Response:
    """The newest events matching the filters, with the chain's verification status."""
    org = org_of(visitor)
    chosen, given = _filters(request)
    cursor = request.query_params.get("cursor", "")
    after = int(cursor) if cursor.isdigit() and len(cursor) < 18 else 0
    rows = _events(visitor, chosen, after, PAGE_SIZE + 1)
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    with visitor.read() as ctx:
        problems = [
            p for p in verify_chains(ctx.session, visitor.services.audit.key) if p.chain == org
        ]
    query = urlencode({k: v for k, v in given.items() if v})
    return page(
        request,
        visitor,
        "audit.html",
        events=rows,
        next_cursor=str(rows[-1].seq) if more and rows else None,
        problems=problems,
        given=given,
        actions=[str(a) for a in AuditAction],
        query=query,
    )


def _all(visitor: Visitor, chosen: EventFilter) -> Iterator[AuditEvent]:
    after, sent = 0, 0
    while sent < EXPORT_LIMIT:
        rows = _events(visitor, chosen, after, 1000)
        yield from rows
        sent += len(rows)
        if len(rows) < 1000:
            return
        after = rows[-1].seq


def _record(event: AuditEvent) -> dict[str, Any]:
    return chained_fields(event) | {"prev_digest": event.prev_digest, "digest": event.digest}


@router.get("/audit/export.jsonl")
def export_jsonl(request: Request, visitor: SignedIn) -> Response:
    """The matching events as JSON lines, newest first, each with its chain digests."""
    chosen, _ = _filters(request)
    events = list(_all(visitor, chosen))
    body = "".join(json.dumps(_record(e), sort_keys=True) + "\n" for e in events)
    return _download(body, "application/x-ndjson", "audit.jsonl")


@router.get("/audit/export.csv")
def export_csv(request: Request, visitor: SignedIn) -> Response:
    """The matching events as CSV (details as JSON text)."""
    chosen, _ = _filters(request)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for event in _all(visitor, chosen):
        record = _record(event)
        record["details"] = json.dumps(record["details"], sort_keys=True)
        writer.writerow([_cell(record.get(c)) for c in COLUMNS])
    return _download(out.getvalue(), "text/csv", "audit.csv")


def _cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _download(body: str, media_type: str, name: str) -> Response:
    headers = PAGE_HEADERS | {"content-disposition": f'attachment; filename="{name}"'}
    return StreamingResponse(iter([body]), media_type=media_type, headers=headers)

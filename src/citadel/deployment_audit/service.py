"""Recording, reading, configuring and pruning deployments' security audit trails.

Nodes ship their Elasticsearch audit events (one JSON object each, as in Elasticsearch's
``<cluster>_audit.json``) through the internal API; `record_events` keeps them. A shipment is
the node's word about its own deployment: an event that is not an object with a parseable
``@timestamp`` and a known ``event.action`` is counted as dropped, not stored, and never fails
the shipment. An event larger than `MAX_EVENT_BYTES` keeps only its searched fields.

Who reads what (inventory 10.3; Elasticsearch keeps the audit log for security admins):
reading the events and the settings takes ``deployments:update`` on the deployment
(deployment editors, admins, Organization owners); changing the settings takes
``deployments:manage_security`` (deployment admins, owners). Deployment viewers see neither;
a deployment the caller cannot read answers 404.

A change of settings touches the deployment, so the allocations' version (their ETag) moves
and the allocator writes the node's new ``security.json`` (`settings_for_node`).

Retention: `prune` keeps at most `max_events` events per deployment and none older than
`retention_days`; the control plane's chores loop runs it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from citadel.audit.tags import AuditAction, TargetType
from citadel.authn.context import Context
from citadel.authz.permissions import Permission
from citadel.contract.messages import AuditSettings
from citadel.db.tenancy import scoped
from citadel.deployment_audit.errors import InvalidAuditQuery, TooManyAuditEvents
from citadel.deployment_audit.models import DeploymentAuditEvent, DeploymentAuditSettings
from citadel.deployment_audit.rules import AuditSettingsChange, EventType, check_change
from citadel.deployments.errors import DeploymentNotFound
from citadel.deployments.models import Deployment
from citadel.deployments.service import for_change, touch
from citadel.kit.ids import new_id
from citadel.log import get_logger

log = get_logger(__name__)

READ_PERMISSION = Permission.DEPLOYMENTS_UPDATE
"""Reading a deployment's audit trail and settings: editors, admins, owners."""
MANAGE_PERMISSION = Permission.DEPLOYMENTS_MANAGE_SECURITY
"""Changing a deployment's audit settings: admins, owners."""

MAX_EVENT_BYTES = 16 * 1024
MAX_SHIPMENT = 10_000
"""Events in one `record_events` call (a node ships its bounded buffer in smaller batches)."""
MAX_PAGE = 1000
DEFAULT_MAX_EVENTS = 100_000
"""Events kept per deployment (the oldest go first)."""
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CURSOR = re.compile(r"^([0-9]{1,18})-([0-9a-f]{32})$")
_KNOWN = frozenset(EventType)


# --- what the node is told ---------------------------------------------------------------------


def settings_for_node(session: Session, deployment_id: str) -> AuditSettings:
    """The deployment's audit settings as its node's ``security.json`` carries them."""
    row = session.get(DeploymentAuditSettings, deployment_id)
    if row is None:
        return AuditSettings()
    return AuditSettings(
        enabled=row.enabled,
        include=tuple(row.include),
        exclude=tuple(row.exclude),
        ignore_filters=dict(row.ignore_filters),
    )


# --- recording -------------------------------------------------------------------------------


def record_events(
    session: Session,
    deployment_id: str,
    events: Sequence[Mapping[str, Any]],
    dropped: int = 0,
) -> int:
    """Store a shipment of the deployment's audit events; `dropped` is how many the node lost
    since its last shipment. Returns how many were stored (the rest were malformed and are
    added to the dropped count)."""
    if len(events) > MAX_SHIPMENT:
        raise TooManyAuditEvents(f"At most {MAX_SHIPMENT} events per shipment.", fields=["body"])
    deployment = session.get(Deployment, deployment_id)
    if deployment is None:
        raise DeploymentNotFound()
    rows = [row for row in (_event_row(deployment, event) for event in events) if row is not None]
    refused = len(events) - len(rows)
    if refused:
        log.warning("deployment_audit.events_refused", deployment_id=deployment_id, count=refused)
    session.add_all(rows)
    lost = max(0, int(dropped)) + refused
    if lost:
        _count_dropped(session, deployment, lost)
    session.flush()
    return len(rows)


def _count_dropped(session: Session, deployment: Deployment, lost: int) -> None:
    """Add to the deployment's dropped count in the database (two shipments never lose one
    another's count)."""
    S = DeploymentAuditSettings
    added = _changed(
        session,
        sa.update(S)
        .where(S.deployment_id == deployment.id)
        .values(dropped_events=S.dropped_events + lost),
    )
    if not added:
        _settings_row(session, deployment).dropped_events += lost


def _event_row(deployment: Deployment, event: Mapping[str, Any]) -> DeploymentAuditEvent | None:
    if not isinstance(event, Mapping):
        return None
    at = _timestamp(_field(event, "@timestamp"))
    action = _field(event, "event.action")
    if _field(event, "event.type") == "security_config_change":
        # Elasticsearch names the change itself in event.action (put_user, delete_role, ...);
        # the trail files it under its event type, the name settings and filters use
        action = "security_config_change"
    if at is None or not isinstance(action, str) or action not in _KNOWN:
        return None
    document = _clean(event)
    indices = _indices(_field(event, "indices"))
    row = DeploymentAuditEvent(
        id=new_id(),
        deployment_id=deployment.id,
        organization_id=deployment.organization_id,
        at=at,
        action=action,
        principal=_text(_field(event, "user.name"), 255),
        realm=_text(_field(event, "user.realm") or _field(event, "realm"), 128),
        origin_address=_text(_field(event, "origin.address"), 64),
        request_id=_text(_field(event, "request.id"), 64),
        indices=_text(",".join(indices), 2048) if indices else None,
        event=document,
    )
    if len(json.dumps(document)) > MAX_EVENT_BYTES:
        row.event = _summary(row, indices)
    return row


def _field(event: Mapping[str, Any], name: str) -> Any:
    """A field by its dotted name: flat (``"user.name"``, Elasticsearch's audit log) or
    nested (``{"user": {"name": ...}}``)."""
    if name in event:
        return event[name]
    value: Any = event
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        at = datetime.fromisoformat(value.replace(",", "."))
    except ValueError:
        return None
    if at.tzinfo is None:
        return None
    at = at.astimezone(UTC)
    return at if at >= _EARLIEST else None


def _indices(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return []
    return [_text(v, 255) or "" for v in value if isinstance(v, str)]


def _text(value: Any, limit: int) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return value.replace("\x00", "\ufffd")[:limit]


def _clean(event: Mapping[str, Any]) -> dict[str, Any]:
    """The event as JSON can hold it everywhere (no NUL: PostgreSQL text refuses it)."""
    text = json.dumps(event, default=str).replace("\\u0000", "\\ufffd")
    cleaned: dict[str, Any] = json.loads(text)
    return cleaned


def _summary(row: DeploymentAuditEvent, indices: list[str]) -> dict[str, Any]:
    """What is kept of an event too large to keep whole: its searched fields."""
    summary: dict[str, Any] = {
        "@timestamp": row.event.get("@timestamp"),
        "event.type": "audit",
        "event.action": row.action,
        "citadel.truncated": True,
    }
    for key, value in (
        ("user.name", row.principal),
        ("user.realm", row.realm),
        ("origin.address", row.origin_address),
        ("request.id", row.request_id),
    ):
        if value is not None:
            summary[key] = value
    if indices:
        summary["indices"] = indices[:100]
    return summary


def _settings_row(session: Session, deployment: Deployment) -> DeploymentAuditSettings:
    row = session.get(DeploymentAuditSettings, deployment.id)
    if row is None:
        row = DeploymentAuditSettings(
            deployment_id=deployment.id,
            organization_id=deployment.organization_id,
            enabled=False,
            include=[],
            exclude=[],
            ignore_filters={},
            dropped_events=0,
            updated_at=deployment.updated_at,
        )
        session.add(row)
        session.flush()
    return row


# --- reading -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventQuery:
    """What `query_events` narrows to; `cursor` is a page's `next_cursor` (older events)."""

    actions: Sequence[str] = ()
    principal: str | None = None
    realm: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    index: str | None = None
    """Text any of the event's indices contains (case ignored)."""
    cursor: str | None = None
    size: int = 100


@dataclass(frozen=True)
class EventPage:
    """Events newest first, and the cursor of the next (older) page if there is one."""

    events: list[DeploymentAuditEvent]
    next_cursor: str | None
    dropped_events: int = 0


def query_events(
    ctx: Context, organization_id: str, deployment_id: str, query: EventQuery
) -> EventPage:
    """One page of a deployment's audit events the caller may read, newest first."""
    deployment = for_change(ctx, organization_id, deployment_id, READ_PERMISSION)
    stmt = _select(organization_id, deployment.id, query)
    rows = list(ctx.session.scalars(stmt.limit(query.size + 1)))
    more = len(rows) > query.size
    rows = rows[: query.size]
    settings = ctx.session.get(DeploymentAuditSettings, deployment.id)
    return EventPage(
        rows,
        cursor_of(rows[-1]) if more and rows else None,
        settings.dropped_events if settings else 0,
    )


def _select(
    organization_id: str, deployment_id: str, query: EventQuery
) -> sa.Select[DeploymentAuditEvent]:
    _check_query(query)
    E = DeploymentAuditEvent
    stmt = scoped(E, organization_id, E.deployment_id == deployment_id)
    if query.actions:
        stmt = stmt.where(E.action.in_(list(query.actions)))
    if query.principal:
        stmt = stmt.where(E.principal == query.principal)
    if query.realm:
        stmt = stmt.where(E.realm == query.realm)
    if query.since:
        stmt = stmt.where(E.at >= query.since)
    if query.until:
        stmt = stmt.where(E.at < query.until)
    if query.index:
        text = query.index.lower()  # SQLite's LIKE ignores case, PostgreSQL's does not
        stmt = stmt.where(sa.func.lower(E.indices).contains(text, autoescape=True))
    if query.cursor:
        at, last_id = _parse_cursor(query.cursor)
        stmt = stmt.where(sa.or_(E.at < at, sa.and_(E.at == at, E.id < last_id)))
    return stmt.order_by(E.at.desc(), E.id.desc())


def _check_query(query: EventQuery) -> None:
    unknown = [i for i, a in enumerate(query.actions) if a not in _KNOWN]
    if unknown:
        raise InvalidAuditQuery(
            f"{query.actions[unknown[0]]!r} is not an Elasticsearch audit event type.",
            fields=[f"query.action[{unknown[0]}]"],
        )
    if not 1 <= query.size <= MAX_PAGE:
        raise InvalidAuditQuery(f"size is 1 to {MAX_PAGE}.", fields=["query.size"])
    if query.since and query.until and query.since >= query.until:
        raise InvalidAuditQuery("since must be before until.", fields=["query.since"])


def cursor_of(row: DeploymentAuditEvent) -> str:
    """The position after `row` (Elasticsearch's ``search_after`` of the sort ``@timestamp``
    descending, then id), as text."""
    micros = (row.at - _EPOCH) // timedelta(microseconds=1)
    return f"{micros}-{row.id}"


def _parse_cursor(text: str) -> tuple[datetime, str]:
    match = _CURSOR.match(text)
    if match is None:
        raise InvalidAuditQuery("The cursor is not one this API gave.", fields=["query.cursor"])
    return _EPOCH + timedelta(microseconds=int(match.group(1))), match.group(2)


# --- settings ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SettingsView:
    """A deployment's audit settings and how many events its node reported dropped."""

    settings: AuditSettings
    dropped_events: int = 0
    updated_at: datetime | None = None


def read_settings(ctx: Context, organization_id: str, deployment_id: str) -> SettingsView:
    """The deployment's audit settings (the defaults when never changed)."""
    deployment = for_change(ctx, organization_id, deployment_id, READ_PERMISSION)
    return _view(ctx.session, deployment.id)


def _view(session: Session, deployment_id: str) -> SettingsView:
    row = session.get(DeploymentAuditSettings, deployment_id)
    settings = settings_for_node(session, deployment_id)
    if row is None:
        return SettingsView(settings)
    return SettingsView(settings, row.dropped_events, row.updated_at)


def update_settings(
    ctx: Context, organization_id: str, deployment_id: str, change: AuditSettingsChange
) -> SettingsView:
    """Change what the deployment's node records (fields left None keep their value); the
    change is audited in the organization's chain and reaches the node with the next
    allocations."""
    deployment = for_change(ctx, organization_id, deployment_id, MANAGE_PERMISSION)
    check_change(change)
    row = _settings_row(ctx.session, deployment)
    before = _document(row)
    if change.enabled is not None:
        row.enabled = change.enabled
    if change.include is not None:
        row.include = list(dict.fromkeys(change.include))
    if change.exclude is not None:
        row.exclude = list(dict.fromkeys(change.exclude))
    if change.ignore_filters is not None:
        row.ignore_filters = json.loads(json.dumps(change.ignore_filters))
    after = _document(row)
    if after != before:
        row.updated_at = ctx.clock.now()
        touch(ctx, deployment)
        ctx.record(
            AuditAction.DEPLOYMENT_AUDIT_SETTINGS_UPDATED,
            organization_id=organization_id,
            target_type=TargetType.DEPLOYMENT,
            target_id=deployment.id,
            details={"changed": sorted(k for k in after if after[k] != before[k]), **after},
        )
    ctx.session.flush()
    return _view(ctx.session, deployment.id)


def _document(row: DeploymentAuditSettings) -> dict[str, Any]:
    return {
        "enabled": row.enabled,
        "include": list(row.include),
        "exclude": list(row.exclude),
        "ignore_filters": dict(row.ignore_filters),
    }


# --- retention ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pruned:
    """How many events a `prune` deleted, by reason."""

    too_old: int = 0
    over_limit: dict[str, int] = field(default_factory=dict)


def prune(
    session: Session, *, now: datetime, retention_days: int, max_events: int = DEFAULT_MAX_EVENTS
) -> Pruned:
    """Delete every event older than `retention_days`, then each deployment's oldest beyond
    its newest `max_events`."""
    E = DeploymentAuditEvent
    cutoff = now - timedelta(days=retention_days)
    old = _changed(session, sa.delete(E).where(E.at < cutoff))
    over: dict[str, int] = {}
    crowded = session.scalars(
        sa.select(E.deployment_id).group_by(E.deployment_id).having(sa.func.count() > max_events)
    ).all()
    for deployment_id in crowded:
        boundary = session.execute(
            sa.select(E.at, E.id)
            .where(E.deployment_id == deployment_id)
            .order_by(E.at.desc(), E.id.desc())
            .offset(max_events - 1)
            .limit(1)
        ).one()
        gone = _changed(
            session,
            sa.delete(E).where(
                E.deployment_id == deployment_id,
                sa.or_(E.at < boundary.at, sa.and_(E.at == boundary.at, E.id < boundary.id)),
            ),
        )
        over[deployment_id] = gone
    session.flush()
    pruned = Pruned(old, over)
    if pruned.too_old or over:
        log.info(
            "deployment_audit.pruned",
            too_old=pruned.too_old,
            over_limit=sum(over.values()),
            deployments=len(over),
        )
    return pruned


def _changed(session: Session, statement: sa.Delete | sa.Update) -> int:
    result = cast(sa.CursorResult[Any], session.execute(statement))
    return int(result.rowcount or 0)

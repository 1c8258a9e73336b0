"""Creating, listing, revoking and verifying Cloud API keys.

Verification order (security anchors 4.2): checksum (no database) → lookup by public key id →
constant-time digest comparison → disabled → expired. Every failure looks the same to the
caller. Keys belong to the organization; by default they outlive their creator's membership
(as in the reference), unless the organization sets ``disable_api_keys_on_member_removal``.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from citadel.api_keys.errors import (
    ApiKeyLimitReached,
    ApiKeyNotFound,
    InvalidApiKeyInput,
    UnauthorizedRoleAssignments,
)
from citadel.api_keys.models import ApiKey
from citadel.api_keys.schemas import CreateApiKeyIn
from citadel.audit.tags import AuditAction, TargetType
from citadel.authn import api_key_format
from citadel.authn.context import Context
from citadel.authn.guard import require
from citadel.authn.principal import Principal, PrincipalKind
from citadel.authn.quotas import ApiKeysPerUserExceeded, enforce
from citadel.authz import assignments
from citadel.authz.assignments import Assignment
from citadel.authz.decide import Grant, Subject, Target, may_grant
from citadel.authz.permissions import Permission
from citadel.authz.roles import OWNER
from citadel.crypto.keyring import PEPPER_VERSION, Keyring
from citadel.db.tenancy import in_organization, owned, scoped
from citadel.kit.durations import InvalidDuration, parse_duration
from citadel.orgs.service import load as load_org
from citadel.users.models import User

DEFAULT_EXPIRY = timedelta(days=90)
MAX_EXPIRY = timedelta(days=365)
MAX_ACTIVE_KEYS = 500
TOUCH_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedKey:
    """A new key: its row and the only copy of its text."""

    row: ApiKey
    text: str


def create_api_key(ctx: Context, organization_id: str, body: CreateApiKeyIn) -> IssuedKey:
    """Mint a key for the organization; only Organization owners may, and never beyond them."""
    require(ctx.caller, Permission.API_KEYS_MANAGE, Target.organization(organization_id))
    if body.role_assignments is None:
        granted = _creators_assignments(ctx.caller.subject, organization_id)
    else:
        granted = assignments.from_request(body.role_assignments, at="body.role_assignments")
    for a in granted:
        if a.grant.organization_id != organization_id or not may_grant(ctx.caller.subject, a.grant):
            raise UnauthorizedRoleAssignments(fields=["body.role_assignments"])
    principal = ctx.caller.principal
    return issue(
        ctx,
        organization_id,
        description=body.description,
        expiration=body.expiration,
        granted=granted,
        created_by=principal.user_id if principal else None,
    )


def issue(
    ctx: Context,
    organization_id: str,
    *,
    description: str,
    expiration: str | None,
    granted: list[Assignment],
    created_by: str | None,
) -> IssuedKey:
    """Store a new key with these assignments (authorization already decided by the caller)."""
    org = load_org(ctx.session, organization_id, for_update=True)
    now = ctx.clock.now()
    expires_at = _expiry(expiration, now, allow_never=org.allow_never_expiring_api_keys)
    if _active_count(ctx.session, organization_id, now) >= MAX_ACTIVE_KEYS:
        raise ApiKeyLimitReached()
    if created_by is not None:
        held = _made_by(ctx.session, created_by, now)
        enforce(ctx, ApiKeysPerUserExceeded, held=held, organization_id=organization_id)
    parsed = api_key_format.new_key()
    row = ApiKey(
        id=parsed.key_id,
        organization_id=organization_id,
        created_by=created_by,
        description=description,
        digest=api_key_format.digest(ctx.keyring.pepper(PEPPER_VERSION), parsed.text),
        pepper_version=PEPPER_VERSION,
        role_assignments=assignments.to_stored(granted),
        created_at=now,
        expires_at=expires_at,
    )
    ctx.session.add(row)
    ctx.session.flush()
    ctx.record(
        AuditAction.API_KEY_CREATED,
        organization_id=organization_id,
        target_type=TargetType.API_KEY,
        target_id=row.id,
        details={
            "description": description,
            "expires_at": expires_at.isoformat() if expires_at else None,
            "role_assignments": row.role_assignments,
        },
    )
    return IssuedKey(row=row, text=parsed.text)


def _creators_assignments(subject: Subject, organization_id: str) -> list[Assignment]:
    return [Assignment(g) for g in subject.grants_in(organization_id)]


def _expiry(expiration: str | None, now: datetime, *, allow_never: bool) -> datetime | None:
    field = ["body.expiration"]
    if expiration is None:
        return now + DEFAULT_EXPIRY
    if expiration == "never":
        if not allow_never:
            raise InvalidApiKeyInput(
                "This organization does not allow keys that never expire.", fields=field
            )
        return None
    try:
        delta = parse_duration(expiration)
    except InvalidDuration:
        raise InvalidApiKeyInput(
            "Expiration is a positive duration such as 1d, 3h or 12w, or 'never'.", fields=field
        ) from None
    if delta > MAX_EXPIRY:
        raise InvalidApiKeyInput("Expiration is at most one year (365d).", fields=field)
    return now + delta


def _active_count(session: Session, organization_id: str, now: datetime) -> int:
    stmt = sa.select(sa.func.count()).where(
        in_organization(ApiKey, organization_id),
        ApiKey.disabled_at.is_(None),
        sa.or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now),
    )
    return session.scalar(stmt) or 0


def _made_by(session: Session, user_id: str, now: datetime) -> int:
    """The active keys `user_id` made, in every organization (the user's row locked, so two
    keys made at once count each other)."""
    session.execute(sa.select(User.id).where(User.id == user_id).with_for_update())
    stmt = sa.select(sa.func.count()).where(
        ApiKey.created_by == user_id,
        ApiKey.disabled_at.is_(None),
        sa.or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now),
    )
    return session.scalar(stmt) or 0


def list_api_keys(ctx: Context, organization_id: str) -> list[ApiKey]:
    """The organization's keys that have not expired (expired keys leave the list)."""
    require(ctx.caller, Permission.API_KEYS_MANAGE, Target.organization(organization_id))
    now = ctx.clock.now()
    stmt = scoped(
        ApiKey,
        organization_id,
        sa.or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now),
    ).order_by(ApiKey.created_at)
    return list(ctx.session.scalars(stmt))


def get_api_key(ctx: Context, organization_id: str, key_id: str) -> ApiKey:
    """One key of the organization."""
    require(ctx.caller, Permission.API_KEYS_MANAGE, Target.organization(organization_id))
    return _load(ctx.session, organization_id, key_id)


def delete_api_keys(ctx: Context, organization_id: str, key_ids: list[str]) -> None:
    """Revoke keys at once; if any id is unknown nothing is deleted."""
    require(ctx.caller, Permission.API_KEYS_MANAGE, Target.organization(organization_id))
    rows = [_load(ctx.session, organization_id, k) for k in dict.fromkeys(key_ids)]
    for row in rows:
        ctx.session.delete(row)
        ctx.record(
            AuditAction.API_KEY_DELETED,
            organization_id=organization_id,
            target_type=TargetType.API_KEY,
            target_id=row.id,
            details={"description": row.description},
        )
    ctx.session.flush()


def disable_keys_created_by(ctx: Context, organization_id: str, user_ids: list[str]) -> None:
    """Disable the keys these users created, when the organization's setting asks for it."""
    org = load_org(ctx.session, organization_id)
    if not org.disable_api_keys_on_member_removal or not user_ids:
        return
    now = ctx.clock.now()
    stmt = scoped(
        ApiKey,
        organization_id,
        ApiKey.created_by.in_(user_ids),
        ApiKey.disabled_at.is_(None),
    )
    for row in ctx.session.scalars(stmt):
        row.disabled_at, row.disabled_reason = now, "creator_lost_roles"
        ctx.record(
            AuditAction.API_KEY_DISABLED,
            organization_id=organization_id,
            target_type=TargetType.API_KEY,
            target_id=row.id,
            details={"reason": "creator_lost_roles", "created_by": row.created_by},
        )
    ctx.session.flush()


def _load(session: Session, organization_id: str, key_id: str) -> ApiKey:
    row = owned(session, ApiKey, organization_id, key_id)
    if row is None:
        raise ApiKeyNotFound()
    return row


@dataclass(frozen=True)
class VerifiedKey:
    """A key that authenticated, and whether its last-used record is stale."""

    principal: Principal
    needs_touch: bool


def verify_api_key(
    session: Session, keyring: Keyring, now: datetime, text: str, source_ip: str
) -> VerifiedKey | None:
    """The principal for a presented key, or None; one fast HMAC, no slow hash."""
    parsed = api_key_format.parse_key(text)
    if parsed is None:
        return None
    row = session.get(ApiKey, parsed.key_id)
    if row is None:
        return None
    expected = api_key_format.digest(keyring.pepper(row.pepper_version), parsed.text)
    if not hmac.compare_digest(expected, row.digest):
        return None
    if row.disabled_at is not None or (row.expires_at is not None and row.expires_at <= now):
        return None
    grants = tuple(a.grant for a in assignments.from_stored(row.role_assignments))
    principal = Principal(
        kind=PrincipalKind.API_KEY,
        credential_id=row.id,
        subject=Subject(frozenset({row.organization_id}), grants),
        key_organization_id=row.organization_id,
        expires_at=row.expires_at,
    )
    stale = row.last_used_at is None or now - row.last_used_at >= TOUCH_INTERVAL
    return VerifiedKey(principal, needs_touch=stale or row.last_used_ip != source_ip)


def touch_api_key(session: Session, key_id: str, now: datetime, source_ip: str) -> None:
    """Record when and from where a key was last used."""
    session.execute(
        sa.update(ApiKey)
        .where(ApiKey.id == key_id)
        .values(last_used_at=now, last_used_ip=source_ip)
    )


def owner_grant(organization_id: str) -> Grant:
    """The Organization owner grant (for the break-glass key of `citadel admin`)."""
    return Grant(organization_id, OWNER, all=True)

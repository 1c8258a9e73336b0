"""Inviting people, and their accepting.

An invitation is bound to one email address and one organization. Re-inviting an address
refreshes the invitation (new secret, new expiry, new roles). Accepting consumes it once,
atomically; an expired invitation never admits anyone.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa

from citadel.api_keys.errors import UnauthorizedRoleAssignments
from citadel.audit.tags import AuditAction, Outcome, TargetType
from citadel.authn.context import Context
from citadel.authn.guard import require
from citadel.authn.principal import PrincipalKind
from citadel.authz import assignments
from citadel.authz.assignments import Assignment
from citadel.authz.decide import Target, may_grant, visible_part
from citadel.authz.permissions import Permission
from citadel.db.engine import rows_changed
from citadel.db.tenancy import in_organization, owned, scoped
from citadel.invitations import tokens
from citadel.invitations.errors import (
    AlreadyMember,
    EmailNotProven,
    InvalidInvitationEmail,
    InvalidInvitationInput,
    InvitationExpired,
    InvitationNotFound,
    InvitationsRateLimited,
    SignInToAccept,
)
from citadel.invitations.models import Invitation
from citadel.invitations.schemas import AcceptInvitationIn, InvitationRequestIn
from citadel.kit.durations import InvalidDuration, parse_duration
from citadel.kit.emails import InvalidEmail, normalize_email
from citadel.kit.ids import new_id
from citadel.orgs.models import Membership, RoleAssignment
from citadel.orgs.service import load as load_org
from citadel.users.models import User
from citadel.users.service import create_user, find_by_email

DEFAULT_TTL = timedelta(hours=72)
MAX_TTL = timedelta(days=30)
MAX_PER_HOUR = 200


@dataclass(frozen=True)
class IssuedInvitation:
    """An invitation and, for its creator and its email, the acceptance token; for the email
    only, the code that proves the address."""

    row: Invitation
    token: str
    email_code: str


def invite(ctx: Context, organization_id: str, body: InvitationRequestIn) -> list[IssuedInvitation]:
    """Create or refresh invitations for each email, with roles within the caller's authority."""
    require(ctx.caller, Permission.INVITATIONS_MANAGE, Target.organization(organization_id))
    load_org(ctx.session, organization_id, for_update=True)
    now = ctx.clock.now()
    ttl = _ttl(body.expires_in)
    granted = []
    if body.role_assignments is not None:
        granted = assignments.from_request(body.role_assignments, at="body.role_assignments")
    for a in granted:
        if a.grant.organization_id != organization_id or not may_grant(ctx.caller.subject, a.grant):
            raise UnauthorizedRoleAssignments(fields=["body.role_assignments"])
    emails = [_email(e, f"body.emails[{i}]") for i, e in enumerate(body.emails)]
    recent = ctx.session.scalar(
        sa.select(sa.func.count()).where(
            in_organization(Invitation, organization_id),
            Invitation.created_at > now - timedelta(hours=1),
        )
    )
    if (recent or 0) + len(emails) > MAX_PER_HOUR:
        raise InvitationsRateLimited(retry_after=3600)
    for i, email in enumerate(emails):
        if _is_member(ctx, organization_id, email):
            raise AlreadyMember(fields=[f"body.emails[{i}]"])
    issued = []
    for email in dict.fromkeys(emails):
        secret = tokens.new_secret()
        row = ctx.session.scalars(
            scoped(Invitation, organization_id, Invitation.email == email)
        ).one_or_none()
        if row is None:
            row = Invitation(id=new_id(), organization_id=organization_id, email=email)
            ctx.session.add(row)
        email_code = tokens.new_secret()
        row.secret_digest = _digest(ctx, secret)
        row.email_code_digest = _digest(ctx, email_code, purpose="invitation-email-code")
        row.role_assignments = assignments.to_stored(granted)
        row.invited_by = ctx.caller.actor.actor_id
        row.created_at, row.expires_at, row.accepted_at = now, now + ttl, None
        ctx.session.flush()
        ctx.record(
            AuditAction.INVITATION_CREATED,
            organization_id=organization_id,
            target_type=TargetType.INVITATION,
            target_id=tokens.handle(row.id),
            details={"email": email, "expires_at": row.expires_at.isoformat()},
        )
        issued.append(IssuedInvitation(row, tokens.token(row.id, secret), email_code))
    return issued


def list_invitations(ctx: Context, organization_id: str) -> list[Invitation]:
    """The organization's invitations, newest first."""
    require(ctx.caller, Permission.INVITATIONS_READ, Target.organization(organization_id))
    stmt = scoped(Invitation, organization_id).order_by(Invitation.created_at.desc(), Invitation.id)
    return list(ctx.session.scalars(stmt))


def visible_assignments(ctx: Context, row: Invitation) -> list[Assignment]:
    """The parts of an invitation's roles that the caller may see (inventory 10.7)."""
    visible = []
    for a in assignments.from_stored(row.role_assignments):
        part = visible_part(ctx.caller.subject, a.grant)
        if part is not None:
            visible.append(Assignment(part, a.application_roles))
    return visible


def delete_invitations(ctx: Context, organization_id: str, refs: list[str]) -> None:
    """Revoke invitations (all or none): unknown ones, or roles beyond the caller, refuse."""
    require(ctx.caller, Permission.INVITATIONS_MANAGE, Target.organization(organization_id))
    rows = []
    for text in dict.fromkeys(refs):
        ref = tokens.parse(text)
        row = owned(ctx.session, Invitation, organization_id, ref.invitation_id) if ref else None
        if row is None:
            raise InvitationNotFound(fields=["path.invitation_tokens"])
        rows.append(row)
    for row in rows:
        for a in assignments.from_stored(row.role_assignments):
            if not may_grant(ctx.caller.subject, a.grant):
                raise UnauthorizedRoleAssignments(fields=["path.invitation_tokens"])
    for row in rows:
        ctx.session.delete(row)
        ctx.record(
            AuditAction.INVITATION_DELETED,
            organization_id=organization_id,
            target_type=TargetType.INVITATION,
            target_id=tokens.handle(row.id),
            details={"email": row.email},
        )
    ctx.session.flush()


def find_by_token(ctx: Context, token: str) -> Invitation:
    """The invitation whose full token this is (the token is the capability)."""
    ref = tokens.parse(token)
    if ref is None or ref.secret is None:
        raise InvitationNotFound()
    row = ctx.session.get(Invitation, ref.invitation_id)
    if row is None or not hmac.compare_digest(row.secret_digest, _digest(ctx, ref.secret)):
        raise InvitationNotFound()
    return row


@dataclass(frozen=True)
class Acceptance:
    """Who joined which organization, and whether they must still enrol a second factor."""

    user_id: str
    organization_id: str
    mfa_enrollment_required: bool


def accept(ctx: Context, token: str, body: AcceptInvitationIn) -> Acceptance:
    """Join the organization: as the signed-in invited person, or as a new account."""
    row = find_by_token(ctx, token)
    now = ctx.clock.now()
    if row.accepted_at is not None:
        raise InvitationNotFound()
    if row.expires_at <= now:
        raise InvitationExpired()
    user = _accepting_user(ctx, row, body)
    if ctx.session.get(Membership, (row.organization_id, user.id)) is not None:
        raise AlreadyMember()
    consumed = rows_changed(
        ctx.session,
        sa.update(Invitation)
        .where(Invitation.id == row.id, Invitation.accepted_at.is_(None))
        .values(accepted_at=now)
        .execution_options(synchronize_session=False),
    )
    if consumed != 1:
        raise InvitationNotFound()
    ctx.session.add(
        Membership(organization_id=row.organization_id, user_id=user.id, member_since=now)
    )
    for a in assignments.from_stored(row.role_assignments):
        g = a.grant
        ctx.session.add(
            RoleAssignment(
                organization_id=g.organization_id,
                user_id=user.id,
                role_id=str(g.role_id),
                all_resources=g.all,
                resource_ids=sorted(g.resource_ids),
                application_roles=list(a.application_roles),
                created_at=now,
            )
        )
    ctx.session.flush()
    ctx.record(
        AuditAction.INVITATION_ACCEPTED,
        organization_id=row.organization_id,
        target_type=TargetType.INVITATION,
        target_id=tokens.handle(row.id),
        details={"user_id": user.id, "email": row.email},
    )
    ctx.record(
        AuditAction.MEMBER_JOINED,
        organization_id=row.organization_id,
        target_type=TargetType.USER,
        target_id=user.id,
        details={"role_assignments": row.role_assignments},
    )
    return Acceptance(user.id, row.organization_id, not user.has_totp)


def _accepting_user(ctx: Context, row: Invitation, body: AcceptInvitationIn) -> User:
    principal = ctx.caller.principal
    if principal is not None:
        if principal.kind is not PrincipalKind.USER or principal.email != row.email:
            raise SignInToAccept()
        user = ctx.session.get(User, principal.user_id)
        if user is None:
            raise SignInToAccept()
        return user
    if find_by_email(ctx.session, row.email) is not None:
        raise SignInToAccept()
    if not _email_proven(ctx, row, body.email_code):
        ctx.record(
            AuditAction.INVITATION_ACCEPTED,
            organization_id=row.organization_id,
            target_type=TargetType.INVITATION,
            target_id=tokens.handle(row.id),
            outcome=Outcome.FAILURE,
            details={"email": row.email, "reason": "email_not_proven"},
        )
        raise EmailNotProven(fields=["body.email_code"])
    if not body.password:
        raise InvalidInvitationInput(
            "Choose a password to create your account.", fields=["body.password"]
        )
    user = create_user(
        ctx.session,
        email=row.email,
        password=body.password,
        name=body.name,
        now=ctx.clock.now(),
        field="body.password",
    )
    ctx.record(
        AuditAction.USER_CREATED,
        organization_id=row.organization_id,
        target_type=TargetType.USER,
        target_id=user.id,
        details={"via": "invitation"},
    )
    return user


def _is_member(ctx: Context, organization_id: str, email: str) -> bool:
    stmt = (
        sa.select(Membership.user_id)
        .join(User, User.id == Membership.user_id)
        .where(in_organization(Membership, organization_id), User.email == email)
    )
    return ctx.session.scalar(stmt) is not None


def _ttl(expires_in: str | None) -> timedelta:
    if expires_in is None:
        return DEFAULT_TTL
    try:
        ttl = parse_duration(expires_in)
    except InvalidDuration:
        raise InvalidInvitationInput(
            "expires_in is a positive duration such as 24h or 3d.", fields=["body.expires_in"]
        ) from None
    if ttl > MAX_TTL:
        raise InvalidInvitationInput("expires_in is at most 30d.", fields=["body.expires_in"])
    return ttl


def _email(text: str, field: str) -> str:
    try:
        return normalize_email(text)
    except InvalidEmail:
        raise InvalidInvitationEmail(
            f"[{text[:80]}] is not a valid email address.", fields=[field]
        ) from None


def _email_proven(ctx: Context, row: Invitation, code: str | None) -> bool:
    """Whether `code` is the one the invitation email carried (constant time)."""
    if row.email_code_digest is None or not code:
        return False
    digest = _digest(ctx, code, purpose="invitation-email-code")
    return hmac.compare_digest(row.email_code_digest, digest)


def _digest(ctx: Context, secret: str, *, purpose: str = "invitation") -> bytes:
    return ctx.keyring.mac(secret, purpose=purpose)

"""Signing in with a password and a second factor, sessions, and TOTP enrolment.

As in the reference, a password sign-in always needs a second factor. A user who has none
gets a session that can do nothing but enrol one (`mfa_enrollment_only`); confirming the
enrolment turns it into a full session and hands out ten single-use recovery codes.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from citadel.audit.tags import AuditAction, Outcome, TargetType
from citadel.authn import totp
from citadel.authn.context import Context
from citadel.authn.principal import Principal, PrincipalKind
from citadel.authz.decide import Subject
from citadel.crypto.keyring import Keyring
from citadel.crypto.passwords import hash_password, password_problem, verify_password
from citadel.db.engine import rows_changed
from citadel.errors import Unauthenticated
from citadel.kit import base62
from citadel.kit.emails import InvalidEmail, normalize_email
from citadel.kit.ids import new_id
from citadel.members.service import subject_of_user
from citadel.orgs.models import Membership, Organization
from citadel.signin import passkey_checks, throttle
from citadel.signin.errors import (
    InvalidCredentials,
    InvalidMfaCode,
    MfaAlreadyEnrolled,
    MfaEnrollmentRequired,
    NoPendingEnrollment,
    SignInThrottled,
    SsoRequired,
)
from citadel.signin.passkey_checks import RelyingParty
from citadel.signin.schemas import LoginIn
from citadel.signin.throttle_decision import decide
from citadel.users.errors import WeakPassword
from citadel.users.models import RecoveryCode, User, UserSession

PASSWORD = "password"  # noqa: S105 (a sign-in method, not a secret)
SAML = "saml"
TOKEN_PREFIX = "cit_ses_"  # noqa: S105 (a prefix, not a secret)
TOKEN_SECRET_LEN = 43
TOUCH_INTERVAL = timedelta(seconds=30)
RECOVERY_CODES = 10


@dataclass(frozen=True)
class IssuedSession:
    """A new session and the only copy of its token."""

    row: UserSession
    token: str
    csrf_token: str
    unfamiliar_address: str | None = None
    """The address a password sign-in came from when the account had signed in before, but
    never from there: its owner is told by email (`citadel.use_cases.signin`)."""


def sign_in(
    ctx: Context,
    body: LoginIn,
    *,
    rp: RelyingParty | None = None,
    passkey_binding: str | None = None,
) -> IssuedSession:
    """Check password and second factor (a TOTP or recovery code, or a passkey's assertion
    for `rp`'s challenge bound to `passkey_binding`) together; count and audit failures;
    issue a session.

    Every failed check answers the same `InvalidCredentials`, whichever part was wrong (an
    unknown account, the password, a missing or wrong code): the answer is no password oracle
    (ADR 22). The throttle (`throttle_decision.decide`) refuses before any check, and never
    refuses an address the account has signed in from for the account's budget alone.
    """
    now = ctx.clock.now()
    ip = ctx.caller.source_ip
    try:
        email = normalize_email(body.username)
    except InvalidEmail:
        email = body.username.strip().lower()[:320]
    keys = throttle.Keys.of(email, ip)
    user = ctx.session.scalars(sa.select(User).where(User.email == email)).one_or_none()
    known = user is not None and signed_in_from_before(ctx.session, user.id, ip)
    verdict = decide(throttle.waits(ctx.session, keys, now), known_address=known)
    if not verdict.go:
        _audit_failure(ctx, user, "throttled", throttle=verdict.reason)
        raise SignInThrottled(retry_after=verdict.retry_after)
    why = _credentials_problem(ctx, user, body, now, rp=rp, passkey_binding=passkey_binding)
    if why is not None or user is None:
        throttle.count_attempt_failure(ctx.session, keys, now, _limits(ctx))
        _audit_failure(ctx, user, why or "bad_password", throttle=verdict.reason)
        raise InvalidCredentials()
    if enforcing_organizations(ctx.session, user.id):
        _audit_failure(ctx, user, "sso_enforced", throttle=verdict.reason)
        raise SsoRequired()
    throttle.clear(ctx.session, keys.pair)
    enrolled = passkey_checks.has_second_factor(ctx.session, user)
    unfamiliar = None if known or not _signed_in_ever(ctx.session, user.id) else ip
    issued = new_session(ctx, user, enrollment_only=not enrolled)
    details: dict[str, Any] = {"method": "password", "session_id": issued.row.id, "mfa": enrolled}
    if body.passkey_assertion and enrolled:
        details["second_factor"] = "passkey"
    record_for_user(ctx, user.id, AuditAction.SIGNIN, details=details)
    return replace(issued, unfamiliar_address=unfamiliar)


def _credentials_problem(
    ctx: Context,
    user: User | None,
    body: LoginIn,
    now: datetime,
    *,
    rp: RelyingParty | None,
    passkey_binding: str | None,
) -> str | None:
    """What was wrong with the credentials (for the audit log only), or None."""
    if not verify_password(user.password_hash if user else None, body.password) or user is None:
        return "bad_password"
    if not passkey_checks.has_second_factor(ctx.session, user):
        return None  # the first sign-in: the session can only enrol a second factor (ADR 6)
    if body.passkey_assertion:  # a passkey instead of the code (ADR 25)
        if rp is None:
            return "passkey_unavailable"
        return passkey_checks.assertion_problem(
            ctx, user, rp, body.passkey_assertion, binding=passkey_binding
        )
    if not user.has_totp:
        return "second_factor_missing"  # a passkey is this account's only second factor
    if not body.totp_code:
        return "second_factor_missing"
    if not _second_factor_ok(ctx, user, body.totp_code.strip(), now):
        return "bad_second_factor"
    return None


def _limits(ctx: Context) -> throttle.Limits:
    p = ctx.policies
    return throttle.Limits(
        pair=p.signin_pair_failures,
        address=p.signin_ip_failures,
        account=p.signin_account_failures,
        window_s=p.signin_window_s,
        max_block_s=p.signin_max_lockout_s,
    )


def signed_in_from_before(session: Session, user_id: str, source_ip: str) -> bool:
    """Whether `user_id` has had a session (password or SSO) started from `source_ip`."""
    stmt = (
        sa.select(UserSession.id)
        .where(UserSession.user_id == user_id, UserSession.source_ip == source_ip)
        .limit(1)
    )
    return session.scalars(stmt).first() is not None


def _signed_in_ever(session: Session, user_id: str) -> bool:
    """Whether `user_id` has had any session at all (a first sign-in is news to nobody)."""
    stmt = sa.select(UserSession.id).where(UserSession.user_id == user_id).limit(1)
    return session.scalars(stmt).first() is not None


def _audit_failure(ctx: Context, user: User | None, why: str, *, throttle: str) -> None:
    record_for_user(
        ctx,
        user.id if user else None,
        AuditAction.SIGNIN,
        outcome=Outcome.FAILURE,
        details={
            "method": "password",
            "reason": why,
            "known_account": user is not None,
            "throttle": throttle,
        },
    )


def record_for_user(
    ctx: Context,
    user_id: str | None,
    action: AuditAction,
    *,
    outcome: Outcome = Outcome.SUCCESS,
    details: dict[str, Any] | None = None,
) -> None:
    """Audit an event of a user's own account (sign-in, second factor, password) in the chain
    of every organization they belong to, so each can see it (ADR 7, amended); the event of
    an unknown account, or of a user in no organization, goes to the platform chain."""
    chains: list[str | None] = []
    if user_id is not None:
        chains.extend(sorted(_organizations_of(ctx.session, user_id)))
    for organization_id in chains or [None]:
        ctx.record(
            action,
            organization_id=organization_id,
            target_type=TargetType.USER,
            target_id=user_id,
            outcome=outcome,
            details=details,
        )


def _organizations_of(session: Session, user_id: str) -> set[str]:
    stmt = sa.select(Membership.organization_id).where(Membership.user_id == user_id)
    return set(session.scalars(stmt))


def _second_factor_ok(ctx: Context, user: User, code: str, now: datetime) -> bool:
    if "-" in code:
        return _use_recovery_code(ctx, user, code, now)
    secret = ctx.keyring.barrier.open(user.totp_secret_sealed or b"", context=_totp_context(user))
    counter = totp.matching_counter(secret, code, now, user.totp_last_counter)
    if counter is None:
        return False
    user.totp_last_counter = counter
    return True


def _use_recovery_code(ctx: Context, user: User, code: str, now: datetime) -> bool:
    digest = ctx.keyring.mac(f"{user.id}:{code.lower()}", purpose="recovery")
    row = ctx.session.scalars(
        sa.select(RecoveryCode).where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.digest == digest,
            RecoveryCode.used_at.is_(None),
        )
    ).one_or_none()
    if row is None:
        return False
    row.used_at = now
    record_for_user(
        ctx,
        user.id,
        AuditAction.RECOVERY_CODE_USED,
    )
    return True


def new_session(
    ctx: Context,
    user: User,
    *,
    enrollment_only: bool,
    method: str = PASSWORD,
    sso_organization_id: str | None = None,
) -> IssuedSession:
    """A new session for `user`; `method` says how they proved who they are."""
    now, p = ctx.clock.now(), ctx.policies
    token = TOKEN_PREFIX + base62.random_text(TOKEN_SECRET_LEN)
    row = UserSession(
        id=new_id(),
        token_digest=ctx.keyring.mac(token, purpose="session"),
        user_id=user.id,
        mfa_enrollment_only=enrollment_only,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(seconds=p.session_absolute_s),
        source_ip=ctx.caller.source_ip,
        method=method,
        sso_organization_id=sso_organization_id,
    )
    ctx.session.add(row)
    ctx.session.flush()
    return IssuedSession(row, token, csrf_token(ctx.keyring, token))


def csrf_token(keyring: Keyring, session_token: str) -> str:
    """The CSRF token bound to a session token (derived, so never stored)."""
    return keyring.mac(session_token, purpose="csrf").hex()


def sign_out(ctx: Context) -> None:
    """End the caller's session."""
    principal = _session_principal(ctx)
    row = ctx.session.get(UserSession, principal.credential_id)
    if row is not None and row.ended_at is None:
        row.ended_at = ctx.clock.now()
    record_for_user(
        ctx,
        principal.user_id,
        AuditAction.SIGNOUT,
        details={"session_id": principal.credential_id},
    )


@dataclass(frozen=True)
class VerifiedSession:
    """A live session and whether its last-seen time should be written."""

    principal: Principal
    needs_touch: bool


def verify_session(
    session: Session,
    keyring: Keyring,
    now: datetime,
    token: str,
    *,
    idle_s: int,
    via_cookie: bool,
) -> VerifiedSession | None:
    """The principal of a live session token, or None (ended, expired, idle too long)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) != len(TOKEN_PREFIX) + TOKEN_SECRET_LEN:
        return None
    digest = keyring.mac(token, purpose="session")
    row = session.scalars(sa.select(UserSession).where(UserSession.token_digest == digest)).first()
    if row is None or row.ended_at is not None or row.expires_at <= now:
        return None
    if now - row.last_seen_at > timedelta(seconds=idle_s):
        return None
    user = session.get(User, row.user_id)
    if user is None:
        return None
    subject = subject_of_user(session, user.id)
    barred = enforcing_organizations(session, user.id) - _vouched_for(row)
    if barred:
        subject = Subject(
            subject.organization_ids - barred,
            tuple(g for g in subject.grants if g.organization_id not in barred),
        )
    principal = Principal(
        kind=PrincipalKind.USER,
        credential_id=row.id,
        subject=subject,
        user_id=user.id,
        email=user.email,
        expires_at=row.expires_at,
        via_cookie=via_cookie,
        mfa_enrollment_only=row.mfa_enrollment_only,
    )
    return VerifiedSession(principal, needs_touch=now - row.last_seen_at >= TOUCH_INTERVAL)


def enforcing_organizations(session: Session, user_id: str) -> set[str]:
    """The user's organizations that accept only their own SSO sign-ins."""
    stmt = (
        sa.select(Organization.id)
        .join(Membership, Membership.organization_id == Organization.id)
        .where(
            Membership.user_id == user_id, Organization.enforce_authentication_method.is_not(None)
        )
    )
    return set(session.scalars(stmt))


def _vouched_for(row: UserSession) -> set[str]:
    """The organization whose IdP signed this session in, if any."""
    if row.method == SAML and row.sso_organization_id:
        return {row.sso_organization_id}
    return set()


def set_password(ctx: Context, current: str | None, new: str) -> None:
    """Set the caller's password. The current one is needed, unless an SSO sign-in has
    invalidated it and this session is that SSO sign-in's."""
    user = _caller_user(ctx)
    principal = _session_principal(ctx)
    row = ctx.session.get(UserSession, principal.credential_id)
    if user.password_hash is not None:
        if not current or not verify_password(user.password_hash, current):
            record_for_user(
                ctx,
                user.id,
                AuditAction.PASSWORD_CHANGED,
                outcome=Outcome.FAILURE,
                details={"reason": "bad_password"},
            )
            raise InvalidCredentials()
    elif row is None or row.method != SAML:
        raise InvalidCredentials("Sign in with SSO to set a new password.")
    problem = password_problem(new)
    if problem:
        raise WeakPassword(f"The password {problem}.", fields=["body.new_password"])
    user.password_hash = hash_password(new)
    ended = rows_changed(
        ctx.session,
        sa.update(UserSession)
        .where(
            UserSession.user_id == user.id,
            UserSession.id != principal.credential_id,
            UserSession.ended_at.is_(None),
        )
        .values(ended_at=ctx.clock.now()),
    )
    record_for_user(
        ctx,
        user.id,
        AuditAction.PASSWORD_CHANGED,
        details={"other_sessions_ended": ended or 0},
    )


def touch_session(session: Session, session_id: str, now: datetime) -> None:
    """Record activity on a session (for the idle timeout)."""
    session.execute(
        sa.update(UserSession).where(UserSession.id == session_id).values(last_seen_at=now)
    )


def start_totp_enrollment(ctx: Context) -> tuple[str, str]:
    """A new pending TOTP seed for the caller: its base32 text and otpauth URI."""
    user = _caller_user(ctx)
    if user.has_totp:
        raise MfaAlreadyEnrolled()
    secret = totp.new_secret()
    user.totp_pending_sealed = ctx.keyring.barrier.seal(secret, context=_pending_context(user))
    record_for_user(
        ctx,
        user.id,
        AuditAction.TOTP_ENROLLMENT_STARTED,
    )
    return totp.encode_secret(secret), totp.provisioning_uri(secret, account=user.email)


def confirm_totp_enrollment(ctx: Context, code: str) -> list[str]:
    """Enable the pending seed if `code` matches; returns the recovery codes (shown once)."""
    user = _caller_user(ctx)
    if user.has_totp:
        raise MfaAlreadyEnrolled()
    if user.totp_pending_sealed is None:
        raise NoPendingEnrollment()
    now = ctx.clock.now()
    secret = ctx.keyring.barrier.open(user.totp_pending_sealed, context=_pending_context(user))
    counter = totp.matching_counter(secret, code, now, None)
    if counter is None:
        record_for_user(
            ctx,
            user.id,
            AuditAction.TOTP_ENABLED,
            outcome=Outcome.FAILURE,
        )
        raise InvalidMfaCode(fields=["body.code"])
    user.totp_secret_sealed = ctx.keyring.barrier.seal(secret, context=_totp_context(user))
    user.totp_pending_sealed = None
    user.totp_enabled_at, user.totp_last_counter = now, counter
    codes = _new_recovery_codes(ctx, user)
    principal = _session_principal(ctx)
    ctx.session.execute(
        sa.update(UserSession)
        .where(UserSession.id == principal.credential_id)
        .values(mfa_enrollment_only=False)
    )
    record_for_user(
        ctx,
        user.id,
        AuditAction.TOTP_ENABLED,
    )
    return codes


def regenerate_recovery_codes(ctx: Context, code: str) -> list[str]:
    """Replace the caller's recovery codes with ten new ones (shown once; the old ones stop
    working), after a current second factor: a TOTP code or one of the old recovery codes."""
    user = _caller_user(ctx)
    if not user.has_totp:
        raise MfaEnrollmentRequired("Enrol a second factor first; it comes with recovery codes.")
    if not _second_factor_ok(ctx, user, code, ctx.clock.now()):
        record_for_user(
            ctx, user.id, AuditAction.RECOVERY_CODES_REGENERATED, outcome=Outcome.FAILURE
        )
        raise InvalidMfaCode(fields=["body.code"])
    codes = _new_recovery_codes(ctx, user)
    record_for_user(ctx, user.id, AuditAction.RECOVERY_CODES_REGENERATED)
    return codes


def _new_recovery_codes(ctx: Context, user: User) -> list[str]:
    """Ten new recovery codes for `user`, replacing any they had (stored as HMAC digests)."""
    codes = [_recovery_code() for _ in range(RECOVERY_CODES)]
    ctx.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    for c in codes:
        digest = ctx.keyring.mac(f"{user.id}:{c}", purpose="recovery")
        ctx.session.add(RecoveryCode(user_id=user.id, digest=digest))
    return codes


def _recovery_code() -> str:
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    raw = "".join(secrets.choice(alphabet) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def _session_principal(ctx: Context) -> Principal:
    principal = ctx.caller.principal
    if principal is None or principal.kind is not PrincipalKind.USER:
        raise Unauthenticated("This needs a signed-in user, not an API key.")
    return principal


def _caller_user(ctx: Context) -> User:
    principal = _session_principal(ctx)
    user = ctx.session.get(User, principal.user_id, with_for_update=True)
    if user is None:
        raise Unauthenticated()
    return user


def _totp_context(user: User) -> str:
    return f"users.totp_secret:{user.id}"


def _pending_context(user: User) -> str:
    return f"users.totp_pending:{user.id}"

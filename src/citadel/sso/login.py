"""Signing in through an organization's IdP: SP-initiated only.

`start` answers the login URL: it records the AuthnRequest it sends (its ID, the
configuration generation, where to return) and the browser carries the ID in a cookie.
`finish` answers the ACS: the response must answer that request, once, within ten minutes,
under the same configuration; then `saml.process_response` checks it; then the email must be
in one of the organization's verified domains. Only then is the user found by (organization,
IdP, NameID), or provisioned, made a member, given the roles the mappings say, and handed the
same kind of session a password sign-in gets. Every finish, refused or not, is audited with
the reason; a refusal creates nothing but that record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from citadel.audit.tags import AuditAction, Outcome, TargetType
from citadel.authn.context import Context
from citadel.db.tenancy import scoped
from citadel.domains.service import verified_domains
from citadel.kit.emails import InvalidEmail, normalize_email
from citadel.kit.ids import new_id
from citadel.orgs.models import Membership
from citadel.signin import throttle
from citadel.signin.service import SAML, IssuedSession, new_session
from citadel.sso import configuration, ledger, role_mappings
from citadel.sso.errors import SsoLoginThrottled, SsoNotConfigured, UnknownLoginPrefix
from citadel.sso.models import SsoConfiguration, SsoIdentity, SsoLoginRequest
from citadel.sso.saml import (
    Assertion,
    RefusalReason,
    SamlRefused,
    email_in_domains,
    login_request,
    process_response,
)
from citadel.sso.urls import safe_return_to
from citadel.users.models import User
from citadel.users.service import end_sessions, find_by_email

REQUEST_LIFETIME = timedelta(minutes=10)
MAX_UNFINISHED_STARTS = 100
"""Login URL hits per source address in the sign-in window (`CITADEL_SIGNIN_WINDOW_S`)
without a finished sign-in; more are 429 (each hit writes a request row)."""


@dataclass(frozen=True)
class LoginStart:
    """Where to send the browser, and the request ID it must bring back."""

    redirect_url: str
    request_id: str


@dataclass(frozen=True)
class SignedIn:
    """A finished SSO sign-in: the session and where the browser goes next."""

    issued: IssuedSession
    user_id: str
    return_to: str


def start(ctx: Context, login_prefix: str, return_to: str | None) -> LoginStart:
    """A signed AuthnRequest for the organization signing in with `login_prefix`."""
    row = ctx.session.scalar(
        sa.select(SsoConfiguration).where(SsoConfiguration.login_prefix == login_prefix)
    )
    if row is None or not row.enabled:
        raise UnknownLoginPrefix()
    now = ctx.clock.now()
    _count_start(ctx, now)
    ctx.session.execute(sa.delete(SsoLoginRequest).where(SsoLoginRequest.expires_at < now))
    ledger.forget_expired(ctx.session, now)
    url, request_id = login_request(configuration.service_provider(ctx, row), relay_state="")
    ctx.session.add(
        SsoLoginRequest(
            id=request_id,
            organization_id=row.organization_id,
            generation=row.generation,
            return_to=safe_return_to(return_to),
            created_at=now,
            expires_at=now + REQUEST_LIFETIME,
        )
    )
    ctx.session.flush()
    return LoginStart(url, request_id)


def finish(
    ctx: Context, organization_id: str, form: dict[str, str], request_id: str | None
) -> SignedIn:
    """Verify the posted response and sign the user in, or raise `SamlRefused(reason)`."""
    row = configuration.find(ctx, organization_id)
    if row is None:
        raise SsoNotConfigured()
    try:
        pending = _answered_request(ctx, row, request_id)
        assertion = process_response(
            configuration.service_provider(ctx, row),
            form,
            request_id=pending.id,
            seen_assertion_ids=ledger.DatabaseAssertionLedger(ctx.session, organization_id),
            now=ctx.clock.now(),
        )
        email = _email_in_claimed_domain(ctx, organization_id, assertion)
    except SamlRefused as refused:
        ctx.record(
            AuditAction.SSO_SIGNIN,
            organization_id=organization_id,
            target_type=TargetType.SSO_CONFIGURATION,
            target_id=organization_id,
            outcome=Outcome.FAILURE,
            details={"reason": refused.reason.value, "idp_entity_id": row.idp_entity_id},
        )
        raise
    throttle.clear(ctx.session, _start_key(ctx))
    return _sign_in(ctx, row, assertion, email, pending.return_to)


def _start_key(ctx: Context) -> str:
    return "sso:" + (ctx.caller.source_ip or "unknown")[:60]


def _count_start(ctx: Context, now: datetime) -> None:
    """Refuse an address that keeps starting sign-ins it never finishes (429)."""
    key, p = _start_key(ctx), ctx.policies
    wait = throttle.seconds_blocked(ctx.session, [key], now)
    if wait:
        raise SsoLoginThrottled(retry_after=wait)
    throttle.count_failure(
        ctx.session,
        key,
        now,
        limit=MAX_UNFINISHED_STARTS,
        window_s=p.signin_window_s,
        max_block_s=p.signin_max_lockout_s,
    )


def _answered_request(
    ctx: Context, row: SsoConfiguration, request_id: str | None
) -> SsoLoginRequest:
    """The request this response must answer: ours, this organization's, unused, fresh."""
    pending = (
        ctx.session.get(SsoLoginRequest, request_id, with_for_update=True) if request_id else None
    )
    if pending is None or pending.organization_id != row.organization_id:
        raise SamlRefused(RefusalReason.UNSOLICITED)
    if pending.used_at is not None:
        raise SamlRefused(RefusalReason.REPLAYED)
    now = ctx.clock.now()
    pending.used_at = now  # one response per request, whatever happens next
    if not row.enabled:
        raise SamlRefused(RefusalReason.SSO_DISABLED)
    if pending.expires_at <= now:
        raise SamlRefused(RefusalReason.REQUEST_EXPIRED)
    if pending.generation != row.generation:
        raise SamlRefused(RefusalReason.CONFIGURATION_CHANGED)
    return pending


def _email_in_claimed_domain(ctx: Context, organization_id: str, assertion: Assertion) -> str:
    try:
        email = normalize_email(assertion.email)
    except InvalidEmail:
        raise SamlRefused(RefusalReason.MISSING_EMAIL) from None
    if not email_in_domains(email, verified_domains(ctx, organization_id)):
        raise SamlRefused(RefusalReason.EMAIL_OUTSIDE_CLAIMED_DOMAINS)
    return email


def _sign_in(
    ctx: Context, row: SsoConfiguration, assertion: Assertion, email: str, return_to: str
) -> SignedIn:
    now = ctx.clock.now()
    org = row.organization_id
    identity = ctx.session.scalar(
        scoped(
            SsoIdentity,
            org,
            SsoIdentity.idp_entity_id == row.idp_entity_id,
            SsoIdentity.name_id == assertion.name_id,
        )
    )
    user = ctx.session.get(User, identity.user_id) if identity is not None else None
    ended = 0
    if identity is None or user is None:
        existing = find_by_email(ctx.session, email)
        if existing is not None:
            # Linking an account to this IdP identity: whoever held its password before (a
            # squatter, say) loses every session it had, as the password itself is dropped.
            ended = end_sessions(ctx.session, [existing.id], now)
        user = existing or _provision(ctx, email, assertion)
        identity = SsoIdentity(
            id=new_id(),
            organization_id=org,
            idp_entity_id=row.idp_entity_id,
            name_id=assertion.name_id,
            user_id=user.id,
            groups=None,
            generation=row.generation,
            created_at=now,
            last_sign_in_at=now,
        )
        ctx.session.add(identity)
    identity.generation, identity.last_sign_in_at = row.generation, now
    if "groups" in assertion.attributes:
        identity.groups = sorted(set(assertion.groups))
    joined = ctx.session.get(Membership, (org, user.id)) is None
    if joined:
        ctx.session.add(Membership(organization_id=org, user_id=user.id, member_since=now))
        ctx.record(
            AuditAction.SSO_MEMBER_PROVISIONED,
            organization_id=org,
            target_type=TargetType.USER,
            target_id=user.id,
            details={"email": email, "idp_entity_id": row.idp_entity_id},
        )
    ctx.session.flush()
    mapped = role_mappings.apply_at_sign_in(ctx, org, user.id, identity.groups)
    user.password_hash = None  # as in the reference: an SSO sign-in invalidates the password
    issued = new_session(ctx, user, enrollment_only=False, method=SAML, sso_organization_id=org)
    ctx.record(
        AuditAction.SSO_SIGNIN,
        organization_id=org,
        target_type=TargetType.USER,
        target_id=user.id,
        details={
            "idp_entity_id": row.idp_entity_id,
            "generation": row.generation,
            "session_id": issued.row.id,
            "new_member": joined,
            "sessions_ended": ended,
            "groups": identity.groups,
            "mappings_matched": list(mapped.matched) if mapped else None,
        },
    )
    return SignedIn(issued, user.id, return_to)


def _provision(ctx: Context, email: str, assertion: Assertion) -> User:
    """A user account for someone the IdP vouches for: no password, no second factor here."""
    first = " ".join(assertion.attributes.get("firstName", ()))
    last = " ".join(assertion.attributes.get("lastName", ()))
    name = f"{first} {last}".strip()[:128] or None
    user = User(id=new_id(), email=email, name=name, password_hash=None, created_at=ctx.clock.now())
    ctx.session.add(user)
    ctx.session.flush()
    return user

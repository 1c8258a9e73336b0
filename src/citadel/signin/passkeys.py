"""Passkeys (WebAuthn) as a second factor: adding one while signed in, listing, renaming and
removing them, and the challenge a sign-in's assertion answers (ADR 25).

The sign-in challenge is the same for any visitor and names no account (the browser offers
its discoverable credentials for this site); the password, the account and the assertion are
then checked together by `service.sign_in`, so the answer of a failed first step stays one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_registration_response,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from citadel.audit.tags import AuditAction, Outcome
from citadel.authn.context import Context
from citadel.kit.ids import new_id
from citadel.signin import throttle
from citadel.signin.errors import (
    InvalidCredentials,
    InvalidPasskey,
    LastSecondFactor,
    PasskeyNotFound,
    SignInThrottled,
    SsoRequired,
)
from citadel.signin.passkey_checks import (
    REGISTER,
    SIGNIN,
    RelyingParty,
    client_challenge,
    issue_challenge,
    parse_credential,
    passkey_of,
    signature_problem,
    spend_challenge,
    user_handle,
)
from citadel.signin.passkey_models import Passkey
from citadel.signin.service import (
    IssuedSession,
    _limits,
    enforcing_organizations,
    new_session,
    record_for_user,
    signed_in_from_before,
)
from citadel.signin.service import _caller_user as caller_user
from citadel.signin.service import _session_principal as session_principal
from citadel.signin.throttle_decision import decide
from citadel.users.models import User

TIMEOUT_MS = 300_000
PASSKEY = "passkey"  # the sign-in method of a passwordless session
KNOWN_TRANSPORTS = frozenset(t.value for t in AuthenticatorTransport)


@dataclass(frozen=True)
class PasskeyInfo:
    """A passkey as its owner sees it (no key material)."""

    id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None


def registration_options(ctx: Context, rp: RelyingParty) -> dict[str, Any]:
    """`PublicKeyCredentialCreationOptions` (JSON form) for a new passkey of the caller; the
    challenge is bound to this session. Discoverable credentials are required: the sign-in
    asks for one without naming the account."""
    user = caller_user(ctx)
    principal = session_principal(ctx)
    challenge = issue_challenge(
        ctx, purpose=REGISTER, binding=principal.credential_id, user_id=user.id
    )
    existing = ctx.session.scalars(sa.select(Passkey).where(Passkey.user_id == user.id))
    options = generate_registration_options(
        rp_id=rp.rp_id,
        rp_name=rp.name,
        user_name=user.email,
        user_id=user_handle(user.id),
        user_display_name=user.name or user.email,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=row.credential_id) for row in existing
        ],
    )
    result: dict[str, Any] = json.loads(options_to_json(options))
    return result


def add_passkey(ctx: Context, rp: RelyingParty, credential_text: str, name: str) -> PasskeyInfo:
    """Check the browser's attestation against this session's challenge, the RP id and the
    origins, and store the new passkey."""
    user = caller_user(ctx)
    principal = session_principal(ctx)
    now = ctx.clock.now()
    credential = parse_credential(credential_text)
    challenge = client_challenge(credential) if credential else None
    why: str | None = None
    verified = None
    if credential is None or challenge is None:
        why = "malformed"
    elif not spend_challenge(
        ctx,
        challenge,
        purpose=REGISTER,
        binding=principal.credential_id,
        user_id=user.id,
        now=now,
    ):
        why = "bad_challenge"
    else:
        try:
            verified = verify_registration_response(
                credential=credential,
                expected_challenge=challenge,
                expected_rp_id=rp.rp_id,
                expected_origin=list(rp.origins),
                require_user_verification=False,
            )
        except (WebAuthnException, KeyError, TypeError, ValueError):
            why = "bad_attestation"
    if (
        verified is not None
        and ctx.session.scalars(
            sa.select(Passkey.id).where(Passkey.credential_id == verified.credential_id)
        ).first()
    ):
        why = "already_registered"
    if why is not None or verified is None:
        record_for_user(
            ctx,
            user.id,
            AuditAction.PASSKEY_ADDED,
            outcome=Outcome.FAILURE,
            details={"reason": why},
        )
        raise InvalidPasskey(fields=["body.credential"])
    assert credential is not None
    transports = credential["response"].get("transports") or []
    row = Passkey(
        id=new_id(),
        user_id=user.id,
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=",".join(t for t in transports if t in KNOWN_TRANSPORTS)[:128],
        name=name,
        created_at=now,
        last_used_at=None,
    )
    ctx.session.add(row)
    ctx.session.flush()
    record_for_user(
        ctx, user.id, AuditAction.PASSKEY_ADDED, details={"passkey_id": row.id, "name": name}
    )
    return _info(row)


def list_passkeys(ctx: Context) -> list[PasskeyInfo]:
    """The caller's passkeys, oldest first."""
    user_id = session_principal(ctx).user_id
    rows = ctx.session.scalars(
        sa.select(Passkey).where(Passkey.user_id == user_id).order_by(Passkey.created_at)
    )
    return [_info(r) for r in rows]


def rename_passkey(ctx: Context, passkey_id: str, name: str) -> PasskeyInfo:
    row = _own(ctx, passkey_id)
    old, row.name = row.name, name
    record_for_user(
        ctx,
        row.user_id,
        AuditAction.PASSKEY_RENAMED,
        details={"passkey_id": row.id, "from": old, "to": name},
    )
    return _info(row)


def remove_passkey(ctx: Context, passkey_id: str) -> None:
    """Remove one of the caller's passkeys; the last second factor stays (an account with
    neither TOTP nor a passkey could not finish a sign-in)."""
    user = caller_user(ctx)
    row = _own(ctx, passkey_id)
    others = ctx.session.scalars(
        sa.select(Passkey.id).where(Passkey.user_id == user.id, Passkey.id != row.id).limit(1)
    ).first()
    if not user.has_totp and others is None:
        record_for_user(
            ctx,
            user.id,
            AuditAction.PASSKEY_REMOVED,
            outcome=Outcome.FAILURE,
            details={"passkey_id": row.id, "reason": "last_second_factor"},
        )
        raise LastSecondFactor()
    ctx.session.delete(row)
    record_for_user(
        ctx, user.id, AuditAction.PASSKEY_REMOVED, details={"passkey_id": row.id, "name": row.name}
    )


def sign_in_options(ctx: Context, rp: RelyingParty, *, binding: str | None) -> dict[str, Any]:
    """`PublicKeyCredentialRequestOptions` (JSON form) for a sign-in: the same for everyone
    (no account named, no credentials listed), its challenge bound to `binding` if given."""
    challenge = issue_challenge(ctx, purpose=SIGNIN, binding=binding, user_id=None)
    options = generate_authentication_options(
        rp_id=rp.rp_id,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        allow_credentials=[],
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    result: dict[str, Any] = json.loads(options_to_json(options))
    return result


def _own(ctx: Context, passkey_id: str) -> Passkey:
    user_id = session_principal(ctx).user_id
    row = ctx.session.get(Passkey, passkey_id)
    if row is None or row.user_id != user_id:
        raise PasskeyNotFound()
    return row


def _info(row: Passkey) -> PasskeyInfo:
    return PasskeyInfo(row.id, row.name, row.created_at, row.last_used_at)


def sign_in_with_passkey(
    ctx: Context, rp: RelyingParty, text: str, *, binding: str | None
) -> IssuedSession:
    """Passwordless: a passkey alone signs its owner in, if the authenticator verified the
    user (PIN, biometrics) for a challenge of `sign_in_options`. Throttled and answered like
    the password sign-in (ADR 22): any failure is the same `InvalidCredentials`."""
    now, ip = ctx.clock.now(), ctx.caller.source_ip
    credential = parse_credential(text)
    challenge = client_challenge(credential) if credential else None
    row = passkey_of(ctx, credential)
    user = ctx.session.get(User, row.user_id) if row is not None else None
    account = user.email if user is not None else "passkey:unknown"
    keys = throttle.Keys.of(account, ip)
    known = user is not None and signed_in_from_before(ctx.session, user.id, ip)
    verdict = decide(throttle.waits(ctx.session, keys, now), known_address=known)
    user_id = user.id if user is not None else None
    if not verdict.go:
        _failed(ctx, user_id, "throttled", verdict.reason)
        raise SignInThrottled(retry_after=verdict.retry_after)
    why: str | None = None
    if credential is None or challenge is None:
        why = "passkey_malformed"
    elif not spend_challenge(
        ctx, challenge, purpose=SIGNIN, binding=binding, user_id=user_id, now=now
    ):
        why = "passkey_bad_challenge"
    elif row is None or user is None:
        why = "passkey_unknown"
    else:
        why = signature_problem(ctx, row, rp, credential, challenge, user_verified=True, now=now)
    if why is not None or user is None or row is None:
        throttle.count_attempt_failure(ctx.session, keys, now, _limits(ctx))
        _failed(ctx, user_id, why or "passkey_unknown", verdict.reason)
        raise InvalidCredentials()
    if enforcing_organizations(ctx.session, user.id):
        _failed(ctx, user.id, "sso_enforced", verdict.reason)
        raise SsoRequired()
    throttle.clear(ctx.session, keys.pair)
    issued = new_session(ctx, user, enrollment_only=False, method=PASSKEY)
    record_for_user(
        ctx,
        user.id,
        AuditAction.SIGNIN,
        details={"method": PASSKEY, "session_id": issued.row.id, "passkey_id": row.id},
    )
    return issued


def _failed(ctx: Context, user_id: str | None, why: str, verdict: str) -> None:
    record_for_user(
        ctx,
        user_id,
        AuditAction.SIGNIN,
        outcome=Outcome.FAILURE,
        details={
            "method": PASSKEY,
            "reason": why,
            "known_account": user_id is not None,
            "throttle": verdict,
        },
    )

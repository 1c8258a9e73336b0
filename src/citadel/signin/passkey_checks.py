"""The WebAuthn ceremonies' checks: challenges (issued, bound, spent once) and an assertion
checked against a user's passkeys (ADR 25).

A challenge is 32 random bytes handed to the browser; only its HMAC digest is stored, with
its purpose, what it is bound to and when it expires (5 minutes). Checking a credential
spends its challenge first, whatever the outcome, so an answer cannot be tried twice.
"""

from __future__ import annotations

import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from webauthn import base64url_to_bytes, verify_authentication_response
from webauthn.helpers.exceptions import WebAuthnException

from citadel.authn.context import Context
from citadel.signin.passkey_models import Passkey, PasskeyChallenge
from citadel.users.models import User

CHALLENGE_TTL = timedelta(minutes=5)
CHALLENGE_BYTES = 32
REGISTER = "register"
SIGNIN = "signin"
MAX_CREDENTIAL_JSON = 16_384


@dataclass(frozen=True)
class RelyingParty:
    """Who the browser must think it talks to: the RP id (a host name, never an address) and
    the origins it may have reached the control plane at (the edge decides them from the
    operator's settings, never from a bare `Origin` header)."""

    rp_id: str
    origins: tuple[str, ...]
    name: str = "Citadel"


def has_passkey(session: Session, user_id: str) -> bool:
    stmt = sa.select(Passkey.id).where(Passkey.user_id == user_id).limit(1)
    return session.scalars(stmt).first() is not None


def has_second_factor(session: Session, user: User) -> bool:
    """Whether the user has enrolled a second factor: TOTP or a passkey."""
    return user.has_totp or has_passkey(session, user.id)


def issue_challenge(
    ctx: Context, *, purpose: str, binding: str | None, user_id: str | None
) -> bytes:
    """A new challenge for `purpose`, bound to `binding` (a session id, a pre-session token);
    expired challenges are swept on the way."""
    now = ctx.clock.now()
    ctx.session.execute(sa.delete(PasskeyChallenge).where(PasskeyChallenge.expires_at <= now))
    challenge = secrets.token_bytes(CHALLENGE_BYTES)
    ctx.session.add(
        PasskeyChallenge(
            digest=_challenge_digest(ctx, challenge),
            purpose=purpose,
            binding=_binding_digest(ctx, binding),
            user_id=user_id,
            expires_at=now + CHALLENGE_TTL,
        )
    )
    ctx.session.flush()
    return challenge


def spend_challenge(
    ctx: Context,
    challenge: bytes,
    *,
    purpose: str,
    binding: str | None,
    user_id: str | None,
    now: datetime,
) -> bool:
    """Whether `challenge` was issued for this purpose, binding and user and is still fresh;
    it is deleted either way (single use)."""
    row = ctx.session.get(PasskeyChallenge, _challenge_digest(ctx, challenge))
    if row is None:
        return False
    ctx.session.delete(row)
    ctx.session.flush()
    expected = _binding_digest(ctx, binding) or b""
    return (
        row.purpose == purpose
        and row.expires_at > now
        and hmac.compare_digest(row.binding or b"", expected)
        and (row.user_id is None or row.user_id == user_id)
    )


def parse_credential(text: str) -> dict[str, Any] | None:
    """The browser's `PublicKeyCredential` as JSON (`toJSON()` shape), or None if it is not."""
    if len(text) > MAX_CREDENTIAL_JSON:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("response"), dict):
        return None
    return value


def client_challenge(credential: dict[str, Any]) -> bytes | None:
    """The challenge the browser signed over (from `clientDataJSON`), or None."""
    try:
        client_data = json.loads(base64url_to_bytes(credential["response"]["clientDataJSON"]))
        return base64url_to_bytes(client_data["challenge"])
    except (KeyError, TypeError, ValueError):
        return None


def credential_id_of(credential: dict[str, Any]) -> bytes | None:
    try:
        return base64url_to_bytes(str(credential.get("rawId") or credential["id"]))
    except (KeyError, TypeError, ValueError):
        return None


def assertion_problem(
    ctx: Context, user: User, rp: RelyingParty, text: str, *, binding: str | None
) -> str | None:
    """What is wrong with `text`, an assertion offered as `user`'s second factor (for the
    audit log only), or None when it is good; a good one advances the passkey's counter."""
    now = ctx.clock.now()
    credential = parse_credential(text)
    challenge = client_challenge(credential) if credential else None
    if credential is None or challenge is None:
        return "passkey_malformed"
    if not spend_challenge(
        ctx, challenge, purpose=SIGNIN, binding=binding, user_id=user.id, now=now
    ):
        return "passkey_bad_challenge"
    raw_id = credential_id_of(credential)
    row = ctx.session.scalars(
        sa.select(Passkey).where(Passkey.user_id == user.id, Passkey.credential_id == raw_id)
    ).one_or_none()
    if row is None:
        return "passkey_unknown"
    return signature_problem(ctx, row, rp, credential, challenge, user_verified=False, now=now)


def passkey_of(ctx: Context, credential: dict[str, Any] | None) -> Passkey | None:
    """The stored passkey a credential names (whoever's it is), or None."""
    raw_id = credential_id_of(credential) if credential else None
    if raw_id is None:
        return None
    stmt = sa.select(Passkey).where(Passkey.credential_id == raw_id)
    return ctx.session.scalars(stmt).one_or_none()


def signature_problem(
    ctx: Context,
    row: Passkey,
    rp: RelyingParty,
    credential: dict[str, Any],
    challenge: bytes,
    *,
    user_verified: bool,
    now: datetime,
) -> str | None:
    """Check the assertion of `row`'s authenticator over `challenge` (already spent): user
    handle, RP id hash, origin, signature, counter, and user verification when asked; a good
    one advances the counter and the last-use time."""
    handle = credential["response"].get("userHandle")
    if handle and _safe_b64(handle) != user_handle(row.user_id):
        return "passkey_unknown"
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.rp_id,
            expected_origin=list(rp.origins),
            credential_public_key=row.public_key,
            credential_current_sign_count=row.sign_count,
            require_user_verification=user_verified,
        )
    except (WebAuthnException, KeyError, TypeError, ValueError):
        return "passkey_bad_assertion"
    row.sign_count = verified.new_sign_count
    row.last_used_at = now
    return None


def user_handle(user_id: str) -> bytes:
    """The WebAuthn user handle of a user: their id (no personal data)."""
    return user_id.encode()


def _safe_b64(text: object) -> bytes | None:
    try:
        return base64url_to_bytes(str(text))
    except ValueError:
        return None


def _challenge_digest(ctx: Context, challenge: bytes) -> bytes:
    return ctx.keyring.mac(challenge.hex(), purpose="passkey_challenge")


def _binding_digest(ctx: Context, binding: str | None) -> bytes | None:
    return None if binding is None else ctx.keyring.mac(binding, purpose="passkey_binding")

"""The signing keys: RSA-2048, the private half sealed by the barrier (context
``deployment_tokens.key:<kid>``, so a sealed key copied into another row does not open), the
public half kept as a JWK. The key id is the key's RFC 7638 thumbprint.

`rotate` applies `rotation.plan` in the caller's transaction; when two control-plane replicas
both make the next generation, the unique generation lets one commit and the other's
transaction fail (`KeyRaced`), and its caller simply reads again.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from sqlalchemy.orm import Session

from citadel.crypto.barrier import Barrier
from citadel.deployment_tokens import rotation
from citadel.deployment_tokens.models import TokenSigningKey
from citadel.deployment_tokens.rotation import KeyTimes, RotationPlan, RotationPolicy

ALGORITHM = "RS256"
KEY_BITS = 2048


@dataclass(frozen=True)
class SigningKey:
    """An opened signing key: its id and its private key (PEM), for `tokens.sign`."""

    kid: str
    private_pem: bytes


def stored_keys(session: Session) -> Sequence[TokenSigningKey]:
    """Every stored key, oldest generation first."""
    stmt = sa.select(TokenSigningKey).order_by(TokenSigningKey.generation)
    return session.scalars(stmt).all()


def key_times(rows: Sequence[TokenSigningKey]) -> list[KeyTimes]:
    """What the pure policy needs of `rows`."""
    return [
        KeyTimes(r.kid, r.generation, r.active_from, r.active_until, r.publish_until) for r in rows
    ]


def rotate(
    session: Session, barrier: Barrier, now: datetime, policy: RotationPolicy
) -> RotationPlan:
    """Make, retire and delete keys as `rotation.plan` says (flushes; the caller commits)."""
    rows = stored_keys(session)
    todo = rotation.plan(key_times(rows), now, policy)
    by_kid = {r.kid: r for r in rows}
    for kid in todo.delete:
        session.delete(by_kid[kid])
    if todo.retire is not None:
        row = by_kid[todo.retire.kid]
        row.active_until = todo.retire.active_until
        row.publish_until = todo.retire.publish_until
    if todo.make is not None:
        session.add(new_key(barrier, todo.make.generation, now, todo.make.active_from))
    session.flush()
    return todo


def new_key(
    barrier: Barrier, generation: int, now: datetime, active_from: datetime
) -> TokenSigningKey:
    """A fresh RSA key pair as a row: the private half sealed, the public half a JWK."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    public: dict[str, Any] = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    kid = thumbprint(public)
    jwk = {
        "kty": "RSA",
        "kid": kid,
        "use": "sig",
        "alg": ALGORITHM,
        "n": public["n"],
        "e": public["e"],
    }
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return TokenSigningKey(
        kid=kid,
        generation=generation,
        public_jwk=jwk,
        private_key_sealed=barrier.seal(pem, context=_context(kid)),
        created_at=now,
        active_from=active_from,
        active_until=None,
        publish_until=None,
    )


def thumbprint(jwk: dict[str, Any]) -> str:
    """The RFC 7638 thumbprint of an RSA JWK (base64url SHA-256 of its required members)."""
    canonical = json.dumps(
        {"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":"), sort_keys=True
    )
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def signing_key(session: Session, barrier: Barrier, now: datetime) -> SigningKey | None:
    """The key that signs at `now`, opened; None when there is none yet."""
    rows = stored_keys(session)
    chosen = rotation.signing_key(key_times(rows), now)
    if chosen is None:
        return None
    row = next(r for r in rows if r.kid == chosen.kid)
    return SigningKey(row.kid, barrier.open(row.private_key_sealed, context=_context(row.kid)))


def jwks(session: Session) -> dict[str, Any]:
    """The JWK Set of every stored key (public halves only), oldest first."""
    return {"keys": [dict(r.public_jwk) for r in stored_keys(session)]}


def key_set_version(session: Session) -> str:
    """Changes whenever a key is added or deleted: keys are added with the next generation and
    deleted oldest first, so the lowest and highest generation name the set."""
    low, high = session.execute(
        sa.select(sa.func.min(TokenSigningKey.generation), sa.func.max(TokenSigningKey.generation))
    ).one()
    return f"{low or 0}-{high or 0}"


def _context(kid: str) -> str:
    return f"deployment_tokens.key:{kid}"

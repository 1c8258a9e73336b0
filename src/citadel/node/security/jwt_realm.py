"""The platform's ``jwt`` realm: the control plane's signed tokens, verified offline (issue 18).

Elasticsearch's ``jwt`` realm semantics (``token_type: id_token``), for ``Authorization:
Bearer <JWT>``. A token is accepted when all of these hold, and refused with one 401 that does
not say which failed (the reason is logged at debug, never the token):

- at most `MAX_TOKEN_BYTES` (16 KiB), three base64url parts;
- its header's ``alg`` is one of the realm's ``allowed_signature_algorithms`` and asymmetric
  (``none`` and the ``HS*`` family are never accepted: the JWK Set holds public keys, and an
  HMAC "signed" with a public key is the classic algorithm-confusion forgery);
- its header's ``kid`` names a signing key of the realm's JWK Set, of the type ``alg`` needs,
  and the signature verifies with it (PyJWT over ``cryptography``);
- ``iss`` equals the realm's issuer and ``aud`` is or contains its audience;
- ``exp``, ``iat`` and the principal claim are present; ``exp`` is not past, and ``nbf`` and
  ``iat`` are not in the future, each by more than ``allowed_clock_skew_s``, on the realm's
  clock (checked here, not by PyJWT, so that the clock is a dependency);
- the principal claim (``claims_principal``) is a non-empty string; the groups claim
  (``claims_groups``) is absent, a string, or a list of strings.

A verified token is remembered in a bounded LRU keyed by the SHA-256 of the token until its
``exp``, so a client repeating it skips the signature check; a new JWK Set (or any other change
of the realm's settings) builds a new `JwtVerifier`, which drops what the old one remembered.
Pure apart from the clock: no store, no network (the JWK Set arrives in the security file).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

import jwt
import structlog

from citadel.contract.messages import JwtRealm
from citadel.kit.clock import Clock
from citadel.node.security.role_mappings import UserData

log = structlog.get_logger(__name__)

JWT_REALM_TYPE = "jwt"
MAX_TOKEN_BYTES = 16 * 1024
CACHE_SIZE = 10_000
ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
)
_KEY_TYPE = {"RS": "RSA", "PS": "RSA", "ES": "EC"}


class JwtRefused(Exception):
    """A token this realm does not accept; the message is for the debug log only."""


@dataclass(frozen=True)
class VerifiedJwt:
    """What a verified token says: the user and, for the platform realm, the granted roles."""

    user: UserData
    granted: tuple[str, ...]
    expires_at: float  # the token's exp, seconds since the epoch


def looks_like_jwt(token: str) -> bool:
    """Whether a bearer token has a JWS's shape (three dot-separated parts)."""
    return token.count(".") == 2


class JwtVerifier:
    """Verifies tokens for one `JwtRealm` setting; remembers the ones it verified."""

    def __init__(self, settings: JwtRealm, clock: Clock, *, cache_size: int = CACHE_SIZE) -> None:
        self.settings = settings
        self.clock = clock
        self.algorithms = tuple(a for a in settings.allowed_signature_algorithms if a in ASYMMETRIC)
        self.keys = _signing_keys(settings.jwks)
        self._cache: OrderedDict[bytes, VerifiedJwt] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def verify(self, token: str) -> VerifiedJwt:
        """The verified token, from memory when it was verified before and has not expired;
        `JwtRefused` otherwise."""
        if len(token) > MAX_TOKEN_BYTES:
            raise JwtRefused("token too large")
        digest = hashlib.sha256(token.encode()).digest()
        now = self.clock.now().timestamp()
        with self._lock:
            known = self._cache.get(digest)
            if known is not None:
                if now < known.expires_at:
                    self._cache.move_to_end(digest)
                    return known
                del self._cache[digest]
        verified = self._verify(token, now)
        with self._lock:
            self._cache[digest] = verified
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return verified

    def _verify(self, token: str, now: float) -> VerifiedJwt:
        s = self.settings
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise JwtRefused(f"malformed: {type(exc).__name__}") from None
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in self.algorithms:
            raise JwtRefused("algorithm not allowed")
        key = self.keys.get(kid) if isinstance(kid, str) else None
        if key is None or key.key_type != _KEY_TYPE[alg[:2]]:
            raise JwtRefused("no matching key in the JWK Set")
        principal = s.claims_principal
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=s.audience,
                issuer=s.issuer,
                options={
                    "require": ["exp", "iat", "iss", "aud", principal],
                    "verify_exp": False,  # the time claims are checked below, on our clock
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError as exc:
            raise JwtRefused(f"rejected: {type(exc).__name__}") from None
        except (TypeError, ValueError) as exc:  # a key the algorithm cannot use
            raise JwtRefused(f"unusable key: {type(exc).__name__}") from None
        expires_at = _check_times(claims, now, s.allowed_clock_skew_s)
        username = claims.get(principal)
        if not isinstance(username, str) or not username:
            raise JwtRefused("no principal")
        groups = _strings(claims.get(s.claims_groups), s.claims_groups)
        user = UserData(
            username=username,
            realm_name=s.name,
            groups=groups,
            metadata=_metadata(claims),
            full_name=_optional_string(claims.get(s.claims_name)),
            email=_optional_string(claims.get(s.claims_mail)),
        )
        # The platform's realm: the control plane already mapped the member's Cloud role to
        # stack roles, so the groups claim's names are granted as roles directly.
        return VerifiedJwt(user, groups, float(expires_at))


@dataclass(frozen=True)
class _Key:
    key: Any  # a cryptography public key
    key_type: str  # "RSA" or "EC"


def _signing_keys(jwks: str) -> dict[str, _Key]:
    """The JWK Set's signing keys by ``kid`` (keys without a kid, for encryption, symmetric or
    unreadable are left out: none of them can verify a token here)."""
    try:
        document = json.loads(jwks)
    except ValueError:
        log.warning("node.jwt_realm_jwks_invalid", reason="not JSON")
        return {}
    entries = document.get("keys") if isinstance(document, Mapping) else None
    keys: dict[str, _Key] = {}
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, Mapping):
            continue
        kid, kty = entry.get("kid"), entry.get("kty")
        if not isinstance(kid, str) or kty not in ("RSA", "EC") or entry.get("use", "sig") != "sig":
            continue
        if "d" in entry:  # a private key has no business here; do not use it
            continue
        try:
            keys[kid] = _Key(jwt.PyJWK(dict(entry)).key, kty)
        except (jwt.PyJWTError, ValueError, TypeError):
            log.warning("node.jwt_realm_jwks_invalid", reason="unreadable key", kid=kid)
    return keys


def _check_times(claims: Mapping[str, Any], now: float, skew: int) -> float:
    exp, iat, nbf = claims.get("exp"), claims.get("iat"), claims.get("nbf")
    if not _number(exp) or not _number(iat):
        raise JwtRefused("time claims are not numbers")
    if now >= exp + skew:
        raise JwtRefused("expired")
    if nbf is not None and (not _number(nbf) or now < nbf - skew):
        raise JwtRefused("not yet valid")
    if now < iat - skew:
        raise JwtRefused("issued in the future")
    return float(exp)


def _number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _strings(value: Any, claim: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise JwtRefused(f"claim [{claim}] is not a string or a list of strings")


def _optional_string(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _metadata(claims: Mapping[str, Any]) -> dict[str, Any]:
    """Elasticsearch's user metadata of a JWT user: ``jwt_token_type`` and each claim of a
    simple type (string, number, boolean, or a list of them) as ``jwt_claim_<name>``."""
    out: dict[str, Any] = {"jwt_token_type": "id_token"}
    for name, value in claims.items():
        if isinstance(value, str | int | float | bool) or (
            isinstance(value, list) and all(isinstance(v, str | int | float | bool) for v in value)
        ):
            out[f"jwt_claim_{name}"] = value
    return out

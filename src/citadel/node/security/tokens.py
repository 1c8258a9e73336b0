"""Bearer tokens (``/_security/oauth2/token``): the node's access and refresh tokens.

Who gets one: a user proven by their password (``grant_type: password``), the caller itself
(``client_credentials``), the holder of a refresh token (``refresh_token``), and a user a
SAML or OpenID Connect realm signed in (`TokenService.issue`, called by those realms).

A token is 256 random bits from `secrets` (43 URL-safe characters, never a dot, so never taken
for a JWT); only its SHA-256 is stored, in the node's encrypted store, table
``security_tokens``::

    access_hash        BLOB PRIMARY KEY  SHA-256 of the access token
    refresh_hash       BLOB UNIQUE       SHA-256 of the refresh token (NULL: none issued)
    username, realm_name, realm_type     whose token it is (for invalidation by owner)
    identity           TEXT              JSON: roles, full name, email, metadata (+ id_token)
    created_at, expires_at               epoch ms; the access token dies at `expires_at`
    refresh_expires_at INTEGER           epoch ms; the refresh token dies then (24 h)
    invalidated        INTEGER           0, or when it was invalidated (epoch ms)
    refreshed          INTEGER           0, or when its refresh token was used (epoch ms)

As in Elasticsearch: an access token lives 20 minutes; a refresh token 24 hours and once (the
refresh answers a new pair and the old refresh token is refused from then on; the old access
token lives out its 20 minutes); invalidation takes effect at once (every Bearer request reads
the row). Role names are kept with the token and their descriptors resolved on every request,
so a changed role applies at once. At most `MAX_LIVE_TOKENS` rows are kept: expired and
invalidated ones are pruned before a new one is written, and when the table is still full a new
token is refused (never an old one evicted to make room).

The cut-off: a token a SAML or OIDC realm issued dies with the realm. When the service starts
(over the security file as first read: a realm deleted or disabled while the node was stopped
left its tokens in the store, and no change of the file will ever be seen for it) and each time
a changed file is taken, every token a SAML or OIDC realm issued is invalidated unless the file
holds that realm, enabled (`cut_off`; logged ``node.sso_tokens_cut_off``). Tokens of the
native, reserved and other realms are untouched.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from citadel.contract.messages import NodeSecurity
from citadel.kit.clock import Clock
from citadel.node.errors import EsError, IllegalArgument, Unauthenticated
from citadel.node.security.realm import Identity, Realm, describe
from citadel.node.store.connection import Store

ACCESS_TOKEN_LIFETIME_MS = 20 * 60 * 1000
REFRESH_TOKEN_LIFETIME_MS = 24 * 60 * 60 * 1000
MAX_LIVE_TOKENS = 100_000
TOKEN_BYTES = 32  # 256 bits
_MAX_TOKEN_CHARS = 256  # what a Bearer value of ours can be at most (43 characters today)
SSO_REALM_TYPES = ("saml", "oidc")
"""The realm types whose realms the security file configures (their tokens die with them)."""

log = structlog.get_logger(__name__)

DDL = """CREATE TABLE IF NOT EXISTS security_tokens (
    access_hash BLOB PRIMARY KEY,
    refresh_hash BLOB UNIQUE,
    username TEXT NOT NULL,
    realm_name TEXT NOT NULL,
    realm_type TEXT NOT NULL,
    identity TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    refresh_expires_at INTEGER,
    invalidated INTEGER NOT NULL DEFAULT 0,
    refreshed INTEGER NOT NULL DEFAULT 0
)"""


class InvalidGrant(EsError):
    """A token request Elasticsearch answers in OAuth 2.0's shape (RFC 6749 section 5.2):
    ``{"error": "invalid_grant", "error_description": ...}`` with a 400."""

    type = "invalid_grant"
    status = 400

    def body(self) -> dict[str, Any]:
        """The OAuth 2.0 error body (not Elasticsearch's usual one)."""
        return {"error": self.type, "error_description": self.reason}


class InvalidRequest(InvalidGrant):
    """A malformed token request (``Validation Failed``), in OAuth 2.0's shape."""

    type = "invalid_request"


class UnsupportedGrantType(InvalidGrant):
    """A ``grant_type`` this node does not issue tokens for, in OAuth 2.0's shape."""

    type = "unsupported_grant_type"


class TooManyTokens(EsError):
    """Every slot of the token table holds a live token."""

    type = "es_rejected_execution_exception"
    status = 429


@dataclass(frozen=True)
class TokenQuery:
    """Which tokens ``DELETE /_security/oauth2/token`` invalidates: one token, or every token
    of a realm and/or user."""

    token: str | None = None
    refresh_token: str | None = None
    realm_name: str | None = None
    username: str | None = None


class TokenService:
    """Issues, authenticates, refreshes and invalidates the node's bearer tokens."""

    def __init__(
        self,
        store: Store,
        realm: Realm,
        clock: Clock,
        *,
        max_tokens: int = MAX_LIVE_TOKENS,
        lifetime_ms: int = ACCESS_TOKEN_LIFETIME_MS,
    ) -> None:
        self.store = store
        self.realm = realm
        self.clock = clock
        self.max_tokens = max_tokens
        self.lifetime_ms = lifetime_ms
        with store.write() as conn:
            conn.execute(DDL)
            conn.execute(
                "CREATE INDEX IF NOT EXISTS security_tokens_owner "
                "ON security_tokens (username, realm_name)"
            )
        if realm.security.path is not None:
            self.cut_off(realm.security.current())
            realm.security.on_change(self._realms_changed)

    # -- issuing -----------------------------------------------------------------------

    def issue(
        self,
        identity: Identity,
        *,
        refresh: bool = True,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A new access token (and refresh token unless `refresh` is False) for `identity`:
        the body of Elasticsearch's ``POST /_security/oauth2/token`` answer. `extra` is kept
        with the token for the realm that issued it (an OIDC ID token, for logout)."""
        if identity.is_api_key:
            raise InvalidRequest("Validation Failed: 1: an API key cannot be given a token;")
        access = secrets.token_urlsafe(TOKEN_BYTES)
        refresh_token = secrets.token_urlsafe(TOKEN_BYTES) if refresh else None
        now = self._now_ms()
        stored = {
            "roles": list(identity.roles),
            "full_name": identity.full_name,
            "email": identity.email,
            "metadata": dict(identity.metadata),
            "extra": dict(extra or {}),
        }
        with self.store.write() as conn:
            self._make_room(conn, now)
            conn.execute(
                "INSERT INTO security_tokens (access_hash, refresh_hash, username, realm_name, "
                "realm_type, identity, created_at, expires_at, refresh_expires_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    _digest(access),
                    _digest(refresh_token) if refresh_token else None,
                    identity.username,
                    realm_name_of(identity),
                    identity.realm,
                    json.dumps(stored),
                    now,
                    now + self.lifetime_ms,
                    now + REFRESH_TOKEN_LIFETIME_MS if refresh_token else None,
                ),
            )
        body: dict[str, Any] = {
            "access_token": access,
            "type": "Bearer",
            "expires_in": self.lifetime_ms // 1000,
        }
        if refresh_token is not None:
            body["refresh_token"] = refresh_token
        body["authentication"] = describe(identity)  # who was authenticated, as in ES
        return body

    def refresh(self, refresh_token: str) -> dict[str, Any]:
        """A new pair for a refresh token used for the first time and not expired; the old
        refresh token is refused from then on (``invalid_grant``)."""
        now = self._now_ms()
        with self.store.write() as conn:
            row = conn.execute(
                "SELECT * FROM security_tokens WHERE refresh_hash = ?",
                (_digest(refresh_token),),
            ).fetchone()
            if row is None:
                raise InvalidGrant("could not refresh the requested token")
            if row["invalidated"]:
                raise InvalidGrant("token has been invalidated")
            if row["refreshed"]:
                raise InvalidGrant("token has already been refreshed")
            if row["refresh_expires_at"] is None or row["refresh_expires_at"] <= now:
                raise InvalidGrant("refresh token is expired")
            conn.execute(
                "UPDATE security_tokens SET refreshed = ? WHERE access_hash = ?",
                (now, row["access_hash"]),
            )
        identity = self._identity(_Row.from_db(row))
        return self.issue(identity, extra=json.loads(row["identity"]).get("extra"))

    # -- authenticating ----------------------------------------------------------------

    def authenticate(self, token: str) -> Identity | None:
        """The identity behind a live access token; None for anything else (the realm then
        answers its usual 401)."""
        if not token or len(token) > _MAX_TOKEN_CHARS or "." in token:
            return None
        with self.store.read() as conn:
            row = conn.execute(
                "SELECT * FROM security_tokens WHERE access_hash = ?", (_digest(token),)
            ).fetchone()
        if row is None or row["invalidated"] or row["expires_at"] <= self._now_ms():
            return None
        return self._identity(_Row.from_db(row))

    def extra_of(self, token: str) -> Mapping[str, Any] | None:
        """What the issuing realm kept with a live access token (None: no such token)."""
        with self.store.read() as conn:
            row = conn.execute(
                "SELECT identity, invalidated, expires_at FROM security_tokens "
                "WHERE access_hash = ?",
                (_digest(token),),
            ).fetchone()
        if row is None or row["invalidated"] or row["expires_at"] <= self._now_ms():
            return None
        extra: Mapping[str, Any] = json.loads(row["identity"]).get("extra") or {}
        return extra

    def end_session(
        self, token: str, refresh_token: str | None, *, realm_key: str, kind: str
    ) -> tuple[str, Mapping[str, Any]]:
        """A realm's logout (``_security/saml/logout``, ``_security/oidc/logout``): the access
        token (401 unless live) and its refresh token invalidated; the issuing realm's name and
        what it kept with the token. `realm_key` is where that realm kept its name; a token of
        another issuer is a 400 naming `kind`."""
        extra = self.extra_of(token)
        if extra is None:
            raise Unauthenticated("token is not valid")
        name = extra.get(realm_key)
        if name is None:
            raise IllegalArgument(f"the access token was not issued by {kind}")
        self.invalidate(TokenQuery(token=token))
        if refresh_token:
            self.invalidate(TokenQuery(refresh_token=refresh_token))
        return str(name), extra

    # -- invalidating ------------------------------------------------------------------

    def invalidate(self, query: TokenQuery) -> dict[str, Any]:
        """Invalidate what `query` selects: the body of ``DELETE /_security/oauth2/token``
        (``invalidated_tokens``, ``previously_invalidated_tokens``, ``error_count``)."""
        clauses: list[str] = []
        args: list[bytes | str] = []
        if query.token is not None:
            clauses.append("access_hash = ?")
            args.append(_digest(query.token))
        if query.refresh_token is not None:
            clauses.append("refresh_hash = ?")
            args.append(_digest(query.refresh_token))
        if query.realm_name is not None:
            clauses.append("realm_name = ?")
            args.append(query.realm_name)
        if query.username is not None:
            clauses.append("username = ?")
            args.append(query.username)
        assert clauses, "an empty query is refused by the route"
        now = self._now_ms()
        with self.store.write() as conn:
            rows = conn.execute(
                f"SELECT access_hash, invalidated FROM security_tokens "  # noqa: S608
                f"WHERE {' AND '.join(clauses)}",
                args,
            ).fetchall()
            fresh = [r["access_hash"] for r in rows if not r["invalidated"]]
            conn.executemany(
                "UPDATE security_tokens SET invalidated = ? WHERE access_hash = ?",
                [(now, h) for h in fresh],
            )
        return {
            "invalidated_tokens": len(fresh),
            "previously_invalidated_tokens": len(rows) - len(fresh),
            "error_count": 0,
        }

    def invalidate_except(self, kept: Mapping[str, Collection[str]]) -> int:
        """Invalidate every live token of a realm whose type is a key of `kept` and whose name
        is not among that type's names (``{"saml": {"saml1"}, "oidc": set()}``); how many."""
        now = self._now_ms()
        with self.store.write() as conn:
            rows = conn.execute(
                "SELECT access_hash, realm_type, realm_name FROM security_tokens "
                "WHERE invalidated = 0"
            ).fetchall()
            doomed = [
                r["access_hash"]
                for r in rows
                if r["realm_type"] in kept and r["realm_name"] not in kept[r["realm_type"]]
            ]
            conn.executemany(
                "UPDATE security_tokens SET invalidated = ? WHERE access_hash = ?",
                [(now, h) for h in doomed],
            )
        return len(doomed)

    def cut_off(self, security: NodeSecurity) -> int:
        """Invalidate the tokens of every SAML or OIDC realm `security` does not hold enabled
        (the node's start: realms deleted or disabled while it was stopped); how many."""
        enabled = {
            "saml": {r.name for r in security.saml if r.enabled},
            "oidc": {r.name for r in security.oidc if r.enabled},
        }
        count = self.invalidate_except({t: enabled[t] for t in SSO_REALM_TYPES})
        if count:
            log.info("node.sso_tokens_cut_off", invalidated_tokens=count)
        return count

    def _realms_changed(self, security: NodeSecurity) -> None:
        """`SecurityConfig.on_change` listener: the cut-off again for the new file."""
        self.cut_off(security)

    def live_count(self) -> int:
        """How many rows the table holds (live or not yet pruned)."""
        with self.store.read() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM security_tokens").fetchone()[0])

    # -- inside ------------------------------------------------------------------------

    def _make_room(self, conn: Any, now: int) -> None:
        """Drop rows nothing can use any more; refuse when the table is still full."""
        count = conn.execute("SELECT COUNT(*) FROM security_tokens").fetchone()[0]
        if count < self.max_tokens:
            return
        conn.execute(
            "DELETE FROM security_tokens WHERE expires_at <= ? AND (refresh_expires_at IS NULL "
            "OR refresh_expires_at <= ? OR refreshed != 0 OR invalidated != 0)",
            (now, now),
        )
        conn.execute(
            "DELETE FROM security_tokens WHERE invalidated != 0 AND invalidated <= ?",
            (now - REFRESH_TOKEN_LIFETIME_MS,),
        )
        count = conn.execute("SELECT COUNT(*) FROM security_tokens").fetchone()[0]
        if count >= self.max_tokens:
            raise TooManyTokens(
                f"this node keeps at most [{self.max_tokens}] live tokens; invalidate some or "
                "wait for them to expire"
            )

    def _identity(self, row: _Row) -> Identity:
        return Identity(
            username=row.username,
            roles=row.roles,
            descriptors=self.realm.descriptors_of(row.roles),
            realm=row.realm_type,
            authentication_type="token",
            full_name=row.full_name,
            email=row.email,
            metadata=row.metadata,
            realm_name=row.realm_name,
        )

    def _now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)


@dataclass(frozen=True)
class _Row:
    """Who a stored token belongs to."""

    username: str
    realm_name: str
    realm_type: str
    roles: tuple[str, ...]
    full_name: str | None
    email: str | None
    metadata: Mapping[str, Any]

    @classmethod
    def from_db(cls, row: Any) -> _Row:
        stored = json.loads(row["identity"])
        return cls(
            row["username"],
            row["realm_name"],
            row["realm_type"],
            tuple(stored["roles"]),
            stored["full_name"],
            stored["email"],
            stored["metadata"],
        )


def realm_name_of(identity: Identity) -> str:
    """The name of the realm `identity` authenticated with (``default_native``, ``oidc1``)."""
    return identity.realm_ref()["name"]


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()

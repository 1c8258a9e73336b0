"""Authentication and authorization of every node request.

Credentials: ``Authorization: Basic base64(user:password)`` against the reserved superuser
(``elastic``; ``admin`` on a serverless project's node, `Realm.reserved_user`) and native
users (argon2id hashes; a verified password is remembered per process as an HMAC under a
per-process random key, tied to the stored hash, so repeated requests skip the slow hash until
the password changes), or ``Authorization: ApiKey base64(id:secret)``
(SHA-256 of a secret of at least 128 random bits, compared in constant time). Every failure is
a 401 that says nothing about which part was wrong.

An API key acts with the intersection of its own role descriptors (all of its creator's when
it has none) and ``limited_by``, the creator's role descriptors when it was created, stored as
``{role name: descriptor}``; so a key never exceeds the user who made it.

``Authorization: Bearer <token>``: a JWT (three dot-separated parts) goes to the platform's
``jwt`` realm first (`citadel.node.security.jwt_realm`, configured by the security file,
`citadel.node.security.config`), then to the bearer authenticators other realms register
(`add_bearer`: the node's access tokens); the first to know the token wins, else a 401. Users
of these realms get their roles from `identity_for`: what the realm grants plus what the role
mappings give them (`citadel.node.security.role_mappings`).

Run as (``es-security-runas-user``, `run_as`): the authenticated identity's role descriptors
must name the target in ``run_as`` (exact, wildcards or ``/regex/``; an API key's own and
``limited_by`` both); the target is looked up in the native and reserved realms; then the
request is authorized as the target alone. An unknown or disabled target is refused exactly
like one not allowed (a 403 that does not tell them apart), as in Elasticsearch. A run-as
identity cannot run as again.

Index actions are checked as Elasticsearch's ``RBACEngine`` checks them: first whether the
identity holds the privilege on any index at all (`require_index_action`, over its own role
descriptors and, for an API key, ``limited_by`` too); if not, a 403 that names no index
(`index_action_forbidden`), whatever the request names. Only then are names checked one by
one, or wildcards expanded to the indices the identity may see (perhaps none).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

from citadel.crypto.passwords import hash_password, verify_password
from citadel.kit.clock import Clock, SystemClock
from citadel.node.errors import Forbidden, Unauthenticated
from citadel.node.security.config import SecurityConfig
from citadel.node.security.jwt_realm import (
    JWT_REALM_TYPE,
    JwtRefused,
    JwtVerifier,
    looks_like_jwt,
)
from citadel.node.security.privileges import (
    BUILTIN_ROLES,
    RoleDescriptor,
    allows_cluster,
    allows_index,
    granted_by_cluster,
    granted_by_index,
    parse_descriptor,
)
from citadel.node.security.role_mappings import MappingCache, UserData, mapped_roles, matches_name
from citadel.node.security.tables import ensure_tables
from citadel.node.security.vocabulary import INDEX_INCLUDES
from citadel.node.store.connection import Store

log = structlog.get_logger(__name__)

ELASTIC = "elastic"
RESERVED_REALM = "reserved"
NATIVE_REALM = "native"
API_KEY_REALM = "_es_api_key"
RUN_AS_HEADER = "es-security-runas-user"
REALM_NAMES = {
    RESERVED_REALM: "reserved",
    NATIVE_REALM: "default_native",
    API_KEY_REALM: API_KEY_REALM,
}


@dataclass(frozen=True)
class Identity:
    """Who a request runs as, and what they may do."""

    username: str
    roles: tuple[str, ...]
    descriptors: tuple[RoleDescriptor, ...]
    realm: str
    authentication_type: str = "realm"
    limited_by: tuple[RoleDescriptor, ...] | None = None
    api_key_id: str | None = None
    api_key_name: str | None = None
    full_name: str | None = None
    email: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict, compare=False)
    realm_name: str | None = None  # the realm's name when it is not its type's usual one
    authenticated_by: Identity | None = None  # who authenticated, when this is a run-as

    @property
    def is_api_key(self) -> bool:
        """Whether the request authenticated with an API key (not as its owner)."""
        return self.api_key_id is not None

    def allows_cluster(self, privilege: str) -> bool:
        """Whether this identity holds the cluster privilege."""
        own = allows_cluster(self.descriptors, privilege)
        return own and (self.limited_by is None or allows_cluster(self.limited_by, privilege))

    def allows_index(self, privilege: str, index: str) -> bool:
        """Whether this identity holds the index privilege on `index`."""
        own = allows_index(self.descriptors, privilege, index)
        return own and (self.limited_by is None or allows_index(self.limited_by, privilege, index))

    def holds_index_privilege(self, privilege: str) -> bool:
        """Whether this identity holds the index privilege on some index (an API key: its own
        descriptors and ``limited_by`` both), whatever the index."""
        own = grants_index_privilege(self.descriptors, privilege)
        return own and (
            self.limited_by is None or grants_index_privilege(self.limited_by, privilege)
        )

    def who(self) -> str:
        """How a 403 names this identity, as Elasticsearch does."""
        if self.authenticated_by is not None:
            return (
                f"{self.authenticated_by.subject()} run as [{self.username}] "
                f"with effective roles [{','.join(self.roles)}]"
            )
        if self.is_api_key:
            return self.subject()
        return f"{self.subject()} with effective roles [{','.join(self.roles)}]"

    def subject(self) -> str:
        """Who authenticated, as Elasticsearch's messages name them."""
        if self.is_api_key:
            return f"API key id [{self.api_key_id}] of user [{self.username}]"
        return f"user [{self.username}]"

    def realm_ref(self) -> dict[str, str]:
        """``{name, type}`` of the realm this identity comes from."""
        return {
            "name": self.realm_name or REALM_NAMES.get(self.realm, self.realm),
            "type": self.realm,
        }


class Realm:
    """The node's security realm over its encrypted store."""

    def __init__(
        self,
        store: Store,
        clock: Clock | None = None,
        security: SecurityConfig | None = None,
        *,
        reserved_user: str = ELASTIC,
        builtin_roles: Mapping[str, RoleDescriptor] = BUILTIN_ROLES,
    ) -> None:
        """`reserved_user` and `builtin_roles`: ``elastic`` and Elasticsearch's roles, or on a
        serverless project's node ``admin`` and its type's roles too
        (`citadel.node.security.project_roles`)."""
        self.reserved_user = reserved_user
        self.builtin_roles = builtin_roles
        self.store = store
        self.clock = clock or SystemClock()
        self.security = security or SecurityConfig(None)
        self.role_mappings = MappingCache()
        self._cache_key = os.urandom(32)
        self._verified: dict[str, tuple[bytes, str]] = {}
        self._lock = threading.Lock()
        self._jwt: JwtVerifier | None = None
        self._bearers: list[Callable[[str], Identity | None]] = []
        ensure_tables(store)

    # -- bootstrap ---------------------------------------------------------------------

    def bootstrap_elastic(self, password: str, *, replace: bool = False) -> None:
        """Set the reserved superuser's password (``elastic``, or ``admin`` on a project's
        node) if it is not set yet (first start), or with `replace` set it anyway (the
        platform's password reset, applied at a restart)."""
        hashed = hash_password(password)
        user = self.reserved_user
        with self.store.write() as conn:
            row = conn.execute("SELECT 1 FROM users WHERE username = ?", (user,)).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO users (username, password_hash, roles, full_name) "
                    "VALUES (?, ?, ?, ?)",
                    (user, hashed, json.dumps(["superuser"]), None),
                )
            elif replace:
                conn.execute(
                    "UPDATE users SET password_hash = ?, enabled = 1 WHERE username = ?",
                    (hashed, user),
                )
        self.forget(user)

    def realm_of(self, username: str) -> str:
        """The realm (type) a user lives in: the reserved superuser's, or the native one."""
        return realm_of(username, self.reserved_user)

    def forget(self, username: str) -> None:
        """Drop a remembered password (after a change, a disable, a delete)."""
        with self._lock:
            self._verified.pop(username, None)

    def forget_all(self) -> None:
        """Drop every remembered password and verified JWT (``_clear_cache`` on the realms)."""
        with self._lock:
            self._verified.clear()
            self._jwt = None

    # -- authentication ----------------------------------------------------------------

    def authenticate(self, header: str | None) -> Identity:
        """The identity behind an Authorization header; 401 for anything else."""
        if not header or not header.strip():
            raise Unauthenticated("missing authentication credentials for REST request")
        scheme, _, value = header.strip().partition(" ")
        decoded = _b64(value.strip())
        if scheme.lower() == "basic" and decoded and ":" in decoded:
            username, _, password = decoded.partition(":")
            return self._basic(username, password)
        if scheme.lower() == "apikey" and decoded and ":" in decoded:
            key_id, _, secret = decoded.partition(":")
            return self._api_key(key_id, secret)
        if scheme.lower() == "bearer" and value.strip():
            return self._bearer(value.strip())
        raise Unauthenticated("unable to authenticate with provided credentials")

    def add_bearer(self, authenticate: Callable[[str], Identity | None]) -> None:
        """Register another way to authenticate ``Authorization: Bearer <token>``:
        `authenticate` answers the token's identity, or None for a token it does not know."""
        self._bearers.append(authenticate)

    def identity_for(
        self, user: UserData, realm_type: str, *, granted: tuple[str, ...] = ()
    ) -> Identity:
        """The identity of a user of an external realm (jwt, saml, oidc): the roles `granted`
        by the realm itself, then those the role mappings give, each once."""
        roles = tuple(dict.fromkeys((*granted, *mapped_roles(self, user))))
        return Identity(
            user.username,
            roles,
            self.descriptors_of(roles),
            realm_type,
            full_name=user.full_name,
            email=user.email,
            metadata=user.metadata,
            realm_name=user.realm_name,
        )

    def _bearer(self, token: str) -> Identity:
        if looks_like_jwt(token):
            verifier = self._jwt_verifier()
            if verifier is not None:
                try:
                    verified = verifier.verify(token)
                except JwtRefused as exc:
                    log.debug("node.jwt_refused", reason=str(exc))
                else:
                    return self.identity_for(
                        verified.user, JWT_REALM_TYPE, granted=verified.granted
                    )
        for authenticate in self._bearers:
            identity = authenticate(token)
            if identity is not None:
                return identity
        raise Unauthenticated("unable to authenticate with provided credentials")

    def _jwt_verifier(self) -> JwtVerifier | None:
        """The verifier of the current ``jwt`` settings (a new one, with an empty memory,
        whenever the security file changes them)."""
        settings = self.security.current().jwt
        verifier = self._jwt
        if settings is None:
            return None
        if verifier is None or verifier.settings is not settings:
            verifier = JwtVerifier(settings, self.clock)
            self._jwt = verifier
        return verifier

    # -- run as ------------------------------------------------------------------------

    def run_as(self, identity: Identity, target: str) -> Identity:
        """The identity of `target` when `identity` may run as them; a 403 otherwise (the same
        one for a target that does not exist or is disabled)."""
        if identity.authenticated_by is not None:  # no chained run-as
            return identity
        allowed = bool(target) and _may_run_as(identity.descriptors, target)
        if allowed and identity.limited_by is not None:
            allowed = _may_run_as(identity.limited_by, target)
        row = None
        if allowed:
            with self.store.read() as conn:
                row = conn.execute(
                    "SELECT roles, enabled, full_name, email, metadata FROM users "
                    "WHERE username = ?",
                    (target,),
                ).fetchone()
        if row is None or not row["enabled"]:
            raise run_as_forbidden(identity, target)
        roles = tuple(json.loads(row["roles"]))
        return Identity(
            target,
            roles,
            self.descriptors_of(roles),
            self.realm_of(target),
            authentication_type=identity.authentication_type,
            full_name=row["full_name"],
            email=row["email"],
            metadata=json.loads(row["metadata"]),
            authenticated_by=identity,
        )

    def with_password(self, username: str, password: str) -> Identity:
        """The identity of a user proven by their password (``grant_type: password``); the
        same 401 as a failed sign-in otherwise."""
        return self._basic(username, password)

    def _basic(self, username: str, password: str) -> Identity:
        with self.store.read() as conn:
            row = conn.execute(
                "SELECT password_hash, roles, enabled, full_name, email, metadata "
                "FROM users WHERE username = ?",
                (username,),
            ).fetchone()
        stored = row["password_hash"] if row else None
        # the hash is checked before `enabled`, so a disabled account costs the same work
        if not self._password_ok(username, password, stored) or not row["enabled"]:
            raise Unauthenticated(f"unable to authenticate user [{username}] for REST request")
        roles = tuple(json.loads(row["roles"]))
        return Identity(
            username,
            roles,
            self.descriptors_of(roles),
            self.realm_of(username),
            full_name=row["full_name"],
            email=row["email"],
            metadata=json.loads(row["metadata"]),
        )

    def _password_ok(self, username: str, password: str, stored: str | None) -> bool:
        mac = hmac.new(self._cache_key, f"{username}\0{password}".encode(), "sha256").digest()
        with self._lock:
            remembered = self._verified.get(username)
        if (
            stored
            and remembered
            and remembered[1] == stored
            and hmac.compare_digest(remembered[0], mac)
        ):
            return True
        if not verify_password(stored, password):
            return False
        with self._lock:
            self._verified[username] = (mac, stored or "")
        return True

    def _api_key(self, key_id: str, secret: str) -> Identity:
        with self.store.read() as conn:
            row = conn.execute("SELECT * FROM api_keys WHERE id = ?", (key_id,)).fetchone()
        now_ms = int(self.clock.now().timestamp() * 1000)
        if (
            row is None
            or not hmac.compare_digest(row["secret_hash"], api_key_hash(key_id, secret))
            or row["invalidated"]
            or (row["expires_at"] is not None and row["expires_at"] <= now_ms)
        ):
            raise Unauthenticated("unable to authenticate with provided credentials")
        own = named_descriptors(json.loads(row["role_descriptors"]))
        limited = named_descriptors(json.loads(row["limited_by"]))
        return Identity(
            username=row["username"],
            roles=(),
            descriptors=own or limited,
            realm=API_KEY_REALM,
            authentication_type="api_key",
            limited_by=limited,
            api_key_id=row["id"],
            api_key_name=row["name"],
        )

    # -- authorization -----------------------------------------------------------------

    def descriptors_of(self, roles: Iterable[str]) -> tuple[RoleDescriptor, ...]:
        """Built-in and stored roles by name, in that order; unknown names grant nothing."""
        out, stored = [], []
        for name in roles:
            if name in self.builtin_roles:
                out.append(self.builtin_roles[name])
            else:
                stored.append(name)
        if stored:
            with self.store.read() as conn:
                marks = ",".join("?" * len(stored))
                rows = conn.execute(
                    f"SELECT name, descriptor FROM roles WHERE name IN ({marks})",  # noqa: S608
                    stored,
                ).fetchall()
            by_name = {r["name"]: r["descriptor"] for r in rows}
            out.extend(parse_descriptor(json.loads(by_name[n]), n) for n in stored if n in by_name)
        return tuple(out)

    def require_cluster(self, identity: Identity, privilege: str | None) -> None:
        """403 unless `identity` holds the cluster privilege."""
        if privilege and not identity.allows_cluster(privilege):
            raise cluster_forbidden(identity, privilege)

    def require_indices(self, identity: Identity, privilege: str | None, names: list[str]) -> None:
        """403 unless `identity` holds the index privilege on every named index; the 403 of
        `require_index_action` first when it holds the privilege on no index at all."""
        if not privilege:
            return
        if any(names):
            self.require_index_action(identity, (privilege,))
        denied = [n for n in names if n and not identity.allows_index(privilege, n)]
        if denied:
            raise index_forbidden(identity, privilege, denied)

    def require_index_action(self, identity: Identity, privileges: tuple[str, ...]) -> None:
        """403 unless `identity` holds one of the index `privileges` on some index, which
        Elasticsearch checks before it expands wildcards (``RBACEngine.authorizeIndexAction``,
        ``role.checkIndicesAction``): a caller who may do the action nowhere is refused, one
        who may do it somewhere gets the indices it may see, perhaps none."""
        if not any(identity.holds_index_privilege(p) for p in privileges):
            raise index_action_forbidden(identity, privileges[0])

    def allowed(self, identity: Identity, privilege: str, index: str) -> bool:
        """Whether `identity` holds the index privilege on `index` (for wildcard expansion)."""
        return identity.allows_index(privilege, index)


def grants_index_privilege(descriptors: Iterable[RoleDescriptor], privilege: str) -> bool:
    """Whether any index grant of `descriptors` includes `privilege`, on whatever indices
    (Elasticsearch's ``checkIndicesAction``). Pure."""
    return any(
        privilege in INDEX_INCLUDES.get(held, frozenset())
        for descriptor in descriptors
        for grant in descriptor.indices
        for held in grant.privileges
    )


def cluster_forbidden(
    identity: Identity, privilege: str, *, granting: list[str] | None = None
) -> Forbidden:
    """The 403 Elasticsearch sends when `identity` lacks a cluster privilege (`granting`: the
    privileges that would allow the action, when more than those including `privilege`)."""
    names = granting or granted_by_cluster(privilege)
    return Forbidden(
        f"action is unauthorized for {identity.who()}, this action is granted by the "
        f"cluster privileges [{','.join(names)}]"
    )


def index_forbidden(identity: Identity, privilege: str, names: Iterable[str]) -> Forbidden:
    """The 403 Elasticsearch sends when `identity` lacks an index privilege on `names`."""
    return Forbidden(
        f"action is unauthorized for {identity.who()} on indices [{','.join(names)}], "
        f"this action is granted by the index privileges "
        f"[{','.join(granted_by_index(privilege))}]"
    )


def index_action_forbidden(identity: Identity, privilege: str) -> Forbidden:
    """The 403 Elasticsearch sends when `identity` holds `privilege` on no index at all: it
    names no index, since none was looked at."""
    return Forbidden(
        f"action is unauthorized for {identity.who()}, this action is granted by the "
        f"index privileges [{','.join(granted_by_index(privilege))}]"
    )


def run_as_forbidden(identity: Identity, target: str) -> Forbidden:
    """The 403 Elasticsearch sends when `identity` may not run as `target`."""
    return Forbidden(
        f"action is unauthorized for {identity.who()}, because {identity.subject()} "
        f"is unauthorized to run as [{target}]"
    )


def _may_run_as(descriptors: Iterable[RoleDescriptor], target: str) -> bool:
    for descriptor in descriptors:
        if descriptor.run_as and matches_name(descriptor.run_as, target):
            return True
    return False


def api_key_hash(key_id: str, secret: str) -> bytes:
    """The stored form of an API key secret (≥128 random bits, so a fast hash suffices)."""
    return hashlib.sha256(f"{key_id}:{secret}".encode()).digest()


def realm_of(username: str, reserved_user: str = ELASTIC) -> str:
    """The realm (type) a user lives in: the reserved superuser (``elastic``, or a project's
    ``admin``) is reserved, everyone else native."""
    return RESERVED_REALM if username == reserved_user else NATIVE_REALM


def named_descriptors(stored: Mapping[str, Any]) -> tuple[RoleDescriptor, ...]:
    """Descriptors stored as ``{role name: descriptor}`` (an API key's own and limited_by)."""
    return tuple(parse_descriptor(body, name) for name, body in stored.items())


def _b64(value: str) -> str | None:
    try:
        return base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def describe(identity: Identity) -> dict[str, Any]:
    """The body of ``GET /_security/_authenticate``: the user requests run as (their roles,
    the realm they were looked up in) and the realm that authenticated the caller."""
    lookup = identity.realm_ref()
    authenticating = identity.authenticated_by or identity
    metadata = dict(identity.metadata)
    if identity.realm == RESERVED_REALM:
        metadata["_reserved"] = True
    body: dict[str, Any] = {
        "username": identity.username,
        "roles": list(identity.roles),
        "full_name": identity.full_name,
        "email": identity.email,
        "metadata": metadata,
        "enabled": True,
        "authentication_realm": authenticating.realm_ref(),
        "lookup_realm": lookup,
        "authentication_type": identity.authentication_type,
    }
    if identity.is_api_key:
        body["api_key"] = {"id": identity.api_key_id, "name": identity.api_key_name}
    return body

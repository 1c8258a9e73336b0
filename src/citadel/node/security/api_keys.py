"""API keys: created by holders of ``manage_own_api_key``, never more powerful than their creator.

A key is ``id`` (20 URL-safe characters) plus a secret of 192 random bits from `secrets`;
only `api_key_hash(id, secret)` is stored. The key's ``limited_by`` is a snapshot of its
creator's role descriptors; the realm grants the intersection of that and the key's own
``role_descriptors``. An API key may create only "derived" keys with explicitly empty
privileges (as in Elasticsearch).

Who sees and invalidates what: holders of ``manage_api_key`` (implied by ``manage_security``
and ``all``) manage every key, and ``read_security`` reads (gets, queries) every key; holders of
``manage_own_api_key`` manage only their own keys (an API key: only itself), and naming someone
else's key or user is a 403. Without any of these, an API key may still get itself by id (as in
Elasticsearch). Only the owning user updates a key (never through an API key), and an update
snapshots the owner's current roles as the new ``limited_by``.

``invalidated`` is 0, or when the key was invalidated in epoch milliseconds (1 for keys
invalidated before that time was kept); invalidation takes effect at once: the realm reads the
key's row on every request.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from citadel.node.errors import EsError, IllegalArgument, ResourceNotFound
from citadel.node.security.errors import ValidationFailed
from citadel.node.security.privileges import render_descriptor
from citadel.node.security.queries import Catalog, Doc, Kind, parse_search, run_search
from citadel.node.security.realm import (
    REALM_NAMES,
    Identity,
    Realm,
    api_key_hash,
    cluster_forbidden,
)
from citadel.node.security.roles import checked_descriptor

MANAGE_API_KEY = "manage_api_key"
MANAGE_OWN_API_KEY = "manage_own_api_key"
READ_SECURITY = "read_security"
_READ_GRANTS = ["manage_own_api_key", "read_security", "manage_api_key", "manage_security", "all"]
_OLD_INVALIDATION = 1  # `invalidated` of a key invalidated before the time was kept
API_KEY_FIELDS = Catalog(
    payload="query_api_key_request_payload",
    fields={
        "username": Kind.KEYWORD,
        "realm_name": Kind.KEYWORD,
        "name": Kind.KEYWORD,
        "type": Kind.KEYWORD,
        "creation": Kind.DATE,
        "expiration": Kind.DATE,
        "invalidated": Kind.BOOLEAN,
        "invalidation": Kind.DATE,
    },
    flattened="metadata",
)
MAX_NAME = 1024
ID_BYTES = 15  # 20 base64url characters, like Elasticsearch's ids
SECRET_BYTES = 24  # 192 bits
_EXPIRATION = re.compile(r"^([1-9][0-9]{0,8})(ms|s|m|h|d)$")
_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


@dataclass(frozen=True)
class NewApiKey:
    """A key just created: the only time its secret exists outside the caller."""

    id: str
    name: str
    api_key: str
    expiration: int | None

    @property
    def encoded(self) -> str:
        """``base64(id:api_key)``, what goes after ``Authorization: ApiKey``."""
        return base64.b64encode(f"{self.id}:{self.api_key}".encode()).decode()

    def body(self) -> dict[str, Any]:
        """The response of ``POST /_security/api_key``."""
        out: dict[str, Any] = {"id": self.id, "name": self.name}
        if self.expiration is not None:
            out["expiration"] = self.expiration
        out["api_key"] = self.api_key
        out["encoded"] = self.encoded
        return out


@dataclass(frozen=True)
class KeyRequest:
    """What ``POST /_security/api_key`` asks for."""

    name: str | None
    role_descriptors: Mapping[str, Any] = field(default_factory=dict)
    expiration: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class KeyUpdate:
    """What ``PUT /_security/api_key/{id}`` and ``_bulk_update`` change (None: keep)."""

    role_descriptors: Mapping[str, Any] | None = None
    metadata: Mapping[str, Any] | None = None
    expiration: str | None = None


@dataclass(frozen=True)
class UpdateResult:
    """Which keys an update changed, left alone, or could not touch (and why)."""

    updated: list[str] = field(default_factory=list)
    noops: list[str] = field(default_factory=list)
    errors: dict[str, EsError] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        """The response of ``POST /_security/api_key/_bulk_update``."""
        errors: dict[str, Any] = {"count": len(self.errors)}
        if self.errors:
            errors["details"] = {
                key_id: {"type": exc.type, "reason": exc.reason}
                for key_id, exc in self.errors.items()
            }
        return {"updated": self.updated, "noops": self.noops, "errors": errors}


@dataclass(frozen=True)
class KeyQuery:
    """Which keys ``GET`` lists or ``DELETE`` invalidates."""

    ids: tuple[str, ...] = ()
    name: str | None = None
    username: str | None = None
    realm_name: str | None = None
    owner: bool = False
    active_only: bool = False

    @property
    def is_empty(self) -> bool:
        """Whether the query selects nothing in particular (refused by invalidate)."""
        return not (self.ids or self.name or self.username or self.realm_name or self.owner)


def create_api_key(realm: Realm, *, owner: Identity, request: KeyRequest) -> NewApiKey:
    """Create a key for `owner`, limited by `owner`'s current role descriptors."""
    problems = _name_problems(request.name)
    if any(str(key).startswith("_") for key in request.metadata):
        problems.append("metadata keys may not start with [_]")
    if problems:
        raise ValidationFailed(*problems)
    own = {
        role: checked_descriptor(body, f"role [{role}]")
        for role, body in request.role_descriptors.items()
    }
    if owner.is_api_key and (not own or any(_has_privileges(d) for d in own.values())):
        raise IllegalArgument(
            "creating derived api keys requires an explicit role descriptor that is empty "
            "(has no privileges)"
        )
    limits = owner.limited_by if owner.limited_by is not None else owner.descriptors
    limited_by = {d.name: render_descriptor(d) for d in limits}
    now = _now_ms(realm)
    expires = now + parse_expiration(request.expiration) if request.expiration else None
    key = NewApiKey(
        id=_new_key_id(),
        name=request.name or "",
        api_key=secrets.token_urlsafe(SECRET_BYTES),
        expiration=expires,
    )
    with realm.store.write() as conn:
        conn.execute(
            "INSERT INTO api_keys (id, name, secret_hash, username, role_descriptors, "
            "limited_by, created_at, expires_at, invalidated, metadata) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
            (
                key.id,
                key.name,
                api_key_hash(key.id, key.api_key),
                owner.username,
                json.dumps(own),
                json.dumps(limited_by),
                now,
                expires,
                json.dumps(dict(request.metadata)),
            ),
        )
    return key


def find_api_keys(
    realm: Realm, *, actor: Identity, query: KeyQuery, with_limited_by: bool = False
) -> list[dict[str, Any]]:
    """The keys `query` selects among those `actor` may see, oldest first."""
    problems = []
    if query.ids and query.name:
        problems.append("only one of [api key id, api key name] can be specified")
    if (query.ids or query.name) and (query.username or query.realm_name):
        problems.append(
            "username or realm name must not be specified when the api key id or api key name "
            "is specified"
        )
    problems += _owner_problems(query)
    if problems:
        raise ValidationFailed(*problems)
    own_key_by_id = actor.is_api_key and query.ids == (actor.api_key_id,)
    if not (own_key_by_id or _reads_keys(actor)):
        raise cluster_forbidden(actor, MANAGE_OWN_API_KEY, granting=_READ_GRANTS)
    if with_limited_by:
        _require_limited_by_reader(realm, actor)
    with realm.store.read() as conn:
        rows = _select(realm, conn, actor, query, manager=_reads_all_keys(actor) or own_key_by_id)
    now = _now_ms(realm)
    if query.active_only:
        rows = [r for r in rows if _active(r, now)]
    return [_key_body(realm, r, with_limited_by=with_limited_by) for r in rows]


def invalidate_api_keys(realm: Realm, *, actor: Identity, query: KeyQuery) -> dict[str, Any]:
    """Invalidate the keys `query` selects; they stop authenticating at once."""
    problems = []
    if query.is_empty:
        problems.append(
            "One of [api key id(s), api key name, username, realm name] must be specified if "
            "[owner] flag is false"
        )
    problems += _owner_problems(query)
    if problems:
        raise ValidationFailed(*problems)
    realm.require_cluster(actor, MANAGE_OWN_API_KEY)
    now = max(_now_ms(realm), _OLD_INVALIDATION + 1)
    with realm.store.write() as conn:
        rows = _select(realm, conn, actor, query, manager=actor.allows_cluster(MANAGE_API_KEY))
        fresh = [r["id"] for r in rows if not r["invalidated"]]
        if fresh:
            marks = ",".join("?" * len(fresh))
            conn.execute(
                f"UPDATE api_keys SET invalidated = ? WHERE id IN ({marks})",  # noqa: S608
                [now, *fresh],
            )
    return {
        "invalidated_api_keys": fresh,
        "previously_invalidated_api_keys": [r["id"] for r in rows if r["invalidated"]],
        "error_count": 0,
    }


def parse_expiration(text: str) -> int:
    """An Elasticsearch time value (``30m``, ``12h``, ``1d``) in milliseconds."""
    match = _EXPIRATION.fullmatch(text)
    if not match:
        raise IllegalArgument(
            f"failed to parse setting [expiration] with value [{text}] as a time value: "
            "it must be a positive whole number followed by one of [d, h, m, s, ms]"
        )
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def update_api_keys(
    realm: Realm, *, actor: Identity, ids: list[str], update: KeyUpdate
) -> UpdateResult:
    """Change the owner's own keys: role descriptors, metadata, expiration, and ``limited_by``
    re-snapshotted from the owner's current roles. A key whose stored form would not change is
    a noop (a given expiration always changes it, as in Elasticsearch)."""
    if actor.is_api_key:
        raise IllegalArgument(
            "authentication via API key not supported: only the owner user can update an API key"
        )
    problems = []
    if update.metadata is not None and any(str(k).startswith("_") for k in update.metadata):
        problems.append("API key metadata keys may not start with [_]")
    if problems:
        raise ValidationFailed(*problems)
    own = None
    if update.role_descriptors is not None:
        own = {
            role: checked_descriptor(body, f"role [{role}]")
            for role, body in update.role_descriptors.items()
        }
    now = _now_ms(realm)
    expires = now + parse_expiration(update.expiration) if update.expiration else None
    limited_by = {d.name: render_descriptor(d) for d in actor.descriptors}
    result = UpdateResult()
    wanted = list(dict.fromkeys(ids))
    with realm.store.write() as conn:
        marks = ",".join("?" * len(wanted))
        rows = conn.execute(
            f"SELECT * FROM api_keys WHERE id IN ({marks}) AND username = ?",  # noqa: S608
            [*wanted, actor.username],
        ).fetchall()
        by_id = {r["id"]: r for r in rows}
        for key_id in wanted:
            row = by_id.get(key_id)
            problem = _update_problem(key_id, row, now)
            if problem is not None:
                result.errors[key_id] = problem
                continue
            assert row is not None  # a missing key is a problem
            values = {
                "role_descriptors": own if own is not None else json.loads(row["role_descriptors"]),
                "metadata": (
                    dict(update.metadata)
                    if update.metadata is not None
                    else json.loads(row["metadata"])
                ),
                "limited_by": limited_by,
            }
            unchanged = expires is None and all(
                json.loads(row[column]) == value for column, value in values.items()
            )
            if unchanged:
                result.noops.append(key_id)
                continue
            conn.execute(
                "UPDATE api_keys SET role_descriptors = ?, metadata = ?, limited_by = ?, "
                "expires_at = COALESCE(?, expires_at) WHERE id = ?",
                (
                    json.dumps(values["role_descriptors"]),
                    json.dumps(values["metadata"]),
                    json.dumps(values["limited_by"]),
                    expires,
                    key_id,
                ),
            )
            result.updated.append(key_id)
    return result


def query_api_keys(
    realm: Realm,
    *,
    actor: Identity,
    body: Any,
    with_limited_by: bool = False,
    with_profile_uid: bool = False,
) -> dict[str, Any]:
    """``_security/_query/api_key``: every key for ``read_security``/``manage_api_key``, one's
    own for ``manage_own_api_key``. No user has a profile here, so no ``profile_uid`` shows."""
    if not _reads_keys(actor):
        raise cluster_forbidden(actor, MANAGE_OWN_API_KEY, granting=_READ_GRANTS)
    if with_limited_by:
        _require_limited_by_reader(realm, actor)
    if isinstance(body, dict):
        for name in ("aggs", "aggregations"):
            if name in body:
                raise IllegalArgument(
                    f"[{name}] is not supported by this node: API key aggregations are not "
                    "implemented"
                )
    now = _now_ms(realm)
    search = parse_search(body, API_KEY_FIELDS, now_ms=now)
    with realm.store.read() as conn:
        rows = conn.execute("SELECT * FROM api_keys ORDER BY created_at, id").fetchall()
    if not _reads_all_keys(actor):
        rows = [r for r in rows if _owns(actor, r)]
    by_id = {r["id"]: r for r in rows}
    page = run_search((_key_doc(realm, r, i) for i, r in enumerate(rows)), search)
    found = []
    for hit in page.hits:
        item = _key_body(realm, by_id[hit.doc.id], with_limited_by=with_limited_by)
        if hit.sort is not None:
            item["_sort"] = hit.sort
        found.append(item)
    return {"total": page.total, "count": len(found), "api_keys": found}


def _select(
    realm: Realm, conn: Any, actor: Identity, query: KeyQuery, *, manager: bool
) -> list[Any]:
    """Rows matching `query` and visible to `actor`; 403 when it names what is not."""
    named_user = query.username is not None and query.username != actor.username
    named_realm = query.realm_name is not None and query.realm_name != _realm_name(
        realm, actor.username
    )
    if not manager and (named_user or named_realm or (actor.is_api_key and query.username)):
        realm.require_cluster(actor, MANAGE_API_KEY)
    clauses, args = [], []
    if query.ids:
        clauses.append(f"id IN ({','.join('?' * len(query.ids))})")
        args += list(query.ids)
    if query.username is not None:
        clauses.append("username = ?")
        args.append(query.username)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = conn.execute(
        f"SELECT * FROM api_keys {where} ORDER BY created_at, id",  # noqa: S608
        args,
    ).fetchall()
    if query.name is not None:
        pattern = _wildcard(query.name)
        rows = [r for r in rows if r["name"] is not None and pattern.fullmatch(r["name"])]
    if query.realm_name is not None:
        rows = [r for r in rows if _realm_name(realm, r["username"]) == query.realm_name]
    if query.owner or not manager:
        if not manager and query.ids and any(not _owns(actor, r) for r in rows):
            realm.require_cluster(actor, MANAGE_API_KEY)
        rows = [r for r in rows if _owns(actor, r)]
    return rows


def _new_key_id() -> str:
    """20 URL-safe characters, never starting with ``_`` (a path segment the router keeps for
    endpoints such as ``_bulk_update``, so ``PUT /_security/api_key/{id}`` reaches every key)."""
    while True:
        key_id = secrets.token_urlsafe(ID_BYTES)
        if not key_id.startswith("_"):
            return key_id


def _reads_all_keys(actor: Identity) -> bool:
    return actor.allows_cluster(MANAGE_API_KEY) or actor.allows_cluster(READ_SECURITY)


def _reads_keys(actor: Identity) -> bool:
    return _reads_all_keys(actor) or actor.allows_cluster(MANAGE_OWN_API_KEY)


def _require_limited_by_reader(realm: Realm, actor: Identity) -> None:
    """An API key sees no key's ``limited_by`` (not even its own) without ``manage_api_key``."""
    if actor.is_api_key:
        realm.require_cluster(actor, MANAGE_API_KEY)


def _update_problem(key_id: str, row: Any, now: int) -> EsError | None:
    if row is None:
        return ResourceNotFound(f"no API key owned by requesting user found for ID [{key_id}]")
    if row["invalidated"]:
        return IllegalArgument(f"cannot update invalidated API key [{key_id}]")
    if row["expires_at"] is not None and row["expires_at"] <= now:
        return IllegalArgument(f"cannot update expired API key [{key_id}]")
    return None


def _key_doc(realm: Realm, row: Any, position: int) -> Doc:
    invalidation = row["invalidated"] if row["invalidated"] > _OLD_INVALIDATION else None
    return Doc(
        id=row["id"],
        fields={
            "username": row["username"],
            "realm_name": _realm_name(realm, row["username"]),
            "name": row["name"],
            "type": "rest",
            "creation": row["created_at"],
            "expiration": row["expires_at"],
            "invalidated": bool(row["invalidated"]),
            "invalidation": invalidation,
        },
        metadata=json.loads(row["metadata"]),
        position=position,
    )


def _owns(actor: Identity, row: Any) -> bool:
    if actor.is_api_key:
        return row["id"] == actor.api_key_id
    return row["username"] == actor.username


def _owner_problems(query: KeyQuery) -> list[str]:
    if query.owner and (query.username or query.realm_name):
        return [
            "username or realm name must not be specified when the current user owns the API key(s)"
        ]
    return []


def _name_problems(name: str | None) -> list[str]:
    if not name:
        return ["api key name is required"]
    problems = []
    if len(name) > MAX_NAME:
        problems.append(f"api key name may not be more than [{MAX_NAME}] characters long")
    if name != name.strip():
        problems.append("api key name may not begin or end with whitespace")
    if name.startswith("_"):
        problems.append("api key name may not begin with an underscore")
    return problems


def _has_privileges(descriptor: Mapping[str, Any]) -> bool:
    return bool(descriptor["cluster"] or descriptor["indices"])


def _active(row: Any, now: int) -> bool:
    return not row["invalidated"] and (row["expires_at"] is None or row["expires_at"] > now)


def _key_body(realm: Realm, row: Any, *, with_limited_by: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": row["id"],
        "name": row["name"],
        "type": "rest",
        "creation": row["created_at"],
    }
    if row["expires_at"] is not None:
        body["expiration"] = row["expires_at"]
    body["invalidated"] = bool(row["invalidated"])
    if row["invalidated"] > _OLD_INVALIDATION:
        body["invalidation"] = row["invalidated"]
    body |= {
        "username": row["username"],
        "realm": _realm_name(realm, row["username"]),
        "realm_type": realm.realm_of(row["username"]),
        "metadata": json.loads(row["metadata"]),
        "role_descriptors": json.loads(row["role_descriptors"]),
    }
    if with_limited_by:
        body["limited_by"] = [json.loads(row["limited_by"])]
    return body


def _realm_name(realm: Realm, username: str) -> str:
    return REALM_NAMES[realm.realm_of(username)]


def _wildcard(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


def _now_ms(realm: Realm) -> int:
    return int(realm.clock.now().timestamp() * 1000)

"""Native users and the reserved superuser (``elastic``; ``admin`` on a serverless project's
node, `Realm.reserved_user`), kept in the encrypted store.

Passwords are stored only as argon2id hashes, computed before the write lock is taken. Every
change to a user's password, status or existence is followed by `Realm.forget`, so a
remembered password stops working at once (the realm also ties what it remembers to the
stored hash, so the old password fails even on a request already in flight).

The reserved superuser cannot be created, replaced or deleted through the users API; its
password changes through ``_password`` (by itself or a ``manage_security`` user).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from citadel.crypto.passwords import hash_password
from citadel.node.errors import IllegalArgument, ResourceNotFound
from citadel.node.security.errors import ValidationFailed
from citadel.node.security.names import name_rule, valid_name
from citadel.node.security.queries import Catalog, Doc, Kind, parse_search, run_search
from citadel.node.security.realm import Identity, Realm

MIN_PASSWORD = 6
MANAGE_SECURITY = "manage_security"
USER_FIELDS = Catalog(
    payload="query_user_request_payload",
    fields={
        "username": Kind.KEYWORD,
        "roles": Kind.KEYWORD,
        "enabled": Kind.BOOLEAN,
        "full_name": Kind.TEXT,
        "email": Kind.TEXT,
    },
    unsortable=frozenset({"full_name", "email"}),
)


@dataclass(frozen=True)
class UserSpec:
    """What ``PUT /_security/user/{name}`` asks for; no password keeps the current one."""

    roles: tuple[str, ...]
    full_name: str | None = None
    email: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    enabled: bool = True
    password: str | None = None


def put_user(realm: Realm, *, username: str, spec: UserSpec) -> bool:
    """Create or replace a native user; True when it was created."""
    if username == realm.reserved_user:
        raise ValidationFailed(f"Username [{username}] is reserved and may not be used.")
    problems = []
    if not valid_name(username):
        problems.append(f"Invalid username [{username}]. {name_rule('Usernames')}")
    if spec.password is not None and len(spec.password) < MIN_PASSWORD:
        problems.append(_short_password())
    if any(str(key).startswith("_") for key in spec.metadata):
        problems.append("metadata keys may not start with [_]")
    if problems:
        raise ValidationFailed(*problems)
    hashed = hash_password(spec.password) if spec.password is not None else None
    values = (
        json.dumps(list(spec.roles)),
        spec.full_name,
        spec.email,
        json.dumps(dict(spec.metadata)),
        int(spec.enabled),
    )
    with realm.store.write() as conn:
        exists = conn.execute("SELECT 1 FROM users WHERE username = ?", (username,)).fetchone()
        if exists is None:
            if hashed is None:
                raise ValidationFailed(
                    "password must be specified unless you are updating an existing user"
                )
            conn.execute(
                "INSERT INTO users (username, password_hash, roles, full_name, email, metadata, "
                "enabled) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (username, hashed, *values),
            )
        else:
            conn.execute(
                "UPDATE users SET roles = ?, full_name = ?, email = ?, metadata = ?, enabled = ?, "
                "password_hash = COALESCE(?, password_hash) WHERE username = ?",
                (*values, hashed, username),
            )
    realm.forget(username)
    return exists is None


def get_users(realm: Realm, names: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Users by name (all of them when `names` is None), without any password hash."""
    with realm.store.read() as conn:
        if names is None:
            rows = conn.execute("SELECT * FROM users ORDER BY username").fetchall()
        else:
            marks = ",".join("?" * len(names))
            rows = conn.execute(
                f"SELECT * FROM users WHERE username IN ({marks}) ORDER BY username",  # noqa: S608
                names,
            ).fetchall()
    return {row["username"]: _user_body(realm, row) for row in rows}


def query_users(realm: Realm, body: Any) -> dict[str, Any]:
    """``_security/_query/user``: native users only (the reserved superuser is built in, so
    never listed, as in Elasticsearch). No user has a profile here, so ``with_profile_uid``
    adds nothing."""
    search = parse_search(body, USER_FIELDS, now_ms=int(realm.clock.now().timestamp() * 1000))
    with realm.store.read() as conn:
        rows = conn.execute(
            "SELECT * FROM users WHERE username != ? ORDER BY username", (realm.reserved_user,)
        ).fetchall()
    docs = (
        Doc(
            id=f"user-{row['username']}",
            fields={
                "username": row["username"],
                "roles": json.loads(row["roles"]),
                "enabled": bool(row["enabled"]),
                "full_name": row["full_name"],
                "email": row["email"],
            },
            position=i,
        )
        for i, row in enumerate(rows)
    )
    by_id = {f"user-{row['username']}": row for row in rows}
    page = run_search(docs, search)
    found = []
    for hit in page.hits:
        item = _user_body(realm, by_id[hit.doc.id])
        if hit.sort is not None:
            item["_sort"] = hit.sort
        found.append(item)
    return {"total": page.total, "count": len(found), "users": found}


def delete_user(realm: Realm, *, username: str) -> bool:
    """Delete a native user; False when there was none. Its API keys stay (as in Elasticsearch)."""
    if username == realm.reserved_user:
        raise IllegalArgument(f"user [{username}] is reserved and cannot be deleted")
    with realm.store.write() as conn:
        deleted = conn.execute("DELETE FROM users WHERE username = ?", (username,)).rowcount
    realm.forget(username)
    return deleted > 0


def change_password(realm: Realm, *, actor: Identity, username: str, password: str) -> None:
    """Set a user's password: one's own (signed in as that user), or anyone's with
    ``manage_security``. The old password stops working at once."""
    if not _is_self(actor, username):
        realm.require_cluster(actor, MANAGE_SECURITY)
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed(_short_password())
    hashed = hash_password(password)
    with realm.store.write() as conn:
        changed = conn.execute(
            "UPDATE users SET password_hash = ? WHERE username = ?", (hashed, username)
        ).rowcount
    realm.forget(username)
    if not changed:
        raise ValidationFailed("user must exist in order to change password")


def set_enabled(realm: Realm, *, actor: Identity, username: str, enabled: bool) -> None:
    """Enable or disable a user; nobody may change their own account's status."""
    if actor.username == username:
        raise IllegalArgument("users may not update the enabled status of their own account")
    with realm.store.write() as conn:
        changed = conn.execute(
            "UPDATE users SET enabled = ? WHERE username = ?", (int(enabled), username)
        ).rowcount
    realm.forget(username)
    if not changed:
        raise ResourceNotFound(f"user [{username}] not found")


def _is_self(actor: Identity, username: str) -> bool:
    return not actor.is_api_key and actor.username == username


def _short_password() -> str:
    return f"passwords must be at least [{MIN_PASSWORD}] characters long"


def _user_body(realm: Realm, row: Any) -> dict[str, Any]:
    metadata = json.loads(row["metadata"])
    if row["username"] == realm.reserved_user:
        metadata["_reserved"] = True
    return {
        "username": row["username"],
        "roles": json.loads(row["roles"]),
        "full_name": row["full_name"],
        "email": row["email"],
        "metadata": metadata,
        "enabled": bool(row["enabled"]),
    }

"""Roles: the built-in ``superuser``, ``editor`` and ``viewer`` (and a serverless project's
roles on its node, `Realm.builtin_roles`), and native roles in the store.

A native role is stored as its normalized descriptor (every field present, order kept), so
what ``GET`` shows is what was accepted. The realm reads roles on every request, so a changed
or deleted role takes effect at once for users holding it (API keys keep the ``limited_by``
snapshot taken when they were created, as in Elasticsearch).
"""

from __future__ import annotations

import json
from typing import Any

from citadel.node.errors import EsError, IllegalArgument
from citadel.node.security.errors import ParseException, ValidationFailed
from citadel.node.security.names import name_rule, valid_name
from citadel.node.security.privileges import (
    InvalidDescriptor,
    UnknownPrivilege,
    UnsupportedField,
    normalize_descriptor,
    render_descriptor,
)
from citadel.node.security.queries import Catalog, Doc, Kind, parse_search, run_search
from citadel.node.security.realm import Realm

ROLE_FIELDS = Catalog(
    payload="query_role_request_payload",
    fields={
        "name": Kind.KEYWORD,
        "description": Kind.TEXT,
        "applications.application": Kind.KEYWORD,
        "applications.resources": Kind.KEYWORD,
        "applications.privileges": Kind.KEYWORD,
    },
    flattened="metadata",
)


def put_role(realm: Realm, *, name: str, body: Any) -> bool:
    """Create or replace a native role; True when it was created."""
    descriptor = _checked_role(realm, name, body)
    with realm.store.write() as conn:
        exists = conn.execute("SELECT 1 FROM roles WHERE name = ?", (name,)).fetchone()
        conn.execute(
            "INSERT INTO roles (name, descriptor) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET descriptor = excluded.descriptor",
            (name, json.dumps(descriptor)),
        )
    return exists is None


MAX_BULK = 1_000


def put_roles(realm: Realm, body: Any) -> dict[str, Any]:
    """``POST /_security/role``: ``{"roles": {name: descriptor}}``, each role created, updated,
    left alone (``noop``: the stored descriptor is the same) or refused (in ``errors``)."""
    roles = _bulk_field(body, "roles", dict, "an object")
    if not roles:
        raise ValidationFailed("at least one role must be provided")
    if len(roles) > MAX_BULK:
        raise ValidationFailed(f"at most [{MAX_BULK}] roles may be put at once")
    result: dict[str, list[str]] = {"created": [], "updated": [], "noop": []}
    errors: dict[str, Any] = {}
    for name, descriptor in roles.items():
        try:
            checked = _checked_role(realm, name, descriptor)
        except EsError as exc:
            errors[name] = {"type": exc.type, "reason": exc.reason}
            continue
        with realm.store.write() as conn:
            row = conn.execute("SELECT descriptor FROM roles WHERE name = ?", (name,)).fetchone()
            if row is not None and json.loads(row["descriptor"]) == checked:
                result["noop"].append(name)
                continue
            conn.execute(
                "INSERT INTO roles (name, descriptor) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET descriptor = excluded.descriptor",
                (name, json.dumps(checked)),
            )
        result["created" if row is None else "updated"].append(name)
    return _bulk_answer(result, errors)


def delete_roles(realm: Realm, body: Any) -> dict[str, Any]:
    """``DELETE /_security/role``: ``{"names": [...]}``, each ``deleted`` or ``not_found``
    (built-in roles are ``errors``)."""
    names = _bulk_field(body, "names", list, "an array of strings")
    if not names or not all(isinstance(n, str) for n in names):
        raise ValidationFailed("at least one role name must be provided")
    if len(names) > MAX_BULK:
        raise ValidationFailed(f"at most [{MAX_BULK}] roles may be deleted at once")
    result: dict[str, list[str]] = {"deleted": [], "not_found": []}
    errors: dict[str, Any] = {}
    for name in dict.fromkeys(names):
        try:
            found = delete_role(realm, name=name)
        except EsError as exc:
            errors[name] = {"type": exc.type, "reason": exc.reason}
            continue
        result["deleted" if found else "not_found"].append(name)
    return _bulk_answer(result, errors)


def _checked_role(realm: Realm, name: str, body: Any) -> dict[str, Any]:
    if name in realm.builtin_roles:
        raise ValidationFailed(f"Role [{name}] is reserved and may not be used.")
    if not valid_name(name):
        raise ValidationFailed(f"Invalid role name [{name}]. {name_rule('Role names')}")
    return checked_descriptor(body, f"role [{name}]")


def _bulk_field(body: Any, key: str, kind: type, description: str) -> Any:
    if not isinstance(body, dict):
        raise ParseException("failed to parse the request body. expected an object")
    for field in body:
        if field != key:
            raise ParseException(f"failed to parse the request body. unexpected field [{field}]")
    value = body.get(key)
    if not isinstance(value, kind):
        raise ParseException(f"failed to parse the request body. [{key}] must be {description}")
    return value


def _bulk_answer(result: dict[str, list[str]], errors: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {key: names for key, names in result.items() if names}
    if errors:
        out["errors"] = {"count": len(errors), "details": errors}
    return out


def get_roles(realm: Realm, names: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Roles by name (every built-in and native role when `names` is None)."""
    wanted = None if names is None else set(names)
    out = {
        name: _reserved(descriptor)
        for name, descriptor in realm.builtin_roles.items()
        if wanted is None or name in wanted
    }
    with realm.store.read() as conn:
        rows = conn.execute("SELECT name, descriptor FROM roles ORDER BY name").fetchall()
    for row in rows:
        if wanted is None or row["name"] in wanted:
            out[row["name"]] = json.loads(row["descriptor"])
    return out


def query_roles(realm: Realm, body: Any) -> dict[str, Any]:
    """``_security/_query/role``: native roles only (built-in roles are never listed, as in
    Elasticsearch), each as ``{"name", ...its descriptor}``."""
    search = parse_search(body, ROLE_FIELDS, now_ms=int(realm.clock.now().timestamp() * 1000))
    with realm.store.read() as conn:
        rows = conn.execute("SELECT name, descriptor FROM roles ORDER BY name").fetchall()
    descriptors = {f"role-{row['name']}": json.loads(row["descriptor"]) for row in rows}
    docs = []
    for i, row in enumerate(rows):
        descriptor = descriptors[f"role-{row['name']}"]
        apps = descriptor.get("applications") or []
        docs.append(
            Doc(
                id=f"role-{row['name']}",
                fields={
                    "name": row["name"],
                    "description": descriptor.get("description"),
                    "applications.application": [a.get("application") for a in apps],
                    "applications.resources": [r for a in apps for r in a.get("resources", [])],
                    "applications.privileges": [p for a in apps for p in a.get("privileges", [])],
                },
                metadata=descriptor.get("metadata") or {},
                position=i,
            )
        )
    page = run_search(docs, search)
    found = []
    for hit in page.hits:
        item = {"name": hit.doc.fields["name"], **descriptors[hit.doc.id]}
        if hit.sort is not None:
            item["_sort"] = hit.sort
        found.append(item)
    return {"total": page.total, "count": len(found), "roles": found}


def delete_role(realm: Realm, *, name: str) -> bool:
    """Delete a native role; False when there was none."""
    if name in realm.builtin_roles:
        raise IllegalArgument(f"role [{name}] is reserved and cannot be deleted")
    with realm.store.write() as conn:
        deleted = conn.execute("DELETE FROM roles WHERE name = ?", (name,)).rowcount
    return deleted > 0


def checked_descriptor(body: Any, what: str) -> dict[str, Any]:
    """A role descriptor validated and normalized, or the 400 Elasticsearch gives."""
    try:
        return normalize_descriptor(body)
    except (UnknownPrivilege, UnsupportedField) as exc:
        raise IllegalArgument(f"failed to parse {what}. {exc}") from None
    except InvalidDescriptor as exc:
        raise ParseException(f"failed to parse {what}. {exc}") from None


def _reserved(descriptor: Any) -> dict[str, Any]:
    body = render_descriptor(descriptor)
    body["metadata"] = {"_reserved": True}
    return body

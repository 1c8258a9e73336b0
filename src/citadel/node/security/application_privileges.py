"""Application privileges (``/_security/privilege``): named sets of actions an application
defines for itself, as in Elasticsearch.

A privilege is ``{application, name, actions, metadata}``. Roles grant them by name (or grant
action patterns directly) in their ``applications`` entries; ``_has_privileges`` resolves names
to actions through these definitions (`definitions`). Elasticsearch never enforces them on its
own APIs, and neither does this node: the application asks.

At most `MAX_PRIVILEGES` definitions are kept (a put that would exceed it is a 400).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from citadel.node.errors import IllegalArgument
from citadel.node.security.errors import ValidationFailed
from citadel.node.security.privileges import application_name_problem
from citadel.node.security.realm import Realm

MAX_PRIVILEGES = 10_000
_NAME = re.compile(r"[a-z][A-Za-z0-9_.-]*")
_FIELDS = frozenset({"application", "name", "actions", "metadata"})


def put_privileges(realm: Realm, body: Any) -> dict[str, dict[str, dict[str, bool]]]:
    """Create or replace the privileges in ``{application: {name: definition}}``; the answer
    says which were created."""
    wanted = _parse_put(body)
    out: dict[str, dict[str, dict[str, bool]]] = {}
    with realm.store.write() as conn:
        existing = {
            (r["application"], r["name"])
            for r in conn.execute("SELECT application, name FROM application_privileges")
        }
        new = {key for key in wanted if key not in existing}
        if len(existing) + len(new) > MAX_PRIVILEGES:
            raise IllegalArgument(
                f"this node keeps at most [{MAX_PRIVILEGES}] application privileges"
            )
        for (application, name), (actions, metadata) in wanted.items():
            conn.execute(
                "INSERT INTO application_privileges (application, name, actions, metadata) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (application, name) DO UPDATE SET "
                "actions = excluded.actions, metadata = excluded.metadata",
                (application, name, json.dumps(actions), json.dumps(metadata)),
            )
            out.setdefault(application, {})[name] = {"created": (application, name) in new}
    return out


def get_privileges(
    realm: Realm, application: str | None = None, names: list[str] | None = None
) -> dict[str, dict[str, dict[str, Any]]]:
    """Definitions by application (every one when None) and name (every one when None)."""
    with realm.store.read() as conn:
        if application is None:
            rows = conn.execute(
                "SELECT * FROM application_privileges ORDER BY application, name"
            ).fetchall()
        else:
            rows = conn.execute(
                "SELECT * FROM application_privileges WHERE application = ? ORDER BY name",
                (application,),
            ).fetchall()
    wanted = None if names is None else set(names)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        if wanted is None or row["name"] in wanted or "*" in wanted:
            out.setdefault(row["application"], {})[row["name"]] = {
                "application": row["application"],
                "name": row["name"],
                "actions": json.loads(row["actions"]),
                "metadata": json.loads(row["metadata"]),
            }
    return out


def delete_privileges(
    realm: Realm, application: str, names: list[str]
) -> dict[str, dict[str, dict[str, bool]]]:
    """Delete the named privileges of `application`; ``found`` says which existed."""
    out: dict[str, dict[str, bool]] = {}
    with realm.store.write() as conn:
        for name in dict.fromkeys(names):
            deleted = conn.execute(
                "DELETE FROM application_privileges WHERE application = ? AND name = ?",
                (application, name),
            ).rowcount
            out[name] = {"found": deleted > 0}
    return {application: out}


def definitions(realm: Realm, applications: list[str]) -> dict[str, dict[str, tuple[str, ...]]]:
    """``{application: {name: actions}}`` for `applications` (for ``_has_privileges``)."""
    wanted = sorted(set(applications))
    if not wanted:
        return {}
    marks = ",".join("?" * len(wanted))
    with realm.store.read() as conn:
        rows = conn.execute(
            f"SELECT application, name, actions FROM application_privileges WHERE application IN ({marks})",  # noqa: S608, E501
            wanted,
        ).fetchall()
    out: dict[str, dict[str, tuple[str, ...]]] = {}
    for row in rows:
        out.setdefault(row["application"], {})[row["name"]] = tuple(json.loads(row["actions"]))
    return out


def _parse_put(body: Any) -> dict[tuple[str, str], tuple[list[str], dict[str, Any]]]:
    if not isinstance(body, Mapping) or not body:
        raise ValidationFailed("At least one application privilege must be provided")
    out = {}
    problems: list[str] = []
    for application, privileges in body.items():
        if not isinstance(privileges, Mapping):
            raise IllegalArgument(f"application [{application}] must map to an object")
        problem = application_name_problem(application)
        if problem:
            problems.append(problem)
        for name, definition in privileges.items():
            actions, metadata = _parse_one(application, name, definition, problems)
            out[(application, name)] = (actions, metadata)
    if problems:
        raise ValidationFailed(*problems)
    return out


def _parse_one(
    application: str, name: str, definition: Any, problems: list[str]
) -> tuple[list[str], dict[str, Any]]:
    where = f"privilege [{application}/{name}]"
    if not isinstance(definition, Mapping):
        raise IllegalArgument(f"{where} must be an object")
    for key in definition:
        if key not in _FIELDS:
            raise IllegalArgument(f"failed to parse {where}: unexpected field [{key}]")
    for key, expected in (("application", application), ("name", name)):
        given = definition.get(key)
        if given is not None and given != expected:
            raise IllegalArgument(
                f"{where}: the [{key}] in the body [{given}] does not match [{expected}]"
            )
    if _NAME.fullmatch(name) is None:
        problems.append(
            f"An application privilege name must match the pattern ^[a-z][a-zA-Z0-9_.-]*$ "
            f"(found [{name}])"
        )
    actions = definition.get("actions")
    if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
        raise IllegalArgument(f"{where}: [actions] must be an array of strings")
    if not actions:
        problems.append(f"Application privileges must have at least one action ({where})")
    for action in actions:
        if not any(ch in action for ch in "/:*"):
            problems.append(f"action [{action}] must contain one of [/ , * , :]")
    metadata = definition.get("metadata") or {}
    if not isinstance(metadata, Mapping):
        raise IllegalArgument(f"{where}: [metadata] must be an object")
    if any(str(k).startswith("_") for k in metadata):
        problems.append("metadata keys may not start with [_]")
    return list(dict.fromkeys(actions)), dict(metadata)

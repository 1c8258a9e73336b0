"""Role mappings (``/_security/role_mapping``): stored and returned as in Elasticsearch.

A mapping is ``{enabled, roles | role_templates, rules, metadata}``; ``rules`` is an
expression of ``any``, ``all``, ``field`` and ``except``. In Elasticsearch, role mappings are
read by the realms that take roles from outside (LDAP, Active Directory, PKI, SAML, OIDC, JWT,
Kerberos), never by the native and reserved realms. This node's only realms are those two, so
a stored mapping maps nobody here, exactly as on an Elasticsearch cluster whose realm chain is
native-only: the same answer, not a silently ignored one. Evaluating them belongs to the
external-realm work. At most `MAX_MAPPINGS` are kept.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from citadel.node.errors import IllegalArgument
from citadel.node.security.errors import ParseException, ValidationFailed
from citadel.node.security.names import name_rule, valid_name
from citadel.node.security.realm import Realm

MAX_MAPPINGS = 10_000
MAX_RULE_DEPTH = 32
_FIELDS = frozenset({"enabled", "roles", "role_templates", "rules", "metadata"})
_TEMPLATE_FIELDS = frozenset({"template", "format"})
_RULES = "[any, all, field, except]"


def put_role_mapping(realm: Realm, *, name: str, body: Any) -> bool:
    """Create or replace a mapping; True when it was created."""
    if not valid_name(name):
        raise ValidationFailed(f"Invalid role mapping name [{name}]. {name_rule('Names')}")
    mapping = normalize_mapping(body, name)
    with realm.store.write() as conn:
        exists = conn.execute("SELECT 1 FROM role_mappings WHERE name = ?", (name,)).fetchone()
        if exists is None:
            count = conn.execute("SELECT COUNT(*) FROM role_mappings").fetchone()[0]
            if count >= MAX_MAPPINGS:
                raise IllegalArgument(f"this node keeps at most [{MAX_MAPPINGS}] role mappings")
        conn.execute(
            "INSERT INTO role_mappings (name, body) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET body = excluded.body",
            (name, json.dumps(mapping)),
        )
    return exists is None


def get_role_mappings(realm: Realm, names: list[str] | None = None) -> dict[str, Any]:
    """Mappings by name (every one when `names` is None)."""
    with realm.store.read() as conn:
        rows = conn.execute("SELECT name, body FROM role_mappings ORDER BY name").fetchall()
    wanted = None if names is None else set(names)
    return {r["name"]: json.loads(r["body"]) for r in rows if wanted is None or r["name"] in wanted}


def delete_role_mapping(realm: Realm, *, name: str) -> bool:
    """Delete a mapping; False when there was none."""
    with realm.store.write() as conn:
        return conn.execute("DELETE FROM role_mappings WHERE name = ?", (name,)).rowcount > 0


def normalize_mapping(body: Any, name: str) -> dict[str, Any]:
    """A mapping validated, in the shape ``GET`` shows; a 400 naming the field otherwise."""
    what = f"failed to parse role-mapping [{name}]."
    if not isinstance(body, Mapping):
        raise ParseException(f"{what} expected an object")
    for key in body:
        if key not in _FIELDS:
            raise ParseException(f"{what} unexpected field [{key}]")
    problems = []
    enabled = body.get("enabled")
    if enabled is None:
        problems.append("role-mapping enabled is missing")
    elif not isinstance(enabled, bool):
        raise ParseException(f"{what} [enabled] must be a boolean")
    roles = body.get("roles")
    if roles is not None and (
        not isinstance(roles, list) or not all(isinstance(r, str) for r in roles)
    ):
        raise ParseException(f"{what} [roles] must be an array of strings")
    given_templates = _list(body.get("role_templates"), "role_templates", what)
    templates = [_template(t, what) for t in given_templates]
    if not roles and not templates:
        problems.append("role-mapping roles or role-templates are missing")
    if roles and templates:
        problems.append("role-mapping cannot have both roles and role-templates")
    if body.get("rules") is None:
        problems.append("role-mapping rules are missing")
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, Mapping):
        raise ParseException(f"{what} [metadata] must be an object")
    if any(str(k).startswith("_") for k in metadata):
        problems.append("metadata keys may not start with [_]")
    if problems:
        raise ValidationFailed(*problems)
    out: dict[str, Any] = {"enabled": enabled}
    if templates:
        out["role_templates"] = templates
    else:
        out["roles"] = list(roles or [])
    out["rules"] = _rule(body["rules"], what, 0)
    out["metadata"] = dict(metadata)
    return out


def _rule(rule: Any, what: str, depth: int) -> dict[str, Any]:
    if depth > MAX_RULE_DEPTH:
        raise ParseException(f"{what} [rules] are nested more than [{MAX_RULE_DEPTH}] deep")
    if not isinstance(rule, Mapping) or len(rule) != 1:
        raise ParseException(f"{what} a rule must be an object with exactly one of {_RULES}")
    ((kind, value),) = rule.items()
    if kind in ("any", "all"):
        return {kind: [_rule(r, what, depth + 1) for r in _list(value, kind, what)]}
    if kind == "except":
        return {kind: _rule(value, what, depth + 1)}
    if kind == "field":
        if not isinstance(value, Mapping) or len(value) != 1:
            raise ParseException(f"{what} a [field] rule names exactly one field")
        ((field, expected),) = value.items()
        values = expected if isinstance(expected, list) else [expected]
        if not all(v is None or isinstance(v, str | int | float | bool) for v in values):
            raise ParseException(
                f"{what} the [field] rule on [{field}] takes strings, numbers, booleans or null"
            )
        return {kind: {field: expected}}
    raise ParseException(f"{what} unknown rule type [{kind}]; expected one of {_RULES}")


def _template(entry: Any, what: str) -> dict[str, Any]:
    if not isinstance(entry, Mapping):
        raise ParseException(f"{what} a role template must be an object")
    for key in entry:
        if key not in _TEMPLATE_FIELDS:
            raise ParseException(f"{what} a role template has an unexpected field [{key}]")
    template = entry.get("template")
    if isinstance(template, str):
        template = {"source": template}
    if not isinstance(template, Mapping) or not isinstance(template.get("source"), str):
        raise ParseException(f"{what} a role template needs [template] with a [source] string")
    for key in template:
        if key not in ("source", "params", "lang", "options"):
            raise ParseException(
                f"{what} [template.{key}] is not supported by this node (inline sources only)"
            )
    fmt = entry.get("format", "string")
    if fmt not in ("string", "json"):
        raise ParseException(f"{what} a role template [format] is [string] or [json], not [{fmt}]")
    return {"template": json.dumps(dict(template), separators=(",", ":")), "format": fmt}


def _list(value: Any, key: str, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ParseException(f"{what} [{key}] must be an array")
    return value

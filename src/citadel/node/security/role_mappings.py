"""Role mappings (``/_security/role_mapping``): stored as in Elasticsearch, and applied.

A mapping is ``{enabled, roles | role_templates, rules, metadata}``; ``rules`` is an
expression of ``any``, ``all``, ``field`` and ``except``. As in Elasticsearch, mappings are
read by the realms that take users from outside (here the platform's ``jwt`` realm and the
customer's SAML and OIDC realms, through `mapped_roles`), never by the native and reserved
realms. A realm user whom no mapping gives a role holds no privilege at all (every request but
``_security/_authenticate`` is a 403). At most `MAX_MAPPINGS` are kept.

Evaluation (`evaluate`, pure) over a user's model: ``username``, ``dn``, ``groups`` (a list:
a field matches when any group does), ``realm.name`` and ``metadata.<key>``. A ``field``
rule's value (or any of its values, when a list) matches as Elasticsearch's ``FieldValue``:
a string ``/.../`` is a regular expression over the whole value (Python's ``re`` standing for
Lucene's, the common syntax being the same), a string with ``*`` or ``?`` a wildcard over the
whole value, any other string exact; numbers, booleans and null match exactly (null matches a
missing field). ``any`` needs one child (none: false), ``all`` every child (none: true),
``except`` negates its child. ``roles`` are granted as they are; each of ``role_templates`` is
mustache rendered as Elasticsearch renders it (`citadel.node.scripts.mustache`) over
``{username, dn, groups, metadata, realm: {name}}``: ``format: string`` gives one role name,
``format: json`` a JSON string or array of strings. A disabled mapping maps nobody.

The enabled mappings are compiled once and kept (`MappingCache`) until a put or a delete.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import structlog

from citadel.node.errors import IllegalArgument
from citadel.node.scripts.errors import ScriptException
from citadel.node.scripts.mustache import Template, compile_template, render
from citadel.node.security.errors import ParseException, ValidationFailed
from citadel.node.security.names import name_rule, valid_name
from citadel.node.store.connection import Store

if TYPE_CHECKING:
    from citadel.node.security.realm import Realm

log = structlog.get_logger(__name__)

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
    realm.role_mappings.invalidate()
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
        deleted = conn.execute("DELETE FROM role_mappings WHERE name = ?", (name,)).rowcount > 0
    realm.role_mappings.invalidate()
    return deleted


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


# -- evaluation -------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserData:
    """What a realm knows of a user, which mappings are evaluated against (Elasticsearch's
    ``UserRoleMapper.UserData``)."""

    username: str
    realm_name: str
    groups: tuple[str, ...] = ()
    dn: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    full_name: str | None = None
    email: str | None = None

    def field_values(self, name: str) -> list[Any]:
        """The values a ``field`` rule on `name` sees ([None] for a missing field)."""
        if name == "username":
            value: Any = self.username
        elif name == "dn":
            value = self.dn
        elif name == "groups":
            return list(self.groups) or [None]
        elif name == "realm.name":
            value = self.realm_name
        elif name.startswith("metadata."):
            value = self.metadata.get(name[len("metadata.") :])
        else:
            value = None
        if isinstance(value, list | tuple):
            return list(value) or [None]
        return [value]

    def template_model(self) -> dict[str, Any]:
        """What a role template is rendered with."""
        return {
            "username": self.username,
            "dn": self.dn,
            "groups": list(self.groups),
            "metadata": dict(self.metadata),
            "realm": {"name": self.realm_name},
        }


Rule = Callable[[UserData], bool]


@dataclass(frozen=True)
class CompiledMapping:
    """An enabled mapping, ready to evaluate."""

    name: str
    rule: Rule
    roles: tuple[str, ...] = ()
    templates: tuple[tuple[Template, str], ...] = ()  # (template, format)

    def roles_for(self, user: UserData) -> tuple[str, ...]:
        """The roles this mapping gives `user` (none when its rules do not match)."""
        if not self.rule(user):
            return ()
        if not self.templates:
            return self.roles
        out: list[str] = []
        for template, fmt in self.templates:
            out.extend(_rendered_roles(self.name, template, fmt, user))
        return tuple(out)


def compile_mapping(name: str, stored: Mapping[str, Any]) -> CompiledMapping | None:
    """A stored (normalized) mapping compiled; None when it is disabled."""
    if not stored.get("enabled"):
        return None
    templates = []
    for entry in stored.get("role_templates") or ():
        source = json.loads(entry["template"]).get("source", "")
        try:
            templates.append((compile_template(source), entry.get("format", "string")))
        except ScriptException:
            log.warning("node.role_mapping_template_invalid", mapping=name)
    return CompiledMapping(
        name,
        compile_rule(stored["rules"]),
        roles=tuple(stored.get("roles") or ()),
        templates=tuple(templates),
    )


def compile_rule(rule: Mapping[str, Any]) -> Rule:
    """A normalized rule expression as a predicate over `UserData`."""
    ((kind, value),) = rule.items()
    if kind == "any":
        children = [compile_rule(r) for r in value]
        return lambda user: any(child(user) for child in children)
    if kind == "all":
        children = [compile_rule(r) for r in value]
        return lambda user: all(child(user) for child in children)
    if kind == "except":
        child = compile_rule(value)
        return lambda user: not child(user)
    ((name, expected),) = value.items()
    matchers = [value_matcher(v) for v in (expected if isinstance(expected, list) else [expected])]
    return lambda user: any(m(v) for v in user.field_values(name) for m in matchers)


def evaluate(rule: Mapping[str, Any], user: UserData) -> bool:
    """Whether a normalized rule expression matches `user`."""
    return compile_rule(rule)(user)


def value_matcher(expected: Any) -> Callable[[Any], bool]:
    """Elasticsearch's ``FieldValue`` predicate for one expected value."""
    if isinstance(expected, str):
        pattern = string_pattern(expected)
        if pattern is None:
            return lambda actual: isinstance(actual, str) and actual == expected
        return lambda actual: isinstance(actual, str) and pattern.fullmatch(actual) is not None
    if isinstance(expected, bool) or expected is None:
        return lambda actual: actual is expected
    return lambda actual: (
        isinstance(actual, int | float) and not isinstance(actual, bool) and actual == expected
    )


def matches_name(patterns: tuple[str, ...] | list[str], name: str) -> bool:
    """Whether `name` matches one of `patterns` (exact, wildcards or ``/regex/``), as
    ``run_as`` and field rules match names."""
    for p in patterns:
        compiled = string_pattern(p)
        if (compiled is None and p == name) or (compiled and compiled.fullmatch(name)):
            return True
    return False


@lru_cache(maxsize=4096)
def string_pattern(expected: str) -> re.Pattern[str] | None:
    """The compiled pattern of a ``/regex/`` or wildcard string; None for an exact string (and
    a pattern that never matches for a regular expression that does not compile)."""
    if len(expected) >= 2 and expected.startswith("/") and expected.endswith("/"):
        try:
            return re.compile(expected[1:-1], re.DOTALL)
        except re.error:
            return re.compile(r"(?!)")
    if "*" in expected or "?" in expected:
        return re.compile(_wildcard(expected), re.DOTALL)
    return None


def _wildcard(pattern: str) -> str:
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "*" else "." if c == "?" else re.escape(c))
        i += 1
    return "".join(out)


def _rendered_roles(name: str, template: Template, fmt: str, user: UserData) -> list[str]:
    try:
        text = render(template, user.template_model())
    except ScriptException:
        log.warning("node.role_mapping_template_failed", mapping=name)
        return []
    if fmt != "json":
        return [text] if text else []
    try:
        value = json.loads(text)
    except ValueError:
        log.warning("node.role_mapping_template_not_json", mapping=name)
        return []
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str) and v]
    return []


class MappingCache:
    """The enabled mappings of one store, compiled once; dropped after a put or a delete."""

    def __init__(self) -> None:
        self._compiled: tuple[CompiledMapping, ...] | None = None
        self._generation = 0  # bumped by each invalidate: a read that raced one is not kept
        self._lock = threading.Lock()

    def compiled(self, store: Store) -> tuple[CompiledMapping, ...]:
        """The enabled mappings, compiled (read from the store the first time after a
        change)."""
        compiled = self._compiled
        if compiled is not None:
            return compiled
        with self._lock:
            generation = self._generation
        with store.read() as conn:
            rows = conn.execute("SELECT name, body FROM role_mappings ORDER BY name").fetchall()
        out = (compile_mapping(r["name"], json.loads(r["body"])) for r in rows)
        compiled = tuple(m for m in out if m is not None)
        with self._lock:
            if self._generation == generation:
                self._compiled = compiled
        return compiled

    def invalidate(self) -> None:
        """Forget the compiled mappings (the store changed)."""
        with self._lock:
            self._generation += 1
            self._compiled = None


def mapped_roles(realm: Realm, user: UserData) -> tuple[str, ...]:
    """The roles the enabled mappings give `user`, each once, in mapping-name order."""
    seen: dict[str, None] = {}
    for mapping in realm.role_mappings.compiled(realm.store):
        for role in mapping.roles_for(user):
            seen.setdefault(role, None)
    return tuple(seen)

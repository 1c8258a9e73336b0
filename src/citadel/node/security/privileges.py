"""Role descriptors, as Elasticsearch writes them, and what they grant. Pure: no I/O.

A role descriptor is ``{"cluster": [...], "indices": [{"names": [...], "privileges": [...]}],
"applications": [{"application", "privileges", "resources"}]}`` plus ``metadata``,
``description`` and ``transient_metadata`` (``index`` is accepted for ``indices``, as in
Elasticsearch). Every Elasticsearch privilege name is accepted (`vocabulary`); index names may
use the ``*`` and ``?`` wildcards, nothing else (no character classes or regular expressions).
A privilege is granted when a descriptor lists it or a privilege that includes it;
`granted_by_cluster`/`granted_by_index` name the privileges that would grant one, which is what
a 403 says.

An index entry may carry field-level security (``field_security: {grant, except}``, field
patterns with ``*`` and ``?``; ``except`` must be a subset of ``grant``, as Elasticsearch
checks) and document-level security (``query``: a query object or its JSON text, or
``{"template": {"source": ...}}`` rendered with the user's ``_user`` at search time); they are
kept on the `IndexGrant` and enforced by `citadel.node.security.document_security`. ``run_as``
(user names or patterns) is kept on the descriptor for the realm's run-as check.

Refused with a 400 naming the field, because this node would otherwise ignore them:
``remote_indices``/``remote_cluster`` (no remote clusters).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from citadel.node.errors import EsError
from citadel.node.search.dsl import parse_query
from citadel.node.security.vocabulary import (
    CLUSTER_INCLUDES,
    CLUSTER_PRIVILEGES,
    INDEX_INCLUDES,
    INDEX_PRIVILEGES,
    cluster_name,
    index_name,
    is_action_pattern,
)

__all__ = ["CLUSTER_PRIVILEGES", "INDEX_PRIVILEGES"]

_CLUSTER_IMPLIES = CLUSTER_INCLUDES
_INDEX_IMPLIES = INDEX_INCLUDES

_DESCRIPTOR_FIELDS = frozenset(
    {
        "cluster",
        "indices",
        "index",
        "applications",
        "run_as",
        "metadata",
        "transient_metadata",
        "description",
    }
)
_REMOTE_FIELDS = frozenset({"remote_indices", "remote_cluster"})
_INDEX_FIELDS = frozenset(
    {"names", "privileges", "allow_restricted_indices", "field_security", "query"}
)
_FIELD_SECURITY_FIELDS = frozenset({"grant", "except"})
_TEMPLATE_FIELDS = frozenset({"source", "params", "lang", "options"})
_APPLICATION_FIELDS = frozenset({"application", "privileges", "resources"})
_APPLICATION_PREFIX = re.compile(r"[a-z][A-Za-z0-9]*")
_APPLICATION_SUFFIX_BANNED = frozenset('\\/*?"<>|, ')
_PRIVILEGE_NAME = re.compile(r"[a-z][A-Za-z0-9_.-]*")


class InvalidDescriptor(ValueError):
    """A role descriptor with the wrong shape (Elasticsearch: ``parse_exception``)."""


class UnknownPrivilege(InvalidDescriptor):
    """A role descriptor naming a privilege that does not exist (``illegal_argument``)."""


class UnsupportedField(InvalidDescriptor):
    """A field Elasticsearch honours and this node would ignore (``illegal_argument``)."""


@dataclass(frozen=True)
class IndexGrant:
    """Index privileges on the indices whose names match any of `patterns`."""

    patterns: tuple[str, ...]
    privileges: frozenset[str]
    field_grant: tuple[str, ...] | None = None
    """Field-level security: the field patterns granted (None: every field)."""
    field_except: tuple[str, ...] = ()
    """Field patterns taken back out of `field_grant` (a subset of it)."""
    query: str | None = None
    """Document-level security: the query (JSON text, perhaps a template) documents must
    match to be seen through this grant (None: every document)."""

    @property
    def restricts(self) -> bool:
        """Whether this grant limits the fields or documents it gives access to."""
        return self.field_grant is not None or self.query is not None

    @cached_property
    def _regex(self) -> re.Pattern[str]:
        return re.compile("|".join(f"(?:{_wildcard(p)})" for p in self.patterns), re.DOTALL)

    def covers(self, index: str) -> bool:
        """Whether `index` matches one of the patterns (``*`` and ``?`` wildcards)."""
        return self._regex.fullmatch(index) is not None


@dataclass(frozen=True)
class ApplicationGrant:
    """Application privileges (names or action patterns) on `resources` of `application`
    (which may end in ``*``); only ``_has_privileges`` and ``_privileges`` read them, as in
    Elasticsearch, where applications enforce their own privileges."""

    application: str
    privileges: tuple[str, ...]
    resources: tuple[str, ...]


@dataclass(frozen=True)
class RoleDescriptor:
    """A parsed role: cluster privileges, index and application grants; `name` is the role's."""

    cluster: frozenset[str]
    indices: tuple[IndexGrant, ...]
    name: str = ""
    applications: tuple[ApplicationGrant, ...] = ()
    run_as: tuple[str, ...] = ()
    """The users (names or patterns, as the realm's run-as check reads them) this role may run
    as."""

    def allows_cluster(self, privilege: str) -> bool:
        """Whether this role grants the cluster privilege."""
        return any(privilege in _CLUSTER_IMPLIES.get(p, frozenset()) for p in self.cluster)

    def allows_index(self, privilege: str, index: str) -> bool:
        """Whether this role grants the index privilege on `index`."""
        return any(
            grant.covers(index)
            for grant in self.indices
            if any(privilege in _INDEX_IMPLIES.get(p, frozenset()) for p in grant.privileges)
        )


SUPERUSER = RoleDescriptor(
    frozenset({"all"}),
    (IndexGrant(("*",), frozenset({"all"})),),
    name="superuser",
    applications=(ApplicationGrant("*", ("*",), ("*",)),),
    run_as=("*",),  # Elasticsearch's superuser runs as anyone
)
BUILTIN_ROLES: dict[str, RoleDescriptor] = {
    "superuser": SUPERUSER,
    # Elasticsearch's `editor` and `viewer` (ReservedRolesStore): no cluster privilege, and
    # read-only on user data (`read` and `view_index_metadata`); the editor also writes the
    # annotations index its Kibana features keep. A Cloud deployment-editor maps to `editor`
    # (inventory 10.3: "read-only on user data indices").
    "editor": RoleDescriptor(
        frozenset(),
        (
            IndexGrant(("*",), frozenset({"read", "view_index_metadata"})),
            IndexGrant(
                ("observability-annotations",),
                frozenset({"read", "view_index_metadata", "write"}),
            ),
        ),
        name="editor",
    ),
    "viewer": RoleDescriptor(
        frozenset(),
        (IndexGrant(("*",), frozenset({"read", "view_index_metadata"})),),
        name="viewer",
    ),
}


def parse_descriptor(body: Any, name: str = "") -> RoleDescriptor:
    """Validate a role descriptor from JSON; `InvalidDescriptor` says what is wrong."""
    cluster, indices, applications = _parse(body)
    run_as = tuple(dict.fromkeys(_strings(body.get("run_as"), "run_as")))
    return RoleDescriptor(cluster, indices, name=name, applications=applications, run_as=run_as)


def normalize_descriptor(body: Any) -> dict[str, Any]:
    """The descriptor as stored and shown: validated, every field present, order kept."""
    _parse(body)
    out: dict[str, Any] = {
        "cluster": list(dict.fromkeys(body.get("cluster") or [])),
        "indices": [_normalized_entry(entry) for entry in _index_entries(body)],
        "applications": [
            {
                "application": entry["application"],
                "privileges": list(dict.fromkeys(entry["privileges"])),
                "resources": list(dict.fromkeys(entry["resources"])),
            }
            for entry in body.get("applications") or []
        ],
        "run_as": list(dict.fromkeys(body.get("run_as") or [])),
        "metadata": dict(body.get("metadata") or {}),
        "transient_metadata": {"enabled": True},
    }
    if body.get("description") is not None:
        out["description"] = body["description"]
    return out


def _normalized_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "names": _names(entry["names"]),
        "privileges": list(dict.fromkeys(entry["privileges"])),
    }
    security = entry.get("field_security")
    if security is not None:
        out["field_security"] = {"grant": list(dict.fromkeys(security["grant"]))}
        if security.get("except"):
            out["field_security"]["except"] = list(dict.fromkeys(security["except"]))
    if entry.get("query") is not None:
        out["query"] = _query_text(entry["query"])
    out["allow_restricted_indices"] = bool(entry.get("allow_restricted_indices", False))
    return out


def _rendered_grant(grant: IndexGrant) -> dict[str, Any]:
    out: dict[str, Any] = {"names": list(grant.patterns), "privileges": sorted(grant.privileges)}
    if grant.field_grant is not None:
        out["field_security"] = {"grant": list(grant.field_grant)}
        if grant.field_except:
            out["field_security"]["except"] = list(grant.field_except)
    if grant.query is not None:
        out["query"] = grant.query
    return out


def render_descriptor(descriptor: RoleDescriptor) -> dict[str, Any]:
    """A parsed descriptor back as JSON (built-in roles, an API key's ``limited_by``)."""
    return normalize_descriptor(
        {
            "cluster": sorted(descriptor.cluster),
            "indices": [_rendered_grant(g) for g in descriptor.indices],
            "run_as": list(descriptor.run_as),
            "applications": [
                {
                    "application": a.application,
                    "privileges": list(a.privileges),
                    "resources": list(a.resources),
                }
                for a in descriptor.applications
            ],
        }
    )


def allows_cluster(descriptors: Iterable[RoleDescriptor], privilege: str) -> bool:
    """Whether any descriptor grants the cluster privilege."""
    return any(d.allows_cluster(privilege) for d in descriptors)


def allows_index(descriptors: Iterable[RoleDescriptor], privilege: str, index: str) -> bool:
    """Whether any descriptor grants the index privilege on `index`."""
    return any(d.allows_index(privilege, index) for d in descriptors)


def granted_by_cluster(privilege: str) -> list[str]:
    """The cluster privileges that include `privilege`, narrowest first (for a 403)."""
    return _granting(_CLUSTER_IMPLIES, privilege)


def granted_by_index(privilege: str) -> list[str]:
    """The index privileges that include `privilege`, narrowest first (for a 403)."""
    return _granting(_INDEX_IMPLIES, privilege)


def unknown_cluster_privilege(name: str) -> str:
    """Why `name` is refused as a cluster privilege."""
    if is_action_pattern(name):
        return (
            f"cluster privilege [{name}] is an action pattern, which this node does not "
            "support; use a named privilege"
        )
    return (
        f"unknown cluster privilege [{name}]. a privilege must be either one of the "
        f"predefined cluster privilege names [{','.join(sorted(CLUSTER_PRIVILEGES))}] or a "
        "pattern over one of the available cluster actions"
    )


def unknown_index_privilege(name: str) -> str:
    """Why `name` is refused as an index privilege."""
    if is_action_pattern(name):
        return (
            f"index privilege [{name}] is an action pattern, which this node does not "
            "support; use a named privilege"
        )
    return (
        f"unknown index privilege [{name}]. a privilege must be either one of the "
        f"predefined fixed indices privileges [{','.join(sorted(INDEX_PRIVILEGES))}] or a "
        "pattern over one of the available index actions"
    )


def _granting(implies: Mapping[str, frozenset[str]], privilege: str) -> list[str]:
    names = [p for p, included in implies.items() if privilege in included]
    return sorted(names, key=lambda p: (len(implies[p]), p)) or [privilege, "all"]


def _parse(
    body: Any,
) -> tuple[frozenset[str], tuple[IndexGrant, ...], tuple[ApplicationGrant, ...]]:
    if not isinstance(body, Mapping):
        raise InvalidDescriptor("a role descriptor must be an object")
    for key in body:
        if key in _REMOTE_FIELDS:
            raise UnsupportedField(
                f"[{key}] is not supported by this node: it has no remote clusters"
            )
        if key not in _DESCRIPTOR_FIELDS:
            raise InvalidDescriptor(f"unexpected field [{key}]")
    if "index" in body and "indices" in body:
        raise InvalidDescriptor("[index] and [indices] are the same field; give one of them")
    cluster = []
    for given in _strings(body.get("cluster"), "cluster"):
        canonical = cluster_name(given)
        if canonical is None:
            raise UnknownPrivilege(unknown_cluster_privilege(given))
        cluster.append(canonical)
    if any(not name for name in _strings(body.get("run_as"), "run_as")):
        raise InvalidDescriptor("[run_as] must be an array of non-empty user names")
    for key in ("metadata", "transient_metadata"):
        value = body.get(key)
        if value is not None and not isinstance(value, Mapping):
            raise InvalidDescriptor(f"[{key}] must be an object")
    if any(str(k).startswith("_") for k in body.get("metadata") or {}):
        raise InvalidDescriptor("metadata keys may not start with [_]")
    if body.get("description") is not None and not isinstance(body["description"], str):
        raise InvalidDescriptor("[description] must be a string")
    grants = tuple(_grant(i, entry) for i, entry in enumerate(_index_entries(body)))
    applications = tuple(
        _application(i, entry)
        for i, entry in enumerate(_list(body.get("applications"), "applications"))
    )
    return frozenset(cluster), grants, applications


def _index_entries(body: Mapping[str, Any]) -> list[Any]:
    key = "index" if "index" in body else "indices"
    return _list(body.get(key), key)


def _grant(i: int, entry: Any) -> IndexGrant:
    where = f"[indices][{i}]"
    if not isinstance(entry, Mapping):
        raise InvalidDescriptor(f"{where} must be an object")
    for key in entry:
        if key not in _INDEX_FIELDS:
            raise InvalidDescriptor(f"{where} has an unexpected field [{key}]")
    if "names" not in entry:
        raise InvalidDescriptor(f"{where} is missing the required [names] field")
    names = _names(entry["names"], where)
    if "privileges" not in entry:
        raise InvalidDescriptor(f"{where} is missing the required [privileges] field")
    given = _strings(entry["privileges"], f"{where}.privileges")
    if not given:
        raise InvalidDescriptor(f"{where}.privileges cannot be an empty array")
    privileges = []
    for name in given:
        canonical = index_name(name)
        if canonical is None:
            raise UnknownPrivilege(unknown_index_privilege(name))
        privileges.append(canonical)
    restricted = entry.get("allow_restricted_indices", False)
    if not isinstance(restricted, bool):
        raise InvalidDescriptor(f"{where}.allow_restricted_indices must be a boolean")
    granted, excepted = _field_security(where, entry.get("field_security"))
    query = None if entry.get("query") is None else _query_text(entry["query"], where)
    return IndexGrant(tuple(names), frozenset(privileges), granted, excepted, query)


def _field_security(where: str, value: Any) -> tuple[tuple[str, ...] | None, tuple[str, ...]]:
    """(grant, except) of an entry's ``field_security``; (None, ()) when it has none."""
    if value is None:
        return None, ()
    if not isinstance(value, Mapping):
        raise InvalidDescriptor(f"{where}.field_security must be an object")
    for key in value:
        if key not in _FIELD_SECURITY_FIELDS:
            raise InvalidDescriptor(f"{where}.field_security has an unexpected field [{key}]")
    if value.get("grant") is None:
        raise InvalidDescriptor(f"{where}.field_security.grant must not be null")
    granted = tuple(dict.fromkeys(_strings(value["grant"], f"{where}.field_security.grant")))
    excepted = tuple(dict.fromkeys(_strings(value.get("except"), f"{where}.field_security.except")))
    if any(not p for p in (*granted, *excepted)):
        raise InvalidDescriptor(f"{where}.field_security: a field pattern may not be empty")
    if excepted and not all(covers_pattern(granted, p) for p in excepted):
        raise InvalidDescriptor(
            "Exceptions for field permissions must be a subset of the granted fields but "
            f"[{','.join(excepted)}] is not a subset of [{','.join(granted)}]"
        )
    return granted, excepted


def _query_text(value: Any, where: str = "") -> str:
    """A DLS query as the JSON text it is stored as: an object (or its text) that parses as
    a query, or a ``template`` whose ``source`` is rendered per user at search time."""
    if isinstance(value, str):
        text = value
        try:
            body = json.loads(text)
        except ValueError:
            raise InvalidDescriptor(f"{where}.query is not valid JSON") from None
    elif isinstance(value, Mapping):
        body = value
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    else:
        raise InvalidDescriptor(f"{where}.query must be an object or a string")
    if not isinstance(body, Mapping):
        raise InvalidDescriptor(f"{where}.query must be an object")
    if set(body) == {"template"}:
        _check_template(where, body["template"])
        return text
    try:
        parse_query(body)
    except EsError as exc:
        raise InvalidDescriptor(f"{where}.query: {exc}") from None
    return text


def _check_template(where: str, template: Any) -> None:
    if not isinstance(template, Mapping):
        raise InvalidDescriptor(f"{where}.query.template must be an object")
    for key in template:
        if key == "id":
            raise UnsupportedField(
                f"{where}.query.template.id is not supported by this node: give the template's "
                "[source] inline"
            )
        if key not in _TEMPLATE_FIELDS:
            raise InvalidDescriptor(f"{where}.query.template has an unexpected field [{key}]")
    source = template.get("source")
    if not isinstance(source, str | Mapping):
        raise InvalidDescriptor(f"{where}.query.template.source must be an object or a string")
    if template.get("params") is not None and not isinstance(template["params"], Mapping):
        raise InvalidDescriptor(f"{where}.query.template.params must be an object")
    if template.get("lang", "mustache") != "mustache":
        raise InvalidDescriptor(f"{where}.query.template.lang must be [mustache]")


def _application(i: int, entry: Any) -> ApplicationGrant:
    where = f"[applications][{i}]"
    if not isinstance(entry, Mapping):
        raise InvalidDescriptor(f"{where} must be an object")
    for key in entry:
        if key not in _APPLICATION_FIELDS:
            raise InvalidDescriptor(f"{where} has an unexpected field [{key}]")
    application = entry.get("application")
    if not isinstance(application, str) or not application:
        raise InvalidDescriptor(f"{where} is missing the required [application] field")
    problem = application_name_problem(application, wildcard=True)
    if problem:
        raise InvalidDescriptor(f"{where}.application: {problem}")
    privileges = _strings(entry.get("privileges"), f"{where}.privileges")
    if not privileges:
        raise InvalidDescriptor(f"{where}.privileges cannot be an empty array")
    for name in privileges:
        if not (_PRIVILEGE_NAME.fullmatch(name) or is_application_action(name)):
            raise InvalidDescriptor(
                f"{where}.privileges: [{name}] is neither a privilege name (a lower case "
                "letter, then letters, digits, [_], [.] or [-]) nor an action (holding [/], "
                "[:] or [*])"
            )
    resources = _strings(entry.get("resources"), f"{where}.resources")
    if not resources or any(not r for r in resources):
        raise InvalidDescriptor(f"{where}.resources must be a non-empty array of non-empty names")
    return ApplicationGrant(application, tuple(privileges), tuple(resources))


def application_name_problem(name: str, *, wildcard: bool = False) -> str | None:
    """Why `name` is not an application name, as Elasticsearch checks it (a prefix of a lower
    case letter and two or more letters or digits, then optionally [-] or [_] and a suffix
    without whitespace or ``\\/*?"<>|,``); `wildcard` allows ``*`` (roles, not privileges)."""
    if wildcard and name == "*":
        return None
    if wildcard and name.endswith("*") and "*" not in name[:-1]:
        stem = name[:-1]
        prefix = re.split(r"[-_]", stem, maxsplit=1)[0]
        if stem and _APPLICATION_PREFIX.fullmatch(prefix) and not _banned(stem):
            return None
    parts = re.split(r"([-_])", name, maxsplit=1)
    prefix, suffix = parts[0], "".join(parts[1:])[1:]
    if len(prefix) < 3 or _APPLICATION_PREFIX.fullmatch(prefix) is None:
        return (
            f"An application name prefix must match the pattern ^[a-z][A-Za-z0-9]*$ and be at "
            f"least 3 characters long (but was [{name}])"
        )
    if _banned(suffix):
        return (
            f"An application name suffix may not contain any of the characters "
            f"'\\/*?\"<>|, ' nor whitespace (but was [{name}])"
        )
    return None


def _banned(text: str) -> bool:
    return any(ch in _APPLICATION_SUFFIX_BANNED or ch.isspace() for ch in text)


def is_application_action(name: str) -> bool:
    """Whether an application privilege entry is an action pattern rather than a name."""
    return any(ch in name for ch in "/:*")


def _names(value: Any, where: str = "") -> list[str]:
    names = [value] if isinstance(value, str) else _strings(value, f"{where}.names")
    if not names or any(not n for n in names):
        raise InvalidDescriptor(f"{where}.names must be a non-empty array of non-empty names")
    return list(dict.fromkeys(names))


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidDescriptor(f"[{what}] must be an array")
    return value


def _strings(value: Any, what: str) -> list[str]:
    items = _list(value, what)
    if not all(isinstance(item, str) for item in items):
        raise InvalidDescriptor(f"[{what}] must be an array of strings")
    return items


def _wildcard(pattern: str) -> str:
    return "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)


def patterns_granting(descriptors: Iterable[RoleDescriptor], privilege: str) -> list[str]:
    """Every index pattern on which some descriptor grants the index privilege."""
    return [
        pattern
        for descriptor in descriptors
        for grant in descriptor.indices
        if any(privilege in _INDEX_IMPLIES.get(p, frozenset()) for p in grant.privileges)
        for pattern in grant.patterns
    ]


def covers_pattern(patterns: Iterable[str], requested: str) -> bool:
    """Whether every index name `requested` can match (it may use ``*`` and ``?``) matches one
    of `patterns`: language inclusion of globs, decided on the product of their automata."""
    grants = tuple(dict.fromkeys(patterns))
    if not grants:
        return False
    literals = {ch for p in (requested, *grants) for ch in p if ch not in "*?"}
    other = next(chr(c) for c in range(0x100, 0x10FFFF) if chr(c) not in literals)
    alphabet = (*sorted(literals), other)
    start = (_closure(requested, {0}), tuple(_closure(g, {0}) for g in grants))
    seen, todo = {start}, [start]
    while todo:
        mine, theirs = todo.pop()
        if len(requested) in mine and not any(
            len(g) in s for g, s in zip(grants, theirs, strict=True)
        ):
            return False
        for ch in alphabet:
            after = _step(requested, mine, ch)
            if not after:
                continue
            state = (after, tuple(_step(g, s, ch) for g, s in zip(grants, theirs, strict=True)))
            if state not in seen:
                seen.add(state)
                todo.append(state)
    return True


def _closure(pattern: str, positions: Iterable[int]) -> frozenset[int]:
    out = set()
    for pos in positions:
        out.add(pos)
        while pos < len(pattern) and pattern[pos] == "*":
            pos += 1
            out.add(pos)
    return frozenset(out)


def _step(pattern: str, positions: frozenset[int], ch: str) -> frozenset[int]:
    nxt = set()
    for pos in positions:
        if pos == len(pattern):
            continue
        symbol = pattern[pos]
        if symbol == "*":
            nxt.add(pos)
        elif symbol in ("?", ch):
            nxt.add(pos + 1)
    return _closure(pattern, nxt)

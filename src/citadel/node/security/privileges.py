"""Privileges and role descriptors, as Elasticsearch names them. Pure: no I/O.

A role descriptor is ``{"cluster": [...], "indices": [{"names": [...], "privileges": [...]}]}``
(plus ``metadata``, ``description`` and the always-empty ``applications``/``run_as``). Index
names in descriptors may use the ``*`` and ``?`` wildcards, nothing else (no character classes).
A privilege is granted when a descriptor lists it or a privilege that includes it (``all``
includes everything); `granted_by_cluster`/`granted_by_index` name the privileges that would
grant one, which is what a 403 says.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

CLUSTER_PRIVILEGES = frozenset(
    {
        "all",
        "monitor",
        "manage",
        "manage_security",
        "read_security",
        "manage_api_key",
        "manage_own_api_key",
    }
)
INDEX_PRIVILEGES = frozenset(
    {
        "all",
        "read",
        "write",
        "create_index",
        "delete_index",
        "manage",
        "monitor",
        "maintenance",
        "index",
        "create",
        "create_doc",
        "delete",
        "view_index_metadata",
    }
)

_CLUSTER_IMPLIES: dict[str, frozenset[str]] = {
    "all": CLUSTER_PRIVILEGES,
    "manage": frozenset({"manage", "monitor"}),
    "manage_security": frozenset(
        {"manage_security", "read_security", "manage_api_key", "manage_own_api_key"}
    ),
    "manage_api_key": frozenset({"manage_api_key", "manage_own_api_key"}),
    "manage_own_api_key": frozenset({"manage_own_api_key"}),
    "read_security": frozenset({"read_security"}),
    "monitor": frozenset({"monitor"}),
}
_INDEX_IMPLIES: dict[str, frozenset[str]] = {
    "all": INDEX_PRIVILEGES,
    "manage": frozenset(
        {"manage", "create_index", "delete_index", "monitor", "maintenance", "view_index_metadata"}
    ),
    "write": frozenset({"write", "index", "create", "create_doc", "delete"}),
    "read": frozenset({"read"}),
    "create_index": frozenset({"create_index"}),
    "delete_index": frozenset({"delete_index"}),
    "monitor": frozenset({"monitor"}),
    "maintenance": frozenset({"maintenance"}),
    "index": frozenset({"index", "create", "create_doc"}),
    "create": frozenset({"create", "create_doc"}),
    "create_doc": frozenset({"create_doc"}),
    "delete": frozenset({"delete"}),
    "view_index_metadata": frozenset({"view_index_metadata"}),
}

_DESCRIPTOR_FIELDS = frozenset(
    {
        "cluster",
        "indices",
        "applications",
        "run_as",
        "metadata",
        "transient_metadata",
        "description",
    }
)
_INDEX_FIELDS = frozenset({"names", "privileges", "allow_restricted_indices"})
_UNSUPPORTED_INDEX_FIELDS = frozenset({"field_security", "query"})


class InvalidDescriptor(ValueError):
    """A role descriptor with the wrong shape (Elasticsearch: ``parse_exception``)."""


class UnknownPrivilege(InvalidDescriptor):
    """A role descriptor naming a privilege that does not exist (``illegal_argument``)."""


@dataclass(frozen=True)
class IndexGrant:
    """Index privileges on the indices whose names match any of `patterns`."""

    patterns: tuple[str, ...]
    privileges: frozenset[str]

    @cached_property
    def _regex(self) -> re.Pattern[str]:
        return re.compile("|".join(f"(?:{_wildcard(p)})" for p in self.patterns), re.DOTALL)

    def covers(self, index: str) -> bool:
        """Whether `index` matches one of the patterns (``*`` and ``?`` wildcards)."""
        return self._regex.fullmatch(index) is not None


@dataclass(frozen=True)
class RoleDescriptor:
    """A parsed role: cluster privileges and index grants; `name` is the role's, if any."""

    cluster: frozenset[str]
    indices: tuple[IndexGrant, ...]
    name: str = ""

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
    frozenset({"all"}), (IndexGrant(("*",), frozenset({"all"})),), name="superuser"
)
BUILTIN_ROLES: dict[str, RoleDescriptor] = {
    "superuser": SUPERUSER,
    "editor": RoleDescriptor(
        frozenset({"monitor"}),
        (IndexGrant(("*",), frozenset({"read", "write", "manage"})),),
        name="editor",
    ),
    "viewer": RoleDescriptor(
        frozenset({"monitor"}), (IndexGrant(("*",), frozenset({"read"})),), name="viewer"
    ),
}


def parse_descriptor(body: Any, name: str = "") -> RoleDescriptor:
    """Validate a role descriptor from JSON; `InvalidDescriptor` says what is wrong."""
    return RoleDescriptor(*_parse(body), name=name)


def normalize_descriptor(body: Any) -> dict[str, Any]:
    """The descriptor as stored and shown: validated, every field present, order kept."""
    _parse(body)
    out: dict[str, Any] = {
        "cluster": list(dict.fromkeys(body.get("cluster") or [])),
        "indices": [
            {
                "names": _names(entry["names"]),
                "privileges": list(dict.fromkeys(entry["privileges"])),
                "allow_restricted_indices": bool(entry.get("allow_restricted_indices", False)),
            }
            for entry in body.get("indices") or []
        ],
        "applications": [],
        "run_as": [],
        "metadata": dict(body.get("metadata") or {}),
        "transient_metadata": {"enabled": True},
    }
    if body.get("description") is not None:
        out["description"] = body["description"]
    return out


def render_descriptor(descriptor: RoleDescriptor) -> dict[str, Any]:
    """A parsed descriptor back as JSON (built-in roles, an API key's ``limited_by``)."""
    return normalize_descriptor(
        {
            "cluster": sorted(descriptor.cluster),
            "indices": [
                {"names": list(g.patterns), "privileges": sorted(g.privileges)}
                for g in descriptor.indices
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


def _granting(implies: Mapping[str, frozenset[str]], privilege: str) -> list[str]:
    names = [p for p, included in implies.items() if privilege in included]
    return sorted(names, key=lambda p: (len(implies[p]), p)) or [privilege, "all"]


def _parse(body: Any) -> tuple[frozenset[str], tuple[IndexGrant, ...]]:
    if not isinstance(body, Mapping):
        raise InvalidDescriptor("a role descriptor must be an object")
    for key in body:
        if key not in _DESCRIPTOR_FIELDS:
            raise InvalidDescriptor(f"unexpected field [{key}]")
    cluster = _strings(body.get("cluster"), "cluster")
    unknown = [c for c in cluster if c not in CLUSTER_PRIVILEGES]
    if unknown:
        raise UnknownPrivilege(
            f"unknown cluster privilege [{unknown[0]}]. a privilege must be one of "
            f"[{', '.join(sorted(CLUSTER_PRIVILEGES))}]"
        )
    for key in ("applications", "run_as"):
        if _list(body.get(key), key):
            raise InvalidDescriptor(f"[{key}] is not supported by this node and must be empty")
    for key in ("metadata", "transient_metadata"):
        value = body.get(key)
        if value is not None and not isinstance(value, Mapping):
            raise InvalidDescriptor(f"[{key}] must be an object")
    if any(str(k).startswith("_") for k in body.get("metadata") or {}):
        raise InvalidDescriptor("metadata keys may not start with [_]")
    if body.get("description") is not None and not isinstance(body["description"], str):
        raise InvalidDescriptor("[description] must be a string")
    grants = tuple(
        _grant(i, entry) for i, entry in enumerate(_list(body.get("indices"), "indices"))
    )
    return frozenset(cluster), grants


def _grant(i: int, entry: Any) -> IndexGrant:
    where = f"[indices][{i}]"
    if not isinstance(entry, Mapping):
        raise InvalidDescriptor(f"{where} must be an object")
    for key in entry:
        if key in _UNSUPPORTED_INDEX_FIELDS:
            raise InvalidDescriptor(f"{where}.{key} is not supported by this node")
        if key not in _INDEX_FIELDS:
            raise InvalidDescriptor(f"{where} has an unexpected field [{key}]")
    if "names" not in entry:
        raise InvalidDescriptor(f"{where} is missing the required [names] field")
    names = _names(entry["names"], where)
    if "privileges" not in entry:
        raise InvalidDescriptor(f"{where} is missing the required [privileges] field")
    privileges = _strings(entry["privileges"], f"{where}.privileges")
    if not privileges:
        raise InvalidDescriptor(f"{where}.privileges cannot be an empty array")
    unknown = [p for p in privileges if p not in INDEX_PRIVILEGES]
    if unknown:
        raise UnknownPrivilege(
            f"unknown index privilege [{unknown[0]}]. a privilege must be one of "
            f"[{', '.join(sorted(INDEX_PRIVILEGES))}]"
        )
    restricted = entry.get("allow_restricted_indices", False)
    if not isinstance(restricted, bool):
        raise InvalidDescriptor(f"{where}.allow_restricted_indices must be a boolean")
    return IndexGrant(tuple(names), frozenset(privileges))


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

"""Privileges and role descriptors, as Elasticsearch names them. Pure: no I/O.

A role descriptor is ``{"cluster": [...], "indices": [{"names": [...], "privileges": [...]}]}``.
Index names in descriptors may use ``*`` and ``?`` wildcards. A privilege is granted when a
descriptor lists it or a privilege that includes it (``all`` includes everything).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

CLUSTER_PRIVILEGES = frozenset({"all", "monitor", "manage", "manage_security", "manage_api_key"})
INDEX_PRIVILEGES = frozenset(
    {
        "all",
        "read",
        "write",
        "create_index",
        "delete_index",
        "manage",
        "monitor",
        "index",
        "create",
        "delete",
        "view_index_metadata",
    }
)

_CLUSTER_IMPLIES: dict[str, frozenset[str]] = {
    "all": CLUSTER_PRIVILEGES,
    "manage": frozenset({"manage", "monitor"}),
    "manage_security": frozenset({"manage_security", "manage_api_key"}),
    "manage_api_key": frozenset({"manage_api_key"}),
    "monitor": frozenset({"monitor"}),
}
_INDEX_IMPLIES: dict[str, frozenset[str]] = {
    "all": INDEX_PRIVILEGES,
    "manage": frozenset(
        {"manage", "create_index", "delete_index", "monitor", "view_index_metadata"}
    ),
    "write": frozenset({"write", "index", "create", "delete"}),
    "read": frozenset({"read"}),
    "create_index": frozenset({"create_index"}),
    "delete_index": frozenset({"delete_index"}),
    "monitor": frozenset({"monitor"}),
    "index": frozenset({"index", "create"}),
    "create": frozenset({"create"}),
    "delete": frozenset({"delete"}),
    "view_index_metadata": frozenset({"view_index_metadata"}),
}


class InvalidDescriptor(ValueError):
    """A role descriptor that names unknown privileges or has the wrong shape."""


@dataclass(frozen=True)
class IndexGrant:
    patterns: tuple[str, ...]
    privileges: frozenset[str]


@dataclass(frozen=True)
class RoleDescriptor:
    """A parsed role: cluster privileges and index grants."""

    cluster: frozenset[str]
    indices: tuple[IndexGrant, ...]

    def allows_cluster(self, privilege: str) -> bool:
        return any(privilege in _CLUSTER_IMPLIES.get(p, frozenset()) for p in self.cluster)

    def allows_index(self, privilege: str, index: str) -> bool:
        for grant in self.indices:
            if any(privilege in _INDEX_IMPLIES.get(p, frozenset()) for p in grant.privileges):
                if any(fnmatch.fnmatchcase(index, pattern) for pattern in grant.patterns):
                    return True
        return False


SUPERUSER = RoleDescriptor(frozenset({"all"}), (IndexGrant(("*",), frozenset({"all"})),))
BUILTIN_ROLES: dict[str, RoleDescriptor] = {
    "superuser": SUPERUSER,
    "editor": RoleDescriptor(
        frozenset({"monitor"}), (IndexGrant(("*",), frozenset({"read", "write", "manage"})),)
    ),
    "viewer": RoleDescriptor(frozenset({"monitor"}), (IndexGrant(("*",), frozenset({"read"})),)),
}


def parse_descriptor(body: Mapping[str, Any]) -> RoleDescriptor:
    """Validate a role descriptor from JSON."""
    if not isinstance(body, Mapping):
        raise InvalidDescriptor("a role descriptor is an object")
    cluster = body.get("cluster", [])
    if not isinstance(cluster, list) or not all(isinstance(c, str) for c in cluster):
        raise InvalidDescriptor("[cluster] must be an array of privilege names")
    unknown = set(cluster) - CLUSTER_PRIVILEGES
    if unknown:
        raise InvalidDescriptor(f"unknown cluster privilege [{sorted(unknown)[0]}]")
    grants = []
    for i, entry in enumerate(body.get("indices", [])):
        if not isinstance(entry, Mapping):
            raise InvalidDescriptor(f"[indices][{i}] must be an object")
        names, privs = entry.get("names"), entry.get("privileges")
        if isinstance(names, str):
            names = [names]
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise InvalidDescriptor(f"[indices][{i}].names must be a non-empty array")
        if not isinstance(privs, list) or not privs or not all(isinstance(p, str) for p in privs):
            raise InvalidDescriptor(f"[indices][{i}].privileges must be a non-empty array")
        unknown = set(privs) - INDEX_PRIVILEGES
        if unknown:
            raise InvalidDescriptor(f"unknown index privilege [{sorted(unknown)[0]}]")
        grants.append(IndexGrant(tuple(names), frozenset(privs)))
    return RoleDescriptor(frozenset(cluster), tuple(grants))


def allows_cluster(descriptors: Iterable[RoleDescriptor], privilege: str) -> bool:
    """Whether any descriptor grants the cluster privilege."""
    return any(d.allows_cluster(privilege) for d in descriptors)


def allows_index(descriptors: Iterable[RoleDescriptor], privilege: str, index: str) -> bool:
    """Whether any descriptor grants the index privilege on `index`."""
    return any(d.allows_index(privilege, index) for d in descriptors)

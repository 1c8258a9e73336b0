"""What a caller may do, as ``_has_privileges`` and ``_privileges`` report it. Pure: no I/O.

``_has_privileges`` answers for the caller only (naming anyone else is Elasticsearch's 400).
An index name asked about may hold ``*`` and ``?``: it is granted only when every name it can
match is covered by the patterns granting the privilege (glob inclusion, not a match of the two
strings). An API key is checked against its own descriptors and its ``limited_by`` both.

Application privileges, as in Elasticsearch: a role's ``applications`` entries grant privilege
names (resolved to their actions through the stored definitions, ``PUT /_security/privilege``)
or action patterns on resource patterns; a privilege asked about is granted on a resource when
every action it stands for is covered by the actions granted on that resource by entries whose
application matches. A name with no stored definition stands for no action and is ``false``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from citadel.node.errors import IllegalArgument
from citadel.node.security.errors import ParseException, ValidationFailed
from citadel.node.security.privileges import (
    ApplicationGrant,
    RoleDescriptor,
    covers_pattern,
    is_application_action,
    patterns_granting,
    unknown_cluster_privilege,
    unknown_index_privilege,
)
from citadel.node.security.realm import Identity
from citadel.node.security.vocabulary import cluster_name, index_name

API_KEY_WITH_ROLES = (
    "Cannot retrieve privileges for API keys with assigned role descriptors. Please use the Get "
    "API key information API https://ela.st/es-api-get-api-key"
)


@dataclass(frozen=True)
class IndexCheck:
    names: tuple[str, ...]
    privileges: tuple[str, ...]


@dataclass(frozen=True)
class ApplicationCheck:
    application: str
    privileges: tuple[str, ...]
    resources: tuple[str, ...]


@dataclass(frozen=True)
class PrivilegesCheck:
    """A parsed ``_has_privileges`` body."""

    cluster: tuple[str, ...] = ()
    index: tuple[IndexCheck, ...] = ()
    application: tuple[ApplicationCheck, ...] = ()


def parse_check(body: Any, username: str) -> PrivilegesCheck:
    """The body of ``_has_privileges``; a 400 naming the field otherwise."""
    what = f"failed to parse privileges check [{username}/has_privileges]."
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise ParseException(f"{what} expected an object")
    for key in body:
        if key not in ("cluster", "index", "application"):
            raise ParseException(f"{what} unexpected field [{key}]")
    cluster = _strings(body.get("cluster"), "cluster", what)
    index = tuple(
        IndexCheck(
            names=tuple(
                _names(
                    _entry(
                        e, i, "index", ("names", "privileges", "allow_restricted_indices"), what
                    ),
                    what,
                    i,
                )
            ),
            privileges=tuple(_strings(e.get("privileges"), f"index][{i}][privileges", what)),
        )
        for i, e in enumerate(_list(body.get("index"), "index", what))
    )
    application = tuple(
        ApplicationCheck(
            application=_string(
                _entry(e, i, "application", ("application", "privileges", "resources"), what).get(
                    "application"
                ),
                f"application][{i}][application",
                what,
            ),
            privileges=tuple(_strings(e.get("privileges"), f"application][{i}][privileges", what)),
            resources=tuple(_strings(e.get("resources"), f"application][{i}][resources", what)),
        )
        for i, e in enumerate(_list(body.get("application"), "application", what))
    )
    problems = []
    if not cluster and not index and not application:
        problems.append("must specify at least one privilege")
    for i, check in enumerate(index):
        if not check.names:
            problems.append(f"[index][{i}] indices required")
        if not check.privileges:
            problems.append(f"[index][{i}] privileges required")
    for i, app in enumerate(application):
        if not app.privileges:
            problems.append(f"[application][{i}] privileges required")
        if not app.resources:
            problems.append(f"[application][{i}] resources required")
    if problems:
        raise ValidationFailed(*problems)
    unknown = [p for p in cluster if cluster_name(p) is None]
    if unknown:
        raise IllegalArgument(unknown_cluster_privilege(unknown[0]))
    unknown = [p for c in index for p in c.privileges if index_name(p) is None]
    if unknown:
        raise IllegalArgument(unknown_index_privilege(unknown[0]))
    return PrivilegesCheck(tuple(cluster), index, application)


#: Stored application privileges: application -> privilege name -> its actions.
Definitions = Mapping[str, Mapping[str, tuple[str, ...]]]


def has_privileges(
    identity: Identity, check: PrivilegesCheck, definitions: Definitions | None = None
) -> dict[str, Any]:
    """The body of ``_has_privileges`` for `identity` (`definitions`: the stored application
    privileges of the applications asked about)."""
    definitions = definitions or {}
    cluster = {p: identity.allows_cluster(cluster_name(p) or p) for p in check.cluster}
    index: dict[str, dict[str, bool]] = {}
    for entry in check.index:
        for name in entry.names:
            answers = index.setdefault(name, {})
            for privilege in entry.privileges:
                answers[privilege] = _covers(identity, index_name(privilege) or privilege, name)
    application: dict[str, dict[str, dict[str, bool]]] = {}
    for app in check.application:
        resources = application.setdefault(app.application, {})
        for resource in app.resources:
            answers = resources.setdefault(resource, {})
            for privilege in app.privileges:
                answers[privilege] = _app_allows(
                    identity, app.application, privilege, resource, definitions
                )
    everything = [
        *cluster.values(),
        *(v for answers in index.values() for v in answers.values()),
        *(v for res in application.values() for answers in res.values() for v in answers.values()),
    ]
    return {
        "username": identity.username,
        "has_all_requested": all(everything),
        "cluster": cluster,
        "index": index,
        "application": application,
    }


def user_privileges(identity: Identity) -> dict[str, Any]:
    """The body of ``GET /_security/user/_privileges``: the caller's effective grants."""
    if identity.is_api_key and identity.descriptors != identity.limited_by:
        raise IllegalArgument(API_KEY_WITH_ROLES)
    return {
        "cluster": sorted({p for d in identity.descriptors for p in d.cluster}),
        "global": [],
        "indices": _index_groups(identity.descriptors),
        "applications": _application_entries(identity.descriptors),
        "run_as": [],
    }


def _covers(identity: Identity, privilege: str, name: str) -> bool:
    def within(descriptors: Iterable[RoleDescriptor]) -> bool:
        return covers_pattern(patterns_granting(descriptors, privilege), name)

    return within(identity.descriptors) and (
        identity.limited_by is None or within(identity.limited_by)
    )


def _app_allows(
    identity: Identity, application: str, privilege: str, resource: str, definitions: Definitions
) -> bool:
    wanted = _actions(application, privilege, definitions)
    if not wanted:
        return False

    def within(descriptors: Iterable[RoleDescriptor]) -> bool:
        granted = [
            action
            for descriptor in descriptors
            for grant in descriptor.applications
            if _app_matches(grant, application) and covers_pattern(grant.resources, resource)
            for name in grant.privileges
            for action in _actions(application, name, definitions)
        ]
        return all(covers_pattern(granted, action) for action in wanted)

    return within(identity.descriptors) and (
        identity.limited_by is None or within(identity.limited_by)
    )


def _actions(application: str, privilege: str, definitions: Definitions) -> tuple[str, ...]:
    """The actions a privilege name or action pattern stands for in `application`."""
    if is_application_action(privilege):
        return (privilege,)
    return tuple(definitions.get(application, {}).get(privilege, ()))


def _app_matches(grant: ApplicationGrant, application: str) -> bool:
    return covers_pattern([grant.application], application)


def _application_entries(descriptors: Iterable[RoleDescriptor]) -> list[dict[str, Any]]:
    entries = {
        (grant.application, grant.privileges, grant.resources): None
        for descriptor in descriptors
        for grant in descriptor.applications
    }
    return [
        {"application": app, "privileges": list(privileges), "resources": list(resources)}
        for app, privileges, resources in entries
    ]


def _index_groups(descriptors: Iterable[RoleDescriptor]) -> list[dict[str, Any]]:
    """Grants on the same set of names merged, as Elasticsearch builds a role's groups."""
    groups: dict[frozenset[str], tuple[list[str], set[str]]] = {}
    for descriptor in descriptors:
        for grant in descriptor.indices:
            _, privileges = groups.setdefault(
                frozenset(grant.patterns), (list(grant.patterns), set())
            )
            privileges.update(grant.privileges)
    return [
        {"names": names, "privileges": sorted(privileges), "allow_restricted_indices": False}
        for names, privileges in groups.values()
    ]


def _list(value: Any, what: str, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ParseException(f"{where} [{what}] must be an array")
    return value


def _strings(value: Any, what: str, where: str) -> list[str]:
    items = _list(value, what, where)
    if not all(isinstance(v, str) for v in items):
        raise ParseException(f"{where} [{what}] must be an array of strings")
    return items


def _string(value: Any, what: str, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ParseException(f"{where} [{what}] must be a non-empty string")
    return value


def _entry(
    entry: Any, i: int, what: str, allowed: tuple[str, ...], where: str
) -> Mapping[str, Any]:
    if not isinstance(entry, dict):
        raise ParseException(f"{where} [{what}][{i}] must be an object")
    for key in entry:
        if key not in allowed:
            raise ParseException(f"{where} [{what}][{i}] has an unexpected field [{key}]")
    restricted = entry.get("allow_restricted_indices", False)
    if not isinstance(restricted, bool):
        raise ParseException(f"{where} [{what}][{i}][allow_restricted_indices] must be a boolean")
    return entry


def _names(entry: Mapping[str, Any], where: str, i: int) -> list[str]:
    value = entry.get("names")
    names = [value] if isinstance(value, str) else _strings(value, f"index][{i}][names", where)
    if any(not n for n in names):
        raise ParseException(f"{where} [index][{i}][names] must not hold an empty name")
    return list(dict.fromkeys(names))

"""Role assignments between their three forms: request JSON, stored JSON, and `Grant`.

The request form is the Cloud API's ``RoleAssignments`` object. Validation names the field
with its full path (``body.role_assignments.deployment[0].deployment_ids``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field

from citadel.authz.decide import Grant
from citadel.authz.roles import RoleId, ScopeKind
from citadel.errors import BadRequest
from citadel.kit.ids import is_id
from citadel.kit.schema import StrictModel


class InvalidRoleAssignment(BadRequest):
    code = "role_assignments.invalid_role_assignment"


def _role_ids(*kinds: ScopeKind) -> str:
    """The `role_id` description of an assignment of these kinds: the ids it accepts."""
    ids = ", ".join(f"`{r}`" for r in RoleId if r.scope_kind in kinds)
    return f"The ID of the role that is assigned: one of {ids}."


class OrganizationRoleAssignmentIn(StrictModel):
    role_id: str = Field(description=_role_ids(ScopeKind.ORGANIZATION))
    organization_id: str


class PlatformRoleAssignmentIn(StrictModel):
    role_id: str


class ResourceRoleAssignmentIn(StrictModel):
    role_id: str
    organization_id: str
    all: bool | None = None
    application_roles: list[str] | None = None


class DeploymentRoleAssignmentIn(ResourceRoleAssignmentIn):
    role_id: str = Field(description=_role_ids(ScopeKind.DEPLOYMENT))
    deployment_ids: list[str] | None = None


class ProjectRoleAssignmentIn(ResourceRoleAssignmentIn):
    role_id: str = Field(
        description=_role_ids(ScopeKind.ELASTICSEARCH, ScopeKind.OBSERVABILITY, ScopeKind.SECURITY)
        + " A role applies to projects of its own type (the list it is given under)."
    )
    project_ids: list[str] | None = None


class ProjectRoleAssignmentsIn(StrictModel):
    elasticsearch: list[ProjectRoleAssignmentIn] | None = None
    observability: list[ProjectRoleAssignmentIn] | None = None
    security: list[ProjectRoleAssignmentIn] | None = None


class RoleAssignmentsIn(StrictModel):
    """The Cloud API ``RoleAssignments`` object."""

    platform: list[PlatformRoleAssignmentIn] | None = None
    organization: list[OrganizationRoleAssignmentIn] | None = None
    deployment: list[DeploymentRoleAssignmentIn] | None = None
    project: ProjectRoleAssignmentsIn | None = None


@dataclass(frozen=True)
class Assignment:
    """A role assignment with the application roles that travel with it."""

    grant: Grant
    application_roles: tuple[str, ...] = field(default=())


def from_request(body: RoleAssignmentsIn, *, at: str) -> list[Assignment]:
    """Validate a request's assignments; `at` is the field path of the object."""
    out: list[Assignment] = []
    if body.platform:
        raise InvalidRoleAssignment("Platform roles do not exist here.", fields=[f"{at}.platform"])
    for i, item in enumerate(body.organization or []):
        role = _role(item.role_id, ScopeKind.ORGANIZATION, f"{at}.organization[{i}].role_id")
        out.append(Assignment(Grant(item.organization_id, role, all=True)))
    for i, dep in enumerate(body.deployment or []):
        path = f"{at}.deployment[{i}]"
        out.append(_scoped(dep, dep.deployment_ids, ScopeKind.DEPLOYMENT, path, "deployment_ids"))
    project = body.project or ProjectRoleAssignmentsIn()
    for kind in (ScopeKind.ELASTICSEARCH, ScopeKind.OBSERVABILITY, ScopeKind.SECURITY):
        for i, proj in enumerate(getattr(project, kind.value) or []):
            path = f"{at}.project.{kind.value}[{i}]"
            out.append(_scoped(proj, proj.project_ids, kind, path, "project_ids"))
    return merge(out)


def _role(role_id: str, kind: ScopeKind, path: str) -> RoleId:
    try:
        role = RoleId(role_id)
    except ValueError:
        raise InvalidRoleAssignment(f"Unknown role [{role_id}].", fields=[path]) from None
    if role.scope_kind is not kind:
        raise InvalidRoleAssignment(
            f"Role [{role_id}] cannot be assigned as a {kind.value} role.", fields=[path]
        )
    return role


def _scoped(
    item: ResourceRoleAssignmentIn, ids: list[str] | None, kind: ScopeKind, path: str, ids_name: str
) -> Assignment:
    role = _role(item.role_id, kind, f"{path}.role_id")
    if item.all and ids:
        raise InvalidRoleAssignment(
            f"[{ids_name}] must be absent when [all] is true.", fields=[f"{path}.{ids_name}"]
        )
    if not item.all and not ids:
        raise InvalidRoleAssignment(
            f"Give [all: true] or a non-empty [{ids_name}].", fields=[f"{path}.{ids_name}"]
        )
    for j, rid in enumerate(ids or []):
        if not is_id(rid):
            raise InvalidRoleAssignment(
                f"[{rid}] is not a valid id.", fields=[f"{path}.{ids_name}[{j}]"]
            )
    for j, name in enumerate(item.application_roles or []):
        if not name or len(name) > 128:
            raise InvalidRoleAssignment(
                "Application role names are 1-128 characters.",
                fields=[f"{path}.application_roles[{j}]"],
            )
    grant = Grant(item.organization_id, role, bool(item.all), frozenset(ids or ()))
    return Assignment(grant, tuple(item.application_roles or ()))


def merge(items: Iterable[Assignment]) -> list[Assignment]:
    """One assignment per (organization, role): scopes united, `all` absorbing ids."""
    merged: dict[tuple[str, RoleId], Assignment] = {}
    for a in items:
        key = (a.grant.organization_id, a.grant.role_id)
        prev = merged.get(key)
        if prev is not None:
            every = prev.grant.all or a.grant.all
            ids = frozenset() if every else prev.grant.resource_ids | a.grant.resource_ids
            apps = tuple(dict.fromkeys(prev.application_roles + a.application_roles))
            a = Assignment(Grant(key[0], key[1], every, ids), apps)
        merged[key] = a
    return list(merged.values())


def to_stored(items: Iterable[Assignment]) -> list[dict[str, Any]]:
    """The JSON kept in a column (API keys, invitations)."""
    return [
        {
            "organization_id": a.grant.organization_id,
            "role_id": str(a.grant.role_id),
            "all": a.grant.all,
            "resource_ids": sorted(a.grant.resource_ids),
            "application_roles": list(a.application_roles),
        }
        for a in items
    ]


def from_stored(items: Iterable[dict[str, Any]]) -> list[Assignment]:
    """Back from the column form."""
    return [
        Assignment(
            Grant(
                d["organization_id"],
                RoleId(d["role_id"]),
                bool(d["all"]),
                frozenset(d.get("resource_ids", ())),
            ),
            tuple(d.get("application_roles", ())),
        )
        for d in items
    ]


def to_response(items: Iterable[Assignment]) -> dict[str, Any]:
    """The Cloud API ``RoleAssignments`` object."""
    out: dict[str, Any] = {}
    for a in items:
        g = a.grant
        if g.kind is ScopeKind.ORGANIZATION:
            out.setdefault("organization", []).append(
                {"role_id": str(g.role_id), "organization_id": g.organization_id}
            )
            continue
        entry: dict[str, Any] = {
            "role_id": str(g.role_id),
            "organization_id": g.organization_id,
            "all": g.all,
        }
        ids_name = "deployment_ids" if g.kind is ScopeKind.DEPLOYMENT else "project_ids"
        if not g.all:
            entry[ids_name] = sorted(g.resource_ids)
        if a.application_roles:
            entry["application_roles"] = list(a.application_roles)
        if g.kind is ScopeKind.DEPLOYMENT:
            out.setdefault("deployment", []).append(entry)
        else:
            out.setdefault("project", {}).setdefault(g.kind.value, []).append(entry)
    return out

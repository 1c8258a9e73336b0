"""The roles inside a serverless project and the Cloud roles that lead to them (serverless
notes section 6). Pure tables, no I/O.

`project_roles(type)` is what `GET /serverless/projects/{type}/{id}/roles` lists: the node
roles a project of that type has (the names `application_roles` may use). `STACK_ROLE` is what
a project token carries for each Cloud role whose scope covers the project:

| Cloud role                                   | node role                           |
|----------------------------------------------|-------------------------------------|
| organization-admin, `<type>`-admin           | ``superuser`` (the node's ``admin``) |
| elasticsearch-developer                      | ``developer``                       |
| observability-editor, security-editor        | ``editor``                          |
| `<type>`-viewer                              | ``viewer``                          |
| each Security analyst role                   | its node role (``t1_analyst`` ...)  |
| billing-admin, deployment roles              | none                                |

As on deployments (ADR 27), an assignment's `application_roles` replace its node role.
"""

from __future__ import annotations

from collections.abc import Mapping

from citadel.authz.roles import OWNER, RoleId
from citadel.deployment_tokens.claims import SUPERUSER
from citadel.projects.types import ProjectType

ADMIN = "admin"
"""The project's superuser role as the project names it (the node's alias of superuser)."""

ANALYST_ROLES: Mapping[RoleId, tuple[str, str]] = {
    RoleId.SECURITY_T1_ANALYST: (
        "t1_analyst",
        "Tier 1 analyst: triages alerts; reads security data, dashboards and visualizations.",
    ),
    RoleId.SECURITY_T2_ANALYST: (
        "t2_analyst",
        "Tier 2 analyst: triages alerts, starts investigations and creates cases.",
    ),
    RoleId.SECURITY_T3_ANALYST: (
        "t3_analyst",
        "Tier 3 analyst: manages rules, lists and cases, runs Osquery and response actions.",
    ),
    RoleId.SECURITY_THREAT_INTEL_ANALYST: (
        "threat_intelligence_analyst",
        "Threat intelligence analyst: alerts, investigation tools and intelligence pages.",
    ),
    RoleId.SECURITY_RULE_AUTHOR: (
        "rule_author",
        "Rule author: detection engineering; writes rules and exceptions.",
    ),
    RoleId.SECURITY_SOC_MANAGER: (
        "soc_manager",
        "SOC manager: alerts, cases, investigations, endpoint policies and response actions.",
    ),
    RoleId.SECURITY_ENDPOINT_OPERATIONS_ANALYST: (
        "endpoint_operations_analyst",
        "Endpoint operations analyst: endpoint response actions and policies, Fleet, integrations.",
    ),
    RoleId.SECURITY_PLATFORM_ENGINEER: (
        "platform_engineer",
        "Platform engineer: Fleet, integrations, endpoints and detection content.",
    ),
    RoleId.SECURITY_DETECTIONS_ADMIN: (
        "detections_admin",
        "Detections admin: every detection engine right, third-party rule actions included.",
    ),
    RoleId.SECURITY_ENDPOINT_POLICY_MANAGER: (
        "endpoint_policy_manager",
        "Endpoint policy manager: endpoint policies and artifacts, Fleet, integrations.",
    ),
}
"""Each Security analyst role: its node role name and what it may do in the project."""

_ADMIN = (ADMIN, "Superuser of the project: every privilege on its data and settings.")
_VIEWER = ("viewer", "Read-only access to the project's data and features.")
_EDITOR = ("editor", "Reads data indices; full access to the project's features.")
_DEVELOPER = (
    "developer",
    "Creates API keys, indices, data streams and connectors; reads and writes data.",
)

_ROLES: Mapping[ProjectType, tuple[tuple[str, str], ...]] = {
    ProjectType.ELASTICSEARCH: (_ADMIN, _DEVELOPER, _VIEWER),
    ProjectType.OBSERVABILITY: (_ADMIN, _EDITOR, _VIEWER),
    ProjectType.SECURITY: (_ADMIN, _EDITOR, _VIEWER, *ANALYST_ROLES.values()),
}

STACK_ROLE: Mapping[RoleId, str] = {
    OWNER: SUPERUSER,
    RoleId.ELASTICSEARCH_ADMIN: SUPERUSER,
    RoleId.ELASTICSEARCH_DEVELOPER: "developer",
    RoleId.ELASTICSEARCH_VIEWER: "viewer",
    RoleId.OBSERVABILITY_ADMIN: SUPERUSER,
    RoleId.OBSERVABILITY_EDITOR: "editor",
    RoleId.OBSERVABILITY_VIEWER: "viewer",
    RoleId.SECURITY_ADMIN: SUPERUSER,
    RoleId.SECURITY_EDITOR: "editor",
    RoleId.SECURITY_VIEWER: "viewer",
    **{role: name for role, (name, _) in ANALYST_ROLES.items()},
}
"""The node role each Cloud role gives in a project its scope covers (none: not listed)."""


def project_roles(project_type: ProjectType) -> list[tuple[str, str]]:
    """The roles a project of `project_type` has, as (name, description), admin first."""
    return list(_ROLES[project_type])


def stack_roles(role_id: RoleId) -> tuple[str, ...]:
    """The node roles `role_id` gives in a project its scope covers; empty: none."""
    name = STACK_ROLE.get(role_id)
    return (name,) if name is not None else ()

"""The built-in roles of a serverless project's node (ADR 28), by project type. Pure.

Cloud RBAC maps a member's project role to one of these names (`citadel.projects.roles`), and
the project's ``jwt`` realm grants it; a project's own users and API keys may hold them too.
They are built in as ``superuser``, ``editor`` and ``viewer`` are on every node: listed by
``GET _security/role`` as reserved, refused by the role APIs, resolved by the realm by name.

What each grants on this node follows its description in Elastic's project role table
(serverless-notes.md §6). Kibana's features (cases, rules, timelines, Fleet's UI, dashboards)
are not part of Citadel, so a role's node privileges are what those features would read and
write in Elasticsearch:

    admin                       everything (superuser's descriptor under the project's name)
    developer                   every index, cluster ``manage`` (templates, pipelines,
                                connectors, search applications) and its own API keys
    editor, viewer              Elasticsearch's roles of those names (read-only on data)
    t1_analyst, t2_analyst      read the security data and lists; triage alerts (write on
                                the alerts indices); the cases and investigations that set
                                T2 apart live in Kibana, so on the node both hold the same
    t3_analyst                  T1, plus value lists and the endpoint/Osquery action indices
                                (response actions)
    threat_intelligence_analyst read the data (threat intel included) and lists, triage alerts
    rule_author                 read the data; alerts and value lists (exceptions) writable
    soc_manager                 T3's: alerts, lists, response actions
    endpoint_operations_analyst read the data and alerts; response actions; Fleet's indices
    platform_engineer           read the data; alerts and lists writable; Fleet's indices;
                                cluster ``manage`` (integrations install templates/pipelines)
    detections_admin            read the data; every privilege on the alerts and lists indices
    endpoint_policy_manager     read the data and alerts; lists (artifacts) and Fleet writable
"""

from __future__ import annotations

from collections.abc import Mapping

from citadel.node.security.privileges import BUILTIN_ROLES, SUPERUSER, IndexGrant, RoleDescriptor

ELASTICSEARCH = "elasticsearch"
OBSERVABILITY = "observability"
SECURITY = "security"
PROJECT_TYPES = (ELASTICSEARCH, OBSERVABILITY, SECURITY)

#: Index patterns of the data a Security project analyses.
SECURITY_DATA = (
    "logs-*",
    "metrics-*",
    "traces-*",
    "auditbeat-*",
    "filebeat-*",
    "packetbeat-*",
    "winlogbeat-*",
    "endgame-*",
    "logstash-*",
)
#: The detection alerts (and their preview and legacy signal indices).
ALERTS = (
    ".alerts-security*",
    ".internal.alerts-security*",
    ".preview.alerts-security*",
    ".internal.preview.alerts-security*",
    ".siem-signals-*",
)
#: Value lists and their items (exceptions, artifacts).
LISTS = (".lists*", ".items*")
#: Endpoint response actions and Osquery results.
ACTIONS = (
    ".logs-endpoint.actions-*",
    ".logs-endpoint.action.responses-*",
    "logs-endpoint.action.responses-*",
    "logs-osquery_manager.*",
)
#: Fleet's agents, policies and actions.
FLEET = (".fleet-*",)

_READ = frozenset({"read", "view_index_metadata"})
_WRITE = frozenset({"read", "view_index_metadata", "write", "maintenance"})
_ALL = frozenset({"all"})


def _role(
    name: str,
    *grants: tuple[tuple[str, ...], frozenset[str]],
    cluster: frozenset[str] = frozenset(),
) -> RoleDescriptor:
    return RoleDescriptor(
        cluster, tuple(IndexGrant(patterns, privileges) for patterns, privileges in grants), name
    )


def _t1(name: str) -> RoleDescriptor:
    return _role(name, (SECURITY_DATA + LISTS, _READ), (ALERTS, _WRITE))


PROJECT_ROLES: dict[str, RoleDescriptor] = {
    "admin": RoleDescriptor(
        SUPERUSER.cluster,
        SUPERUSER.indices,
        name="admin",
        applications=SUPERUSER.applications,
        run_as=SUPERUSER.run_as,
    ),
    "developer": _role(
        "developer", (("*",), _ALL), cluster=frozenset({"manage", "manage_own_api_key"})
    ),
    "editor": BUILTIN_ROLES["editor"],
    "viewer": BUILTIN_ROLES["viewer"],
    "t1_analyst": _t1("t1_analyst"),
    "t2_analyst": _t1("t2_analyst"),
    "t3_analyst": _role(
        "t3_analyst", (SECURITY_DATA, _READ), (ALERTS + LISTS, _WRITE), (ACTIONS, _WRITE)
    ),
    "threat_intelligence_analyst": _role(
        "threat_intelligence_analyst", (SECURITY_DATA + LISTS, _READ), (ALERTS, _WRITE)
    ),
    "rule_author": _role("rule_author", (SECURITY_DATA, _READ), (ALERTS + LISTS, _WRITE)),
    "soc_manager": _role(
        "soc_manager", (SECURITY_DATA, _READ), (ALERTS + LISTS, _WRITE), (ACTIONS, _WRITE)
    ),
    "endpoint_operations_analyst": _role(
        "endpoint_operations_analyst",
        (SECURITY_DATA + ALERTS + LISTS, _READ),
        (ACTIONS + FLEET, _WRITE),
    ),
    "platform_engineer": _role(
        "platform_engineer",
        (SECURITY_DATA, _READ),
        (ALERTS + LISTS + FLEET, _WRITE),
        cluster=frozenset({"manage"}),
    ),
    "detections_admin": _role("detections_admin", (SECURITY_DATA, _READ), (ALERTS + LISTS, _ALL)),
    "endpoint_policy_manager": _role(
        "endpoint_policy_manager", (SECURITY_DATA + ALERTS, _READ), (LISTS + FLEET, _WRITE)
    ),
}
"""Every project node role by name (H-rbac's `stack_roles` maps Cloud roles to these)."""

SECURITY_ANALYST_ROLES = (
    "t1_analyst",
    "t2_analyst",
    "t3_analyst",
    "threat_intelligence_analyst",
    "rule_author",
    "soc_manager",
    "endpoint_operations_analyst",
    "platform_engineer",
    "detections_admin",
    "endpoint_policy_manager",
)
ROLES_BY_TYPE: dict[str, tuple[str, ...]] = {
    ELASTICSEARCH: ("admin", "developer", "viewer"),
    OBSERVABILITY: ("admin", "editor", "viewer"),
    SECURITY: ("admin", "editor", "viewer", *SECURITY_ANALYST_ROLES),
}
"""The project roles each type's node holds (Elastic's table: Developer only on Elasticsearch
projects, Editor on Observability and Security, the analysts on Security)."""


def builtin_roles(project_type: str | None) -> Mapping[str, RoleDescriptor]:
    """The built-in roles of a node: Elasticsearch's (``superuser``, ``editor``, ``viewer``),
    and on a project's node its type's project roles too."""
    if project_type is None:
        return BUILTIN_ROLES
    if project_type not in ROLES_BY_TYPE:
        raise ValueError(f"not a project type: {project_type!r}")
    return {**BUILTIN_ROLES, **{n: PROJECT_ROLES[n] for n in ROLES_BY_TYPE[project_type]}}

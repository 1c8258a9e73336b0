"""Permissions and the one table that says which role holds which.

Inventory section 10 (roles) and section 2.4 (network security) are the source. Every member
of an organization holds `MEMBER_PERMISSIONS` by membership alone; roles add to that; the
Organization owner holds everything.
"""

from __future__ import annotations

from enum import StrEnum

from citadel.authz.roles import SECURITY_ANALYSTS, RoleId


class Permission(StrEnum):
    """Everything a route can ask for."""

    ORGANIZATION_READ = "organization:read"
    ORGANIZATION_UPDATE = "organization:update"
    MEMBERS_READ = "members:read"
    MEMBERS_REMOVE = "members:remove"
    INVITATIONS_READ = "invitations:read"
    INVITATIONS_MANAGE = "invitations:manage"
    ROLE_ASSIGNMENTS_MANAGE = "role_assignments:manage"
    API_KEYS_MANAGE = "api_keys:manage"
    AUDIT_READ = "audit:read"
    BILLING_READ = "billing:read"
    BILLING_MANAGE = "billing:manage"
    DOMAINS_MANAGE = "domains:manage"
    SSO_MANAGE = "sso:manage"
    KEY_MANAGERS_MANAGE = "key_managers:manage"
    DEPLOYMENTS_CREATE = "deployments:create"
    DEPLOYMENTS_READ = "deployments:read"
    DEPLOYMENTS_UPDATE = "deployments:update"
    DEPLOYMENTS_DELETE = "deployments:delete"
    DEPLOYMENTS_MANAGE_SECURITY = "deployments:manage_security"
    PROJECTS_CREATE = "projects:create"
    PROJECTS_READ = "projects:read"
    PROJECTS_UPDATE = "projects:update"
    PROJECTS_DELETE = "projects:delete"
    PROJECTS_MANAGE_SECURITY = "projects:manage_security"
    TRAFFIC_FILTERS_READ = "traffic_filters:read"
    TRAFFIC_FILTERS_MANAGE = "traffic_filters:manage"
    TRAFFIC_FILTERS_SET_DEFAULT = "traffic_filters:set_default"
    TRAFFIC_FILTERS_ASSOCIATE = "traffic_filters:associate"


P = Permission

MEMBER_PERMISSIONS: frozenset[Permission] = frozenset(
    {P.ORGANIZATION_READ, P.MEMBERS_READ, P.TRAFFIC_FILTERS_READ}
)

_RESOURCE_ADMIN = frozenset(
    {
        P.ROLE_ASSIGNMENTS_MANAGE,
        P.INVITATIONS_READ,
        P.INVITATIONS_MANAGE,
        P.TRAFFIC_FILTERS_MANAGE,
        P.TRAFFIC_FILTERS_SET_DEFAULT,
        P.TRAFFIC_FILTERS_ASSOCIATE,
    }
)
_TRAFFIC_EDIT = frozenset(
    {P.TRAFFIC_FILTERS_MANAGE, P.TRAFFIC_FILTERS_SET_DEFAULT, P.TRAFFIC_FILTERS_ASSOCIATE}
)
_PROJECT_ADMIN = _RESOURCE_ADMIN | {
    P.PROJECTS_CREATE,
    P.PROJECTS_READ,
    P.PROJECTS_UPDATE,
    P.PROJECTS_DELETE,
    P.PROJECTS_MANAGE_SECURITY,
}
_PROJECT_EDITOR = _TRAFFIC_EDIT | {P.PROJECTS_READ, P.PROJECTS_UPDATE}
_PROJECT_VIEWER = frozenset({P.PROJECTS_READ})

ROLE_PERMISSIONS: dict[RoleId, frozenset[Permission]] = {
    RoleId.ORGANIZATION_ADMIN: frozenset(Permission),
    RoleId.BILLING_ADMIN: frozenset({P.BILLING_READ, P.BILLING_MANAGE}),
    RoleId.DEPLOYMENT_ADMIN: _RESOURCE_ADMIN
    | {
        P.DEPLOYMENTS_CREATE,
        P.DEPLOYMENTS_READ,
        P.DEPLOYMENTS_UPDATE,
        P.DEPLOYMENTS_DELETE,
        P.DEPLOYMENTS_MANAGE_SECURITY,
    },
    RoleId.DEPLOYMENT_EDITOR: _TRAFFIC_EDIT | {P.DEPLOYMENTS_READ, P.DEPLOYMENTS_UPDATE},
    RoleId.DEPLOYMENT_VIEWER: frozenset({P.DEPLOYMENTS_READ}),
    RoleId.ELASTICSEARCH_ADMIN: _PROJECT_ADMIN,
    RoleId.ELASTICSEARCH_DEVELOPER: frozenset({P.PROJECTS_READ, P.PROJECTS_UPDATE}),
    RoleId.ELASTICSEARCH_VIEWER: _PROJECT_VIEWER,
    RoleId.OBSERVABILITY_ADMIN: _PROJECT_ADMIN,
    RoleId.OBSERVABILITY_EDITOR: _PROJECT_EDITOR,
    RoleId.OBSERVABILITY_VIEWER: _PROJECT_VIEWER,
    RoleId.SECURITY_ADMIN: _PROJECT_ADMIN,
    RoleId.SECURITY_EDITOR: _PROJECT_EDITOR,
    RoleId.SECURITY_VIEWER: _PROJECT_VIEWER,
    **dict.fromkeys(SECURITY_ANALYSTS, _PROJECT_VIEWER),  # "as Viewer" (serverless notes 6)
}

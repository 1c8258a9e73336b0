"""Role ids (as in the Cloud API) and the kind of resource each one is scoped to.

Project role ids are ``<project type>-<role>`` (serverless notes section 6); the Security
analyst roles (``security-t1-analyst`` ...) are scoped to Security projects like the others.
"""

from __future__ import annotations

from enum import StrEnum


class ScopeKind(StrEnum):
    """What a role assignment refers to."""

    ORGANIZATION = "organization"
    DEPLOYMENT = "deployment"
    ELASTICSEARCH = "elasticsearch"
    OBSERVABILITY = "observability"
    SECURITY = "security"


class RoleId(StrEnum):
    """Every assignable role."""

    ORGANIZATION_ADMIN = "organization-admin"
    BILLING_ADMIN = "billing-admin"
    DEPLOYMENT_ADMIN = "deployment-admin"
    DEPLOYMENT_EDITOR = "deployment-editor"
    DEPLOYMENT_VIEWER = "deployment-viewer"
    ELASTICSEARCH_ADMIN = "elasticsearch-admin"
    ELASTICSEARCH_DEVELOPER = "elasticsearch-developer"
    ELASTICSEARCH_VIEWER = "elasticsearch-viewer"
    OBSERVABILITY_ADMIN = "observability-admin"
    OBSERVABILITY_EDITOR = "observability-editor"
    OBSERVABILITY_VIEWER = "observability-viewer"
    SECURITY_ADMIN = "security-admin"
    SECURITY_EDITOR = "security-editor"
    SECURITY_VIEWER = "security-viewer"
    SECURITY_T1_ANALYST = "security-t1-analyst"
    SECURITY_T2_ANALYST = "security-t2-analyst"
    SECURITY_T3_ANALYST = "security-t3-analyst"
    SECURITY_THREAT_INTEL_ANALYST = "security-threat-intel-analyst"
    SECURITY_RULE_AUTHOR = "security-rule-author"
    SECURITY_SOC_MANAGER = "security-soc-manager"
    SECURITY_ENDPOINT_OPERATIONS_ANALYST = "security-endpoint-operations-analyst"
    SECURITY_PLATFORM_ENGINEER = "security-platform-engineer"
    SECURITY_DETECTIONS_ADMIN = "security-detections-admin"
    SECURITY_ENDPOINT_POLICY_MANAGER = "security-endpoint-policy-manager"

    @property
    def scope_kind(self) -> ScopeKind:
        """The kind of resource this role is scoped to."""
        if self in (RoleId.ORGANIZATION_ADMIN, RoleId.BILLING_ADMIN):
            return ScopeKind.ORGANIZATION
        return ScopeKind(self.value.split("-", 1)[0])

    @property
    def is_resource_admin(self) -> bool:
        """Admins manage role assignments of their kind within their scope (the Security
        analyst role `security-detections-admin` is no such admin: its Cloud rights are a
        Viewer's)."""
        return self in RESOURCE_ADMINS


OWNER = RoleId.ORGANIZATION_ADMIN
RESOURCE_ADMINS = frozenset(
    {
        RoleId.DEPLOYMENT_ADMIN,
        RoleId.ELASTICSEARCH_ADMIN,
        RoleId.OBSERVABILITY_ADMIN,
        RoleId.SECURITY_ADMIN,
    }
)
"""The `<kind>-admin` roles: each manages its kind's resources and role assignments."""

SECURITY_ANALYSTS = (
    RoleId.SECURITY_T1_ANALYST,
    RoleId.SECURITY_T2_ANALYST,
    RoleId.SECURITY_T3_ANALYST,
    RoleId.SECURITY_THREAT_INTEL_ANALYST,
    RoleId.SECURITY_RULE_AUTHOR,
    RoleId.SECURITY_SOC_MANAGER,
    RoleId.SECURITY_ENDPOINT_OPERATIONS_ANALYST,
    RoleId.SECURITY_PLATFORM_ENGINEER,
    RoleId.SECURITY_DETECTIONS_ADMIN,
    RoleId.SECURITY_ENDPOINT_POLICY_MANAGER,
)
"""The Security project's analyst roles (serverless notes section 6): a Viewer's Cloud
permissions; inside the project each is a node role of its own."""

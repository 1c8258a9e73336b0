"""Role ids (as in the Cloud API) and the kind of resource each one is scoped to."""

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

    @property
    def scope_kind(self) -> ScopeKind:
        """The kind of resource this role is scoped to."""
        if self in (RoleId.ORGANIZATION_ADMIN, RoleId.BILLING_ADMIN):
            return ScopeKind.ORGANIZATION
        return ScopeKind(self.value.split("-", 1)[0])

    @property
    def is_resource_admin(self) -> bool:
        """Admins manage role assignments of their kind within their scope."""
        return self.scope_kind is not ScopeKind.ORGANIZATION and self.value.endswith("-admin")


OWNER = RoleId.ORGANIZATION_ADMIN

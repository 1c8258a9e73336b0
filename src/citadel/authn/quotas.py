"""Quotas: how much one customer may hold, chosen by the operator (issue 17.3).

Three quotas, each checked by the service that would exceed it, inside its write unit, under
the lock the service already takes (the organization's row for deployments and API keys):

    organizations_per_user        a user who owns this many organizations founds no other
    deployments_per_organization  deployments not deleted, per organization
    api_keys_per_user             active (not disabled, not expired) Cloud API keys a user made

A refusal is a 409 Conflict with a code naming the quota (``quota.<name>``): the state must
change (something deleted) before the request can succeed, waiting alone does not help, so
not a 429. The refusal is audited as ``quota.exceeded`` (outcome denied, the quota, its limit
and the count held) in the organization's chain, or the platform's for a founding; the audit
row is kept although the request fails (`keeps_writes`). The platform itself (the bootstrap,
break-glass commands: `Caller.system`) is not subject to quotas.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from citadel.audit.tags import AuditAction, Outcome, TargetType
from citadel.errors import Conflict

if TYPE_CHECKING:
    from citadel.authn.context import Context


class Quota(StrEnum):
    """The quotas, by the name their setting, error code and audit event carry."""

    ORGANIZATIONS_PER_USER = "organizations_per_user"
    DEPLOYMENTS_PER_ORGANIZATION = "deployments_per_organization"
    API_KEYS_PER_USER = "api_keys_per_user"


@dataclass(frozen=True)
class Quotas:
    """The limits in force (built from settings by the bootstrap)."""

    organizations_per_user: int = 10
    deployments_per_organization: int = 20
    api_keys_per_user: int = 50

    def limit(self, quota: Quota) -> int:
        """The limit of `quota`."""
        return int(getattr(self, quota.value))


class QuotaExceeded(Conflict):
    """A request that would take its caller past a quota (409; the refusal is audited)."""

    code = "quota.exceeded"
    keeps_writes = True  # the service audited the refusal; that row is kept
    quota: Quota


class OrganizationsPerUserExceeded(QuotaExceeded):
    code = "quota.organizations_per_user"
    quota = Quota.ORGANIZATIONS_PER_USER


class DeploymentsPerOrganizationExceeded(QuotaExceeded):
    code = "quota.deployments_per_organization"
    quota = Quota.DEPLOYMENTS_PER_ORGANIZATION


class ApiKeysPerUserExceeded(QuotaExceeded):
    code = "quota.api_keys_per_user"
    quota = Quota.API_KEYS_PER_USER


_MESSAGES = {
    Quota.ORGANIZATIONS_PER_USER: "You already own {limit} organizations, the most allowed.",
    Quota.DEPLOYMENTS_PER_ORGANIZATION: (
        "The organization already has {limit} deployments, the most allowed; delete one first."
    ),
    Quota.API_KEYS_PER_USER: (
        "You already have {limit} active API keys, the most allowed; delete one first."
    ),
}


def enforce(
    ctx: Context,
    error: type[QuotaExceeded],
    *,
    held: int,
    organization_id: str | None,
) -> None:
    """Refuse (audited, then `error`) when one more would exceed the quota `error` names;
    `held` is how many the caller (user or organization) holds now."""
    if ctx.caller.system:
        return
    limit = ctx.policies.quotas.limit(error.quota)
    if held < limit:
        return
    ctx.record(
        AuditAction.QUOTA_EXCEEDED,
        organization_id=organization_id,
        target_type=TargetType.ORGANIZATION if organization_id else None,
        target_id=organization_id,
        outcome=Outcome.DENIED,
        details={"quota": str(error.quota), "limit": limit, "held": held},
    )
    raise error(
        _MESSAGES[error.quota].format(limit=limit),
        details={"quota": str(error.quota), "limit": limit},
    )

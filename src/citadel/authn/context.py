"""What every service call receives: the transaction, the clock, secrets, audit, the caller."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from citadel.audit.models import AuditEvent
from citadel.audit.service import AuditLog
from citadel.audit.tags import AuditAction, Outcome, TargetType
from citadel.authn.guard import require
from citadel.authn.principal import Caller
from citadel.authn.quotas import Quotas
from citadel.authz.decide import Target
from citadel.authz.permissions import Permission
from citadel.crypto.keyring import Keyring
from citadel.crypto.providers.endpoints import EndpointPolicy
from citadel.kit.clock import Clock


@dataclass(frozen=True)
class Policies:
    """Limits and timeouts, chosen by the operator (built from settings by the bootstrap)."""

    session_idle_s: int = 3600
    session_absolute_s: int = 12 * 3600
    signin_pair_failures: int = 5
    """Failed sign-ins of one account from one address before that pair is throttled."""
    signin_account_failures: int = 30
    """Failed sign-ins of one account from all addresses before addresses it has never signed
    in from are throttled (ADR 22)."""
    signin_ip_failures: int = 20
    signin_window_s: int = 900
    signin_max_lockout_s: int = 900
    regions: tuple[str, ...] = ("local",)
    pkcs11_modules: tuple[str, ...] = ("/usr/lib/softhsm/libsofthsm2.so",)
    """PKCS#11 modules organizations may name (loading one runs its code here)."""
    key_manager_endpoints: EndpointPolicy = field(default_factory=EndpointPolicy)
    """Where organizations' key managers may be reached (default: public addresses only)."""
    dns_resolver: tuple[str, int] | None = None
    """Where domain verification asks for TXT records (None: the system's resolver)."""
    dns_timeout_s: float = 5.0
    """How long a domain verification waits for DNS before answering 503."""
    public_url: str = "https://localhost:8443"
    """The control plane as browsers reach it: SSO entity ids, ACS and login URLs."""
    quotas: Quotas = field(default_factory=Quotas)
    """How many organizations, deployments and API keys a customer may hold (`quotas`)."""
    token_issuer: str = "citadel:unconfigured"  # noqa: S105 (an issuer id)
    """The ``iss`` of deployment access tokens (ADR 27: `public_url`, else a platform id)."""
    deployment_token_ttl_s: int = 300
    """How long a deployment access token lives (30..300 s)."""
    token_key_rotation_days: int = 30
    """How long one key signs deployment access tokens before its successor takes over."""
    project_credentials_apply_s: float = 30.0
    """How long a project's `_reset-credentials` waits for its running node to take the new
    password (after which the old one no longer works); 0: it does not wait."""
    snapshot_interval_s: int = 1800
    """The default schedule of every deployment's snapshots (issue 20, ADR 30)."""
    snapshot_retention_max_count: int = 100
    snapshot_retention_expire_after_s: int = 30 * 86400
    deleted_snapshot_retention_days: int = 0
    """How long a deleted deployment's key and snapshots stay restorable; 0: shredded at once."""
    allocator_unhealthy_after_s: float = 30.0
    """An allocator with no heartbeat for this long is unhealthy: nothing is placed on it and
    its deployments are restored elsewhere (ADR 31)."""


@dataclass(frozen=True)
class Context:
    """One unit of work on behalf of one caller."""

    session: Session
    clock: Clock
    keyring: Keyring
    audit: AuditLog
    caller: Caller
    policies: Policies

    def authorize(self, permission: Permission, target: Target) -> None:
        """Raise unless this caller holds `permission` on `target`; the platform itself
        (`caller.system`: the allocator, break-glass commands) is not subject to roles."""
        if not self.caller.system:
            require(self.caller, permission, target)

    def record(
        self,
        action: AuditAction,
        *,
        organization_id: str | None,
        target_type: TargetType | None = None,
        target_id: str | None = None,
        outcome: Outcome = Outcome.SUCCESS,
        details: dict[str, Any] | None = None,
    ) -> AuditEvent:
        """Audit `action` by this caller inside this unit of work."""
        return self.audit.record(
            self.session,
            actor=self.caller.actor,
            action=action,
            organization_id=organization_id,
            target_type=target_type,
            target_id=target_id,
            outcome=outcome,
            details=details,
        )

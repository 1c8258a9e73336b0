"""What the internal API (ADR 9, ADR 17) reads of deployments and what it records of them:
the allocations' version, every deployment, a pending `elastic` password, a status report.

The control plane's components (allocator, gateway) see every organization's deployments; the
callers here are the platform itself, authorized by their component certificate at the edge.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from citadel.audit.tags import AuditAction, TargetType
from citadel.authn.context import Context
from citadel.deployments.errors import DeploymentNotFound
from citadel.deployments.lifecycle import Observed
from citadel.deployments.models import Deployment
from citadel.deployments.service import password_context, touch


def allocation_version(ctx: Context) -> int:
    """Increases on every change of any deployment (rows are never removed)."""
    total = ctx.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Deployment.revision), 0)))
    return int(total or 0)


def all_deployments(ctx: Context) -> Sequence[Deployment]:
    """Every deployment of every organization (the allocator's and gateway's view)."""
    return ctx.session.scalars(sa.select(Deployment).order_by(Deployment.created_at)).all()


def pending_password(ctx: Context, row: Deployment) -> str | None:
    """The `elastic` password waiting to be applied, if any (unsealed: call it only for an
    allocation that carries it)."""
    if row.elastic_password_sealed is None:
        return None
    opened = ctx.keyring.barrier.open(row.elastic_password_sealed, context=password_context(row.id))
    return opened.decode()


def record_status(
    ctx: Context,
    deployment_id: str,
    *,
    observed_state: Observed,
    healthy: bool,
    detail: str,
    password_applied: bool,
) -> Deployment:
    """Store what the allocator observed; an applied password is forgotten."""
    row = ctx.session.get(Deployment, deployment_id)
    if row is None:
        raise DeploymentNotFound()
    changed = row.observed_state != observed_state or row.healthy != healthy
    if observed_state == Observed.LOCKED and (row.observed_detail or "") != detail[:255]:
        changed = True  # a new reason: the gateway's snapshot must say it
    was_locked = row.observed_state == Observed.LOCKED
    row.observed_state = observed_state
    row.healthy = healthy
    row.observed_detail = detail[:255] or None
    row.observed_at = ctx.clock.now()
    if password_applied and row.elastic_password_sealed is not None:
        row.elastic_password_sealed = None
        changed = True
    if changed:
        touch(ctx, row)
        locked = observed_state == Observed.LOCKED
        if locked != was_locked:
            ctx.record(
                AuditAction.DEPLOYMENT_LOCKED if locked else AuditAction.DEPLOYMENT_UNLOCKED,
                organization_id=row.organization_id,
                target_type=TargetType.DEPLOYMENT,
                target_id=row.id,
                details={"reason": row.observed_detail or "", "key_path": row.key_path},
            )
        ctx.record(
            AuditAction.DEPLOYMENT_OBSERVED,
            organization_id=row.organization_id,
            target_type=TargetType.DEPLOYMENT,
            target_id=row.id,
            details={"observed_state": str(observed_state), "healthy": healthy},
        )
    ctx.session.flush()
    return row

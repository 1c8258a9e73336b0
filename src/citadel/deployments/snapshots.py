"""A deployment's snapshots as the control plane knows them (issue 20, ADR 30).

The node decides and stages, the allocator encrypts and uploads (`citadel.contract.
snapshot_jobs`); the control plane keeps what the allocator last reported (`snapshot_*`
columns: the Cloud API's ``info.snapshots``), turns ``plan.transient.restore_snapshot`` of a
create into a restore the allocator does before the new node's first start (`restore_*`),
and records what a restore came back from (`restored_from_*`), which is how a deployment
says what it lost: writes acknowledged after that snapshot was taken.

The control plane never reads the repository: it knows a source's count of snapshots and its
latest successful one, not every name. A restore of the latest needs one; a restore of a
named snapshot needs the source to have some, and an unknown name is the allocator's failure,
reported as the new deployment's observed detail.

A deleted deployment's data key (the root of its snapshots' key) is kept until `shred_after`
when the operator keeps deleted deployments' snapshots (``deleted_snapshot_retention_days``);
with 0 it is destroyed at once as before. Either way `shred_after` is set, and the shred round
(`citadel.use_cases.snapshots`) deletes the repository's data of the deployment after it,
then clears it: `shred_after` not NULL means "snapshots still to delete".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from citadel.audit.tags import AuditAction, TargetType
from citadel.authn.context import Context
from citadel.authz.decide import Target, decide
from citadel.authz.permissions import Permission
from citadel.authz.roles import ScopeKind
from citadel.contract.messages import RestoredFrom, SnapshotSummary
from citadel.contract.snapshot_jobs import REPOSITORY
from citadel.db.tenancy import owned
from citadel.deployments.errors import (
    DeploymentNotFound,
    InvalidDeployment,
    NoSnapshotToRestore,
    RestoreUnsupported,
)
from citadel.deployments.lifecycle import Desired
from citadel.deployments.models import DEPLOYMENT, Deployment

if TYPE_CHECKING:
    from citadel.deployments.schemas import RestoreSnapshotIn

LATEST = "__latest_success__"
"""The Cloud API's name of the latest successful snapshot (`snapshot_name`)."""
RESTORE_FIELD = "body.resources.elasticsearch[0].plan.transient.restore_snapshot"
STRATEGIES = frozenset({"full", "partial"})
"""Restore strategies a new deployment takes (partial: the unavailable indices, all of them)."""


@dataclass(frozen=True)
class RestoreRequest:
    """A validated ``restore_snapshot``: the source deployment and the snapshot (None: the
    latest successful one)."""

    source_id: str
    snapshot: str | None


def restore_request(body: RestoreSnapshotIn | None) -> RestoreRequest | None:
    """Check a ``restore_snapshot`` without touching anything; a field this platform does not
    support is a 400 naming it."""
    if body is None:
        return None
    if body.repository_config is not None:
        raise RestoreUnsupported(
            "Restoring from a remote repository is not supported; name the deployment whose "
            "snapshots to restore in source_cluster_id.",
            fields=[f"{RESTORE_FIELD}.repository_config"],
        )
    if body.repository_name not in (None, REPOSITORY):
        raise RestoreUnsupported(
            f"Only the managed repository '{REPOSITORY}' can be restored from.",
            fields=[f"{RESTORE_FIELD}.repository_name"],
        )
    if body.strategy is not None and body.strategy not in STRATEGIES:
        raise RestoreUnsupported(
            "A new deployment is restored in full ('full' or 'partial').",
            fields=[f"{RESTORE_FIELD}.strategy"],
        )
    payload = body.restore_payload
    if payload is not None and payload.indices not in (None, [], ["*"]):
        raise RestoreUnsupported(
            "A new deployment is restored with every index of the snapshot; restore chosen "
            "indices with the deployment's own _snapshot/found-snapshots/<name>/_restore.",
            fields=[f"{RESTORE_FIELD}.restore_payload.indices"],
        )
    if payload is not None and payload.raw_settings:
        raise RestoreUnsupported(
            "Restore settings are not supported on create; use the deployment's own _restore.",
            fields=[f"{RESTORE_FIELD}.restore_payload.raw_settings"],
        )
    if not body.source_cluster_id:
        raise InvalidDeployment(
            "Name the deployment whose snapshot to restore.",
            fields=[f"{RESTORE_FIELD}.source_cluster_id"],
        )
    name = body.snapshot_name
    return RestoreRequest(body.source_cluster_id, None if name in (None, LATEST) else name)


def restorable(row: Deployment, now: datetime) -> bool:
    """Whether `row`'s snapshots can still be read: its data key is kept (a deleted
    deployment's until its `shred_after`)."""
    if row.data_key_wrapped is None:
        return False
    if row.desired_state != Desired.DELETED:
        return True
    return row.shred_after is not None and row.shred_after > now


def check_restore_source(ctx: Context, organization_id: str, request: RestoreRequest) -> Deployment:
    """The source of a restore: a deployment of this organization the caller may read, whose
    snapshots are still readable (a deleted one within its retention), with a successful
    snapshot. Any other is not found, exactly as an unknown id."""
    field = f"{RESTORE_FIELD}.source_cluster_id"
    row = owned(ctx.session, Deployment, organization_id, request.source_id)
    if row is None or row.kind != DEPLOYMENT or not restorable(row, ctx.clock.now()):
        raise DeploymentNotFound(fields=[field])
    if not ctx.caller.system:
        target = Target.resource(organization_id, ScopeKind.DEPLOYMENT, row.id)
        if not decide(ctx.caller.subject, Permission.DEPLOYMENTS_READ, target):
            raise DeploymentNotFound(fields=[field])
    if row.snapshot_count == 0 or row.snapshot_latest_at is None:
        raise NoSnapshotToRestore(fields=[field])
    return row


def request_restore(ctx: Context, row: Deployment, request: RestoreRequest) -> None:
    """Have a new deployment filled from the source's snapshot before its first start (only
    indices and their metadata: the new deployment keeps its own users and roles)."""
    row.restore_source_id = request.source_id
    row.restore_snapshot = request.snapshot
    row.restore_include_security = False
    ctx.session.flush()
    ctx.record(
        AuditAction.DEPLOYMENT_RESTORE_REQUESTED,
        organization_id=row.organization_id,
        target_type=TargetType.DEPLOYMENT,
        target_id=row.id,
        details={"source_deployment_id": request.source_id, "snapshot": request.snapshot or LATEST},
    )


def _at(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, UTC)


def record_report(
    ctx: Context,
    row: Deployment,
    snapshots: SnapshotSummary | None,
    restored: RestoredFrom | None,
) -> None:
    """Keep what a status report says of the deployment's snapshots, and what a restore came
    back from (the restore is then done: the allocation no longer carries it)."""
    if snapshots is not None:
        row.snapshot_count = snapshots.count
        if snapshots.latest_success_at is not None:
            row.snapshot_latest_at = _at(snapshots.latest_success_at)
            row.snapshot_latest_name = snapshots.latest_success_name
        row.snapshot_healthy = snapshots.healthy
    if restored is not None:
        row.restored_from_name = restored.snapshot
        row.restored_from_at = _at(restored.taken_at)
        source = row.restore_source_id
        row.restore_source_id = None
        row.restore_snapshot = None
        row.restore_include_security = False
        row.revision += 1  # the allocation changes: no restore any more
        row.updated_at = ctx.clock.now()
        ctx.record(
            AuditAction.DEPLOYMENT_RESTORED,
            organization_id=row.organization_id,
            target_type=TargetType.DEPLOYMENT,
            target_id=row.id,
            details={
                "source_deployment_id": source or "",
                "snapshot": restored.snapshot,
                "taken_at": row.restored_from_at.isoformat(),
            },
        )
    ctx.session.flush()


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def status(row: Deployment, *, now: datetime, interval_s: int) -> dict[str, Any]:
    """The Cloud API's `SnapshotStatusInfo` of a deployment: how many snapshots it has, its
    latest success, whether the latest scheduled snapshot failed (`healthy` false), and
    whether the latest success is recent (within two of the platform's intervals)."""
    healthy = row.snapshot_healthy is not False
    latest = row.snapshot_latest_at
    body: dict[str, Any] = {
        "healthy": healthy,
        "count": row.snapshot_count,
        "recent_success": latest is not None and now - latest <= timedelta(seconds=2 * interval_s),
    }
    if row.snapshot_healthy is not None:
        body["latest_successful"] = healthy
        body["latest_status"] = "SUCCESS" if healthy else "FAILED"
    if latest is not None:
        body["latest_successful_end_time"] = _iso(latest)
        if healthy:
            body["latest_end_time"] = _iso(latest)
    return body


def restored_from(row: Deployment) -> dict[str, Any] | None:
    """Ours: the snapshot the deployment was last restored from and when it was taken (writes
    acknowledged after that are lost); a restore still to do names its source."""
    if row.restored_from_name is None and row.restore_source_id is None:
        return None
    body: dict[str, Any] = {}
    if row.restored_from_name is not None:
        body["snapshot_name"] = row.restored_from_name
        if row.restored_from_at is not None:
            body["taken_at"] = _iso(row.restored_from_at)
    if row.restore_source_id is not None:
        body["pending"] = {
            "source_cluster_id": row.restore_source_id,
            "snapshot_name": row.restore_snapshot or LATEST,
        }
    return body


def describe_restored(row: Deployment) -> str:
    """The words ``restored from snapshot X taken at T``, or "" when it never was."""
    if row.restored_from_name is None:
        return ""
    taken = row.restored_from_at.isoformat(timespec="seconds") if row.restored_from_at else "?"
    return f"restored from snapshot {row.restored_from_name} taken at {taken}"


# --- deleted deployments -------------------------------------------------------------------


def keep_after_delete(ctx: Context, row: Deployment) -> datetime | None:
    """On delete: keep the data key for the operator's retention (returned: until when), or
    destroy it now (None). Either way the repository's data is deleted after `shred_after`."""
    now = ctx.clock.now()
    days = ctx.policies.deleted_snapshot_retention_days
    if days > 0:
        row.shred_after = now + timedelta(days=days)
        return row.shred_after
    row.data_key_wrapped = None
    row.shred_after = now
    return None


def due_for_shredding(ctx: Context) -> list[str]:
    """Deleted deployments whose retention has passed: their key and snapshots go now."""
    return list(
        ctx.session.scalars(
            sa.select(Deployment.id)
            .where(
                Deployment.desired_state == Desired.DELETED,
                Deployment.shred_after.is_not(None),
                Deployment.shred_after <= ctx.clock.now(),
            )
            .order_by(Deployment.shred_after)
        )
    )


def shred_key(ctx: Context, deployment_id: str) -> bool:
    """Destroy a deleted deployment's data key (its snapshots become unreadable); True when
    there was one to destroy (audited)."""
    row = ctx.session.get(Deployment, deployment_id)
    if row is None or row.desired_state != Desired.DELETED or row.data_key_wrapped is None:
        return False
    row.data_key_wrapped = None
    ctx.session.flush()
    ctx.record(
        AuditAction.DEPLOYMENT_SNAPSHOTS_SHREDDED,
        organization_id=row.organization_id,
        target_type=TargetType.DEPLOYMENT,
        target_id=row.id,
        details={"data_key": "destroyed"},
    )
    return True


def snapshots_deleted(ctx: Context, deployment_id: str) -> None:
    """The repository holds nothing of the deployment any more: nothing left to shred."""
    row = ctx.session.get(Deployment, deployment_id)
    if row is not None and row.data_key_wrapped is None:
        row.shred_after = None
        ctx.session.flush()

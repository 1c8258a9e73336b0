"""Creating, reading, changing, shutting down and deleting deployments.

Routes decide access first (`citadel.api.deps.deployment_access`); each function here checks
again inside its transaction. A deployment the caller may not read does not exist for them:
the answer is `deployments.deployment_not_found`, the same as for an unknown id.

Keys: each deployment gets a random 256-bit data key, stored only wrapped by the platform
`KeyProvider` with the context ``deployment:<id>``. Deleting sets the wrapped key to NULL
(crypto-shredding). The `elastic` password is returned once and kept sealed until the
allocator reports it applied.

Creating is split around the key service, which may be remote: `check_create` in a read,
`new_data_key` with no transaction open, `create_deployment` in the write, which checks again.
The use cases that string these together with key managers and traffic filters, and that the
API and the console both call, are in `citadel.use_cases.deployments`.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from citadel.audit.tags import AuditAction, TargetType
from citadel.authn.context import Context
from citadel.authn.quotas import DeploymentsPerOrganizationExceeded, enforce
from citadel.authz.decide import Target, decide
from citadel.authz.permissions import Permission
from citadel.authz.roles import ScopeKind
from citadel.contract.messages import data_key_context
from citadel.crypto.providers.base import KeyProvider
from citadel.db.tenancy import owned, scoped, scoped_count
from citadel.deployments import snapshots
from citadel.deployments.errors import (
    AliasTaken,
    DeploymentDeleted,
    DeploymentNotFound,
    DeploymentNotShutDown,
    InvalidDeployment,
)
from citadel.deployments.lifecycle import Desired, Observed, Refusal, Transition, next_desired
from citadel.deployments.models import DEPLOYMENT, PROJECT, Deployment
from citadel.deployments.schemas import DEFAULT_SIZE_MB, CreateDeploymentIn, UpdateDeploymentIn
from citadel.orgs.service import load as load_org

FIRST_SANDBOX_UID = 100_000
DEFAULT_REGION = "local"
DEFAULT_VERSION = "8.15.0"
DEFAULT_REF_ID = "main-elasticsearch"
SERVERLESS_VERSION = "serverless"
"""The `version` of a project's instance: a project has no Stack version to choose."""
MIN_SIZE_MB, MAX_SIZE_MB = 256, 65_536
_UID_ATTEMPTS = 5


def password_context(deployment_id: str) -> str:
    """The sealing context of a pending `elastic` password (ADR 9)."""
    return f"deployments.elastic_password:{deployment_id}"


@dataclass(frozen=True)
class Created:
    """The outcome of a create: the row, the password (only when new), whether it is new."""

    row: Deployment
    password: str | None
    fresh: bool


@dataclass(frozen=True)
class Plan:
    """A validated create request."""

    name: str | None
    alias: str | None
    region: str
    version: str
    ref_id: str
    size: int
    tags: list[dict[str, Any]]
    restore: snapshots.RestoreRequest | None = None


def validate(body: CreateDeploymentIn, regions: Sequence[str]) -> Plan:
    """Check a create request without touching anything; raises a 400 when it is wrong.

    Traffic-filter rulesets named in the settings are checked by `citadel.traffic_filters`
    when they are attached, in the same unit of work.
    """
    es = body.resources.elasticsearch[0] if body.resources.elasticsearch else None
    region = body.region or (es.region if es else None) or DEFAULT_REGION
    if es is not None and es.region not in (None, region):
        raise InvalidDeployment(
            "The Elasticsearch resource's region differs from the deployment's.",
            fields=["body.resources.elasticsearch[0].region"],
        )
    if region not in regions:
        raise InvalidDeployment(
            f"Unknown region; this platform has: {', '.join(regions)}.", fields=["body.region"]
        )
    sizes = [t.size.value for t in (es.plan.cluster_topology if es else []) if t.size]
    size = max(sizes) if sizes else DEFAULT_SIZE_MB
    if not MIN_SIZE_MB <= size <= MAX_SIZE_MB:
        raise InvalidDeployment(
            f"The topology size must be between {MIN_SIZE_MB} and {MAX_SIZE_MB} MiB.",
            fields=["body.resources.elasticsearch[0].plan.cluster_topology"],
        )
    version = body.version or (es.plan.elasticsearch.version if es else None) or DEFAULT_VERSION
    tags = [t.model_dump() for t in body.metadata.tags] if body.metadata else []
    transient = es.plan.transient if es else None
    restore = snapshots.restore_request(transient.restore_snapshot if transient else None)
    return Plan(
        name=body.name or (es.display_name if es else None),
        alias=body.alias,
        region=region,
        version=version,
        ref_id=es.ref_id if es else DEFAULT_REF_ID,
        size=size,
        tags=tags,
        restore=restore,
    )


@dataclass(frozen=True)
class Checked:
    """A create request that passed the checks made before anything is written: its plan,
    and the deployment an earlier create with the same `request_id` made, if any."""

    plan: Plan
    earlier: Deployment | None


@dataclass(frozen=True)
class DataKey:
    """A new deployment's data key, wrapped before any transaction opens (the key may live in
    a remote key service), and which key wraps it."""

    wrapped: bytes = field(repr=False)
    key_path: str
    key_manager_id: str | None = None


def check_create(
    ctx: Context, organization_id: str, body: CreateDeploymentIn, *, request_id: str | None
) -> Checked:
    """The caller may create deployments, the request is valid and its alias free; an earlier
    create with the same `request_id` is returned rather than checked again."""
    target = Target.all_of(organization_id, ScopeKind.DEPLOYMENT)
    ctx.authorize(Permission.DEPLOYMENTS_CREATE, target)
    plan = validate(body, ctx.policies.regions)
    if request_id is not None:
        earlier = ctx.session.scalar(
            scoped(
                Deployment,
                organization_id,
                Deployment.request_id == request_id,
                Deployment.kind == DEPLOYMENT,
            )
        )
        if earlier is not None:
            return Checked(plan, earlier)
    if plan.alias:
        _check_alias(ctx, plan.alias, plan.region, None)
    if plan.restore is not None:
        snapshots.check_restore_source(ctx, organization_id, plan.restore)
    return Checked(plan, None)


def new_data_key(keys: KeyProvider, deployment_id: str) -> bytes:
    """A random 256-bit data key wrapped by `keys` for `deployment_id` (a remote call when the
    key lives in a key service: run it with no transaction open)."""
    return keys.wrap(os.urandom(32), context=data_key_context(deployment_id))


def create_deployment(
    ctx: Context,
    organization_id: str,
    body: CreateDeploymentIn,
    key: DataKey,
    *,
    deployment_id: str,
    request_id: str | None = None,
) -> Created:
    """Record a new deployment (desired running) with its wrapped data key; a reused
    `request_id` returns the first. Makes every check of `check_create` again, under the
    organization's lock."""
    load_org(ctx.session, organization_id, for_update=True)
    checked = check_create(ctx, organization_id, body, request_id=request_id)
    if checked.earlier is not None:
        return Created(checked.earlier, None, fresh=False)
    held = ctx.session.scalar(
        scoped_count(
            Deployment,
            organization_id,
            Deployment.desired_state != Desired.DELETED,
            Deployment.kind == DEPLOYMENT,
        )
    )
    enforce(
        ctx, DeploymentsPerOrganizationExceeded, held=held or 0, organization_id=organization_id
    )
    plan = checked.plan
    row, password = _insert_new(
        ctx,
        organization_id,
        key,
        deployment_id=deployment_id,
        name=plan.name or deployment_id[:6],
        alias=plan.alias,
        region=plan.region,
        version=plan.version,
        ref_id=plan.ref_id,
        size=plan.size,
        tags=plan.tags,
        request_id=request_id,
    )
    ctx.record(
        AuditAction.DEPLOYMENT_CREATED,
        organization_id=organization_id,
        target_type=TargetType.DEPLOYMENT,
        target_id=row.id,
        details={"name": row.name, "region": row.region, "version": row.version},
    )
    if plan.restore is not None:
        snapshots.request_restore(ctx, row, plan.restore)
    return Created(row, password, fresh=True)


def create_instance(
    ctx: Context,
    organization_id: str,
    key: DataKey,
    *,
    instance_id: str,
    name: str,
    region: str,
    size: int,
) -> tuple[Deployment, str]:
    """Record the runtime instance of a new serverless project (ADR 28): a deployment row of
    kind ``project`` with the project's id, desired running, version ``serverless``, its data
    key wrapped and its first password sealed pending; returns the row and that password.

    The caller (`citadel.projects.service`) checks the project request; here only the
    organization's quota of instances, under its lock (projects count apart from deployments,
    against the same limit)."""
    load_org(ctx.session, organization_id, for_update=True)
    held = ctx.session.scalar(
        scoped_count(
            Deployment,
            organization_id,
            Deployment.desired_state != Desired.DELETED,
            Deployment.kind == PROJECT,
        )
    )
    enforce(
        ctx, DeploymentsPerOrganizationExceeded, held=held or 0, organization_id=organization_id
    )
    return _insert_new(
        ctx,
        organization_id,
        key,
        deployment_id=instance_id,
        name=name[:64],
        alias=None,
        region=region,
        version=SERVERLESS_VERSION,
        ref_id=DEFAULT_REF_ID,
        size=size,
        tags=[],
        request_id=None,
        kind=PROJECT,
    )


def _insert_new(
    ctx: Context,
    organization_id: str,
    key: DataKey,
    *,
    deployment_id: str,
    name: str,
    alias: str | None,
    region: str,
    version: str,
    ref_id: str,
    size: int,
    tags: list[dict[str, Any]],
    request_id: str | None,
    kind: str = DEPLOYMENT,
) -> tuple[Deployment, str]:
    """Insert a new row, desired running, with its wrapped data key and a first password
    sealed pending (returned: the only copy)."""
    now = ctx.clock.now()
    password = secrets.token_urlsafe(24)
    row = Deployment(
        id=deployment_id,
        organization_id=organization_id,
        name=name,
        alias=alias,
        region=region,
        version=version,
        ref_id=ref_id,
        size=size,
        tags=tags,
        desired_state=Desired.RUNNING,
        observed_state=Observed.INITIALIZING,
        healthy=False,
        sandbox_uid=0,
        data_key_wrapped=key.wrapped,
        key_path=key.key_path,
        key_manager_id=key.key_manager_id,
        elastic_password_sealed=ctx.keyring.barrier.seal(
            password.encode(), context=password_context(deployment_id)
        ),
        request_id=request_id,
        revision=1,
        created_at=now,
        updated_at=now,
        kind=kind,
    )
    _insert_with_sandbox_uid(ctx, row)
    return row, password


def _insert_with_sandbox_uid(ctx: Context, row: Deployment) -> None:
    """Insert `row` with the next free sandbox uid; a concurrent create in another
    organization may take the same one first (unique constraint), then try the next."""
    for attempt in range(_UID_ATTEMPTS):
        row.sandbox_uid = _next_sandbox_uid(ctx)
        try:
            with ctx.session.begin_nested():
                ctx.session.add(row)
                ctx.session.flush()
            return
        except IntegrityError:
            if attempt == _UID_ATTEMPTS - 1:
                raise


def _next_sandbox_uid(ctx: Context) -> int:
    highest = ctx.session.scalar(sa.select(sa.func.max(Deployment.sandbox_uid)))
    return FIRST_SANDBOX_UID if highest is None else highest + 1


def _check_alias(ctx: Context, alias: str, region: str, deployment_id: str | None) -> None:
    taken = ctx.session.scalar(
        sa.select(Deployment.id).where(
            Deployment.alias == alias,
            Deployment.region == region,
            Deployment.desired_state != Desired.DELETED,
            Deployment.id != (deployment_id or ""),
        )
    )
    if taken is not None:
        raise AliasTaken(fields=["body.alias"])


def visible(ctx: Context, organization_id: str, deployment_id: str) -> Deployment:
    """The deployment if it exists, is not deleted and the caller may read it; else 404."""
    row = owned(ctx.session, Deployment, organization_id, deployment_id)
    if row is None or row.desired_state == Desired.DELETED or row.kind != DEPLOYMENT:
        raise DeploymentNotFound()
    if not ctx.caller.system:
        target = Target.resource(organization_id, ScopeKind.DEPLOYMENT, deployment_id)
        if not decide(ctx.caller.subject, Permission.DEPLOYMENTS_READ, target):
            raise DeploymentNotFound()
    return row


def for_change(
    ctx: Context, organization_id: str, deployment_id: str, permission: Permission
) -> Deployment:
    row = visible(ctx, organization_id, deployment_id)
    target = Target.resource(organization_id, ScopeKind.DEPLOYMENT, deployment_id)
    ctx.authorize(permission, target)
    return row


def get_deployment(ctx: Context, organization_id: str, deployment_id: str) -> Deployment:
    """One deployment the caller may read."""
    return visible(ctx, organization_id, deployment_id)


def list_deployments(ctx: Context, organization_id: str) -> Sequence[Deployment]:
    """The organization's deployments that the caller may read (deleted ones excluded)."""
    rows = ctx.session.scalars(
        scoped(
            Deployment,
            organization_id,
            Deployment.desired_state != Desired.DELETED,
            Deployment.kind == DEPLOYMENT,
        ).order_by(Deployment.created_at, Deployment.id)
    ).all()
    subject = ctx.caller.subject
    return [
        r
        for r in rows
        if ctx.caller.system
        or decide(
            subject,
            Permission.DEPLOYMENTS_READ,
            Target.resource(organization_id, ScopeKind.DEPLOYMENT, r.id),
        )
    ]


def update_deployment(
    ctx: Context, organization_id: str, deployment_id: str, body: UpdateDeploymentIn
) -> Deployment:
    """Change the name, alias (empty removes it) and tags."""
    row = for_change(ctx, organization_id, deployment_id, Permission.DEPLOYMENTS_UPDATE)
    changes: dict[str, Any] = {}
    if body.name is not None and body.name != row.name:
        changes["name"] = row.name = body.name
    if body.alias is not None:
        alias = body.alias or None
        if alias != row.alias:
            if alias:
                _check_alias(ctx, alias, row.region, row.id)
            changes["alias"] = row.alias = alias
    if body.metadata is not None:
        tags = [t.model_dump() for t in body.metadata.tags]
        if tags != row.tags:
            changes["tags"] = row.tags = tags
    if changes:
        touch(ctx, row)
        ctx.record(
            AuditAction.DEPLOYMENT_UPDATED,
            organization_id=organization_id,
            target_type=TargetType.DEPLOYMENT,
            target_id=row.id,
            details={"changed": sorted(changes)},
        )
    return row


def touch(ctx: Context, row: Deployment) -> None:
    row.revision += 1
    row.updated_at = ctx.clock.now()
    ctx.session.flush()


def _transition(ctx: Context, row: Deployment, transition: Transition) -> None:
    outcome = next_desired(Desired(row.desired_state), transition)
    if outcome is Refusal.ALREADY_DELETED:
        raise DeploymentDeleted()
    if outcome is Refusal.NOT_SHUT_DOWN:
        raise DeploymentNotShutDown()
    assert isinstance(outcome, Desired)
    row.desired_state = outcome


def shutdown_deployment(ctx: Context, organization_id: str, deployment_id: str) -> Deployment:
    """Ask for the deployment to stop (its data stays)."""
    row = for_change(ctx, organization_id, deployment_id, Permission.DEPLOYMENTS_UPDATE)
    if row.desired_state == Desired.STOPPED:
        return row
    _transition(ctx, row, Transition.SHUTDOWN)
    touch(ctx, row)
    ctx.record(
        AuditAction.DEPLOYMENT_SHUTDOWN,
        organization_id=organization_id,
        target_type=TargetType.DEPLOYMENT,
        target_id=row.id,
    )
    return row


def delete_deployment(ctx: Context, organization_id: str, deployment_id: str) -> Deployment:
    """Delete a shut-down deployment: its data key is destroyed (crypto-shredding), or kept
    with its snapshots for the operator's retention (`deleted_snapshot_retention_days`)."""
    row = for_change(ctx, organization_id, deployment_id, Permission.DEPLOYMENTS_DELETE)
    _transition(ctx, row, Transition.DELETE)
    kept_until = snapshots.keep_after_delete(ctx, row)
    row.elastic_password_sealed = None
    row.deleted_at = ctx.clock.now()
    touch(ctx, row)
    ctx.record(
        AuditAction.DEPLOYMENT_DELETED,
        organization_id=organization_id,
        target_type=TargetType.DEPLOYMENT,
        target_id=row.id,
        details={"data_key": "destroyed"}
        if kept_until is None
        else {"data_key": "kept", "shred_after": kept_until.isoformat()},
    )
    return row


def reset_elastic_password(
    ctx: Context, organization_id: str, deployment_id: str, ref_id: str | None = None
) -> tuple[Deployment, str]:
    """A new `elastic` password, pending until the allocator applies it; returned once.

    `ref_id` names the Elasticsearch resource (None: the deployment's one)."""
    row = for_change(ctx, organization_id, deployment_id, Permission.DEPLOYMENTS_MANAGE_SECURITY)
    if ref_id is not None and ref_id != row.ref_id:
        raise DeploymentNotFound("The deployment has no Elasticsearch resource with this ref_id.")
    password = secrets.token_urlsafe(24)
    row.elastic_password_sealed = ctx.keyring.barrier.seal(
        password.encode(), context=password_context(row.id)
    )
    touch(ctx, row)
    ctx.record(
        AuditAction.DEPLOYMENT_PASSWORD_RESET,
        organization_id=organization_id,
        target_type=TargetType.DEPLOYMENT,
        target_id=row.id,
        details={"username": "elastic"},
    )
    return row, password

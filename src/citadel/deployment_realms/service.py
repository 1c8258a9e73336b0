"""A deployment's customer realms: list, create or replace, delete, and what its node gets.

Seeing or changing a deployment's realms takes `deployments:manage_security` on it (a
deployment admin on it, or an organization owner): the settings decide who can sign in to the
deployment's data, so editors and viewers see none of them. A caller who cannot read the
deployment gets the deployment's 404. Every change is audited in the organization's chain and
touches the deployment, so the allocations' tag changes and the allocator writes the node's
new security file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from citadel.audit.tags import AuditAction, TargetType
from citadel.authn.context import Context
from citadel.authz.permissions import Permission
from citadel.contract.messages import OidcRealm, SamlRealm
from citadel.crypto.barrier import Barrier
from citadel.db.tenancy import in_organization, scoped
from citadel.deployment_realms.errors import RealmNotFound, RealmOrderTaken, TooManyRealms
from citadel.deployment_realms.models import DeploymentRealm
from citadel.deployment_realms.schemas import RealmIn
from citadel.deployment_realms.settings import (
    MAX_REALMS,
    CheckedSettings,
    check_name,
    check_oidc,
    check_saml,
)
from citadel.deployments import service as deployments
from citadel.deployments.models import Deployment
from citadel.kit.ids import new_id


def secret_context(realm_id: str) -> str:
    """The sealing context of an OIDC realm's client secret."""
    return f"deployment_realms.client_secret:{realm_id}"


def _deployment(ctx: Context, organization_id: str, deployment_id: str) -> Deployment:
    return deployments.for_change(
        ctx, organization_id, deployment_id, Permission.DEPLOYMENTS_MANAGE_SECURITY
    )


def _realms(ctx: Context, organization_id: str, deployment_id: str) -> Sequence[DeploymentRealm]:
    stmt = scoped(
        DeploymentRealm, organization_id, DeploymentRealm.deployment_id == deployment_id
    ).order_by(DeploymentRealm.order, DeploymentRealm.name)
    return ctx.session.scalars(stmt).all()


def list_realms(
    ctx: Context, organization_id: str, deployment_id: str
) -> Sequence[DeploymentRealm]:
    """The deployment's realms by order."""
    _deployment(ctx, organization_id, deployment_id)
    return _realms(ctx, organization_id, deployment_id)


def put_realm(
    ctx: Context, organization_id: str, deployment_id: str, name: str, body: RealmIn
) -> tuple[DeploymentRealm, bool]:
    """Create or replace the realm `name`; true when it was created."""
    check_name(name)
    deployment = _deployment(ctx, organization_id, deployment_id)
    existing = _realms(ctx, organization_id, deployment_id)
    row = next((r for r in existing if r.name == name), None)
    keeps_secret = row is not None and row.type == "oidc" and row.client_secret_sealed is not None
    checked: CheckedSettings = (
        check_saml(body.settings)
        if body.type == "saml"
        else check_oidc(body.settings, has_secret=keeps_secret)
    )
    if any(r.order == body.order and r.name != name for r in existing):
        raise RealmOrderTaken(fields=["body.order"])
    created = row is None
    if row is None:
        if len(existing) >= MAX_REALMS:
            raise TooManyRealms()
        row = DeploymentRealm(
            id=new_id(),
            organization_id=organization_id,
            deployment_id=deployment_id,
            name=name,
            created_at=ctx.clock.now(),
        )
        ctx.session.add(row)
    before = None if created else _auditable(row)
    row.type = body.type
    row.order = body.order
    row.enabled = body.enabled
    row.settings = checked.settings
    row.idp_metadata = checked.idp_metadata
    if body.type == "saml":
        row.client_secret_sealed = None
    elif checked.client_secret is not None:
        row.client_secret_sealed = ctx.keyring.barrier.seal(
            checked.client_secret.encode(), context=secret_context(row.id)
        )
    row.updated_at = ctx.clock.now()
    ctx.session.flush()
    deployments.touch(ctx, deployment)
    ctx.record(
        AuditAction.DEPLOYMENT_REALM_CREATED if created else AuditAction.DEPLOYMENT_REALM_UPDATED,
        organization_id=organization_id,
        target_type=TargetType.DEPLOYMENT,
        target_id=deployment_id,
        details={
            "realm": name,
            "before": before,
            "after": _auditable(row),
            "client_secret_changed": checked.client_secret is not None,
        },
    )
    return row, created


def delete_realm(ctx: Context, organization_id: str, deployment_id: str, name: str) -> None:
    """Remove the realm `name` (its users can no longer sign in; tokens it issued expire)."""
    deployment = _deployment(ctx, organization_id, deployment_id)
    row = ctx.session.scalar(
        scoped(
            DeploymentRealm,
            organization_id,
            DeploymentRealm.deployment_id == deployment_id,
            DeploymentRealm.name == name,
        )
    )
    if row is None:
        raise RealmNotFound()
    ctx.session.execute(
        sa.delete(DeploymentRealm).where(
            in_organization(DeploymentRealm, organization_id), DeploymentRealm.id == row.id
        )
    )
    deployments.touch(ctx, deployment)
    ctx.record(
        AuditAction.DEPLOYMENT_REALM_DELETED,
        organization_id=organization_id,
        target_type=TargetType.DEPLOYMENT,
        target_id=deployment_id,
        details={"realm": name, "type": row.type},
    )


def _auditable(row: DeploymentRealm) -> dict[str, Any]:
    return {
        "type": row.type,
        "order": row.order,
        "enabled": row.enabled,
        "settings": dict(row.settings),
    }


def realms_for_node(
    session: Session, deployment_id: str, barrier: Barrier | None = None
) -> tuple[tuple[SamlRealm, ...], tuple[OidcRealm, ...]]:
    """The deployment's realms as its node's security file carries them, by order (for the
    platform's allocations: no caller, no authorization). OIDC client secrets are unsealed
    with `barrier`; without one they are left out."""
    rows = session.scalars(
        sa.select(DeploymentRealm)
        .where(DeploymentRealm.deployment_id == deployment_id)
        .order_by(DeploymentRealm.order, DeploymentRealm.name)
    ).all()
    saml = tuple(
        SamlRealm(
            name=r.name,
            order=r.order,
            enabled=r.enabled,
            settings=dict(r.settings),
            idp_metadata=r.idp_metadata,
        )
        for r in rows
        if r.type == "saml"
    )
    oidc = tuple(
        OidcRealm(
            name=r.name,
            order=r.order,
            enabled=r.enabled,
            settings=dict(r.settings),
            client_secret=_secret(barrier, r),
        )
        for r in rows
        if r.type == "oidc"
    )
    return saml, oidc


def _secret(barrier: Barrier | None, row: DeploymentRealm) -> str | None:
    if barrier is None or row.client_secret_sealed is None:
        return None
    return barrier.open(row.client_secret_sealed, context=secret_context(row.id)).decode()

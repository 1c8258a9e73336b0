"""A deployment's customer realms: list, create or replace, delete, and what its node gets.

Seeing or changing a deployment's realms takes `deployments:manage_security` on it (a
deployment admin on it, or an organization owner): the settings decide who can sign in to the
deployment's data, so editors and viewers see none of them. A caller who cannot read the
deployment gets the deployment's 404. Every change is audited in the organization's chain and
touches the deployment, so the allocations' tag changes and the allocator writes the node's
new security file.

A SAML realm whose IdP metadata is given by URL (``idp.metadata.path``): `fetch_metadata`
authorizes the caller and checks the settings in a read unit, then fetches the document with
no transaction open (a fetch may take seconds; a write unit holds the database's write lock),
and `put_realm` stores what was fetched and when. `refresh_metadata`, a control-plane chore,
fetches every such document again once it is `REFRESH_AFTER` old: a changed document (an IdP
rotating its signing certificate) is stored and touches the deployment, so the node gets it;
a fetch or a document that fails keeps the last good one and is logged and audited as a
platform event (``deployment.realm.metadata_refresh_failed``), and is tried again at the next
round.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from citadel.audit.tags import AuditAction, Outcome, TargetType
from citadel.authn.context import Context
from citadel.authz.permissions import Permission
from citadel.contract.messages import OidcRealm, SamlRealm
from citadel.crypto.barrier import Barrier
from citadel.db.tenancy import in_organization, scoped
from citadel.deployment_realms.errors import (
    InvalidRealm,
    MetadataUnavailable,
    RealmNotFound,
    RealmOrderTaken,
    TooManyRealms,
)
from citadel.deployment_realms.metadata import fetch_metadata as fetch_document
from citadel.deployment_realms.models import DeploymentRealm
from citadel.deployment_realms.schemas import RealmIn
from citadel.deployment_realms.settings import (
    MAX_REALMS,
    METADATA_CAS,
    METADATA_PATH,
    CheckedSettings,
    certificate_authorities,
    check_metadata,
    check_name,
    check_oidc,
    check_saml,
    saml_settings,
)
from citadel.deployments import service as deployments
from citadel.deployments.models import Deployment
from citadel.kit.ids import new_id
from citadel.log import get_logger

log = get_logger(__name__)

REFRESH_AFTER = timedelta(days=1)
"""How old a document fetched from ``idp.metadata.path`` gets before it is fetched again."""
_NODE_LEAVES_OUT = (METADATA_PATH, METADATA_CAS)  # the control plane's fetch, not the node's


class Units(Protocol):
    """Opens units of work (`citadel.use_cases.units.Units`, which this layer cannot import)."""

    def read(self) -> AbstractContextManager[Context]: ...

    def write(self) -> AbstractContextManager[Context]: ...


@dataclass(frozen=True)
class Fetched:
    """An IdP's metadata document as fetched from `url` at `at`."""

    url: str
    document: str
    at: datetime

    def answer(self, url: str, ca_pem: str | None) -> str:
        """`check_saml`'s fetch, answered with this document (fetched for the same URL)."""
        if url != self.url:
            raise MetadataUnavailable(
                f"{METADATA_PATH} changed while its document was fetched.",
                fields=[f'body.settings["{METADATA_PATH}"]'],
            )
        return self.document


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


def fetch_metadata(
    units: Units, organization_id: str, deployment_id: str, name: str, body: RealmIn
) -> Fetched | None:
    """For a SAML realm whose IdP metadata is given by URL: the caller authorized and the
    settings checked (a read unit), then the document fetched outside any transaction and
    checked; None for any other realm. `put_realm` is then given what this answers."""
    if body.type != "saml" or METADATA_PATH not in body.settings:
        return None
    with units.read() as ctx:
        check_name(name)
        _deployment(ctx, organization_id, deployment_id)
        checked = saml_settings(body.settings)
        policy, now = ctx.policies.key_manager_endpoints, ctx.clock.now()
    url = checked[METADATA_PATH]
    document = fetch_document(url, certificate_authorities(checked), policy)
    check_metadata(checked, document)
    return Fetched(url=url, document=document, at=now)


def put_realm(
    ctx: Context,
    organization_id: str,
    deployment_id: str,
    name: str,
    body: RealmIn,
    fetched: Fetched | None = None,
) -> tuple[DeploymentRealm, bool]:
    """Create or replace the realm `name`; true when it was created. A SAML realm's metadata
    given by URL must have been fetched (`fetch_metadata`) and is given as `fetched`."""
    check_name(name)
    deployment = _deployment(ctx, organization_id, deployment_id)
    existing = _realms(ctx, organization_id, deployment_id)
    row = next((r for r in existing if r.name == name), None)
    keeps_secret = row is not None and row.type == "oidc" and row.client_secret_sealed is not None
    checked: CheckedSettings = (
        check_saml(body.settings, fetched.answer if fetched is not None else None)
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
    row.idp_metadata_fetched_at = fetched.at if checked.metadata_url and fetched else None
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
            settings={k: v for k, v in r.settings.items() if k not in _NODE_LEAVES_OUT},
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


# --- the metadata refresh (a control-plane chore) ----------------------------------------------


@dataclass(frozen=True)
class Refreshed:
    """What one round of `refresh_metadata` did (realm ids)."""

    changed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Due:
    id: str
    settings: dict[str, Any]
    fetched_at: datetime


def refresh_metadata(units: Units, *, refresh_after: timedelta = REFRESH_AFTER) -> Refreshed:
    """Fetch again every SAML realm's IdP metadata fetched `refresh_after` ago or earlier
    (units of the platform itself); each fetch outside any transaction."""
    with units.read() as ctx:
        cutoff, policy = ctx.clock.now() - refresh_after, ctx.policies.key_manager_endpoints
        rows = ctx.session.scalars(
            sa.select(DeploymentRealm)
            .where(
                DeploymentRealm.type == "saml",
                DeploymentRealm.idp_metadata_fetched_at.is_not(None),
                DeploymentRealm.idp_metadata_fetched_at <= cutoff,
            )
            .order_by(DeploymentRealm.idp_metadata_fetched_at)
        ).all()
        due = [_Due(r.id, dict(r.settings), r.idp_metadata_fetched_at) for r in rows]  # type: ignore[arg-type]
    changed: list[str] = []
    unchanged: list[str] = []
    failed: list[str] = []
    for realm in due:
        url = realm.settings.get(METADATA_PATH)
        if not isinstance(url, str):
            continue
        try:
            document = fetch_document(url, certificate_authorities(realm.settings), policy)
            check_metadata(realm.settings, document)
        except (MetadataUnavailable, InvalidRealm) as exc:
            failed.append(realm.id)
            with units.write() as ctx:
                _refresh_failed(ctx, realm, exc)
            continue
        with units.write() as ctx:
            done = _store_refreshed(ctx, realm, url, document)
        if done is not None:
            (changed if done else unchanged).append(realm.id)
    return Refreshed(tuple(changed), tuple(unchanged), tuple(failed))


def _store_refreshed(ctx: Context, due: _Due, url: str, document: str) -> bool | None:
    """Store a refreshed document; whether it changed (None: the realm changed meanwhile)."""
    row = ctx.session.get(DeploymentRealm, due.id)
    if row is None or row.idp_metadata_fetched_at != due.fetched_at:
        return None  # deleted, or put again (with its own fetch) meanwhile
    row.idp_metadata_fetched_at = ctx.clock.now()
    if document == row.idp_metadata:
        return False
    row.idp_metadata = document
    row.updated_at = ctx.clock.now()
    deployment = ctx.session.scalar(
        scoped(Deployment, row.organization_id, Deployment.id == row.deployment_id)
    )
    if deployment is not None:
        deployments.touch(ctx, deployment)
    ctx.record(
        AuditAction.DEPLOYMENT_REALM_METADATA_REFRESHED,
        organization_id=row.organization_id,
        target_type=TargetType.DEPLOYMENT,
        target_id=row.deployment_id,
        details={"realm": row.name, "url": url},
    )
    log.info("deployment_realms.metadata_refreshed", realm_id=row.id, deployment=row.deployment_id)
    return True


def _refresh_failed(ctx: Context, due: _Due, exc: MetadataUnavailable | InvalidRealm) -> None:
    row = ctx.session.get(DeploymentRealm, due.id)
    if row is None:
        return
    log.warning(
        "deployment_realms.metadata_refresh_failed",
        realm_id=row.id,
        deployment=row.deployment_id,
        code=exc.code,
        reason=exc.message,
    )
    ctx.record(
        AuditAction.DEPLOYMENT_REALM_METADATA_REFRESH_FAILED,
        organization_id=None,
        target_type=TargetType.DEPLOYMENT,
        target_id=row.deployment_id,
        outcome=Outcome.FAILURE,
        details={
            "organization_id": row.organization_id,
            "realm": row.name,
            "url": due.settings.get(METADATA_PATH),
            "code": exc.code,
            "reason": exc.message,
            "last_fetched": due.fetched_at.isoformat(),
        },
    )

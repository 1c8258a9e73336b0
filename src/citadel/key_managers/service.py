"""Key managers of an organization, and deployments under customer-managed keys.

A deployment's 256-bit data key never changes; what changes is the key-encryption key that
wraps it: the platform key, or a customer's key in their HSM, Vault/OpenBao, KMIP server or
KMS. So rotating (re-wrapping under the key's newest version) and re-keying (wrapping under
another key) touch one small value and never stop the node. Every operation needs the key to
answer: a provider that is unreachable changes nothing (503), one that refuses changes nothing
(400 naming why).

No call to a key service runs inside a write transaction (a slow one would hold the writer
lock): `locate` and `key_in_use` read; `check`, `rotation_of` and `rewrap` ask the key service
with no transaction open; `confirm`, `record_rotation` and `record_rekey` write, refusing with
`KeyChangedMeanwhile` when what was read has changed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from citadel.audit.tags import AuditAction, TargetType
from citadel.authn.context import Context
from citadel.authz.decide import Target
from citadel.authz.permissions import Permission
from citadel.contract.messages import data_key_context
from citadel.crypto.providers.base import (
    InvalidKeyPath as ProviderPathError,
)
from citadel.crypto.providers.base import (
    KeyProvider,
    KeyUnavailable,
    ProviderUnreachable,
    Reason,
)
from citadel.crypto.providers.connection import Connection
from citadel.crypto.providers.endpoints import EndpointNotAllowed, EndpointPolicy
from citadel.crypto.providers.registry import (
    endpoint_of,
    open_provider,
    provider_kind,
    url_endpoint,
)
from citadel.db.tenancy import owned, scoped
from citadel.deployments.errors import DeploymentNotFound
from citadel.deployments.lifecycle import Desired
from citadel.deployments.models import Deployment
from citadel.deployments.service import for_change, touch
from citadel.key_managers import rules
from citadel.key_managers.errors import (
    InvalidKeyManager,
    InvalidKeyPath,
    KeyChangedMeanwhile,
    KeyManagerEndpointNotAllowed,
    KeyManagerInUse,
    KeyManagerNameTaken,
    KeyManagerNotFound,
    KeyManagerUnreachable,
    KeyUnusable,
)
from citadel.key_managers.models import KeyManager
from citadel.key_managers.schemas import KeyManagerIn, KeyManagerUpdateIn
from citadel.kit.ids import is_id, new_id
from citadel.log import get_logger

log = get_logger(__name__)

PROBE_CONTEXT = b"citadel/key-check"
TIMEOUT_S = 5.0


def secret_context(manager_id: str) -> str:
    return f"key_managers.secret:{manager_id}"


def _authorize(ctx: Context, org: str) -> None:
    ctx.authorize(Permission.KEY_MANAGERS_MANAGE, Target.organization(org))


def _load(ctx: Context, org: str, manager_id: str) -> KeyManager:
    row = owned(ctx.session, KeyManager, org, manager_id) if is_id(manager_id) else None
    if row is None:
        raise KeyManagerNotFound()
    return row


# --- key managers ----------------------------------------------------------------------------


def list_managers(ctx: Context, org: str) -> Sequence[KeyManager]:
    _authorize(ctx, org)
    return ctx.session.scalars(
        scoped(KeyManager, org).order_by(KeyManager.created_at, KeyManager.id)
    ).all()


def get_manager(ctx: Context, org: str, manager_id: str) -> KeyManager:
    _authorize(ctx, org)
    return _load(ctx, org, manager_id)


def create_manager(ctx: Context, org: str, body: KeyManagerIn) -> KeyManager:
    _authorize(ctx, org)
    rules.check_settings(body.kind, body.settings, body.secret, ctx.policies.pkcs11_modules)
    _check_endpoint_setting(body.kind, body.settings, ctx.policies.key_manager_endpoints)
    now = ctx.clock.now()
    row = KeyManager(
        id=new_id(),
        organization_id=org,
        name=body.name,
        kind=body.kind,
        settings=dict(body.settings),
        created_at=now,
        updated_at=now,
    )
    if body.secret is not None:
        row.secret_sealed = ctx.keyring.barrier.seal(
            body.secret.encode(), context=secret_context(row.id)
        )
    _save(ctx, row)
    ctx.record(
        AuditAction.KEY_MANAGER_CREATED,
        organization_id=org,
        target_type=TargetType.KEY_MANAGER,
        target_id=row.id,
        details={"name": row.name, "kind": row.kind, "settings": sorted(row.settings)},
    )
    return row


def update_manager(ctx: Context, org: str, manager_id: str, body: KeyManagerUpdateIn) -> KeyManager:
    _authorize(ctx, org)
    row = _load(ctx, org, manager_id)
    settings = dict(body.settings) if body.settings is not None else dict(row.settings)
    has_secret = body.secret is not None or row.secret_sealed is not None
    rules.check_settings(
        row.kind, settings, "kept" if has_secret else None, ctx.policies.pkcs11_modules
    )
    _check_endpoint_setting(row.kind, settings, ctx.policies.key_manager_endpoints)
    changed = sorted(k for k, v in body.model_dump(exclude_none=True).items() if v is not None)
    if body.name is not None:
        row.name = body.name
    row.settings = settings
    if body.secret is not None:
        row.secret_sealed = ctx.keyring.barrier.seal(
            body.secret.encode(), context=secret_context(row.id)
        )
    row.updated_at = ctx.clock.now()
    _save(ctx, row)
    _touch_deployments_of(ctx, row.id)
    ctx.record(
        AuditAction.KEY_MANAGER_UPDATED,
        organization_id=org,
        target_type=TargetType.KEY_MANAGER,
        target_id=row.id,
        details={"changed": changed},
    )
    return row


def delete_manager(ctx: Context, org: str, manager_id: str) -> None:
    _authorize(ctx, org)
    row = _load(ctx, org, manager_id)
    if _deployments_of(ctx, row.id):
        raise KeyManagerInUse()
    ctx.session.delete(row)
    ctx.session.flush()
    ctx.record(
        AuditAction.KEY_MANAGER_DELETED,
        organization_id=org,
        target_type=TargetType.KEY_MANAGER,
        target_id=manager_id,
        details={"name": row.name},
    )


def _check_endpoint_setting(kind: str, settings: dict[str, str], endpoints: EndpointPolicy) -> None:
    """An AWS ``endpoint_url`` that is an address (or ``localhost``) the operator does not
    allow is refused now; a host name is checked, resolved, at every connection."""
    url = settings.get("endpoint_url") if kind == "aws-kms" else None
    if not url:
        return
    field = "body.settings.endpoint_url"
    try:
        host, port = url_endpoint(url)
    except ProviderPathError as exc:
        raise InvalidKeyManager(str(exc), fields=[field]) from None
    try:
        endpoints.check_literal(host, port)
    except EndpointNotAllowed:
        log.info("key_manager.endpoint_not_allowed", host=host, port=port)
        raise KeyManagerEndpointNotAllowed(fields=[field]) from None


def _save(ctx: Context, row: KeyManager) -> None:
    try:
        with ctx.session.begin_nested():
            ctx.session.add(row)
            ctx.session.flush()
    except IntegrityError:
        raise KeyManagerNameTaken(fields=["body.name"]) from None


def _deployments_of(ctx: Context, manager_id: str) -> list[str]:
    return list(
        ctx.session.scalars(
            sa.select(Deployment.id).where(
                Deployment.key_manager_id == manager_id,
                Deployment.desired_state != Desired.DELETED,
            )
        )
    )


def _touch_deployments_of(ctx: Context, manager_id: str) -> None:
    """A changed credential reaches the allocator with the next allocations version."""
    ids = _deployments_of(ctx, manager_id)
    if ids:
        ctx.session.execute(
            sa.update(Deployment)
            .where(Deployment.id.in_(ids))
            .values(revision=Deployment.revision + 1)
        )


# --- providers ----------------------------------------------------------------------------


def connection(ctx: Context, row: KeyManager) -> Connection:
    """How to reach the manager: its settings and its unsealed credential."""
    secret = None
    if row.secret_sealed is not None:
        secret = ctx.keyring.barrier.open(row.secret_sealed, context=secret_context(row.id))
    return Connection(
        settings=dict(row.settings),
        secret=secret,
        timeout_s=TIMEOUT_S,
        endpoints=ctx.policies.key_manager_endpoints,
    )


@dataclass(frozen=True)
class CustomerKey:
    """A customer's key as the database knows it: its provider (opened, not yet asked
    anything), the manager that reaches it, and what the manager held when it was read."""

    provider: KeyProvider
    manager_id: str
    key_path: str
    manager_seen: tuple[str, dict[str, Any], bytes | None] = dataclasses.field(repr=False)


def locate(
    ctx: Context, org: str, key_path: str, manager_id: str | None, *, field: str
) -> CustomerKey:
    """The organization's key manager for `key_path` (the only one of its kind, or the one
    named), with a provider opened on it. No call leaves the process: `check` asks the key,
    after the transaction this runs in has ended."""
    try:
        kind = provider_kind(key_path)
    except ProviderPathError as exc:
        raise InvalidKeyPath(str(exc), fields=[field]) from None
    if kind == "file":
        raise InvalidKeyPath("file: keys are the platform's, not a customer's.", fields=[field])
    if kind == "pkcs11" and ("pin-source" in key_path or "pin-value" in key_path):
        raise InvalidKeyPath(
            "The PIN belongs in the key manager's secret, not in the key path.", fields=[field]
        )
    managers = [m for m in _org_managers(ctx, org) if m.kind == kind]
    if manager_id is not None:
        managers = [m for m in managers if m.id == manager_id]
        if not managers:
            raise InvalidKeyManager(
                f"The organization has no {kind} key manager with that id.",
                fields=[field.rsplit(".", 1)[0] + ".key_manager_id"],
            )
    if not managers:
        raise InvalidKeyManager(
            f"Configure a {kind} key manager for the organization first "
            "(POST /organizations/{id}/key-managers).",
            fields=[field],
        )
    if len(managers) > 1:
        raise InvalidKeyManager(
            f"The organization has several {kind} key managers; name one with key_manager_id.",
            fields=[field.rsplit(".", 1)[0] + ".key_manager_id"],
        )
    manager = managers[0]
    reach = connection(ctx, manager)
    try:
        provider = open_provider(key_path, reach)
        endpoint = endpoint_of(key_path, reach)
    except ProviderPathError as exc:
        raise InvalidKeyPath(str(exc), fields=[field]) from None
    if endpoint is not None:
        with provider_errors(field):  # an address decided without DNS; names at connection
            reach.endpoints.check_literal(*endpoint)
    return CustomerKey(provider, manager.id, key_path, _seen(manager))


def _seen(manager: KeyManager) -> tuple[str, dict[str, Any], bytes | None]:
    return (manager.organization_id, dict(manager.settings), manager.secret_sealed)


def confirm(ctx: Context, org: str, customer: CustomerKey) -> None:
    """Inside the write: the key manager read before the key was asked is still there and
    unchanged (it may have been deleted or re-pointed meanwhile); else a 409, nothing stored."""
    manager = ctx.session.get(KeyManager, customer.manager_id)
    if manager is None or manager.organization_id != org or _seen(manager) != customer.manager_seen:
        raise KeyChangedMeanwhile("The key manager changed while its key was checked; try again.")


def _org_managers(ctx: Context, org: str) -> Sequence[KeyManager]:
    return ctx.session.scalars(scoped(KeyManager, org)).all()


def check(provider: KeyProvider, *, field: str) -> None:
    """The key is enabled and wraps and unwraps now; else a 400 naming why (503 when the
    provider does not answer)."""
    probe = os.urandom(32)
    try:
        with provider_errors(field):
            if not provider.describe().enabled:
                raise KeyUnusable("The key is disabled at the key manager.", fields=[field])
            wrapped = provider.wrap(probe, context=PROBE_CONTEXT)
            if provider.unwrap(wrapped, context=PROBE_CONTEXT) != probe:
                raise KeyUnusable("The key did not give back what it wrapped.", fields=[field])
    except ProviderPathError as exc:
        raise InvalidKeyPath(str(exc), fields=[field]) from None


def _provider_of(ctx: Context, row: Deployment, platform: KeyProvider) -> KeyProvider:
    if row.key_manager_id is None:
        return platform
    manager = ctx.session.get(KeyManager, row.key_manager_id)
    if manager is None:
        raise KeyUnusable("The deployment's key manager is gone.")
    try:
        return open_provider(row.key_path, connection(ctx, manager))
    except ProviderPathError as exc:  # e.g. a KMIP CA changed to something unreadable
        raise KeyUnusable(f"The deployment's key manager settings are unusable: {exc}") from None


# What a caller is told about an unusable key: a fixed sentence per reason, never what the key
# service said (its text is logged here, not repeated to an organization).
UNUSABLE = {
    Reason.UNKNOWN_KEY: "the key manager has no such key",
    Reason.DISABLED: "the key is disabled at the key manager",
    Reason.DESTROYED: "the key was destroyed",
    Reason.ACCESS_DENIED: "the key manager denied access to the key",
    Reason.WRONG_KEY_TYPE: "the key is not a symmetric encryption key the platform can use",
    Reason.WRONG_CONTEXT: "the key did not open what it wrapped (another key, or altered data)",
}


@contextlib.contextmanager
def provider_errors(field: str | None = None) -> Iterator[None]:
    """Provider errors as API errors, from a fixed set that tells nothing of the target:
    an endpoint the operator does not allow 400, an unusable key 400 (its reason), an
    unreachable provider 503 (one message, however it failed). The detail is logged."""
    fields = [field] if field else []
    try:
        yield
    except EndpointNotAllowed as exc:
        log.info("key_manager.endpoint_not_allowed", host=exc.host)
        raise KeyManagerEndpointNotAllowed(fields=fields) from None
    except KeyUnavailable as exc:
        log.info("key_manager.key_unusable", reason=str(exc.reason), detail=str(exc))
        message = f"The key cannot be used ({exc.reason}): {UNUSABLE[exc.reason]}."
        raise KeyUnusable(message, fields=fields) from None
    except ProviderUnreachable as exc:
        log.warning("key_manager.unreachable", detail=str(exc))
        raise KeyManagerUnreachable() from None


# --- deployments under customer keys ----------------------------------------------------------
#
# Each use case reads in one transaction (`key_in_use`, `locate`), asks the key service with
# no transaction open (`rotation_of`, `rewrap`), then writes in another transaction
# (`record_rotation`, `record_rekey`), which refuses when the key changed meanwhile.
# `citadel.use_cases.deployments` strings the three together.


@dataclass(frozen=True)
class KeyInUse:
    """What wraps a deployment's data key, read in one transaction and used outside any."""

    deployment_id: str
    provider: KeyProvider
    wrapped: bytes = dataclasses.field(repr=False)
    key_path: str
    key_manager_id: str | None


@dataclass(frozen=True)
class Rotation:
    """The key's version before and now, and the data key wrapped under the newest one
    (None when it already was)."""

    before: str
    current: str
    rewrapped: bytes | None = dataclasses.field(repr=False)


def key_in_use(
    ctx: Context, org: str | None, deployment_id: str, platform: KeyProvider
) -> KeyInUse:
    """The deployment's wrapped data key and a provider for the key that wraps it.

    `org` None: the platform asks (the allocator noticed a rotation at the provider)."""
    if org is None:
        row = ctx.session.get(Deployment, deployment_id)
        if row is None or row.desired_state == Desired.DELETED:
            raise DeploymentNotFound()
    else:
        row = for_change(ctx, org, deployment_id, Permission.DEPLOYMENTS_MANAGE_SECURITY)
    if row.data_key_wrapped is None:
        raise KeyUnusable("The deployment has no data key.")
    provider = _provider_of(ctx, row, platform)
    return KeyInUse(row.id, provider, row.data_key_wrapped, row.key_path, row.key_manager_id)


def rotation_of(key: KeyInUse) -> Rotation:
    """Ask the key service for its newest version and re-wrap under it when it is newer
    (remote calls: run it with no transaction open)."""
    context = data_key_context(key.deployment_id)
    with provider_errors():
        before = key.provider.version_of(key.wrapped)
        current = key.provider.describe().version
        if before == current:
            return Rotation(before, current, None)
        data_key = key.provider.unwrap(key.wrapped, context=context)
        rewrapped = key.provider.wrap(data_key, context=context)
        del data_key
    return Rotation(before, current, rewrapped)


def record_rotation(
    ctx: Context, org: str | None, key: KeyInUse, rotation: Rotation
) -> dict[str, str]:
    """Store the re-wrapped data key (when there is one) and audit it."""
    if rotation.rewrapped is None:
        return rotation_answer(key, rotation)
    row = _unchanged(ctx, org, key)
    row.data_key_wrapped = rotation.rewrapped
    touch(ctx, row)
    ctx.record(
        AuditAction.DEPLOYMENT_KEY_ROTATED,
        organization_id=row.organization_id,
        target_type=TargetType.DEPLOYMENT,
        target_id=row.id,
        details={
            "key_path": row.key_path,
            "from_version": rotation.before,
            "to_version": rotation.current,
        },
    )
    return rotation_answer(key, rotation)


def rotation_answer(key: KeyInUse, rotation: Rotation) -> dict[str, str]:
    """What a rotation answers: the key, its version now and before."""
    return {
        "key_resource_path": key.key_path,
        "version": rotation.current,
        "previous_version": rotation.before,
    }


def _unchanged(ctx: Context, org: str | None, key: KeyInUse) -> Deployment:
    """The deployment again, inside the write, wrapped as it was when `key` was read."""
    if org is None:
        row = ctx.session.get(Deployment, key.deployment_id)
        if row is None or row.desired_state == Desired.DELETED:
            raise DeploymentNotFound()
    else:
        row = for_change(ctx, org, key.deployment_id, Permission.DEPLOYMENTS_MANAGE_SECURITY)
    if (row.data_key_wrapped, row.key_path, row.key_manager_id) != (
        key.wrapped,
        key.key_path,
        key.key_manager_id,
    ):
        raise KeyChangedMeanwhile()
    return row


def rewrap(key: KeyInUse, new: KeyProvider, *, field: str) -> bytes:
    """The data key unwrapped by its current key and wrapped by `new`, checked to give it back
    (remote calls: run it with no transaction open)."""
    context = data_key_context(key.deployment_id)
    with provider_errors(field):
        data_key = key.provider.unwrap(key.wrapped, context=context)
        rewrapped = new.wrap(data_key, context=context)
        if new.unwrap(rewrapped, context=context) != data_key:
            raise KeyUnusable("The new key did not give back what it wrapped.", fields=[field])
        del data_key
    return rewrapped


def platform_key_path(platform: KeyProvider) -> str:
    """The platform key's path (the provider may be remote: no transaction open)."""
    with provider_errors():
        return platform.describe().key_path


def record_rekey(
    ctx: Context,
    org: str,
    key: KeyInUse,
    *,
    rewrapped: bytes,
    new_path: str,
    customer: CustomerKey | None,
) -> Deployment:
    """Store the data key wrapped under its new key (a customer's, or the platform's when
    `customer` is None) and audit it."""
    row = _unchanged(ctx, org, key)
    if customer is not None:
        confirm(ctx, org, customer)
    before = row.key_path
    row.data_key_wrapped = rewrapped
    row.key_path = new_path
    row.key_manager_id = customer.manager_id if customer is not None else None
    touch(ctx, row)
    ctx.record(
        AuditAction.DEPLOYMENT_REKEYED,
        organization_id=row.organization_id,
        target_type=TargetType.DEPLOYMENT,
        target_id=row.id,
        details={"from": before, "to": new_path, "byok": customer is not None},
    )
    return row

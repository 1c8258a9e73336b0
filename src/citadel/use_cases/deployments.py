"""Deployment use cases: `POST /api/v1/deployments` and the console's create form call the same
`create_deployment`, and so on for each use case that spans deployments, key managers and
traffic filters.

Every use case that needs a key service is three steps: read and check (a short transaction),
ask the key service (no transaction open: a key service that hangs holds no lock and stalls
no other write), then write in one transaction that makes the checks again and refuses when
what was read has changed meanwhile (`key_managers.errors.KeyChangedMeanwhile`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from citadel.allocators import service as allocators
from citadel.authn.context import Context
from citadel.authz.decide import Target, decide
from citadel.authz.permissions import Permission
from citadel.authz.roles import ScopeKind
from citadel.crypto.providers.base import KeyProvider
from citadel.deployments import service as deployments
from citadel.deployments.models import Deployment
from citadel.deployments.schemas import CreateDeploymentIn
from citadel.deployments.service import Created, DataKey, Plan
from citadel.key_managers import service as key_managers
from citadel.key_managers.models import KeyManager
from citadel.key_managers.service import CustomerKey
from citadel.kit.ids import new_id
from citadel.traffic_filters import service as traffic_filters
from citadel.traffic_filters.models import Ruleset
from citadel.use_cases.units import Units

BYOK_FIELD = "body.settings.byok.key_resource_path"
REKEY_FIELD = "body.key_resource_path"


# --- create ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Checked:
    plan: Plan
    earlier: Deployment | None
    customer: CustomerKey | None


def _check(
    units: Units,
    organization_id: str,
    body: CreateDeploymentIn,
    deployment_id: str,
    *,
    request_id: str | None,
) -> _Checked:
    """Every check of a create, cheapest first: permission, the request itself, the alias, the
    rulesets asked for and the permission to associate them, the customer key (found in the
    database, then asked with the transaction closed: it must wrap and unwrap now)."""
    with units.read() as ctx:
        checked = deployments.check_create(ctx, organization_id, body, request_id=request_id)
        if checked.earlier is not None:
            return _Checked(checked.plan, checked.earlier, None)
        _check_rulesets(ctx, organization_id, checked.plan, body, deployment_id)
        customer = _customer_key(ctx, organization_id, body)
    if customer is not None:
        key_managers.check(customer.provider, field=BYOK_FIELD)
    return _Checked(checked.plan, None, customer)


def _check_rulesets(
    ctx: Context, organization_id: str, plan: Plan, body: CreateDeploymentIn, deployment_id: str
) -> None:
    """The rulesets asked for exist in the deployment's region, and the caller may associate
    them with it (`traffic_filters.attach_on_create` checks both again when it writes)."""
    requested = _requested_rulesets(body)
    if traffic_filters.requested_rulesets(ctx, organization_id, plan.region, requested):
        target = Target.resource(organization_id, ScopeKind.DEPLOYMENT, deployment_id)
        ctx.authorize(Permission.TRAFFIC_FILTERS_ASSOCIATE, target)


def _requested_rulesets(body: CreateDeploymentIn) -> list[str]:
    wanted = body.settings.traffic_filter_settings if body.settings else None
    return list(wanted.rulesets) if wanted else []


def _customer_key(
    ctx: Context, organization_id: str, body: CreateDeploymentIn
) -> CustomerKey | None:
    byok = body.settings.byok if body.settings else None
    if byok is None:
        return None
    return key_managers.locate(
        ctx, organization_id, byok.key_resource_path, byok.key_manager_id, field=BYOK_FIELD
    )


def validate_deployment(units: Units, organization_id: str, body: CreateDeploymentIn) -> Plan:
    """`validate_only`: every check `create_deployment` makes, nothing stored."""
    return _check(units, organization_id, body, new_id(), request_id=None).plan


def create_deployment(
    units: Units,
    platform: KeyProvider,
    organization_id: str,
    body: CreateDeploymentIn,
    *,
    request_id: str | None = None,
    deployment_id: str | None = None,
) -> Created:
    """Create a deployment: its data key wrapped by the customer's key (`settings.byok`) or the
    platform's, its traffic filters attached; a reused `request_id` returns the first create
    (`fresh` False, no password)."""
    deployment_id = deployment_id or new_id()
    checked = _check(units, organization_id, body, deployment_id, request_id=request_id)
    if checked.earlier is not None:
        return Created(checked.earlier, None, fresh=False)
    key = _data_key(platform, checked.customer, deployment_id)
    with units.write() as ctx:
        if checked.customer is not None:
            key_managers.confirm(ctx, organization_id, checked.customer)
        made = deployments.create_deployment(
            ctx, organization_id, body, key, deployment_id=deployment_id, request_id=request_id
        )
        if made.fresh:
            traffic_filters.attach_on_create(ctx, made.row, _requested_rulesets(body))
            allocators.place(ctx, made.row)  # ADR 31: none with room leaves it waiting
        return made


def _data_key(platform: KeyProvider, customer: CustomerKey | None, deployment_id: str) -> DataKey:
    """The new data key, wrapped with no transaction open (either key may be remote)."""
    with key_managers.provider_errors(BYOK_FIELD):
        if customer is None:
            return DataKey(
                deployments.new_data_key(platform, deployment_id),
                platform.describe().key_path,
            )
        return DataKey(
            deployments.new_data_key(customer.provider, deployment_id),
            customer.key_path,
            customer.manager_id,
        )


@dataclass(frozen=True)
class CreateChoices:
    """What the create form offers: the rulesets, and the key managers (only to those who may
    manage them; others give a key path and the organization's one manager of its kind is
    used)."""

    rulesets: Sequence[Ruleset]
    key_managers: Sequence[KeyManager]


def create_choices(units: Units, organization_id: str) -> CreateChoices:
    """The rulesets and key managers a new deployment may use."""
    with units.read() as ctx:
        rulesets = traffic_filters.list_rulesets(ctx, organization_id)
        return CreateChoices(rulesets, _visible_key_managers(ctx, organization_id))


def _visible_key_managers(ctx: Context, organization_id: str) -> Sequence[KeyManager]:
    target = Target.organization(organization_id)
    if not ctx.caller.system and not decide(
        ctx.caller.subject, Permission.KEY_MANAGERS_MANAGE, target
    ):
        return []
    return key_managers.list_managers(ctx, organization_id)


# --- read --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shown:
    """One deployment and the ids of the rulesets associated with it."""

    row: Deployment
    rulesets: list[str]


def get_deployment(units: Units, organization_id: str, deployment_id: str) -> Shown:
    """One deployment the caller may read, with its traffic filters."""
    with units.read() as ctx:
        row = deployments.get_deployment(ctx, organization_id, deployment_id)
        ids = traffic_filters.rulesets_of_deployment(ctx, organization_id, "deployment", row.id)
        return Shown(row, ids)


@dataclass(frozen=True)
class SecurityView:
    """A deployment with what its Security section offers: the rulesets of its region
    (attached and not) and the organization's key managers (for those who manage them)."""

    shown: Shown
    attached: list[Ruleset]
    available: list[Ruleset]
    key_managers: Sequence[KeyManager]


def security_view(units: Units, organization_id: str, deployment_id: str) -> SecurityView:
    """One deployment and the choices its Security section offers."""
    with units.read() as ctx:
        row = deployments.get_deployment(ctx, organization_id, deployment_id)
        ids = traffic_filters.rulesets_of_deployment(ctx, organization_id, "deployment", row.id)
        region = traffic_filters.list_rulesets(ctx, organization_id, region=row.region)
        managers = _visible_key_managers(ctx, organization_id)
    return SecurityView(
        Shown(row, ids),
        attached=[r for r in region if r.id in ids],
        available=[r for r in region if r.id not in ids],
        key_managers=managers,
    )


# --- delete ------------------------------------------------------------------------------------


def delete_deployment(units: Units, organization_id: str, deployment_id: str) -> Deployment:
    """Delete a shut-down deployment: its data key is destroyed and its traffic-filter
    associations dropped."""
    with units.write() as ctx:
        row = deployments.delete_deployment(ctx, organization_id, deployment_id)
        traffic_filters.forget_deployment(ctx, row.id)
        return row


# --- the data key's key ------------------------------------------------------------------------


def rotate_key(
    units: Units, organization_id: str | None, deployment_id: str, platform: KeyProvider
) -> dict[str, str]:
    """Re-wrap the data key under the newest version of its key (nothing written when it
    already is). `organization_id` None: the platform asks (the allocator saw a rotation)."""
    with units.read() as ctx:
        key = key_managers.key_in_use(ctx, organization_id, deployment_id, platform)
    rotation = key_managers.rotation_of(key)
    if rotation.rewrapped is None:
        return key_managers.rotation_answer(key, rotation)
    with units.write() as ctx:
        return key_managers.record_rotation(ctx, organization_id, key, rotation)


def rekey_deployment(
    units: Units,
    organization_id: str,
    deployment_id: str,
    platform: KeyProvider,
    *,
    key_path: str | None,
    manager_id: str | None,
) -> Deployment:
    """Wrap the data key under another customer key, or the platform key (`key_path` None);
    the node keeps running: its data key does not change, only what wraps it."""
    with units.read() as ctx:
        key = key_managers.key_in_use(ctx, organization_id, deployment_id, platform)
        customer = None
        if key_path is not None:
            customer = key_managers.locate(
                ctx, organization_id, key_path, manager_id, field=REKEY_FIELD
            )
    if customer is None:
        new, new_path = platform, key_managers.platform_key_path(platform)
    else:
        key_managers.check(customer.provider, field=REKEY_FIELD)
        new, new_path = customer.provider, customer.key_path
    rewrapped = key_managers.rewrap(key, new, field=REKEY_FIELD)
    with units.write() as ctx:
        return key_managers.record_rekey(
            ctx, organization_id, key, rewrapped=rewrapped, new_path=new_path, customer=customer
        )

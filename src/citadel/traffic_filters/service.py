"""Rulesets, associations and claimed link ids: the Cloud API's traffic-filter operations.

Who may do what is inventory section 2.4: any member reads; an Organization owner or an admin
or editor of at least one deployment creates, edits and deletes; marking a ruleset "include
by default" needs that role on all deployments; associating needs it on the deployment. Every
change is audited and bumps the revision of each deployment whose filter it changes, so the
gateways' snapshot version moves and they pick the change up within one refresh.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import sqlalchemy as sa

from citadel.audit.models import AuditEvent
from citadel.audit.tags import AuditAction, TargetType
from citadel.authn.context import Context
from citadel.authz.decide import Target, decide
from citadel.authz.permissions import Permission
from citadel.authz.roles import ScopeKind
from citadel.db.tenancy import outside_organization, scoped, scoped_count
from citadel.deployments.lifecycle import Desired
from citadel.deployments.models import Deployment
from citadel.deployments.service import visible
from citadel.kit.ids import is_id, new_id
from citadel.orgs.service import load as load_org
from citadel.traffic_filters import lockout, rules
from citadel.traffic_filters.clients import SeenClient
from citadel.traffic_filters.errors import (
    AlreadyClaimed,
    AssociationNotFound,
    ClaimNotFound,
    InvalidAssociationType,
    InvalidRuleset,
    RegionMismatch,
    RulesetInUse,
    RulesetNotFound,
    TooManyRulesets,
    UnknownRuleset,
    VersionConflict,
    WouldBlockCaller,
)
from citadel.traffic_filters.matching import RulesetRules
from citadel.traffic_filters.models import Association, LinkClaim, Ruleset, RulesetVersion
from citadel.traffic_filters.schemas import AssociationIn, ClaimIn, RulesetIn, document

MAX_RULESETS = 1024
DEPLOYMENT = "deployment"
PROJECT = "project"
"""The association entity type of a serverless project (`traffic_filters.serverless`)."""
HOSTED = "hosted"
SERVERLESS = "serverless"
"""`Ruleset.api`: each API reads and changes only its own rulesets (the organization's limit
counts both; the gateway enforces both alike)."""
RECENT_ADDRESSES = timedelta(days=30)


@dataclass(frozen=True)
class Guard:
    """How a change treats the lockout guard: report only, or apply (forced or not)."""

    validate_only: bool = False
    force: bool = False
    clients: Sequence[SeenClient] = ()


@dataclass(frozen=True)
class Outcome:
    """A change's result: the ruleset (when it has one), whether something new was made,
    and what the change would block."""

    ruleset: Ruleset | None
    created: bool
    report: lockout.Report


def _all_deployments(org: str) -> Target:
    return Target.all_of(org, ScopeKind.DEPLOYMENT)


def _any_deployment(org: str) -> Target:
    return Target.any_of(org, ScopeKind.DEPLOYMENT)


def _load(
    ctx: Context, org: str, ruleset_id: str, *, for_update: bool = False, api: str = HOSTED
) -> Ruleset:
    if not is_id(ruleset_id):
        raise RulesetNotFound()
    stmt = scoped(Ruleset, org, Ruleset.id == ruleset_id, Ruleset.api == api)
    row = ctx.session.scalars(stmt.with_for_update() if for_update else stmt).one_or_none()
    if row is None:
        raise RulesetNotFound()
    return row


# --- reading -----------------------------------------------------------------------------


def list_rulesets(ctx: Context, org: str, *, region: str | None = None) -> Sequence[Ruleset]:
    return _listed(ctx, Ruleset, org, region)


_Listed = TypeVar("_Listed", Ruleset, LinkClaim)


def _listed(ctx: Context, model: type[_Listed], org: str, region: str | None) -> Sequence[_Listed]:
    """The organization's rulesets or claims (of one region), oldest first."""
    ctx.authorize(Permission.TRAFFIC_FILTERS_READ, Target.organization(org))
    stmt = scoped(model, org)
    if model is Ruleset:
        stmt = stmt.where(Ruleset.api == HOSTED)
    if region is not None:
        stmt = stmt.where(model.region == region)
    return ctx.session.scalars(stmt.order_by(model.created_at, model.id)).all()


def get_ruleset(ctx: Context, org: str, ruleset_id: str) -> Ruleset:
    ctx.authorize(Permission.TRAFFIC_FILTERS_READ, Target.organization(org))
    return _load(ctx, org, ruleset_id)


def associations_of(ctx: Context, org: str, ruleset_ids: Sequence[str]) -> dict[str, Any]:
    """Per ruleset: the associations the caller may see, and the total count of all."""
    rows = ctx.session.scalars(
        sa.select(Association).where(Association.ruleset_id.in_(ruleset_ids))
    ).all()
    out: dict[str, Any] = {rid: ([], 0) for rid in ruleset_ids}
    for row in rows:
        seen, total = out[row.ruleset_id]
        if _may_read(ctx, org, row.entity_id):
            seen.append({"entity_type": row.entity_type, "id": row.entity_id})
        out[row.ruleset_id] = (seen, total + 1)
    return out


def _may_read(ctx: Context, org: str, deployment_id: str) -> bool:
    if ctx.caller.system:
        return True
    target = Target.resource(org, ScopeKind.DEPLOYMENT, deployment_id)
    return bool(decide(ctx.caller.subject, Permission.DEPLOYMENTS_READ, target))


def history(ctx: Context, org: str, ruleset_id: str) -> Sequence[RulesetVersion]:
    ctx.authorize(Permission.TRAFFIC_FILTERS_READ, Target.organization(org))
    _load(ctx, org, ruleset_id)
    return ctx.session.scalars(
        sa.select(RulesetVersion)
        .where(RulesetVersion.ruleset_id == ruleset_id)
        .order_by(RulesetVersion.version)
    ).all()


def rulesets_of_deployment(ctx: Context, org: str, entity_type: str, entity_id: str) -> list[str]:
    """The ids of the rulesets associated with a deployment the caller may read."""
    _check_entity_type(entity_type)
    visible(ctx, org, entity_id)
    return list(
        ctx.session.scalars(
            sa.select(Association.ruleset_id)
            .where(Association.entity_type == entity_type, Association.entity_id == entity_id)
            .order_by(Association.created_at, Association.ruleset_id)
        )
    )


def _check_entity_type(entity_type: str) -> None:
    if entity_type != DEPLOYMENT:
        raise InvalidAssociationType(fields=["path.association_type"])


# --- changing rulesets -------------------------------------------------------------------------


def create_ruleset(ctx: Context, org: str, body: RulesetIn, guard: Guard) -> Outcome:
    ctx.authorize(Permission.TRAFFIC_FILTERS_MANAGE, _any_deployment(org))
    if body.include_by_default:
        ctx.authorize(
            Permission.TRAFFIC_FILTERS_SET_DEFAULT, Target.all_of(org, ScopeKind.DEPLOYMENT)
        )
    checked = rules.check_ruleset(body, ctx.policies.regions)
    _check_not_claimed_elsewhere(ctx, org, body.type, body.region, checked)
    now = ctx.clock.now()
    row = Ruleset(
        id=new_id(),
        organization_id=org,
        name=body.name,
        description=body.description or "",
        type=body.type,
        region=body.region,
        include_by_default=body.include_by_default,
        rules=checked,
        version=1,
        created_at=now,
        updated_at=now,
    )
    alone = lockout.Change("", [], [_compiled(ctx, org, row)])
    report = _judge(ctx, [alone], guard, enforce=False)
    if guard.validate_only:
        _check_room(ctx, org)  # "valid" means the create would succeed
        return Outcome(row, False, report)
    load_org(ctx.session, org, for_update=True)
    _check_room(ctx, org)
    ctx.session.add(row)
    ctx.session.flush()
    _remember_version(ctx, row)
    ctx.record(
        AuditAction.TRAFFIC_FILTER_CREATED,
        organization_id=org,
        target_type=TargetType.TRAFFIC_FILTER_RULESET,
        target_id=row.id,
        details=_summary(row),
    )
    return Outcome(row, True, report)


def _check_room(ctx: Context, org: str) -> None:
    count = ctx.session.scalar(scoped_count(Ruleset, org))
    if int(count or 0) >= MAX_RULESETS:
        raise TooManyRulesets()


def update_ruleset(
    ctx: Context,
    org: str,
    ruleset_id: str,
    body: RulesetIn,
    guard: Guard,
    *,
    expected_version: int | None = None,
) -> Outcome:
    """Replace the whole ruleset (type and region stay what they were)."""
    ctx.authorize(Permission.TRAFFIC_FILTERS_MANAGE, _any_deployment(org))
    row = _load(ctx, org, ruleset_id, for_update=not guard.validate_only)
    if expected_version is not None and expected_version != row.version:
        raise VersionConflict(
            f"The ruleset is at version {row.version}, not {expected_version}.",
            fields=["query.version"],
        )
    if body.type != row.type:
        raise InvalidRuleset("A ruleset's type cannot change.", fields=["body.type"])
    if body.region != row.region:
        raise InvalidRuleset("A ruleset's region cannot change.", fields=["body.region"])
    if body.include_by_default != row.include_by_default:
        ctx.authorize(
            Permission.TRAFFIC_FILTERS_SET_DEFAULT, Target.all_of(org, ScopeKind.DEPLOYMENT)
        )
    checked = rules.check_ruleset(body, ctx.policies.regions)
    _check_not_claimed_elsewhere(ctx, org, body.type, body.region, checked)
    draft = Ruleset(id=row.id, organization_id=org, type=row.type, region=row.region)
    draft.rules = checked
    deployments = _associated_deployments(ctx, [row.id])
    changes = _changes(ctx, org, deployments, replace={row.id: _compiled(ctx, org, draft)})
    report = _judge(ctx, changes, guard, enforce=not guard.validate_only)
    if guard.validate_only:
        return Outcome(row, False, report)
    row.name = body.name
    row.description = body.description or ""
    row.include_by_default = body.include_by_default
    row.rules = checked
    row.version += 1
    row.updated_at = ctx.clock.now()
    ctx.session.flush()
    _remember_version(ctx, row)
    _touch(ctx, deployments)
    ctx.record(
        AuditAction.TRAFFIC_FILTER_UPDATED,
        organization_id=org,
        target_type=TargetType.TRAFFIC_FILTER_RULESET,
        target_id=row.id,
        details=_summary(row) | {"deployments_affected": len(deployments)},
    )
    return Outcome(row, False, report)


def delete_ruleset(
    ctx: Context, org: str, ruleset_id: str, *, ignore_associations: bool, force: bool = False
) -> None:
    ctx.authorize(Permission.TRAFFIC_FILTERS_MANAGE, _any_deployment(org))
    row = _load(ctx, org, ruleset_id, for_update=True)
    deployments = _associated_deployments(ctx, [row.id])
    if deployments and not ignore_associations:
        raise RulesetInUse(fields=["query.ignore_associations"])
    changes = _changes(ctx, org, deployments, replace={row.id: None})
    _judge(ctx, changes, Guard(force=force), enforce=True)
    ctx.session.execute(sa.delete(Association).where(Association.ruleset_id == row.id))
    ctx.session.execute(sa.delete(RulesetVersion).where(RulesetVersion.ruleset_id == row.id))
    ctx.session.delete(row)
    ctx.session.flush()
    _touch(ctx, deployments)
    ctx.record(
        AuditAction.TRAFFIC_FILTER_DELETED,
        organization_id=org,
        target_type=TargetType.TRAFFIC_FILTER_RULESET,
        target_id=ruleset_id,
        details={"name": row.name, "associations_removed": len(deployments)},
    )


def _summary(row: Ruleset) -> dict[str, Any]:
    return {
        "name": row.name,
        "type": row.type,
        "region": row.region,
        "include_by_default": row.include_by_default,
        "rules": len(row.rules),
        "version": row.version,
    }


def _remember_version(ctx: Context, row: Ruleset) -> None:
    actor = ctx.caller.actor
    ctx.session.add(
        RulesetVersion(
            ruleset_id=row.id,
            version=row.version,
            document=document(row),
            actor_type=str(actor.actor_type),
            actor_id=actor.actor_id,
            changed_at=row.updated_at,
        )
    )
    ctx.session.flush()


# --- associations --------------------------------------------------------------------------


def associate(
    ctx: Context, org: str, ruleset_id: str, body: AssociationIn, guard: Guard
) -> Outcome:
    """Apply a ruleset to a deployment of its region; `created` is False when it already was."""
    _check_entity_type_body(body.entity_type)
    row = _load(ctx, org, ruleset_id)
    deployment = _for_association(ctx, org, body.id)
    if deployment.region != row.region:
        raise RegionMismatch(
            f"The ruleset is for region '{row.region}'; the deployment is in "
            f"'{deployment.region}'.",
            fields=["body.id"],
        )
    existing = ctx.session.get(Association, (row.id, DEPLOYMENT, deployment.id))
    if existing is not None:
        return Outcome(row, False, lockout.Report())
    changes = _changes(ctx, org, [deployment.id], add={deployment.id: row.id})
    report = _judge(ctx, changes, guard, enforce=not guard.validate_only)
    if guard.validate_only:
        return Outcome(row, False, report)
    ctx.session.add(
        Association(
            ruleset_id=row.id,
            entity_type=DEPLOYMENT,
            entity_id=deployment.id,
            organization_id=org,
            created_at=ctx.clock.now(),
        )
    )
    ctx.session.flush()
    _touch(ctx, [deployment.id])
    ctx.record(
        AuditAction.TRAFFIC_FILTER_ASSOCIATED,
        organization_id=org,
        target_type=TargetType.TRAFFIC_FILTER_RULESET,
        target_id=row.id,
        details={"entity_type": DEPLOYMENT, "entity_id": deployment.id},
    )
    return Outcome(row, True, report)


def disassociate(
    ctx: Context,
    org: str,
    ruleset_id: str,
    entity_type: str,
    entity_id: str,
    *,
    force: bool = False,
) -> None:
    """Remove an association. This can block someone too: while other filtering rulesets stay
    associated, an address only this one admitted is blocked afterwards (OR semantics)."""
    _check_entity_type(entity_type)
    row = _load(ctx, org, ruleset_id)
    deployment = _for_association(ctx, org, entity_id)
    existing = ctx.session.get(Association, (row.id, DEPLOYMENT, deployment.id))
    if existing is None:
        raise AssociationNotFound()
    changes = _changes(ctx, org, [deployment.id], replace={row.id: None})
    _judge(ctx, changes, Guard(force=force), enforce=True)
    ctx.session.delete(existing)
    ctx.session.flush()
    _touch(ctx, [deployment.id])
    ctx.record(
        AuditAction.TRAFFIC_FILTER_DISASSOCIATED,
        organization_id=org,
        target_type=TargetType.TRAFFIC_FILTER_RULESET,
        target_id=row.id,
        details={"entity_type": DEPLOYMENT, "entity_id": deployment.id},
    )


def _check_entity_type_body(entity_type: str) -> None:
    if entity_type != DEPLOYMENT:
        raise InvalidAssociationType(fields=["body.entity_type"])


def _for_association(ctx: Context, org: str, deployment_id: str) -> Deployment:
    deployment = visible(ctx, org, deployment_id)
    target = Target.resource(org, ScopeKind.DEPLOYMENT, deployment.id)
    ctx.authorize(Permission.TRAFFIC_FILTERS_ASSOCIATE, target)
    return deployment


def requested_rulesets(
    ctx: Context, org: str, region: str, requested: Sequence[str]
) -> dict[str, Ruleset]:
    """The rulesets a deployment create names: each must exist and be of its region (400)."""
    wanted: dict[str, Ruleset] = {}
    for i, ruleset_id in enumerate(requested):
        field = f"body.settings.traffic_filter_settings.rulesets[{i}]"
        try:
            row = _load(ctx, org, ruleset_id)
        except RulesetNotFound:
            raise UnknownRuleset(fields=[field]) from None
        if row.region != region:
            raise RegionMismatch(
                f"Ruleset {row.id} is for region '{row.region}'; the deployment is in '{region}'.",
                fields=[field],
            )
        wanted[row.id] = row
    return wanted


def attach_on_create(ctx: Context, deployment: Deployment, requested: Sequence[str]) -> list[str]:
    """A new deployment's rulesets: those asked for, plus the region's defaults.

    Runs in the create's unit of work, so a wrong id undoes the create. Asking for a ruleset
    needs the permission to associate it with this deployment, like associating it later.
    """
    org = deployment.organization_id
    wanted = requested_rulesets(ctx, org, deployment.region, requested)
    if wanted:
        target = Target.resource(org, ScopeKind.DEPLOYMENT, deployment.id)
        ctx.authorize(Permission.TRAFFIC_FILTERS_ASSOCIATE, target)
    defaults = ctx.session.scalars(
        scoped(
            Ruleset,
            org,
            Ruleset.region == deployment.region,
            Ruleset.include_by_default.is_(True),
            Ruleset.api == HOSTED,
        )
    ).all()
    for row in defaults:
        wanted.setdefault(row.id, row)
    now = ctx.clock.now()
    for row in wanted.values():
        ctx.session.add(
            Association(
                ruleset_id=row.id,
                entity_type=DEPLOYMENT,
                entity_id=deployment.id,
                organization_id=org,
                created_at=now,
            )
        )
    if wanted:
        ctx.session.flush()
        ctx.record(
            AuditAction.TRAFFIC_FILTER_ASSOCIATED,
            organization_id=org,
            target_type=TargetType.DEPLOYMENT,
            target_id=deployment.id,
            details={"rulesets": sorted(wanted), "on": "deployment_create"},
        )
    return sorted(wanted)


def forget_deployment(ctx: Context, deployment_id: str) -> None:
    """A deleted deployment keeps no associations (they would block deleting rulesets)."""
    ctx.session.execute(
        sa.delete(Association).where(
            Association.entity_type == DEPLOYMENT, Association.entity_id == deployment_id
        )
    )


def _touch(ctx: Context, deployment_ids: Sequence[str]) -> None:
    """Bump the revision of each deployment whose filter changed (the snapshot version)."""
    if not deployment_ids:
        return
    ctx.session.execute(
        sa.update(Deployment)
        .where(Deployment.id.in_(list(deployment_ids)))
        .values(revision=Deployment.revision + 1, updated_at=ctx.clock.now())
    )


def _associated_deployments(ctx: Context, ruleset_ids: Sequence[str]) -> list[str]:
    return list(
        dict.fromkeys(
            ctx.session.scalars(
                sa.select(Association.entity_id)
                .where(Association.ruleset_id.in_(list(ruleset_ids)))
                .order_by(Association.entity_id)
            )
        )
    )


# --- the lockout guard ----------------------------------------------------------------------


def _changes(
    ctx: Context,
    org: str,
    deployment_ids: Sequence[str],
    *,
    replace: dict[str, RulesetRules | None] | None = None,
    add: dict[str, str] | None = None,
) -> list[lockout.Change]:
    """Each deployment's (or project's) compiled rulesets now and after replacing, removing or
    adding one. A project's id is its runtime instance's, a row of `deployments` too, so the
    ids of deployments and projects never collide and one entity id names its associations."""
    replace, add = replace or {}, add or {}
    changes = []
    for deployment_id in deployment_ids:
        ids = list(
            ctx.session.scalars(
                sa.select(Association.ruleset_id).where(
                    Association.entity_type.in_((DEPLOYMENT, PROJECT)),
                    Association.entity_id == deployment_id,
                )
            )
        )
        before = [_compiled(ctx, org, r) for r in _rows(ctx, ids)]
        after_ids = ids + ([add[deployment_id]] if deployment_id in add else [])
        after = []
        for r in _rows(ctx, after_ids):
            if r.id in replace:
                if replace[r.id] is not None:
                    after.append(replace[r.id])
            else:
                after.append(_compiled(ctx, org, r))
        changes.append(lockout.Change(deployment_id, before, after))  # type: ignore[arg-type]
    return changes


def _rows(ctx: Context, ids: Sequence[str]) -> Sequence[Ruleset]:
    if not ids:
        return []
    return ctx.session.scalars(sa.select(Ruleset).where(Ruleset.id.in_(list(ids)))).all()


def _judge(
    ctx: Context,
    changes: Sequence[lockout.Change],
    guard: Guard,
    *,
    enforce: bool,
    entities: str = "deployments",
) -> lockout.Report:
    """What the change would block; with `enforce`, refuse one that blocks the caller's own
    address unless forced (`entities` names what the changes are of, in the message)."""
    caller = ctx.caller
    recent: list[str] = []
    actor = caller.actor
    if actor.actor_id is not None:
        since = ctx.clock.now() - RECENT_ADDRESSES
        recent = [
            ip
            for ip in ctx.session.scalars(
                sa.select(AuditEvent.source_ip)
                .where(
                    AuditEvent.actor_id == actor.actor_id,
                    AuditEvent.occurred_at >= since,
                    AuditEvent.source_ip.is_not(None),
                )
                .group_by(AuditEvent.source_ip)
                .order_by(sa.func.max(AuditEvent.occurred_at).desc())
                .limit(20)
            )
            if ip
        ]
    report = lockout.judge(
        changes, caller_ip=caller.source_ip, recent_ips=recent, clients=list(guard.clients)
    )
    if enforce and report.caller_blocked and not guard.force:
        blocked = ", ".join(sorted(report.your_addresses.get(caller.source_ip, [])))
        raise WouldBlockCaller(
            f"This change would block your address {caller.source_ip} from {entities} "
            f"{blocked}; repeat it with force=true if that is intended.",
            fields=["query.force"],
        )
    return report


# --- claims -------------------------------------------------------------------------------


def list_claims(ctx: Context, org: str, *, region: str | None = None) -> Sequence[LinkClaim]:
    return _listed(ctx, LinkClaim, org, region)


def claim(ctx: Context, org: str, body: ClaimIn) -> tuple[LinkClaim, bool]:
    """Own a link id in a region; (claim, created). Claiming one's own claim again is a no-op."""
    ctx.authorize(Permission.TRAFFIC_FILTERS_MANAGE, _any_deployment(org))
    checked = rules.check_claim(body, ctx.policies.regions)
    existing = _claim_row(ctx, checked)
    if existing is not None:
        if existing.organization_id != org:
            raise AlreadyClaimed(fields=["body.link_id"])
        same = (existing.azure_endpoint_name, existing.azure_endpoint_guid) == (
            checked.azure_endpoint_name,
            checked.azure_endpoint_guid,
        )
        if not same:
            raise AlreadyClaimed(
                "This LINKID is already claimed for another Azure endpoint.",
                fields=["body.link_id"],
            )
        return existing, False
    row = LinkClaim(
        id=new_id(),
        organization_id=org,
        region=checked.region,
        vendor=checked.vendor,
        link_id=checked.link_id,
        azure_endpoint_name=checked.azure_endpoint_name,
        azure_endpoint_guid=checked.azure_endpoint_guid,
        created_at=ctx.clock.now(),
    )
    ctx.session.add(row)
    ctx.session.flush()
    _touch(ctx, _private_link_deployments(ctx, checked.region))
    ctx.record(
        AuditAction.TRAFFIC_FILTER_LINK_CLAIMED,
        organization_id=org,
        target_type=TargetType.TRAFFIC_FILTER_LINK_ID,
        target_id=checked.key,
        details={"region": checked.region},
    )
    return row, True


def unclaim(ctx: Context, org: str, body: ClaimIn) -> None:
    ctx.authorize(Permission.TRAFFIC_FILTERS_MANAGE, _any_deployment(org))
    checked = rules.check_claim(body, ctx.policies.regions)
    existing = _claim_row(ctx, checked)
    if existing is None or existing.organization_id != org:
        raise ClaimNotFound(fields=["body.link_id"])
    ctx.session.delete(existing)
    ctx.session.flush()
    _touch(ctx, _private_link_deployments(ctx, checked.region))
    ctx.record(
        AuditAction.TRAFFIC_FILTER_LINK_UNCLAIMED,
        organization_id=org,
        target_type=TargetType.TRAFFIC_FILTER_LINK_ID,
        target_id=checked.key,
        details={"region": checked.region},
    )


def _claim_row(ctx: Context, checked: rules.Claim) -> LinkClaim | None:
    return ctx.session.scalars(
        sa.select(LinkClaim).where(
            LinkClaim.region == checked.region,
            LinkClaim.vendor == checked.vendor,
            LinkClaim.link_id == checked.link_id,
        )
    ).one_or_none()


def _check_not_claimed_elsewhere(
    ctx: Context, org: str, kind: str, region: str, checked: list[dict[str, Any]]
) -> None:
    if kind not in (rules.VPCE, rules.GCP):
        return
    vendor = rules.VENDOR_OF[kind]
    theirs = set(
        ctx.session.scalars(
            sa.select(LinkClaim.link_id).where(
                LinkClaim.region == region,
                LinkClaim.vendor == vendor,
                outside_organization(LinkClaim, org),
                LinkClaim.link_id.in_([r["source"] for r in checked]),
            )
        )
    )
    for i, rule in enumerate(checked):
        if rule["source"] in theirs:
            raise InvalidRuleset(
                "Another organization has claimed this link id.",
                fields=[f"body.rules[{i}].source"],
            )


def _private_link_deployments(ctx: Context, region: str) -> list[str]:
    return list(
        ctx.session.scalars(
            sa.select(Association.entity_id)
            .join(Ruleset, Ruleset.id == Association.ruleset_id)
            .where(Ruleset.region == region, Ruleset.type != rules.IP)
            .distinct()
        )
    )


def _claim_view(ctx: Context, org: str, region: str) -> rules.ClaimView:
    claims = ctx.session.scalars(sa.select(LinkClaim).where(LinkClaim.region == region)).all()
    return _view_from(claims, org, region)


def _compiled(ctx: Context, org: str, row: Ruleset) -> RulesetRules:
    return rules.compiled(row.id, row.type, row.rules, _claim_view(ctx, org, row.region))


# --- the gateway's view ---------------------------------------------------------------------


def gateway_view(ctx: Context) -> tuple[dict[str, list[str]], dict[str, dict[str, Any]]]:
    """Rulesets per live deployment, and each associated ruleset's type and sources.

    A serverless project's rulesets are listed under its id, which is its runtime instance's
    (a `deployments` row of kind ``project``): the gateway matches them the same way."""
    live = sa.select(Deployment.id).where(Deployment.desired_state != Desired.DELETED)
    pairs = ctx.session.execute(
        sa.select(Association.entity_id, Association.ruleset_id)
        .where(Association.entity_type.in_((DEPLOYMENT, PROJECT)), Association.entity_id.in_(live))
        .order_by(Association.entity_id, Association.created_at, Association.ruleset_id)
    ).all()
    by_deployment: dict[str, list[str]] = {}
    for deployment_id, ruleset_id in pairs:
        by_deployment.setdefault(deployment_id, []).append(ruleset_id)
    ids = sorted({ruleset_id for _, ruleset_id in pairs})
    rows = _rows(ctx, ids)
    claims = ctx.session.scalars(sa.select(LinkClaim)).all()
    views: dict[tuple[str, str], rules.ClaimView] = {}
    rulesets: dict[str, dict[str, Any]] = {}
    for row in rows:
        key = (row.organization_id, row.region)
        if key not in views:
            views[key] = _view_from(claims, *key)
        compiled = rules.compiled(row.id, row.type, row.rules, views[key])
        rulesets[row.id] = {"type": row.type, "sources": list(compiled.sources)}
    return by_deployment, rulesets


def _view_from(claims: Sequence[LinkClaim], org: str, region: str) -> rules.ClaimView:
    here = [c for c in claims if c.region == region]
    mine = {
        (c.azure_endpoint_name or "", c.azure_endpoint_guid or ""): c.link_id
        for c in here
        if c.organization_id == org and c.vendor == "azure"
    }
    return rules.ClaimView(
        mine, frozenset(f"{c.vendor}:{c.link_id}" for c in here if c.organization_id != org)
    )

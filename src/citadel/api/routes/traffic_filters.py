"""Traffic-filter routes (Cloud API shapes); the organization is the caller's.

Our additions: `validate_only` and `force` on create, update and association (the lockout
guard), `version` on update (optimistic concurrency), `GET .../rulesets/{id}/history`, and the
`version` field on a ruleset.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from citadel.api.deps import OrgFrom, ServicesDep, WorkDep, permitted
from citadel.authz.permissions import Permission
from citadel.kit.schema import EmptyOut
from citadel.traffic_filters import service
from citadel.traffic_filters.schemas import (
    AssociationIn,
    AssociationsOut,
    ClaimedLinkIdOut,
    ClaimedLinkIdsOut,
    ClaimIn,
    HistoryOut,
    RulesetIdOut,
    RulesetIdsOut,
    RulesetIn,
    RulesetOut,
    RulesetsOut,
    ValidationOut,
    claim_info,
    history_entry,
    info,
    validation,
)
from citadel.traffic_filters.service import Guard, Outcome

router = APIRouter(prefix="/deployments/traffic-filter", tags=["traffic filters"])
RulesetId = Path(max_length=32, description="The mandatory ruleset ID.")
AssociationType = Path(max_length=32, description="Association type")
EntityId = Path(max_length=32, description="Associated entity ID")
RegionQuery = Annotated[
    str | None, Query(min_length=1, max_length=32, description="Only this region.")
]
ValidateOnly = Annotated[
    bool,
    Query(description="Change nothing; answer what the change would block (lockout guard)."),
]
Force = Annotated[
    bool, Query(description="Apply even if it blocks the address this request comes from.")
]

READ = permitted(Permission.TRAFFIC_FILTERS_READ, org_from=OrgFrom.CALLER)
MANAGE = permitted(Permission.TRAFFIC_FILTERS_MANAGE, org_from=OrgFrom.CALLER)
ASSOCIATE = permitted(Permission.TRAFFIC_FILTERS_ASSOCIATE, org_from=OrgFrom.CALLER)


def _guard(services: ServicesDep, validate_only: bool, force: bool) -> Guard:
    return Guard(validate_only, force, services.recent_clients.current())


def _checked(outcome: Outcome) -> ValidationOut:
    return validation(outcome.report.as_json())


@router.get("/rulesets", dependencies=[READ])
def list_rulesets(
    work: WorkDep, include_associations: bool = False, region: RegionQuery = None
) -> RulesetsOut:
    """The organization's rulesets (one region's with `region`)."""
    org = work.organization
    with work.read() as ctx:
        rows = service.list_rulesets(ctx, org, region=region)
        if not include_associations:
            return RulesetsOut(rulesets=[info(r) for r in rows])
        links = service.associations_of(ctx, org, [r.id for r in rows])
        return RulesetsOut(rulesets=[info(r, *links[r.id]) for r in rows])


@router.post(
    "/rulesets",
    status_code=201,
    dependencies=[MANAGE],
    responses={200: {"model": ValidationOut, "description": "`validate_only`: nothing changed."}},
)
def create_ruleset(
    body: RulesetIn,
    response: Response,
    work: WorkDep,
    services: ServicesDep,
    validate_only: ValidateOnly = False,
    force: Force = False,
) -> RulesetIdOut | ValidationOut:
    """A new ruleset; with `include_by_default` it is attached to new deployments of its region."""
    org = work.organization
    with work.write() as ctx:
        outcome = service.create_ruleset(ctx, org, body, _guard(services, validate_only, force))
    if validate_only:
        response.status_code = 200
        return _checked(outcome)
    assert outcome.ruleset is not None
    return RulesetIdOut(id=outcome.ruleset.id)


@router.get("/rulesets/{ruleset_id}", dependencies=[READ])
def get_ruleset(
    work: WorkDep, ruleset_id: str = RulesetId, include_associations: bool = False
) -> RulesetOut:
    org = work.organization
    with work.read() as ctx:
        row = service.get_ruleset(ctx, org, ruleset_id)
        if not include_associations:
            return info(row)
        return info(row, *service.associations_of(ctx, org, [row.id])[row.id])


@router.put("/rulesets/{ruleset_id}", dependencies=[MANAGE])
def update_ruleset(
    body: RulesetIn,
    work: WorkDep,
    services: ServicesDep,
    ruleset_id: str = RulesetId,
    version: Annotated[
        int | None, Query(ge=1, description="Refuse (409) unless the ruleset is at this version.")
    ] = None,
    validate_only: ValidateOnly = False,
    force: Force = False,
) -> RulesetIdOut | ValidationOut:
    """Replace the whole ruleset; every associated deployment's filter changes at once."""
    org = work.organization
    guard = _guard(services, validate_only, force)
    with work.write() as ctx:
        outcome = service.update_ruleset(
            ctx, org, ruleset_id, body, guard, expected_version=version
        )
    if validate_only:
        return _checked(outcome)
    return RulesetIdOut(id=ruleset_id)


@router.delete("/rulesets/{ruleset_id}", dependencies=[MANAGE])
def delete_ruleset(
    work: WorkDep,
    ruleset_id: str = RulesetId,
    ignore_associations: bool = False,
    force: Force = False,
) -> EmptyOut:
    """Delete a ruleset; refused while associated unless `ignore_associations=true`."""
    org = work.organization
    with work.write() as ctx:
        service.delete_ruleset(
            ctx, org, ruleset_id, ignore_associations=ignore_associations, force=force
        )
    return EmptyOut()


@router.get("/rulesets/{ruleset_id}/history", dependencies=[READ])
def ruleset_history(work: WorkDep, ruleset_id: str = RulesetId) -> HistoryOut:
    """Every version of the ruleset, oldest first (our addition)."""
    org = work.organization
    with work.read() as ctx:
        return HistoryOut(history=[history_entry(v) for v in service.history(ctx, org, ruleset_id)])


@router.get("/rulesets/{ruleset_id}/associations", dependencies=[READ])
def list_associations(work: WorkDep, ruleset_id: str = RulesetId) -> AssociationsOut:
    """The associations the caller may see, and the total including those they may not."""
    org = work.organization
    with work.read() as ctx:
        row = service.get_ruleset(ctx, org, ruleset_id)
        seen, total = service.associations_of(ctx, org, [row.id])[row.id]
        return AssociationsOut.model_validate({"associations": seen, "total_associations": total})


@router.post(
    "/rulesets/{ruleset_id}/associations",
    status_code=201,
    dependencies=[ASSOCIATE],
    responses={
        200: {
            "model": EmptyOut | ValidationOut,
            "description": "It already applied; or, with `validate_only`, what it would block.",
        }
    },
)
def create_association(
    body: AssociationIn,
    response: Response,
    work: WorkDep,
    services: ServicesDep,
    ruleset_id: str = RulesetId,
    validate_only: ValidateOnly = False,
    force: Force = False,
) -> EmptyOut | ValidationOut:
    """Apply the ruleset to a deployment: 201, or 200 when it already applied."""
    org = work.organization
    guard = _guard(services, validate_only, force)
    with work.write() as ctx:
        outcome = service.associate(ctx, org, ruleset_id, body, guard)
    if validate_only:
        response.status_code = 200
        return _checked(outcome)
    if not outcome.created:
        response.status_code = 200
    return EmptyOut()


@router.delete(
    "/rulesets/{ruleset_id}/associations/{association_type}/{associated_entity_id}",
    dependencies=[ASSOCIATE],
)
def delete_association(
    work: WorkDep,
    ruleset_id: str = RulesetId,
    association_type: str = AssociationType,
    associated_entity_id: str = EntityId,
    force: Force = False,
) -> EmptyOut:
    """Remove the ruleset from a deployment (the lockout guard applies: other rulesets may
    still filter it)."""
    org = work.organization
    with work.write() as ctx:
        service.disassociate(
            ctx, org, ruleset_id, association_type, associated_entity_id, force=force
        )
    return EmptyOut()


@router.get("/associations/{association_type}/{associated_entity_id}/rulesets", dependencies=[READ])
def rulesets_of_entity(
    work: WorkDep, association_type: str = AssociationType, associated_entity_id: str = EntityId
) -> RulesetIdsOut:
    """The ids of the rulesets applied to a deployment (`TrafficFilterSettings`)."""
    org = work.organization
    with work.read() as ctx:
        ids = service.rulesets_of_deployment(ctx, org, association_type, associated_entity_id)
        return RulesetIdsOut(rulesets=ids)


@router.get("/link-ids", dependencies=[READ])
def list_link_ids(work: WorkDep, region: RegionQuery = None) -> ClaimedLinkIdsOut:
    org = work.organization
    with work.read() as ctx:
        rows = service.list_claims(ctx, org, region=region)
        return ClaimedLinkIdsOut(claimed_link_ids=[claim_info(r) for r in rows])


@router.post(
    "/link-ids/_claim",
    status_code=201,
    dependencies=[MANAGE],
    responses={200: {"model": ClaimedLinkIdOut, "description": "Already claimed by you."}},
)
def claim_link_id(body: ClaimIn, response: Response, work: WorkDep) -> ClaimedLinkIdOut:
    """Own a private-link endpoint id: no other organization's ruleset admits it."""
    org = work.organization
    with work.write() as ctx:
        row, created = service.claim(ctx, org, body)
        if not created:
            response.status_code = 200
        return claim_info(row)


@router.post("/link-ids/_unclaim", dependencies=[MANAGE])
def unclaim_link_id(body: ClaimIn, work: WorkDep) -> EmptyOut:
    org = work.organization
    with work.write() as ctx:
        service.unclaim(ctx, org, body)
    return EmptyOut()

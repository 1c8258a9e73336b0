"""Request bodies of the traffic-filter routes (Cloud API shapes) and the shaping of answers."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from citadel.kit.schema import NullableResponseModel, ResponseModel, StrictModel
from citadel.traffic_filters.models import LinkClaim, Ruleset, RulesetVersion

MAX_RULES = 128


class EgressRuleIn(StrictModel):
    target: str = Field(max_length=64)
    protocol: str = Field(max_length=8)
    ports: list[int] = Field(default_factory=list, max_length=64)


class RuleIn(StrictModel):
    """One rule; which fields apply depends on the ruleset's type (checked in `rules`)."""

    id: str | None = Field(default=None, max_length=64)  # sent back by clients; reassigned
    description: str | None = Field(default=None, max_length=1024)
    source: str | None = Field(default=None, max_length=128)
    azure_endpoint_name: str | None = Field(default=None, max_length=128)
    azure_endpoint_guid: str | None = Field(default=None, max_length=64)
    egress_rule: EgressRuleIn | None = None
    remote_cluster_id: str | None = Field(default=None, max_length=64)
    remote_cluster_org_id: str | None = Field(default=None, max_length=64)


class RulesetIn(StrictModel):
    """`TrafficFilterRulesetRequest`: the whole ruleset, for create and for update (PUT)."""

    name: str = Field(min_length=1, max_length=256)
    description: str | None = Field(default=None, max_length=1024)
    type: str = Field(min_length=1, max_length=64)
    region: str = Field(min_length=1, max_length=32)
    include_by_default: bool
    rules: list[RuleIn] = Field(max_length=MAX_RULES)


class AssociationIn(StrictModel):
    """`FilterAssociation`."""

    entity_type: str = Field(min_length=1, max_length=32)
    id: str = Field(min_length=1, max_length=32)


class ClaimIn(StrictModel):
    """`TrafficFilterClaimedLinkIdRequest`; Azure claims also carry the endpoint's LINKID."""

    region: str = Field(min_length=1, max_length=32)
    link_id: str | None = Field(default=None, min_length=1, max_length=128)
    azure_endpoint_name: str | None = Field(default=None, min_length=1, max_length=128)
    azure_endpoint_guid: str | None = Field(default=None, min_length=1, max_length=64)


def document(row: Ruleset) -> dict[str, Any]:
    """The ruleset as stored and as its history keeps it."""
    return {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "type": row.type,
        "region": row.region,
        "include_by_default": row.include_by_default,
        "rules": [dict(rule) for rule in row.rules],
    }


class EgressRuleOut(ResponseModel):
    target: str
    protocol: str
    ports: list[int] = []


class RuleOut(ResponseModel):
    """`TrafficFilterRule`: which fields are present depends on the ruleset's type."""

    id: str
    description: str | None = None
    source: str | None = None
    azure_endpoint_name: str | None = None
    azure_endpoint_guid: str | None = None
    egress_rule: EgressRuleOut | None = None
    remote_cluster_id: str | None = None
    remote_cluster_org_id: str | None = None


class FilterAssociationOut(ResponseModel):
    """`FilterAssociation`."""

    entity_type: str
    id: str


class RulesetInfoOut(NullableResponseModel):
    """`TrafficFilterRulesetInfo`, with our `version` (for optimistic updates); `description`
    is null when the ruleset has none."""

    id: str
    name: str
    description: str | None
    type: str
    region: str
    include_by_default: bool
    rules: list[RuleOut]
    version: int


class RulesetWithAssociationsOut(RulesetInfoOut):
    """A ruleset read with `include_associations=true`."""

    associations: list[FilterAssociationOut]
    total_associations: int


RulesetOut = RulesetWithAssociationsOut | RulesetInfoOut


class RulesetsOut(ResponseModel):
    """`TrafficFilterRulesets`."""

    rulesets: list[RulesetOut]


class RulesetIdOut(ResponseModel):
    """`TrafficFilterRulesetResponse`."""

    id: str


class AddressOut(ResponseModel):
    address: str
    deployments: list[str]


class ConnectedClientOut(NullableResponseModel):
    deployment_id: str
    client_ip: str
    endpoint_id: str | None
    connected: bool


class WouldBlockOut(ResponseModel):
    """What a change would block: the caller's own addresses, and recent clients."""

    your_addresses: list[AddressOut]
    connected_clients: list[ConnectedClientOut]


class ValidationOut(ResponseModel):
    """The answer of `validate_only=true`: nothing changed."""

    valid: bool
    would_block: WouldBlockOut


class ChangedByOut(NullableResponseModel):
    type: str
    id: str | None


class HistoryEntryOut(ResponseModel):
    version: int
    changed_at: str
    changed_by: ChangedByOut
    ruleset: dict[str, Any]
    """The ruleset as it was after this change."""


class HistoryOut(ResponseModel):
    history: list[HistoryEntryOut]


class AssociationsOut(ResponseModel):
    """The associations the caller may see, and the total including those they may not."""

    associations: list[FilterAssociationOut]
    total_associations: int


class RulesetIdsOut(ResponseModel):
    """`TrafficFilterSettings`: the rulesets applied to an entity."""

    rulesets: list[str]


class ClaimedLinkIdOut(ResponseModel):
    """`TrafficFilterClaimedLinkIdInfo` (Azure claims show the endpoint name and GUID)."""

    region: str
    link_id: str
    azure_endpoint_name: str | None = None
    azure_endpoint_guid: str | None = None


class ClaimedLinkIdsOut(ResponseModel):
    """`TrafficFilterClaimedLinkIds`."""

    claimed_link_ids: list[ClaimedLinkIdOut]


def info(
    row: Ruleset, associations: list[dict[str, str]] | None = None, total: int | None = None
) -> RulesetOut:
    """`TrafficFilterRulesetInfo`, with our `version` (for optimistic updates)."""
    body = document(row) | {"version": row.version}
    if associations is None:
        return RulesetInfoOut.model_validate(body)
    total = total if total is not None else len(associations)
    return RulesetWithAssociationsOut.model_validate(
        body | {"associations": associations, "total_associations": total}
    )


def history_entry(entry: RulesetVersion) -> HistoryEntryOut:
    return HistoryEntryOut(
        version=entry.version,
        changed_at=entry.changed_at.isoformat().replace("+00:00", "Z"),
        changed_by=ChangedByOut(type=entry.actor_type, id=entry.actor_id),
        ruleset=entry.document,
    )


def claim_info(row: LinkClaim) -> ClaimedLinkIdOut:
    """`TrafficFilterClaimedLinkIdInfo` (Azure claims show the endpoint name and GUID)."""
    if row.vendor == "azure":
        return ClaimedLinkIdOut(
            region=row.region,
            link_id=row.link_id,
            azure_endpoint_name=row.azure_endpoint_name,
            azure_endpoint_guid=row.azure_endpoint_guid,
        )
    return ClaimedLinkIdOut(region=row.region, link_id=row.link_id)


def validation(report_json: dict[str, Any]) -> ValidationOut:
    """The answer of a `validate_only` change."""
    return ValidationOut(valid=True, would_block=WouldBlockOut.model_validate(report_json))

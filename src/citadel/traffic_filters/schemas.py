"""Request bodies of the traffic-filter routes (Cloud API shapes) and the shaping of answers."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from citadel.kit.schema import StrictModel
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


def info(
    row: Ruleset, associations: list[dict[str, str]] | None = None, total: int | None = None
) -> dict[str, Any]:
    """`TrafficFilterRulesetInfo`, with our `version` (for optimistic updates)."""
    body = document(row) | {"version": row.version}
    if associations is not None:
        body["associations"] = associations
        body["total_associations"] = total if total is not None else len(associations)
    return body


def history_entry(entry: RulesetVersion) -> dict[str, Any]:
    return {
        "version": entry.version,
        "changed_at": entry.changed_at.isoformat().replace("+00:00", "Z"),
        "changed_by": {"type": entry.actor_type, "id": entry.actor_id},
        "ruleset": entry.document,
    }


def claim_info(row: LinkClaim) -> dict[str, Any]:
    """`TrafficFilterClaimedLinkIdInfo` (Azure claims show the endpoint name and GUID)."""
    body: dict[str, Any] = {"region": row.region, "link_id": row.link_id}
    if row.vendor == "azure":
        body["azure_endpoint_name"] = row.azure_endpoint_name
        body["azure_endpoint_guid"] = row.azure_endpoint_guid
    return body

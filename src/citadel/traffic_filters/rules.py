"""Checking rulesets and claims, and turning rules into the gateway's source keys (pure).

Every mistake names its field (`body.rules[3].source`). Private-link sources become tagged
endpoint keys, the form the gateway reads from PROXY protocol TLVs (docs/adr/0010):
`aws:<vpce id>`, `azure:<LINKID>`, `gcp:<PSC connection id>`. A source another organization
has claimed, and an Azure endpoint this organization has not claimed (its LINKID is unknown),
compile to a key no connection can carry, so the ruleset still filters but admits nothing
through that rule.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from citadel.errors import BadRequest
from citadel.kit.ids import new_id
from citadel.traffic_filters.errors import InvalidClaim, InvalidRuleset
from citadel.traffic_filters.matching import InvalidSource, RulesetRules, parse_ip_source
from citadel.traffic_filters.schemas import ClaimIn, RuleIn, RulesetIn

IP = "ip"
VPCE = "vpce"
AZURE = "azure_private_endpoint"
GCP = "gcp_private_service_connect_endpoint"
TYPES = (IP, VPCE, AZURE, GCP)
NOT_YET = ("egress_firewall", "remote_cluster")
VENDOR_OF = {VPCE: "aws", AZURE: "azure", GCP: "gcp"}
RULE_FIELDS = {
    IP: {"source"},
    VPCE: {"source"},
    GCP: {"source"},
    AZURE: {"azure_endpoint_name", "azure_endpoint_guid"},
}
_OPTIONAL = {"source", "azure_endpoint_name", "azure_endpoint_guid", "egress_rule"}
_OPTIONAL |= {"remote_cluster_id", "remote_cluster_org_id"}
_VPCE = re.compile(r"^vpce-[0-9A-Za-z]{1,60}$")
_AZURE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
_UINT64_MAX = 2**64 - 1
_UINT32_MAX = 2**32 - 1


def check_ruleset(body: RulesetIn, regions: Sequence[str]) -> list[dict[str, Any]]:
    """The ruleset's rules, validated and normalised, each with a fresh id."""
    if body.type in NOT_YET:
        raise InvalidRuleset(
            f"Rulesets of type '{body.type}' are not available on this platform yet.",
            fields=["body.type"],
        )
    if body.type not in TYPES:
        raise InvalidRuleset(
            f"Unknown ruleset type; use one of: {', '.join(TYPES)}.", fields=["body.type"]
        )
    if body.region not in regions:
        raise InvalidRuleset(
            f"Unknown region; this platform has: {', '.join(regions)}.", fields=["body.region"]
        )
    if body.type == IP and not body.rules:
        raise InvalidRuleset("An IP filter needs at least one source.", fields=["body.rules"])
    return [_check_rule(body.type, rule, f"body.rules[{i}]") for i, rule in enumerate(body.rules)]


def _check_rule(kind: str, rule: RuleIn, at: str) -> dict[str, Any]:
    given = {name for name in _OPTIONAL if getattr(rule, name) is not None}
    wanted = RULE_FIELDS[kind]
    extra, missing = sorted(given - wanted), sorted(wanted - given)
    if extra:
        message = f"'{extra[0]}' does not apply to a '{kind}' rule."
        raise InvalidRuleset(message, fields=[f"{at}.{name}" for name in extra])
    if missing:
        message = f"A '{kind}' rule needs '{missing[0]}'."
        raise InvalidRuleset(message, fields=[f"{at}.{name}" for name in missing])
    out: dict[str, Any] = {"id": new_id()}
    if rule.description is not None:
        out["description"] = rule.description
    if kind == IP:
        assert rule.source is not None
        try:
            parse_ip_source(rule.source)
        except InvalidSource:
            raise InvalidRuleset(
                "The source must be an IPv4 or IPv6 address or CIDR block; "
                "DNS names are not allowed.",
                fields=[f"{at}.source"],
            ) from None
        out["source"] = rule.source
    elif kind == VPCE:
        out["source"] = _vpce(rule.source or "", f"{at}.source", InvalidRuleset)
    elif kind == GCP:
        out["source"] = _decimal(rule.source or "", _UINT64_MAX, f"{at}.source", InvalidRuleset)
    else:
        name, guid = _azure(
            rule.azure_endpoint_name or "", rule.azure_endpoint_guid or "", at, InvalidRuleset
        )
        out["azure_endpoint_name"], out["azure_endpoint_guid"] = name, guid
    return out


def _vpce(value: str, field: str, error: type[BadRequest]) -> str:
    if not _VPCE.match(value):
        raise error("A VPC endpoint id looks like 'vpce-0123456789abcdef0'.", fields=[field])
    return value


def _decimal(value: str, maximum: int, field: str, error: type[BadRequest]) -> str:
    if not value.isascii() or not value.isdigit() or len(value) > 20 or int(value) > maximum:
        raise error(f"Expected a decimal number up to {maximum}.", fields=[field])
    return str(int(value))


def _azure(name: str, guid: str, at: str, error: type[BadRequest]) -> tuple[str, str]:
    if not _AZURE_NAME.match(name):
        raise error(
            "An Azure private endpoint name has 1-80 letters, digits, '.', '_' or '-'.",
            fields=[f"{at}.azure_endpoint_name"],
        )
    try:
        parsed = uuid.UUID(guid)
    except ValueError:
        raise error(
            "The Azure private endpoint's resource GUID must be a GUID.",
            fields=[f"{at}.azure_endpoint_guid"],
        ) from None
    if len(guid) != 36:
        message = "Write the GUID in its 36-character form."
        raise error(message, fields=[f"{at}.azure_endpoint_guid"])
    return name, str(parsed)


@dataclass(frozen=True)
class Claim:
    """A checked claim: the vendor, the link id (canonical), and Azure's name and GUID."""

    region: str
    vendor: str
    link_id: str
    azure_endpoint_name: str | None = None
    azure_endpoint_guid: str | None = None

    @property
    def key(self) -> str:
        return f"{self.vendor}:{self.link_id}"


def check_claim(body: ClaimIn, regions: Sequence[str]) -> Claim:
    """An AWS VPC endpoint id, a GCP PSC connection id, or an Azure endpoint (name, GUID and
    its LINKID, which the gateway receives in the PROXY protocol TLV)."""
    if body.region not in regions:
        raise InvalidClaim(
            f"Unknown region; this platform has: {', '.join(regions)}.", fields=["body.region"]
        )
    azure = body.azure_endpoint_name is not None or body.azure_endpoint_guid is not None
    if azure:
        if body.link_id is None:
            raise InvalidClaim(
                "An Azure claim also needs link_id: the private endpoint's LINKID "
                "(a decimal number up to 4294967295).",
                fields=["body.link_id"],
            )
        name, guid = _azure(
            body.azure_endpoint_name or "", body.azure_endpoint_guid or "", "body", InvalidClaim
        )
        link = _decimal(body.link_id, _UINT32_MAX, "body.link_id", InvalidClaim)
        return Claim(body.region, "azure", link, name, guid)
    if body.link_id is None:
        raise InvalidClaim(
            "Give link_id (a VPC endpoint id or a PSC connection id), or an Azure endpoint.",
            fields=["body.link_id"],
        )
    if body.link_id.startswith("vpce-"):
        return Claim(body.region, "aws", _vpce(body.link_id, "body.link_id", InvalidClaim))
    link = _decimal(body.link_id, _UINT64_MAX, "body.link_id", InvalidClaim)
    return Claim(body.region, "gcp", link)


# --- what the gateway matches --------------------------------------------------------------


@dataclass(frozen=True)
class ClaimView:
    """The claims that matter when compiling one organization's rulesets in one region."""

    mine_azure: Mapping[tuple[str, str], str]  # (name, guid) -> LINKID
    others: frozenset[str]  # keys claimed by other organizations


def sources(kind: str, rules: Iterable[Mapping[str, Any]], claims: ClaimView) -> tuple[str, ...]:
    """The rules of a ruleset as the gateway's sources: CIDRs, or endpoint keys."""
    if kind == IP:
        return tuple(str(rule["source"]) for rule in rules)
    keys = []
    for rule in rules:
        if kind == AZURE:
            guid = str(rule["azure_endpoint_guid"])
            link = claims.mine_azure.get((str(rule["azure_endpoint_name"]), guid))
            keys.append(f"azure:{link}" if link is not None else f"azure:unresolved:{guid}")
            continue
        key = f"{VENDOR_OF[kind]}:{rule['source']}"
        keys.append(key if key not in claims.others else f"{key}:claimed-elsewhere")
    return tuple(keys)


def compiled(
    ruleset_id: str, kind: str, rules: Iterable[Mapping[str, Any]], claims: ClaimView
) -> RulesetRules:
    return RulesetRules(ruleset_id, kind, sources(kind, rules, claims))

"""No accidental lockout: which addresses a change would block (pure).

A change to rulesets or associations is judged deployment by deployment: the filter before
and after, and for each address of interest whether it passes. The caller's own address
being newly blocked is what needs `force=true`; the rest is reported by `validate_only`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from citadel.traffic_filters.matching import Client, Filter, RulesetRules
from citadel.traffic_filters.seen import SeenClient


@dataclass(frozen=True)
class Change:
    """One deployment's associated rulesets before and after the change."""

    deployment_id: str  # "" for a ruleset judged as if associated alone (create)
    before: Sequence[RulesetRules]
    after: Sequence[RulesetRules]


@dataclass
class Report:
    """What a change would block."""

    caller_blocked: bool = False
    your_addresses: dict[str, list[str]] = field(default_factory=dict)  # address -> deployments
    connected_clients: list[SeenClient] = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            "your_addresses": [
                {"address": address, "deployments": sorted(d for d in deployments if d)}
                for address, deployments in sorted(self.your_addresses.items())
            ],
            "connected_clients": [
                {
                    "deployment_id": c.deployment_id,
                    "client_ip": c.client_ip,
                    "endpoint_id": c.endpoint_id,
                    "connected": c.connected,
                }
                for c in self.connected_clients
            ],
        }


def judge(
    changes: Iterable[Change],
    *,
    caller_ip: str | None,
    recent_ips: Sequence[str],
    clients: Sequence[SeenClient],
) -> Report:
    """Which of the caller's addresses and the gateways' recent clients the change blocks.

    An address counts when it passes before the change and not after (an address already
    blocked is not this change's doing). Text that is not an IP address is not judged.
    """
    report = Report()
    given = [*([caller_ip] if caller_ip else []), *recent_ips]
    addresses = [a for a in dict.fromkeys(given) if Client.of(a).ip is not None]
    by_deployment: Mapping[str, list[SeenClient]] = _group(clients)
    for change in changes:
        before, after = Filter.compile(change.before), Filter.compile(change.after)
        for address in addresses:
            client = Client.of(address)
            if before.decide(client).allowed and not after.decide(client).allowed:
                report.your_addresses.setdefault(address, []).append(change.deployment_id)
                report.caller_blocked |= address == caller_ip
        for seen in by_deployment.get(change.deployment_id, []):
            client = Client.of(seen.client_ip, seen.endpoint_id)
            if before.decide(client).allowed and not after.decide(client).allowed:
                report.connected_clients.append(seen)
    return report


def _group(clients: Sequence[SeenClient]) -> dict[str, list[SeenClient]]:
    out: dict[str, list[SeenClient]] = {}
    for client in clients:
        out.setdefault(client.deployment_id, []).append(client)
    return out

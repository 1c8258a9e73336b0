"""Domain-claim use cases that ask DNS between two transactions."""

from __future__ import annotations

from citadel.domains import service as domains
from citadel.domains.models import ClaimedDomain
from citadel.use_cases.units import Units


def verify_domain(units: Units, organization_id: str, domain: str) -> ClaimedDomain:
    """Look for the claim's code in DNS and record what was found: the claim is read in one
    transaction, DNS is asked with none open (a slow resolver holds no lock), the outcome is
    written in another, which checks the claim again."""
    with units.read() as ctx:
        claim = domains.challenge(ctx, organization_id, domain)
        policies = ctx.policies
    found = domains.look_up(policies, claim)
    with units.write() as ctx:
        return domains.record_verification(ctx, organization_id, claim, found)

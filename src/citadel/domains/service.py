"""Domain claims of an organization (inventory 8.2).

An Organization owner adds a domain and receives a verification code, publishes it as a TXT
record at ``_citadel_domain_challenge.<domain>``, and asks for verification. At most
`MAX_DOMAINS` claims (pending or verified) per organization. Several organizations may hold
pending claims of one domain, each with its own code; once one of them is verified the domain
is theirs: others can neither add nor verify it until that claim is removed.

Verifying is three steps so that no write transaction waits on DNS: `challenge` reads the
claim, `look_up` asks DNS outside any transaction, `record_verification` writes the result
(a failure is remembered on the claim and audited before the error is raised).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from citadel.audit.tags import AuditAction, Outcome, TargetType
from citadel.authn.context import Context, Policies
from citadel.authz.decide import Target
from citadel.authz.permissions import Permission
from citadel.db.tenancy import in_organization, scoped, scoped_count
from citadel.domains import dns
from citadel.domains.errors import (
    DnsUnavailable,
    DomainAlreadyClaimed,
    DomainClaimedElsewhere,
    DomainLimitReached,
    DomainNotFound,
    InvalidDomain,
    VerificationFailed,
)
from citadel.domains.models import ClaimedDomain
from citadel.domains.names import challenge_name, normalize_domain
from citadel.domains.schemas import DomainIn
from citadel.kit.ids import new_id
from citadel.orgs import service as orgs

MAX_DOMAINS = 10
PENDING = "pending"
VERIFIED = "verified"
_CODE_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
_REASONS = {
    dns.Outcome.NO_RECORD: "No TXT record was found at {name}.",
    dns.Outcome.RESOLVER_ERROR: "The DNS resolver answered with an error for {name}: {detail}.",
    "wrong_code": "{name} has TXT records, but none is this claim's verification code.",
}


@dataclass(frozen=True)
class Challenge:
    """What verifying a claim needs: the name to look up and the code to find there."""

    domain: str
    record_name: str
    code: str
    verified: bool


def _authorize(ctx: Context, org: str) -> None:
    ctx.authorize(Permission.DOMAINS_MANAGE, Target.organization(org))


def _load(ctx: Context, org: str, domain: str) -> ClaimedDomain:
    try:
        name = normalize_domain(domain, field="path.domain")
    except InvalidDomain:
        raise DomainNotFound() from None
    row = ctx.session.scalars(
        scoped(ClaimedDomain, org, ClaimedDomain.domain == name)
    ).one_or_none()
    if row is None:
        raise DomainNotFound()
    return row


def _verified_elsewhere(ctx: Context, org: str, domain: str) -> bool:
    owner = ctx.session.scalar(
        sa.select(ClaimedDomain.organization_id).where(ClaimedDomain.verified_domain == domain)
    )
    return owner is not None and owner != org


def new_code() -> str:
    """A fresh verification code: 48 random lowercase letters and digits."""
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(48))


def list_domains(ctx: Context, org: str) -> Sequence[ClaimedDomain]:
    """The organization's claims, oldest first."""
    _authorize(ctx, org)
    return ctx.session.scalars(
        scoped(ClaimedDomain, org).order_by(ClaimedDomain.created_at, ClaimedDomain.id)
    ).all()


def get_domain(ctx: Context, org: str, domain: str) -> ClaimedDomain:
    """One claim of the organization."""
    _authorize(ctx, org)
    return _load(ctx, org, domain)


def add_domain(ctx: Context, org: str, body: DomainIn) -> ClaimedDomain:
    """Claim a domain: a pending claim with a fresh verification code."""
    _authorize(ctx, org)
    domain = normalize_domain(body.domain)
    orgs.load(ctx.session, org, for_update=True)  # serialises the count below
    taken = ctx.session.scalar(
        sa.select(ClaimedDomain.id).where(
            in_organization(ClaimedDomain, org), ClaimedDomain.domain == domain
        )
    )
    if taken is not None:
        raise DomainAlreadyClaimed(fields=["body.domain"])
    if _verified_elsewhere(ctx, org, domain):
        raise DomainClaimedElsewhere(fields=["body.domain"])
    count = ctx.session.scalar(scoped_count(ClaimedDomain, org))
    if int(count or 0) >= MAX_DOMAINS:
        raise DomainLimitReached()
    row = ClaimedDomain(
        id=new_id(),
        organization_id=org,
        domain=domain,
        verification_code=new_code(),
        status=PENDING,
        created_at=ctx.clock.now(),
    )
    try:
        with ctx.session.begin_nested():
            ctx.session.add(row)
            ctx.session.flush()
    except IntegrityError:
        raise DomainAlreadyClaimed(fields=["body.domain"]) from None
    ctx.record(
        AuditAction.DOMAIN_ADDED,
        organization_id=org,
        target_type=TargetType.DOMAIN,
        target_id=row.id,
        details={"domain": domain},
    )
    return row


def challenge(ctx: Context, org: str, domain: str) -> Challenge:
    """Step 1 of verifying: what to look for, and where."""
    _authorize(ctx, org)
    row = _load(ctx, org, domain)
    return Challenge(
        row.domain, challenge_name(row.domain), row.verification_code, row.status == VERIFIED
    )


def look_up(policies: Policies, claim: Challenge) -> dns.Lookup | None:
    """Step 2, outside any transaction: the TXT records at the challenge name (None when the
    claim is already verified: there is nothing to look for)."""
    if claim.verified:
        return None
    return dns.txt_values(
        claim.record_name, nameserver=policies.dns_resolver, timeout_s=policies.dns_timeout_s
    )


def record_verification(
    ctx: Context, org: str, claim: Challenge, found: dns.Lookup | None
) -> ClaimedDomain:
    """Step 3: verify the claim if its code was found; otherwise remember why not and raise
    (400 naming the reason, 503 when DNS did not answer)."""
    _authorize(ctx, org)
    row = _load(ctx, org, claim.domain)
    if found is None or row.status == VERIFIED:
        return row
    now = ctx.clock.now()
    row.last_checked_at = now
    reason = _failure(found, row.verification_code)
    if reason is None and _verified_elsewhere(ctx, org, row.domain):
        reason = "claimed_elsewhere"
    if reason is None:
        row.status, row.verified_domain, row.verified_at, row.last_error = (
            VERIFIED,
            row.domain,
            now,
            None,
        )
        try:
            with ctx.session.begin_nested():
                ctx.session.flush()
        except IntegrityError:  # another organization verified it a moment ago
            row.status, row.verified_domain, row.verified_at = PENDING, None, None
            reason = "claimed_elsewhere"
    if reason is None:
        ctx.record(
            AuditAction.DOMAIN_VERIFIED,
            organization_id=org,
            target_type=TargetType.DOMAIN,
            target_id=row.id,
            details={"domain": row.domain},
        )
        return row
    row.last_error = reason
    ctx.session.flush()
    ctx.record(
        AuditAction.DOMAIN_VERIFICATION_FAILED,
        organization_id=org,
        target_type=TargetType.DOMAIN,
        target_id=row.id,
        outcome=Outcome.FAILURE,
        details={"domain": row.domain, "reason": reason},
    )
    if reason == "claimed_elsewhere":
        raise DomainClaimedElsewhere()
    if reason == dns.Outcome.UNAVAILABLE:
        raise DnsUnavailable()
    message = _REASONS[reason].format(name=claim.record_name, detail=found.detail)
    raise VerificationFailed(f"{message} Publish the code and try again (DNS may take a while).")


def _failure(found: dns.Lookup, code: str) -> str | None:
    if found.outcome is not dns.Outcome.FOUND:
        return found.outcome
    return None if code in found.values else "wrong_code"


def remove_domain(ctx: Context, org: str, domain: str) -> None:
    """Drop a claim, pending or verified."""
    _authorize(ctx, org)
    row = _load(ctx, org, domain)
    ctx.session.delete(row)
    ctx.session.flush()
    ctx.record(
        AuditAction.DOMAIN_REMOVED,
        organization_id=org,
        target_type=TargetType.DOMAIN,
        target_id=row.id,
        details={"domain": row.domain, "status": row.status},
    )


def verified_domains(ctx: Context, org: str) -> list[str]:
    """The organization's verified domains (no authorization: for the SSO sign-in)."""
    stmt = sa.select(ClaimedDomain.domain).where(
        in_organization(ClaimedDomain, org), ClaimedDomain.status == VERIFIED
    )
    return sorted(ctx.session.scalars(stmt))

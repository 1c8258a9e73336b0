"""Errors about domain claims."""

from citadel.errors import BadRequest, CitadelError, Conflict, NotFound


class DomainNotFound(NotFound):
    code = "domains.not_found"
    default_message = "The organization has not claimed that domain."


class InvalidDomain(BadRequest):
    code = "domains.invalid_domain"
    default_message = "That is not a domain name that can be claimed."


class DomainLimitReached(Conflict):
    code = "domains.limit_reached"
    default_message = "An organization can claim at most 10 domains; remove one first."


class DomainAlreadyClaimed(Conflict):
    code = "domains.already_claimed"
    default_message = "This organization has already claimed that domain."


class DomainClaimedElsewhere(Conflict):
    code = "domains.claimed_elsewhere"
    default_message = "Another organization has verified its claim of that domain."
    keeps_writes = True  # a refused verification is remembered on the claim (add writes nothing)


class VerificationFailed(BadRequest):
    code = "domains.verification_failed"
    default_message = "The domain could not be verified."
    keeps_writes = True  # the claim remembers when it was checked and why it failed


class DnsUnavailable(CitadelError):
    code = "domains.dns_unavailable"
    status = 503
    default_message = "The DNS resolver did not answer in time; nothing was verified. Try again."
    keeps_writes = True

"""Errors of join tokens and of joining the platform (ADR 33)."""

from citadel.errors import BadRequest, TooManyRequests, Unauthenticated


class InvalidJoinRequest(BadRequest):
    code = "join.invalid_request"
    default_message = "The join request does not match the token's role."
    keeps_writes = True  # the refused use is audited; the token stays unused


class JoinTokenRefused(Unauthenticated):
    """Unknown, wrong, used or expired: one answer for all (the audit event says which)."""

    code = "join.token_refused"
    default_message = "The join token is not valid: it may be wrong, used or expired."
    keeps_writes = True  # the refused use is audited


class InvalidRenewalRequest(BadRequest):
    code = "join.invalid_renewal"
    default_message = "The renewal request does not fit the component's certificate."


class JoinThrottled(TooManyRequests):
    """Too many refused join tokens from one address (the sign-in throttle's rules)."""

    code = "join.throttled"
    default_message = "Too many refused join attempts from this address; try again later."
    keeps_writes = True  # the refusal is audited

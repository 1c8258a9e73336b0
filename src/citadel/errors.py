"""Typed, coded errors: the only way a client-visible failure leaves a service.

Every error a client can see subclasses `CitadelError` with a stable `code` (``area.reason``)
and an HTTP `status`. The API renders them once, in `citadel.api.errors`, as
``{"errors": [{"code", "message", "fields"}]}``. Anything else that escapes is a bug (a 500).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class CitadelError(Exception):
    """Base of every client-visible error."""

    code: str = "root.error"
    status: int = 500
    default_message: str = "The request failed."
    keeps_writes: bool = False
    """When true the unit of work commits what it wrote before the error (throttle counters,
    audit of a failed sign-in) instead of rolling back."""

    def __init__(
        self,
        message: str | None = None,
        *,
        fields: Sequence[str] = (),
        details: Mapping[str, Any] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.fields = list(fields)
        self.details = dict(details) if details else None
        """Structured facts about the failure the client can act on (rendered as given)."""
        super().__init__(self.message)


class BadRequest(CitadelError):
    code = "root.invalid_data"
    status = 400
    default_message = "The request is invalid."


class Unauthenticated(CitadelError):
    code = "root.unauthenticated"
    status = 401
    default_message = "Authentication is required."


class Forbidden(CitadelError):
    code = "root.forbidden"
    status = 403
    default_message = "You are not allowed to do this."


class NotFound(CitadelError):
    code = "root.not_found"
    status = 404
    default_message = "Not found."


class Conflict(CitadelError):
    code = "root.conflict"
    status = 409
    default_message = "The request conflicts with the current state."


class TooManyRequests(CitadelError):
    code = "root.too_many_requests"
    status = 429
    default_message = "Too many requests; try again later."

    def __init__(self, message: str | None = None, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))


class PayloadTooLarge(CitadelError):
    code = "root.request_too_large"
    status = 413
    default_message = "The request body is too large."

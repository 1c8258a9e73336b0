"""Request bodies of the domain routes, and the shaping of answers."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from citadel.domains.models import ClaimedDomain
from citadel.domains.names import challenge_name
from citadel.kit.schema import NullableResponseModel, ResponseModel, StrictModel


class DomainIn(StrictModel):
    """A domain to claim (normalised: lowercase, IDNA-encoded, no trailing dot)."""

    domain: str = Field(min_length=1, max_length=300)


def _time(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


class VerificationOut(ResponseModel):
    """The TXT record that proves the claim."""

    record_type: str
    record_name: str
    value: str


class DomainOut(NullableResponseModel):
    """A claim; `verified`, `last_checked` and `last_error` are null until they happen."""

    domain: str
    status: str
    verification: VerificationOut
    created: str | None
    verified: str | None
    last_checked: str | None
    last_error: str | None


class DomainsOut(ResponseModel):
    domains: list[DomainOut]


def domain_info(row: ClaimedDomain) -> DomainOut:
    """A claim as the API shows it, with the TXT record that proves it."""
    return DomainOut(
        domain=row.domain,
        status=row.status,
        verification=VerificationOut(
            record_type="TXT",
            record_name=challenge_name(row.domain),
            value=row.verification_code,
        ),
        created=_time(row.created_at),
        verified=_time(row.verified_at),
        last_checked=_time(row.last_checked_at),
        last_error=row.last_error,
    )

"""Request bodies of the domain routes, and the shaping of answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from citadel.domains.models import ClaimedDomain
from citadel.domains.names import challenge_name
from citadel.kit.schema import StrictModel


class DomainIn(StrictModel):
    """A domain to claim (normalised: lowercase, IDNA-encoded, no trailing dot)."""

    domain: str = Field(min_length=1, max_length=300)


def _time(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def domain_info(row: ClaimedDomain) -> dict[str, Any]:
    """A claim as the API shows it, with the TXT record that proves it."""
    return {
        "domain": row.domain,
        "status": row.status,
        "verification": {
            "record_type": "TXT",
            "record_name": challenge_name(row.domain),
            "value": row.verification_code,
        },
        "created": _time(row.created_at),
        "verified": _time(row.verified_at),
        "last_checked": _time(row.last_checked_at),
        "last_error": row.last_error,
    }

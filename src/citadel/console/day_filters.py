"""Day filters of the console's lists (the audit log, a deployment's security audit): a
``YYYY-MM-DD`` from a date input read as a UTC day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from citadel.errors import BadRequest


def utc_day(text: str | None, field: str, *, end: bool = False) -> datetime | None:
    """The UTC midnight that starts the day `text` names, or with `end` the one that ends it
    (an "until" day is included); None when no day is given. A `BadRequest` on `field` when
    `text` is not a date."""
    if not text:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise BadRequest("Give a date as YYYY-MM-DD.", fields=[field]) from None
    return day + timedelta(days=1) if end else day

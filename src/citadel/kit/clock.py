"""Time as a dependency: services receive a `Clock` instead of reading the wall clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Something that tells the current UTC time."""

    def now(self) -> datetime: ...


class SystemClock:
    """The wall clock, in UTC, to the microsecond."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class SettableClock:
    """A clock that tests move by hand (time is outside the system, so this is not a mock)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, **delta: float) -> None:
        """Move forward by a `timedelta(**delta)`."""
        self._now += timedelta(**delta)


def as_utc(value: datetime) -> datetime:
    """Attach UTC to a naive datetime read back from a database that dropped the zone."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)

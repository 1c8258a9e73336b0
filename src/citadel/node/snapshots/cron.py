"""SLM schedules: the subset of Elasticsearch's (Quartz) cron expressions the node runs. Pure.

``<seconds> <minutes> <hours> <day-of-month> <month> <day-of-week> [<year>]``, where seconds,
minutes and hours each take ``*``, ``*/n``, ``a/n``, a number, a range ``a-b`` or a comma list
of numbers and ranges; day-of-month, month and day-of-week must be ``*`` or ``?`` (every day)
and the year ``*`` when given. Anything else is a 400 naming what is not supported, never a
schedule silently read another way. A schedule may also be an interval (``30m``, ``1h``), as
SLM allows since 8.x.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from citadel.node.errors import IllegalArgument

_INTERVAL = re.compile(r"^(\d+)(s|m|h|d)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_FIELDS = (("seconds", 60), ("minutes", 60), ("hours", 24))


@dataclass(frozen=True)
class Schedule:
    """When a policy runs: the seconds, minutes and hours of each day (UTC), or an interval."""

    seconds: frozenset[int] = frozenset()
    minutes: frozenset[int] = frozenset()
    hours: frozenset[int] = frozenset()
    interval_s: int | None = None

    def next_after(self, moment: datetime) -> datetime:
        """The first time strictly after `moment` the schedule fires."""
        moment = moment.astimezone(UTC)
        if self.interval_s is not None:
            epoch = moment.timestamp()
            return datetime.fromtimestamp(
                (math.floor(epoch / self.interval_s) + 1) * self.interval_s, tz=UTC
            )
        start = moment.replace(microsecond=0) + timedelta(seconds=1)
        day = start.replace(hour=0, minute=0, second=0)
        for offset in range(2):
            base = day + timedelta(days=offset)
            for hour in sorted(self.hours):
                for minute in sorted(self.minutes):
                    for second in sorted(self.seconds):
                        at = base.replace(hour=hour, minute=minute, second=second)
                        if at >= start:
                            return at
        raise AssertionError("a schedule fires every day")  # every field is non-empty


def parse(text: str) -> Schedule:
    """The schedule of an SLM ``schedule``; 400 naming what is not supported."""
    if not isinstance(text, str) or not text.strip():
        raise IllegalArgument("invalid schedule []: a cron expression or an interval is required")
    text = text.strip()
    interval = _INTERVAL.match(text)
    if interval:
        seconds = int(interval.group(1)) * _UNITS[interval.group(2)]
        if seconds <= 0:
            raise IllegalArgument(f"invalid schedule [{text}]: the interval must be positive")
        return Schedule(interval_s=seconds)
    parts = text.split()
    if len(parts) not in (6, 7):
        raise IllegalArgument(
            f"invalid schedule [{text}]: a cron expression has 6 or 7 fields "
            "(seconds minutes hours day-of-month month day-of-week [year])"
        )
    values = [_field(parts[i], name, limit, text) for i, (name, limit) in enumerate(_FIELDS)]
    for name, part in zip(("day-of-month", "month", "day-of-week"), parts[3:6], strict=True):
        if part not in ("*", "?"):
            raise IllegalArgument(
                f"invalid schedule [{text}]: the {name} field [{part}] is not supported by this "
                "node (only * or ?: policies run every day)"
            )
    if len(parts) == 7 and parts[6] != "*":
        raise IllegalArgument(f"invalid schedule [{text}]: the year field must be *")
    return Schedule(values[0], values[1], values[2])


def _field(part: str, name: str, limit: int, text: str) -> frozenset[int]:
    out: set[int] = set()
    for item in part.split(","):
        base, slash, raw_step = item.partition("/")
        step = _number(raw_step, name, text, 1, limit) if slash else 1
        if base == "*":
            low, high = 0, limit - 1
        elif "-" in base:
            a, _, b = base.partition("-")
            low, high = _number(a, name, text, 0, limit - 1), _number(b, name, text, 0, limit - 1)
            if low > high:
                raise IllegalArgument(f"invalid schedule [{text}]: range [{base}] of {name}")
        else:
            low = _number(base, name, text, 0, limit - 1)
            high = limit - 1 if slash else low
        out.update(range(low, high + 1, step))
    return frozenset(out)


def _number(raw: str, name: str, text: str, low: int, high: int) -> int:
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise IllegalArgument(
            f"invalid schedule [{text}]: [{raw}] in the {name} field is not supported (numbers "
            f"{low}-{high}, *, */n, a-b and comma lists)"
        )
    return int(raw)


def for_interval(seconds: int) -> str:
    """The cron expression of a policy that runs every `seconds` (the platform's interval):
    1800 → ``0 */30 * * * ?``; an interval that no cron field divides evenly becomes ``Ns``."""
    if seconds <= 0:
        raise ValueError("the interval must be positive")
    if seconds < 60 and 60 % seconds == 0:
        return f"*/{seconds} * * * * ?"
    if seconds % 60 == 0 and seconds < 3600 and 60 % (seconds // 60) == 0:
        return f"0 */{seconds // 60} * * * ?"
    if seconds % 3600 == 0 and seconds < 86400 and 24 % (seconds // 3600) == 0:
        step = seconds // 3600
        return "0 0 * * * ?" if step == 1 else f"0 0 */{step} * * ?"
    if seconds == 86400:
        return "0 0 0 * * ?"
    return f"{seconds}s"

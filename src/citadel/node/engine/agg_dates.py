"""Date arithmetic of date aggregations: intervals, time zones, bucket rounding, key text. Pure.

tantivy buckets dates by fixed widths in UTC only; Elasticsearch rounds in the request's
``time_zone`` and by calendar units. So a bucket is described here by its rounding: `floor`
gives the start (epoch milliseconds, UTC) of the bucket holding an instant and `next_start`
the start of the following one. Calendar units round the local wall-clock time of the zone
(a month in Europe/Paris starts at local midnight of its first day, whatever the offset that
day); fixed intervals round local time too, as Elasticsearch's ``TimeIntervalRounding`` does.

Key text follows Elasticsearch's date formats: the default ``strict_date_optional_time``
prints ``2020-01-01T00:00:00.000Z`` (``+01:00`` in another zone); Java patterns such as
``yyyy-MM-dd`` and the named formats clients use are understood, the first of ``a||b``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from enum import StrEnum

from citadel.node.errors import IllegalArgument

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FIXED = re.compile(r"^(\d+)(nanos|micros|ms|s|m|h|d)$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


class CalendarUnit(StrEnum):
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


_CALENDAR_NAMES = {
    "1m": CalendarUnit.MINUTE,
    "minute": CalendarUnit.MINUTE,
    "1h": CalendarUnit.HOUR,
    "hour": CalendarUnit.HOUR,
    "1d": CalendarUnit.DAY,
    "day": CalendarUnit.DAY,
    "1w": CalendarUnit.WEEK,
    "week": CalendarUnit.WEEK,
    "1M": CalendarUnit.MONTH,
    "month": CalendarUnit.MONTH,
    "1q": CalendarUnit.QUARTER,
    "quarter": CalendarUnit.QUARTER,
    "1y": CalendarUnit.YEAR,
    "year": CalendarUnit.YEAR,
}


def parse_calendar_interval(text: object) -> CalendarUnit:
    """A ``calendar_interval`` (``1M``, ``month``); 400 otherwise, in Elasticsearch's words."""
    unit = _CALENDAR_NAMES.get(str(text))
    if unit is None:
        raise IllegalArgument(
            f"The supplied interval [{text}] could not be parsed as a calendar interval."
        )
    return unit


def parse_fixed_interval(text: object, *, setting: str = "date_histogram.fixedInterval") -> int:
    """A ``fixed_interval`` (``90m``, ``1d``) in milliseconds; 400 otherwise."""
    match = _FIXED.match(str(text))
    if match is None or match.group(2) in ("nanos", "micros"):
        raise IllegalArgument(
            f"failed to parse setting [{setting}] with value [{text}] as a time value: "
            "unit is missing or unrecognized"
        )
    millis = int(match.group(1)) * _UNIT_MS[match.group(2)]
    if millis <= 0:
        raise IllegalArgument(f"Zero or negative time interval [{text}] not supported")
    return millis


def parse_offset(value: object) -> int:
    """A date histogram ``offset`` (``+6h``, ``-1d``, or milliseconds) in milliseconds."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    if not body:
        return 0
    return sign * parse_fixed_interval(body, setting="date_histogram.offset")


@dataclass(frozen=True)
class DateRounding:
    """How a date histogram groups instants: a calendar unit or a fixed width, in a zone."""

    zone: tzinfo
    calendar: CalendarUnit | None = None
    fixed_ms: int | None = None
    offset_ms: int = 0

    @property
    def is_uniform(self) -> bool:
        """Every bucket has the same width in UTC (tantivy's histogram can do it directly)."""
        if not _fixed_offset(self.zone):
            return False
        if self.fixed_ms is not None:
            return True
        return self.calendar in (
            CalendarUnit.MINUTE,
            CalendarUnit.HOUR,
            CalendarUnit.DAY,
            CalendarUnit.WEEK,
        )

    @property
    def uniform_width(self) -> int:
        if self.fixed_ms is not None:
            return self.fixed_ms
        return {
            CalendarUnit.MINUTE: 60_000,
            CalendarUnit.HOUR: 3_600_000,
            CalendarUnit.DAY: 86_400_000,
            CalendarUnit.WEEK: 7 * 86_400_000,
        }[self.calendar or CalendarUnit.DAY]

    @property
    def uniform_offset(self) -> int:
        """The histogram offset that aligns uniform buckets with local time (weeks: Monday)."""
        zone_ms = _utc_offset_ms(self.zone, 0)
        monday = 4 * 86_400_000 if self.calendar is CalendarUnit.WEEK else 0
        return (monday - zone_ms + self.offset_ms) % self.uniform_width

    def floor(self, millis: int) -> int:
        """Start of the bucket holding `millis`."""
        if self.fixed_ms is not None and _fixed_offset(self.zone):  # plain arithmetic
            zone_ms = _utc_offset_ms(self.zone, 0)
            wall = millis - self.offset_ms + zone_ms
            return (wall // self.fixed_ms) * self.fixed_ms - zone_ms + self.offset_ms
        shifted = millis - self.offset_ms
        local = _local(shifted, self.zone)
        if self.fixed_ms is not None:
            wall = _wall_ms(local)
            start_wall = (wall // self.fixed_ms) * self.fixed_ms
            return _from_wall(start_wall, self.zone) + self.offset_ms
        start = _calendar_floor(local, self.calendar or CalendarUnit.DAY)
        return _to_millis(start) + self.offset_ms

    def next_start(self, start: int) -> int:
        """Start of the bucket after the one starting at `start`."""
        if self.fixed_ms is not None and _fixed_offset(self.zone):
            return start + self.fixed_ms
        shifted = start - self.offset_ms
        local = _local(shifted, self.zone)
        if self.fixed_ms is not None:
            wall = _wall_ms(local)
            nxt = _from_wall(wall + self.fixed_ms, self.zone)
            if nxt <= shifted:  # a wall-clock step that a DST change swallowed
                nxt = shifted + self.fixed_ms
            return nxt + self.offset_ms
        unit = self.calendar or CalendarUnit.DAY
        return _to_millis(_calendar_add(local, unit)) + self.offset_ms


def _calendar_floor(local: datetime, unit: CalendarUnit) -> datetime:
    if unit is CalendarUnit.MINUTE:
        return local.replace(second=0, microsecond=0)
    if unit is CalendarUnit.HOUR:
        return local.replace(minute=0, second=0, microsecond=0)
    day = _midnight(local)
    if unit is CalendarUnit.DAY:
        return day
    if unit is CalendarUnit.WEEK:
        return _midnight(local - timedelta(days=local.weekday()))
    if unit is CalendarUnit.MONTH:
        return _midnight(local.replace(day=1))
    if unit is CalendarUnit.QUARTER:
        return _midnight(local.replace(month=(local.month - 1) // 3 * 3 + 1, day=1))
    return _midnight(local.replace(month=1, day=1))


def _calendar_add(start: datetime, unit: CalendarUnit) -> datetime:
    if unit is CalendarUnit.MINUTE:
        return (start.astimezone(UTC) + timedelta(minutes=1)).astimezone(start.tzinfo)
    if unit is CalendarUnit.HOUR:
        return (start.astimezone(UTC) + timedelta(hours=1)).astimezone(start.tzinfo)
    if unit in (CalendarUnit.DAY, CalendarUnit.WEEK):
        days = 1 if unit is CalendarUnit.DAY else 7
        naive = start.replace(tzinfo=None) + timedelta(days=days)
        return _midnight(naive.replace(tzinfo=start.tzinfo))
    months = {CalendarUnit.MONTH: 1, CalendarUnit.QUARTER: 3, CalendarUnit.YEAR: 12}[unit]
    index = start.month - 1 + months
    return _midnight(start.replace(year=start.year + index // 12, month=index % 12 + 1, day=1))


def _midnight(local: datetime) -> datetime:
    """Local midnight of the day; normalised so its UTC offset is the one in force then."""
    naive = local.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    return datetime.fromtimestamp(_from_wall(_naive_ms(naive), local.tzinfo) / 1000, local.tzinfo)


def _fixed_offset(zone: tzinfo) -> bool:
    """The zone never changes its offset (UTC, ``+05:30``)."""
    return zone is UTC or type(zone).__name__ == "timezone"


def _utc_offset_ms(zone: tzinfo, millis: int) -> int:
    offset = _local(millis, zone).utcoffset() or timedelta(0)
    return int(offset.total_seconds() * 1000)


def _local(millis: int, zone: tzinfo | None) -> datetime:
    return (_EPOCH + timedelta(milliseconds=millis)).astimezone(zone)


def _wall_ms(local: datetime) -> int:
    return _naive_ms(local.replace(tzinfo=None))


def _naive_ms(naive: datetime) -> int:
    delta = naive - _EPOCH.replace(tzinfo=None)
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000


def _from_wall(wall_ms: int, zone: tzinfo | None) -> int:
    """The UTC instant of a local wall-clock time (the earlier one when it repeats)."""
    guess = wall_ms - _utc_offset_ms(zone or UTC, wall_ms)
    return wall_ms - _utc_offset_ms(zone or UTC, guess)


def _to_millis(moment: datetime) -> int:
    delta = moment - _EPOCH
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000


# -- key text --------------------------------------------------------------------------------

_NAMED_PATTERNS = {
    "strict_date_optional_time": "yyyy-MM-dd'T'HH:mm:ss.SSSXXX",
    "date_optional_time": "yyyy-MM-dd'T'HH:mm:ss.SSSXXX",
    "strict_date_optional_time_nanos": "yyyy-MM-dd'T'HH:mm:ss.SSSSSSSSSXXX",
    "strict_date_time": "yyyy-MM-dd'T'HH:mm:ss.SSSXXX",
    "date_time": "yyyy-MM-dd'T'HH:mm:ss.SSSXXX",
    "strict_date_time_no_millis": "yyyy-MM-dd'T'HH:mm:ssXXX",
    "date_time_no_millis": "yyyy-MM-dd'T'HH:mm:ssXXX",
    "strict_date": "yyyy-MM-dd",
    "date": "yyyy-MM-dd",
    "strict_year_month_day": "yyyy-MM-dd",
    "year_month_day": "yyyy-MM-dd",
    "strict_year_month": "yyyy-MM",
    "year_month": "yyyy-MM",
    "strict_year": "yyyy",
    "year": "yyyy",
    "basic_date": "yyyyMMdd",
    "strict_hour_minute_second": "HH:mm:ss",
    "hour_minute_second": "HH:mm:ss",
    "strict_date_hour_minute_second": "yyyy-MM-dd'T'HH:mm:ss",
    "date_hour_minute_second": "yyyy-MM-dd'T'HH:mm:ss",
    "strict_date_hour_minute": "yyyy-MM-dd'T'HH:mm",
    "date_hour_minute": "yyyy-MM-dd'T'HH:mm",
}
_DEFAULT_PATTERN = "yyyy-MM-dd'T'HH:mm:ss.SSSXXX"
_TOKEN = re.compile(r"'[^']*'|y+|u+|M+|d+|H+|h+|m+|s+|S+|X+|x+|Z+|a|E+|.", re.DOTALL)
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def format_date(millis: int, formats: str | None, zone: tzinfo = UTC) -> str:
    """Text of a date key under a field's or request's format (the first of ``a||b``)."""
    name = (formats or "strict_date_optional_time").split("||")[0].strip()
    if name == "epoch_millis":
        return str(millis)
    if name == "epoch_second":
        return str(millis // 1000)
    pattern = _NAMED_PATTERNS.get(name, name)
    if pattern == _DEFAULT_PATTERN and zone is UTC:  # the common case, without the tokenizer
        d = _EPOCH + timedelta(milliseconds=millis)
        return (
            f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:"
            f"{d.second:02d}.{d.microsecond // 1000:03d}Z"
        )
    local = _local(millis, zone)
    return "".join(_render(token, local) for token in _TOKEN.findall(pattern))


def _render(token: str, local: datetime) -> str:
    letter, width = token[0], len(token)
    if letter == "'":
        return token[1:-1] if width > 2 else "'"
    if letter in "yu":
        return f"{local.year % 100:02d}" if width == 2 else f"{local.year:0{max(width, 4)}d}"
    if letter == "M":
        if width >= 4:
            return _MONTHS[local.month - 1]
        if width == 3:
            return _MONTHS[local.month - 1][:3]
        return f"{local.month:0{width}d}"
    if letter == "E":
        day = _WEEKDAYS[local.weekday()]
        return day if width >= 4 else day[:3]
    numbers = {
        "d": local.day,
        "H": local.hour,
        "h": (local.hour % 12) or 12,
        "m": local.minute,
        "s": local.second,
    }
    if letter in numbers:
        return f"{numbers[letter]:0{width}d}"
    if letter == "S":
        return f"{local.microsecond:06d}{'0' * 3}"[:width]
    if letter == "a":
        return "AM" if local.hour < 12 else "PM"
    if letter in "XxZ":
        return _zone_text(local, letter, width)
    return token


def _zone_text(local: datetime, letter: str, width: int) -> str:
    offset = local.utcoffset() or timedelta(0)
    seconds = int(offset.total_seconds())
    if seconds == 0 and letter == "X":
        return "Z"
    sign = "-" if seconds < 0 else "+"
    hours, minutes = divmod(abs(seconds) // 60, 60)
    if (letter == "Z" and width < 4) or (letter in "Xx" and width in (2, 4)):
        return f"{sign}{hours:02d}{minutes:02d}"
    if letter in "Xx" and width == 1:
        return f"{sign}{hours:02d}" + (f"{minutes:02d}" if minutes else "")
    return f"{sign}{hours:02d}:{minutes:02d}"

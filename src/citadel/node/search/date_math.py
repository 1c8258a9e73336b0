"""Date bounds of range and term queries, with Elasticsearch's date math. Pure.

A bound is an anchor and optional math: ``now``, ``now-1d/d``, ``2020-01-01||+1M/d``, or a
date in the field's format (``strict_date_optional_time||epoch_millis`` by default). Math is a
sequence of ``+N<unit>`` / ``-N<unit>`` and ``/<unit>`` (round down), units ``y M w d h H m s``.

Rounding up, as Elasticsearch does for ``gt`` and ``lte``: ``/d`` goes to the last millisecond
of the day, and a partial date fills what it leaves out with its end (``lte: "2020-03"`` covers
all of March). ``time_zone`` (``+01:00``, ``UTC``, ``Europe/Paris``) applies to anchors
without their own zone and to rounding; ``now`` is whatever the caller says it is.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from citadel.node.errors import IllegalArgument
from citadel.node.search.errors import DateParseError
from citadel.node.store.dates import DEFAULT_FORMAT, DateFormatError, parse_date

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MATH = re.compile(r"([+-])(\d+)([yMwdhHms])|/([yMwdhHms])")
_ISO = re.compile(
    r"^[+-]?\d{4,9}(?:-(?P<month>\d{1,2})(?:-(?P<day>\d{1,2})"
    r"(?:[T ](?P<hour>\d{2})(?::(?P<minute>\d{2})(?::(?P<second>\d{2})"
    r"(?P<fraction>[.,]\d+)?)?)?(?P<zone>Z|[+-]\d{2}(?::?\d{2})?)?)?)?)?$"
)
_ZONE_OFFSET = re.compile(r"^([+-])(\d{1,2})(?::?(\d{2}))?$")


def resolve_date(
    value: object,
    *,
    now: datetime,
    round_up: bool = False,
    formats: str | None = None,
    time_zone: str | None = None,
) -> int:
    """Epoch milliseconds of a date bound; 400 ``parse_exception`` when it does not parse."""
    zone = parse_time_zone(time_zone)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise DateParseError(f"failed to parse date field [{value}]")
    if not isinstance(value, str):
        return _anchor(value, formats, zone, round_up=round_up)
    text = value.strip()
    if text.startswith("now"):
        anchor, math = _to_millis(now), text[3:]
    elif "||" in text:
        head, _, math = text.partition("||")
        anchor = _anchor(head, formats, zone, round_up=False)
    else:
        return _anchor(text, formats, zone, round_up=round_up)
    return _apply_math(anchor, math, zone, round_up=round_up, original=text)


def parse_time_zone(text: str | None) -> tzinfo:
    """A ``time_zone`` parameter as a tzinfo (UTC when absent)."""
    if text is None or text in ("Z", "UTC", "utc", "GMT"):
        return UTC
    offset = _ZONE_OFFSET.match(text)
    if offset:
        sign = -1 if offset.group(1) == "-" else 1
        delta = timedelta(hours=int(offset.group(2)), minutes=int(offset.group(3) or 0))
        return timezone(sign * delta)
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise IllegalArgument(f"unknown time zone [{text}]") from None


def _anchor(value: int | float | str, formats: str | None, zone: tzinfo, *, round_up: bool) -> int:
    names = formats or DEFAULT_FORMAT
    try:
        millis = parse_date(value, names)
    except DateFormatError:
        raise DateParseError(
            f"failed to parse date field [{value}] with format [{names}]"
        ) from None
    if not isinstance(value, str):
        return millis
    iso = _ISO.match(value.strip())
    if iso is None:
        return millis
    if zone is not UTC and not iso.group("zone"):
        millis -= _offset_millis(millis, zone)
    if round_up:
        millis = _round_up_partial(millis, iso, zone)
    return millis


def _round_up_partial(millis: int, iso: re.Match[str], zone: tzinfo) -> int:
    """The last millisecond of the period a partial date names."""
    if iso.group("fraction"):
        return millis
    for group, unit in (
        ("second", "s"),
        ("minute", "m"),
        ("hour", "h"),
        ("day", "d"),
        ("month", "M"),
    ):
        if iso.group(group):
            return _end_of(millis, unit, zone)
    return _end_of(millis, "y", zone)


def _apply_math(anchor: int, math: str, zone: tzinfo, *, round_up: bool, original: str) -> int:
    moment = _from_millis(anchor).astimezone(zone)
    pos = 0
    while pos < len(math):
        step = _MATH.match(math, pos)
        if step is None:
            raise DateParseError(f"failed to parse date field [{original}]: bad date math")
        sign, amount, unit, rounding = step.groups()
        if rounding:
            start = _floor(moment, rounding)
            moment = _add(start, 1, rounding) - timedelta(milliseconds=1) if round_up else start
        else:
            moment = _add(moment, int(amount) * (-1 if sign == "-" else 1), unit)
        pos = step.end()
    return _to_millis(moment)


def _floor(moment: datetime, unit: str) -> datetime:
    if unit == "y":
        return moment.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    if unit == "M":
        return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if unit == "w":
        day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        return day - timedelta(days=day.weekday())
    if unit == "d":
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit in ("h", "H"):
        return moment.replace(minute=0, second=0, microsecond=0)
    if unit == "m":
        return moment.replace(second=0, microsecond=0)
    return moment.replace(microsecond=0)


def _add(moment: datetime, amount: int, unit: str) -> datetime:
    if unit in ("y", "M"):
        months = moment.month - 1 + amount * (12 if unit == "y" else 1)
        year, month = moment.year + months // 12, months % 12 + 1
        day = min(moment.day, calendar.monthrange(year, month)[1])
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            raise DateParseError("date math goes out of range") from None
    seconds = {"w": 604_800, "d": 86_400, "h": 3600, "H": 3600, "m": 60, "s": 1}[unit]
    try:
        if unit in ("w", "d") and isinstance(moment.tzinfo, ZoneInfo):
            naive = moment.replace(tzinfo=None) + timedelta(seconds=seconds * amount)
            return naive.replace(tzinfo=moment.tzinfo)
        return moment + timedelta(seconds=seconds * amount)
    except OverflowError:
        raise DateParseError("date math goes out of range") from None


def _end_of(millis: int, unit: str, zone: tzinfo) -> int:
    moment = _from_millis(millis).astimezone(zone)
    end = _add(_floor(moment, unit), 1, unit) - timedelta(milliseconds=1)
    return _to_millis(end)


def _offset_millis(millis: int, zone: tzinfo) -> int:
    local = _from_millis(millis).replace(tzinfo=zone)
    offset = local.utcoffset() or timedelta(0)
    return int(offset.total_seconds() * 1000)


def _from_millis(millis: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=millis)


def _to_millis(moment: datetime) -> int:
    delta = moment - _EPOCH
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000

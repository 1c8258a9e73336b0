"""Dates of the ``date`` processor: input formats, time zones, the output pattern. Pure.

Input formats are ``ISO8601``, ``UNIX`` (seconds), ``UNIX_MS`` and Java patterns (read by
`citadel.node.store.dates`); a value without a zone is in the processor's ``timezone``. The
output is a Java ``DateTimeFormatter`` pattern (default ``yyyy-MM-dd'T'HH:mm:ss.SSSXXX``) over
the letters ``yyyy yy MM MMM dd HH mm ss SSS XXX XX X Z`` and quoted text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from citadel.node.ingest.errors import FieldError
from citadel.node.store import dates as store_dates

DEFAULT_OUTPUT = "yyyy-MM-dd'T'HH:mm:ss.SSSXXX"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HAS_ZONE = re.compile(r"(Z|[+-]\d{2}:?\d{2}|[+-]\d{2})$")
_OUTPUT_TOKENS = (
    "yyyy",
    "uuuu",
    "MMM",
    "SSS",
    "XXX",
    "yy",
    "MM",
    "dd",
    "HH",
    "mm",
    "ss",
    "XX",
    "X",
    "Z",
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def zone(name: str) -> tzinfo:
    """The time zone named `name` (an id such as ``Europe/Amsterdam`` or an offset)."""
    if name in ("UTC", "Z", "GMT"):
        return UTC
    match = re.fullmatch(r"([+-])(\d{2}):?(\d{2})?", name)
    if match:
        from datetime import timezone

        sign = -1 if match.group(1) == "-" else 1
        delta = timedelta(hours=int(match.group(2)), minutes=int(match.group(3) or 0))
        return timezone(sign * delta)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"The datetime zone id '{name}' is not recognised") from None


def check_format(fmt: str) -> None:
    """Raise ValueError when `fmt` is not an input format this node reads."""
    if fmt in ("ISO8601", "UNIX", "UNIX_MS"):
        return
    if fmt == "TAI64N":
        raise ValueError("the TAI64N date format is not supported")
    try:
        store_dates.check_format(fmt)
    except store_dates.DateFormatError as exc:
        raise ValueError(str(exc)) from None


def parse(value: object, formats: Sequence[str], zone_name: str) -> datetime:
    """`value` read by the first format that accepts it, in zone `zone_name`."""
    try:
        tz = zone(zone_name)
    except ValueError as exc:
        raise FieldError(str(exc)) from None
    for fmt in formats:
        moment = _try(value, fmt, tz)
        if moment is not None:
            return moment.astimezone(tz)
    raise FieldError(f"unable to parse date [{value}]")


def _try(value: object, fmt: str, tz: tzinfo) -> datetime | None:
    if fmt in ("UNIX", "UNIX_MS"):
        try:
            number = float(str(value))
        except ValueError:
            return None
        millis = number * 1000 if fmt == "UNIX" else number
        return _EPOCH + timedelta(milliseconds=millis)
    names = "date_optional_time" if fmt == "ISO8601" else fmt
    try:
        millis = store_dates.parse_date(str(value), names)
    except store_dates.DateFormatError:
        return None
    moment = _EPOCH + timedelta(milliseconds=millis)
    if isinstance(value, str) and not _HAS_ZONE.search(value.strip()):
        moment = moment.replace(tzinfo=None).replace(tzinfo=tz)
    return moment


def check_output(pattern: str) -> None:
    """Raise ValueError when `pattern` uses letters the renderer does not know."""
    _tokens(pattern)


def render(moment: datetime, pattern: str) -> str:
    """`moment` printed with the Java pattern `pattern`."""
    out = []
    for kind, text in _tokens(pattern):
        out.append(text if kind == "literal" else _field(moment, text))
    return "".join(out)


def _tokens(pattern: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "'":
            end = pattern.find("'", i + 1)
            if end < 0:
                raise ValueError(f"invalid output format [{pattern}]")
            out.append(("literal", pattern[i + 1 : end] or "'"))
            i = end + 1
            continue
        for token in _OUTPUT_TOKENS:
            if pattern.startswith(token, i):
                out.append(("field", token))
                i += len(token)
                break
        else:
            if ch.isalpha():
                raise ValueError(f"output format [{pattern}] uses an unsupported letter [{ch}]")
            out.append(("literal", ch))
            i += 1
    return out


_FIELDS = {
    "yyyy": lambda m: f"{m.year:04d}",
    "uuuu": lambda m: f"{m.year:04d}",
    "yy": lambda m: f"{m.year % 100:02d}",
    "MMM": lambda m: _MONTHS[m.month - 1],
    "MM": lambda m: f"{m.month:02d}",
    "dd": lambda m: f"{m.day:02d}",
    "HH": lambda m: f"{m.hour:02d}",
    "mm": lambda m: f"{m.minute:02d}",
    "ss": lambda m: f"{m.second:02d}",
    "SSS": lambda m: f"{m.microsecond // 1000:03d}",
}


def _field(moment: datetime, letters: str) -> str:
    if letters in _FIELDS:
        return _FIELDS[letters](moment)
    offset = moment.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    hh, mm = divmod(abs(minutes), 60)
    if letters == "Z":
        return f"{sign}{hh:02d}{mm:02d}"
    if minutes == 0:
        return "Z"
    if letters == "XXX":
        return f"{sign}{hh:02d}:{mm:02d}"
    if letters == "XX":
        return f"{sign}{hh:02d}{mm:02d}"
    return f"{sign}{hh:02d}" + (f"{mm:02d}" if mm else "")

"""Dates as Elasticsearch reads them: named formats, Java-style patterns, epoch numbers. Pure.

A date field stores epoch milliseconds (UTC). A field's ``format`` is a ``||``-separated list
tried in order; the default is ``strict_date_optional_time||epoch_millis``. Values without a
zone are UTC. Named formats cover what clients send in practice; anything else is read as a
Java ``DateTimeFormatter`` pattern (``yyyy/MM/dd HH:mm:ss``, ``[...]`` optional sections).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from functools import cache

DEFAULT_FORMAT = "strict_date_optional_time||epoch_millis"
DYNAMIC_SLASH_FORMAT = "yyyy/MM/dd HH:mm:ss Z||yyyy/MM/dd Z"

_ZONE = r"(?P<zone>Z|[+-]\d{2}(?::?\d{2})?)"
_TIME = (
    r"(?P<hour>\d{2})(?::(?P<minute>\d{2})(?::(?P<second>\d{2})"
    r"(?:[.,](?P<fraction>\d{1,9}))?)?)?"
)


def _iso(*, strict: bool, time_required: bool = False) -> str:
    digits = r"\d{2}" if strict else r"\d{1,2}"
    date = rf"(?P<year>[+-]?\d{{4,9}})(?:-(?P<month>{digits})(?:-(?P<day>{digits})"
    time = rf"T{_TIME}{_ZONE}?"
    if time_required:
        return rf"^(?P<year>\d{{4}})-(?P<month>\d{{2}})-(?P<day>\d{{2}}){time}$"
    return "^" + date + rf"(?:{time})?)?)?$"


_NAMED: dict[str, str] = {
    "strict_date_optional_time": _iso(strict=True),
    "strict_date_optional_time_nanos": _iso(strict=True),
    "date_optional_time": _iso(strict=False),
    "strict_date": r"^(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})$",
    "date": r"^(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})$",
    "strict_date_time": _iso(strict=True, time_required=True),
    "date_time": _iso(strict=False, time_required=True),
    "strict_date_time_no_millis": (
        r"^(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})"
        rf"T(?P<hour>\d{{2}}):(?P<minute>\d{{2}}):(?P<second>\d{{2}}){_ZONE}$"
    ),
    "basic_date": r"^(?P<year>\d{4})(?P<month>\d{2})(?P<day>\d{2})$",
    "strict_year_month": r"^(?P<year>\d{4})-(?P<month>\d{2})$",
    "year_month": r"^(?P<year>\d{4})-(?P<month>\d{1,2})$",
    "strict_year": r"^(?P<year>\d{4})$",
    "year": r"^(?P<year>\d{1,9})$",
    "strict_year_month_day": r"^(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})$",
    "year_month_day": r"^(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})$",
}
_NAMED["date_time_no_millis"] = _NAMED["strict_date_time_no_millis"]
_COMPILED = {name: re.compile(regex) for name, regex in _NAMED.items()}
_EPOCH = {"epoch_millis": 1, "epoch_second": 1000}
_FULL_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
_EPOCH_TEXT = re.compile(r"^-?\d+(\.\d+)?$")

# Java pattern letters we understand, longest first.
_MONTH_NAMES = (
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
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTH_NUMBERS = {
    **{n: i + 1 for i, n in enumerate(_MONTH_NAMES)},
    **{n[:3]: i + 1 for i, n in enumerate(_MONTH_NAMES)},
}
_DAY_NUMBERS = {
    **{n: i for i, n in enumerate(_DAY_NAMES)},
    **{n[:3]: i for i, n in enumerate(_DAY_NAMES)},
}

# Java pattern letters we understand, longest first. Text (``MMM``, ``EEE``) is English and
# case-sensitive, as Elasticsearch's ``Locale.ROOT`` formatters; a day of the week must agree
# with the date (Elasticsearch resolves strictly).
_JAVA_TOKENS = [
    ("EEEE", "(?P<weekday>" + "|".join(_DAY_NAMES) + ")"),
    ("EEE", "(?P<weekday>" + "|".join(n[:3] for n in _DAY_NAMES) + ")"),
    ("MMMM", "(?P<month>" + "|".join(_MONTH_NAMES) + ")"),
    ("MMM", "(?P<month>" + "|".join(n[:3] for n in _MONTH_NAMES) + ")"),
    ("yyyy", r"(?P<year>[+-]?\d{4,9})"),
    ("uuuu", r"(?P<year>[+-]?\d{4,9})"),
    ("yy", r"(?P<year2>\d{2})"),
    ("MM", r"(?P<month>\d{2})"),
    ("M", r"(?P<month>\d{1,2})"),
    ("dd", r"(?P<day>\d{2})"),
    ("d", r"(?P<day>\d{1,2})"),
    ("HH", r"(?P<hour>\d{2})"),
    ("H", r"(?P<hour>\d{1,2})"),
    ("hh", r"(?P<hour12>\d{2})"),
    ("h", r"(?P<hour12>\d{1,2})"),
    ("a", r"(?P<ampm>AM|PM)"),
    ("mm", r"(?P<minute>\d{2})"),
    ("m", r"(?P<minute>\d{1,2})"),
    ("ss", r"(?P<second>\d{2})"),
    ("s", r"(?P<second>\d{1,2})"),
    ("SSSSSSSSS", r"(?P<fraction>\d{1,9})"),
    ("SSSSSS", r"(?P<fraction>\d{1,9})"),
    ("SSS", r"(?P<fraction>\d{1,9})"),
    ("XXX", _ZONE),
    ("xxx", _ZONE),
    ("ZZ", _ZONE),
    ("XX", _ZONE),
    ("Z", _ZONE),
    ("X", _ZONE),
]


class DateFormatError(ValueError):
    """A value that none of a field's formats accepts, or a format we cannot read."""


def parse_date(value: object, formats: str | None = None) -> int:
    """Epoch milliseconds (UTC) of `value` under `formats` (``a||b``); raises DateFormatError."""
    names = _split(formats or DEFAULT_FORMAT)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise DateFormatError(f"cannot parse date from [{value}]")
    for name in names:
        millis = _try(name, value)
        if millis is not None:
            return millis
    raise DateFormatError(f"failed to parse date field [{value}] with format [{'||'.join(names)}]")


def is_dynamic_date(text: str) -> str | None:
    """The format a dynamically mapped date gets when `text` looks like one, else None.

    Like Elasticsearch's default ``dynamic_date_formats``: ISO dates become ``date`` with the
    default format; ``yyyy/MM/dd[ HH:mm:ss]`` dates carry that format in their mapping. Unlike
    Elasticsearch, a bare year or year-month (``"2015"``) stays a string: detection needs a
    full calendar date, so codes and years in strings do not turn a field into a date.
    """
    if _FULL_DATE.match(text) and _try("strict_date_optional_time", text) is not None:
        return DEFAULT_FORMAT
    if _try(DYNAMIC_SLASH_FORMAT.split("||")[0], text) is not None:
        return DYNAMIC_SLASH_FORMAT
    if _try(DYNAMIC_SLASH_FORMAT.split("||")[1], text) is not None:
        return DYNAMIC_SLASH_FORMAT
    return None


def check_format(formats: str) -> None:
    """Raise DateFormatError when `formats` names something we cannot parse with."""
    for name in (f.strip() for f in formats.split("||")):
        if not name:
            raise DateFormatError(f"invalid date format [{formats}]")
        if name not in _NAMED and name not in _EPOCH:
            _java_regex(name)


def format_millis(millis: int) -> str:
    """ISO 8601 text of epoch milliseconds, as Elasticsearch prints date sort values."""
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=millis)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@cache
def _split(formats: str) -> tuple[str, ...]:
    return tuple(f.strip() for f in formats.split("||") if f.strip())


def _try(name: str, value: int | float | str) -> int | None:
    if name in _EPOCH:
        return _epoch(value, _EPOCH[name])
    if not isinstance(value, str):
        return None
    pattern = _COMPILED.get(name) or _java_regex(name)
    match = pattern.match(value.strip())
    return _to_millis(match.groupdict()) if match else None


def _epoch(value: int | float | str, scale: int) -> int | None:
    if isinstance(value, str):
        if not _EPOCH_TEXT.match(value.strip()):
            return None
        value = float(value) if "." in value else int(value)
    millis = value * scale
    if not -(10**17) < millis < 10**17:
        return None
    return int(millis)


def _to_millis(parts: dict[str, str | None]) -> int | None:
    year_text = parts.get("year")
    year = int(year_text) if year_text else None
    if year is None and parts.get("year2"):
        year = 2000 + int(parts["year2"] or 0)
    if year is None:
        year = 1970
    fraction = (parts.get("fraction") or "0")[:6].ljust(6, "0")
    month = parts.get("month") or "1"
    hour = int(parts.get("hour") or 0)
    if parts.get("hour12"):
        hour12 = int(parts["hour12"] or 0)
        if not 1 <= hour12 <= 12:
            return None
        hour = hour12 % 12 + (12 if parts.get("ampm") == "PM" else 0)
    try:
        moment = datetime(
            year,
            _MONTH_NUMBERS[month] if month in _MONTH_NUMBERS else int(month),
            int(parts.get("day") or 1),
            hour,
            int(parts.get("minute") or 0),
            int(parts.get("second") or 0),
            int(fraction),
            tzinfo=_zone(parts.get("zone")),
        )
    except (ValueError, OverflowError):
        return None
    weekday = parts.get("weekday")
    if weekday and _DAY_NUMBERS[weekday] != moment.weekday():
        return None
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000


def _zone(text: str | None) -> timezone:
    if not text or text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


@cache
def _java_regex(pattern: str) -> re.Pattern[str]:
    """Translate a Java DateTimeFormatter pattern; a zone is always optional."""
    out, i, seen, depth = [], 0, set(), 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "'":
            end = pattern.find("'", i + 1)
            if end < 0:
                raise DateFormatError(f"invalid date format [{pattern}]")
            out.append(re.escape(pattern[i + 1 : end] or "'"))
            i = end + 1
            continue
        if ch == "[":
            out.append("(?:")
            depth += 1
            i += 1
            continue
        if ch == "]":
            if depth == 0:
                raise DateFormatError(f"invalid date format [{pattern}]")
            out.append(")?")
            depth -= 1
            i += 1
            continue
        for token, regex in _JAVA_TOKENS:
            if pattern.startswith(token, i):
                group = re.search(r"\?P<(\w+)>", regex)
                name = group.group(1) if group else token
                if name in seen:  # a field may appear once; repeat without capturing
                    regex = re.sub(r"\?P<\w+>", "?:", regex)
                seen.add(name)
                if name == "zone":
                    regex = rf"(?:\s*{regex})?"
                    if out and out[-1] == re.escape(" "):
                        out.pop()
                out.append(regex)
                i += len(token)
                break
        else:
            if ch.isalpha():
                raise DateFormatError(f"invalid date format [{pattern}]")
            out.append(re.escape(ch))
            i += 1
    if depth:
        raise DateFormatError(f"invalid date format [{pattern}]")
    return re.compile("^" + "".join(out) + "$")

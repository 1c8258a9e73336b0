"""Snapshot names: Elasticsearch's rules and date math (``<cloud-snapshot-{now/d}>``). Pure."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from citadel.node.errors import EsError, IllegalArgument
from citadel.node.search.date_math import resolve_date

_INVALID = frozenset('\\/*?"<>| ,#')
_EXPRESSION = re.compile(r"\{([^{}]*(?:\{[^{}]*\})?)\}")
_MATH = re.compile(r"^(?P<math>[^{]*)(?:\{(?P<format>[^|}]*)(?:\|(?P<zone>[^}]*))?\})?$")
_JAVA = (
    ("yyyy", "%Y"),
    ("uuuu", "%Y"),
    ("yy", "%y"),
    ("MM", "%m"),
    ("dd", "%d"),
    ("HH", "%H"),
    ("mm", "%M"),
    ("ss", "%S"),
)
DEFAULT_FORMAT = "yyyy.MM.dd"


class InvalidSnapshotName(EsError):
    type = "invalid_snapshot_name_exception"
    status = 400


def resolve(expression: str, now: datetime) -> str:
    """The name a (possibly date-math) expression stands for, as Elasticsearch resolves
    ``<prefix-{now/d}>``, ``<prefix-{now/M{yyyy.MM}}>`` or ``<prefix-{now{yyyy.MM.dd|+01:00}}>``."""
    if not (expression.startswith("<") and expression.endswith(">")):
        return expression
    inner = expression[1:-1]
    out = []
    at = 0
    for m in _EXPRESSION.finditer(inner):
        out.append(inner[at : m.start()])
        out.append(_evaluate(m.group(1), now, expression))
        at = m.end()
    out.append(inner[at:])
    return "".join(out)


def _evaluate(text: str, now: datetime, expression: str) -> str:
    m = _MATH.match(text)
    if m is None or not m.group("math").startswith("now"):
        raise IllegalArgument(f"invalid date math expression [{expression}]")
    zone = _zone(m.group("zone"), expression)
    millis = resolve_date(m.group("math"), now=now, time_zone=m.group("zone") or None)
    moment = datetime.fromtimestamp(millis / 1000, tz=UTC).astimezone(zone)
    return _format(m.group("format") or DEFAULT_FORMAT, moment, expression)


def _zone(text: str | None, expression: str) -> timezone:
    if not text:
        return UTC
    m = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", text)
    if m is None:
        raise IllegalArgument(f"unsupported time zone [{text}] in [{expression}]: use +hh:mm")
    sign = 1 if m.group(1) == "+" else -1
    return timezone(sign * timedelta(hours=int(m.group(2)), minutes=int(m.group(3))))


def _format(pattern: str, moment: datetime, expression: str) -> str:
    out = pattern
    for java, strf in _JAVA:
        out = out.replace(java, strf)
    if re.search(r"[A-Za-z]", re.sub(r"%[YymdHMS]", "", out)):
        raise IllegalArgument(
            f"unsupported date format [{pattern}] in [{expression}]: "
            "use yyyy, yy, MM, dd, HH, mm, ss"
        )
    return moment.strftime(out)


def validate(name: str, repository: str) -> None:
    """Elasticsearch's checks of a new snapshot's name (400 invalid_snapshot_name_exception)."""

    def bad(why: str) -> InvalidSnapshotName:
        return InvalidSnapshotName(f"[{repository}:{name}] Invalid snapshot name [{name}], {why}")

    if not name:
        raise bad("cannot be empty")
    if any(c in _INVALID for c in name):
        raise bad('must not contain the following characters [ , ", *, \\, <, |, ,, >, /, ?, #]')
    if name.startswith("_"):
        raise bad("must not start with '_'")
    if name.lower() != name:
        raise bad("must be lowercase")
    if len(name.encode()) > 255:
        raise bad("name is too long")

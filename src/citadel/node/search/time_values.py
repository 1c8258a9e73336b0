"""Elasticsearch time values (``1m``, ``30s``, ``500ms``) as seconds. Pure."""

from __future__ import annotations

import re

from citadel.node.errors import IllegalArgument

_UNITS = {"nanos": 1e-9, "micros": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600, "d": 86400}
_PATTERN = re.compile(r"(\d+(?:\.\d+)?)\s*(nanos|micros|ms|s|m|h|d)")


def parse_time_value(text: str, setting: str) -> float:
    """Seconds of a time value; ``-1`` is refused (no setting here means "forever")."""
    match = _PATTERN.fullmatch(text.strip().lower())
    if match is None:
        raise IllegalArgument(
            f"failed to parse setting [{setting}] with value [{text}] as a time value: unit is "
            "missing or unrecognized"
        )
    return float(match.group(1)) * _UNITS[match.group(2)]

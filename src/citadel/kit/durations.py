"""Durations written as in the Cloud API: ``30m``, ``24h``, ``3d``, ``2w``, ``1y``."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^([1-9][0-9]{0,5})([smhdwy])$")
_UNIT = {
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
    "y": timedelta(days=365),
}


class InvalidDuration(ValueError):
    """Not a positive duration of the accepted shape."""


def parse_duration(text: str) -> timedelta:
    """Parse a positive duration; raises `InvalidDuration` for anything else (``-1d``, ``1.5h``)."""
    match = _DURATION.match(text)
    if not match:
        raise InvalidDuration(text)
    return int(match.group(1)) * _UNIT[match.group(2)]

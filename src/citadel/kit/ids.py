"""Identifiers: 32 lowercase hex characters (128 random bits), like Cloud API deployment ids."""

from __future__ import annotations

import re
import secrets

_ID = re.compile(r"^[0-9a-f]{32}$")


def new_id() -> str:
    """A fresh random identifier."""
    return secrets.token_hex(16)


def is_id(value: str) -> bool:
    """Whether `value` has the shape of an identifier (says nothing of existence)."""
    return bool(_ID.match(value))

"""Time-based one-time passwords (RFC 6238, SHA-1, 6 digits, 30 s), as authenticator apps use.

Codes are accepted one step either side of now. The counter of the last accepted code is kept
by the caller so that a code cannot be used twice.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from datetime import datetime
from urllib.parse import quote, urlencode

STEP_S = 30
DIGITS = 6
WINDOW = 1


def new_secret() -> bytes:
    """A fresh 160-bit seed."""
    return secrets.token_bytes(20)


def code_at(secret: bytes, counter: int) -> str:
    """The code for one time step (RFC 4226 dynamic truncation)."""
    mac = hmac.new(secret, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**DIGITS).zfill(DIGITS)


def counter_at(when: datetime) -> int:
    """The time step `when` falls in."""
    return int(when.timestamp()) // STEP_S


def matching_counter(secret: bytes, code: str, when: datetime, last_used: int | None) -> int | None:
    """The time step whose code equals `code` and is newer than `last_used`, if any."""
    if len(code) != DIGITS or not code.isdigit():
        return None
    now = counter_at(when)
    found = None
    for counter in range(now - WINDOW, now + WINDOW + 1):
        if hmac.compare_digest(code_at(secret, counter), code) and (
            last_used is None or counter > last_used
        ):
            found = counter
    return found


def provisioning_uri(secret: bytes, *, account: str, issuer: str = "Citadel") -> str:
    """The ``otpauth://`` URI an authenticator app scans."""
    label = quote(f"{issuer}:{account}")
    params = urlencode({"secret": encode_secret(secret), "issuer": issuer, "digits": DIGITS})
    return f"otpauth://totp/{label}?{params}"


def encode_secret(secret: bytes) -> str:
    """The base32 text form apps accept."""
    return base64.b32encode(secret).decode().rstrip("=")

"""The Cloud API key format: easy to find when leaked, cheap to reject when mistyped.

::

    cit_live_<key id: 12 base62><secret: 32 base62><checksum: 6 base62>

* ``cit_live_`` marks the issuer and kind, so secret scanners can match
  ``cit_live_[0-9A-Za-z]{50}``;
* the key id is public: it is the database handle, shown in lists and logs;
* the secret has 32 * log2(62) = 190 bits from the OS CSPRNG;
* the checksum is CRC32 of everything before it, so a scanner (or this server, before any
  database access) can tell a real key from a look-alike.

The server stores ``HMAC-SHA256(pepper_v, whole key)``; keys are never hashed slowly because
their entropy makes that pointless and it would put an expensive hash on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import zlib
from dataclasses import dataclass

from citadel.kit import base62

PREFIX = "cit_live_"
KEY_ID_LEN = 12
SECRET_LEN = 32
CHECKSUM_LEN = 6
KEY_LEN = len(PREFIX) + KEY_ID_LEN + SECRET_LEN + CHECKSUM_LEN


@dataclass(frozen=True)
class ParsedKey:
    """A well-formed key: its public id and the whole text."""

    key_id: str
    text: str


def new_key() -> ParsedKey:
    """A fresh key with a random id and secret."""
    key_id = base62.random_text(KEY_ID_LEN)
    body = PREFIX + key_id + base62.random_text(SECRET_LEN)
    return ParsedKey(key_id=key_id, text=body + checksum(body))


def checksum(body: str) -> str:
    """CRC32 of `body` in six base62 characters."""
    return base62.encode(zlib.crc32(body.encode()), CHECKSUM_LEN)


def parse_key(text: str) -> ParsedKey | None:
    """The key if `text` is well formed with a valid checksum, else None (no database needed)."""
    if len(text) != KEY_LEN or not text.startswith(PREFIX):
        return None
    rest = text[len(PREFIX) :]
    if not base62.is_base62(rest):
        return None
    body, check = text[:-CHECKSUM_LEN], text[-CHECKSUM_LEN:]
    if not hmac.compare_digest(checksum(body), check):
        return None
    return ParsedKey(key_id=rest[:KEY_ID_LEN], text=text)


def digest(pepper: bytes, text: str) -> bytes:
    """The stored form of a key (or any high-entropy token)."""
    return hmac.new(pepper, text.encode(), hashlib.sha256).digest()

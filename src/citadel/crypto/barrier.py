"""The barrier: authenticated encryption of small secrets, bound to where they live.

Ciphertext format (all sealed values, version 1)::

    b"c1" | key_version (1 byte) | nonce (12 bytes) | AES-256-GCM(ciphertext || tag)

The associated data is the *context*: a string naming the owner of the secret, for example
``users.totp_secret:<user_id>``. A sealed value copied into another row does not open.
Pure: no I/O, no clock.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_MAGIC = b"c1"
_NONCE = 12


class SealBroken(Exception):
    """The sealed value was altered, belongs to another context, or needs an unknown key."""


class Barrier:
    """Seals and opens values under versioned 256-bit keys; seals with the newest."""

    def __init__(self, keys: Mapping[int, bytes]) -> None:
        if not keys:
            raise ValueError("a barrier needs at least one key")
        self._aead = {v: AESGCM(k) for v, k in keys.items()}
        self._current = max(keys)

    def seal(self, plaintext: bytes, *, context: str) -> bytes:
        """Encrypt `plaintext` so that it opens only with the same `context`."""
        nonce = os.urandom(_NONCE)
        body = self._aead[self._current].encrypt(nonce, plaintext, context.encode())
        return _MAGIC + bytes([self._current]) + nonce + body

    def open(self, sealed: bytes, *, context: str) -> bytes:
        """Decrypt a value sealed for `context`; raises `SealBroken` otherwise."""
        if len(sealed) < 3 + _NONCE + 16 or sealed[:2] != _MAGIC:
            raise SealBroken("not a sealed value")
        aead = self._aead.get(sealed[2])
        if aead is None:
            raise SealBroken("unknown key version")
        nonce = sealed[3 : 3 + _NONCE]
        try:
            return aead.decrypt(nonce, sealed[3 + _NONCE :], context.encode())
        except InvalidTag as exc:
            raise SealBroken("authentication failed") from exc

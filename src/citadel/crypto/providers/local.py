"""The local key-file provider: a 256-bit key in a 0600 file, AES-256-GCM wrapping.

Wrapped format: ``b"lk1" | nonce (12) | ciphertext || tag``; the context is the AAD.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from citadel.crypto.providers.base import KeyDescription, KeyUnavailable, Reason

_MAGIC = b"lk1"


class LocalKeyFile:
    """A key-encryption key kept in a file the platform's user alone can read."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._key = path.read_bytes()
        if len(self._key) != 32:
            raise KeyUnavailable(f"{path} does not hold a 256-bit key", Reason.WRONG_KEY_TYPE)

    @classmethod
    def create_or_open(cls, path: Path) -> LocalKeyFile:
        """Open the key file, creating it with a fresh random key on first use."""
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(os.urandom(32))
        return cls(path)

    def wrap(self, plaintext: bytes, *, context: bytes) -> bytes:
        """Encrypt `plaintext` under the key file."""
        nonce = os.urandom(12)
        return _MAGIC + nonce + AESGCM(self._key).encrypt(nonce, plaintext, context)

    def unwrap(self, wrapped: bytes, *, context: bytes) -> bytes:
        """Decrypt what `wrap` produced with the same context."""
        if wrapped[:3] != _MAGIC:
            raise KeyUnavailable("not wrapped by a local key file", Reason.WRONG_CONTEXT)
        try:
            return AESGCM(self._key).decrypt(wrapped[3:15], wrapped[15:], context)
        except InvalidTag as exc:
            raise KeyUnavailable("wrong key file or altered data", Reason.WRONG_CONTEXT) from exc

    def describe(self) -> KeyDescription:
        """The key file is always enabled; it has one version."""
        return KeyDescription(key_path=f"file:{self._path}", enabled=True, version="1")

    def version_of(self, wrapped: bytes) -> str:
        """Every value wrapped by a key file is of its one version."""
        return "1"

"""The platform keyring: one random root secret, wrapped by the platform key provider.

Hierarchy::

    key provider (KEK: local file, HSM, KMS ...)
      └── keyring root (32 random bytes, stored only wrapped, in <data-dir>/keys/keyring.wrapped)
            ├── HKDF "citadel/db/v1"         → SQLCipher key of the control-plane database
            ├── HKDF "citadel/barrier/v1"    → seals control-plane secrets (TOTP seeds, CA key)
            └── HKDF "citadel/pepper/v<N>"   → HMAC pepper of API keys, tokens and codes

Every derived key is a pure function of the root, so replacing the KEK re-wraps one value.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from citadel.crypto.barrier import Barrier
from citadel.crypto.providers.base import KeyProvider

_WRAP_CONTEXT = b"citadel/keyring-root"
PEPPER_VERSION = 1


@lru_cache(maxsize=64)
def derive(root: bytes, label: str) -> bytes:
    """A 256-bit key for `label`, independent of every other label's."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label.encode()).derive(root)


@dataclass(frozen=True)
class Keyring:
    """Keys derived from the root; built once at start by the composition root."""

    root: bytes

    @cached_property
    def database_key(self) -> bytes:
        return derive(self.root, "citadel/db/v1")

    @cached_property
    def barrier(self) -> Barrier:
        return Barrier({1: derive(self.root, "citadel/barrier/v1")})

    def pepper(self, version: int = PEPPER_VERSION) -> bytes:
        """The HMAC pepper of the given version."""
        return derive(self.root, f"citadel/pepper/v{version}")

    def mac(self, text: str, *, purpose: str, version: int = PEPPER_VERSION) -> bytes:
        """HMAC-SHA256 of a high-entropy token under the pepper, separated by `purpose`."""
        message = f"{purpose}:{text}".encode()
        return hmac.new(self.pepper(version), message, hashlib.sha256).digest()

    @cached_property
    def audit_key(self) -> bytes:
        """Keys the audit hash chain."""
        return derive(self.root, "citadel/audit/v1")

    def tls_key_password(self) -> bytes:
        """Encrypts TLS private keys that must sit on disk for the TLS library to load."""
        return derive(self.root, "citadel/pki/tls-key-password/v1").hex().encode()


def open_keyring(path: Path, provider: KeyProvider) -> Keyring:
    """Unwrap the keyring root, creating and wrapping a new one on first start."""
    if path.exists():
        return Keyring(root=provider.unwrap(path.read_bytes(), context=_WRAP_CONTEXT))
    root = os.urandom(32)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(provider.wrap(root, context=_WRAP_CONTEXT))
    return Keyring(root=root)


def new_wrapped_root(provider: KeyProvider) -> bytes:
    """A fresh keyring root, wrapped by `provider` (as `open_keyring` stores it)."""
    return provider.wrap(os.urandom(32), context=_WRAP_CONTEXT)


def unwrap_keyring(wrapped: bytes, provider: KeyProvider) -> Keyring:
    """The keyring whose root `provider` wrapped as `wrapped`."""
    return Keyring(root=provider.unwrap(wrapped, context=_WRAP_CONTEXT))

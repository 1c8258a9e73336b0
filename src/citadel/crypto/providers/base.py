"""The `KeyProvider` interface every key manager implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class KeyDescription:
    """What a provider says about its key."""

    key_path: str
    enabled: bool
    version: str


class KeyUnavailable(Exception):
    """The key exists but cannot be used now (disabled, deleted, access denied)."""


class KeyProvider(Protocol):
    """Wraps and unwraps small secrets under a key-encryption key it never reveals."""

    def wrap(self, plaintext: bytes, *, context: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes, *, context: bytes) -> bytes: ...

    def describe(self) -> KeyDescription: ...

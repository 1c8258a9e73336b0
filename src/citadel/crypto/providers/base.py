"""The `KeyProvider` interface every key manager implements, and its errors.

A provider wraps small secrets (a deployment's 256-bit data key, the keyring root) under a
key-encryption key it never reveals, binding each wrapped value to a `context` (authenticated:
unwrapping with another context fails). Wrapped values are self-describing: `version_of`
names the key version that wrapped them, so a rotation at the provider is noticed by comparing
it with `describe().version` and re-wrapping.

Errors say what the platform should do about them:

- `KeyUnavailable` (with a `Reason`): the key exists no more, is disabled, or access is denied
  (or the operator does not allow its key manager's address: `endpoints.EndpointNotAllowed`).
  A deployment under such a key is locked until it comes back.
- `ProviderUnreachable`: the provider did not answer (refused, timed out, garbage). Nothing is
  locked for that (the reference's documented behaviour); callers retry with backoff.
- `InvalidKeyPath`: the key path is malformed or names no known provider (a 400 at the API).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Reason(StrEnum):
    """Why a key cannot be used."""

    UNKNOWN_KEY = "unknown_key"
    DISABLED = "disabled"
    DESTROYED = "destroyed"
    ACCESS_DENIED = "access_denied"
    WRONG_KEY_TYPE = "wrong_key_type"
    WRONG_CONTEXT = "wrong_context"  # the wrapped value does not belong to this context/key
    ENDPOINT_NOT_ALLOWED = "endpoint_not_allowed"  # the operator does not allow its address


@dataclass(frozen=True)
class KeyDescription:
    """What a provider says about its key."""

    key_path: str
    enabled: bool
    version: str
    rotation: str | None = None
    """How the key rotates, if the provider says (e.g. "automatic, 365 days")."""


class ProviderError(Exception):
    """Base of the provider errors."""


class KeyUnavailable(ProviderError):
    """The key cannot be used now: disabled, destroyed, unknown, or access denied."""

    def __init__(self, message: str, reason: Reason = Reason.ACCESS_DENIED) -> None:
        super().__init__(message)
        self.reason = reason


class ProviderUnreachable(ProviderError):
    """The provider did not answer, or answered something unreadable: lock nothing, retry."""


class InvalidKeyPath(ProviderError, ValueError):
    """A key path no provider understands, or one that is malformed."""


class KeyProvider(Protocol):
    """Wraps and unwraps small secrets under a key-encryption key it never reveals."""

    def wrap(self, plaintext: bytes, *, context: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes, *, context: bytes) -> bytes: ...

    def describe(self) -> KeyDescription: ...

    def version_of(self, wrapped: bytes) -> str: ...

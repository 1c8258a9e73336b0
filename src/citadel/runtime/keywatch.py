"""Watching each deployment's key: locked when the key is gone, unlocked when it is back.

Every `interval_s` (default 60 s) the allocator asks each deployment's key provider to unwrap
the deployment's data key (the one proof that counts) and to describe the key. The verdict is
pure (`next_state`):

- the key unwraps: **ok** (and a newer key version at the provider asks for a re-wrap);
- the key is disabled, destroyed, unknown or access is denied (`KeyUnavailable`): **locked**
  with the reason; the allocator stops the node, so the unwrapped key leaves memory with it;
- the provider does not answer (`ProviderUnreachable`): nothing changes state (the reference
  documents that an unreachable key manager locks nothing), and it is asked again after a
  backoff of 1, 2, 4 ... seconds, at most the interval.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from enum import StrEnum

from citadel.contract.messages import Allocation, data_key_context
from citadel.crypto.providers.base import (
    KeyProvider,
    KeyUnavailable,
    ProviderError,
    ProviderUnreachable,
)
from citadel.crypto.providers.connection import Connection
from citadel.crypto.providers.endpoints import EndpointPolicy
from citadel.crypto.providers.registry import open_provider

DEFAULT_INTERVAL_S = 60.0
MAX_BACKOFF_S = 60.0


class KeyStatus(StrEnum):
    OK = "ok"
    LOCKED = "locked"


@dataclass(frozen=True)
class KeyState:
    """What the allocator believes of one deployment's key."""

    status: KeyStatus = KeyStatus.OK
    reason: str = ""
    next_check_at: float = 0.0
    unreachable_for: int = 0  # consecutive checks the provider did not answer
    outage: str = ""  # the last "did not answer" message, while it lasts


@dataclass(frozen=True)
class Outcome:
    """One check: the key unwrapped (and its version is current or not), or why not."""

    ok: bool = False
    unavailable: str | None = None  # a reason: the key is gone
    unreachable: str | None = None  # the provider did not answer
    stale_version: bool = False


def next_state(state: KeyState, outcome: Outcome, now: float, interval_s: float) -> KeyState:
    """The key's state after a check at `now`."""
    if outcome.ok:
        return KeyState(KeyStatus.OK, "", now + interval_s)
    if outcome.unavailable is not None:
        return KeyState(KeyStatus.LOCKED, outcome.unavailable, now + interval_s)
    failures = state.unreachable_for + 1
    backoff = min(interval_s, MAX_BACKOFF_S, 2.0 ** (failures - 1))
    return replace(
        state,
        next_check_at=now + backoff,
        unreachable_for=failures,
        outage=outcome.unreachable or "no answer",
    )


def check(provider: KeyProvider, allocation: Allocation) -> Outcome:
    """Unwrap the deployment's data key (and drop it) and compare key versions."""
    wrapped = allocation.wrapped_data_key
    if wrapped is None:
        return Outcome(unavailable="the deployment has no data key")
    try:
        data_key = provider.unwrap(wrapped, context=data_key_context(allocation.id))
        del data_key
        stale = provider.version_of(wrapped) != provider.describe().version
    except KeyUnavailable as exc:
        return Outcome(unavailable=f"{exc.reason}: {exc}")
    except ProviderUnreachable as exc:
        return Outcome(unreachable=str(exc) or type(exc).__name__)
    except ProviderError as exc:
        return Outcome(unreachable=f"{type(exc).__name__}: {exc}")
    return Outcome(ok=True, stale_version=stale)


class Providers:
    """One provider per (key path, connection), the platform's for deployments without one.
    A customer's key manager is reached only where `endpoints` (the operator's
    ``CITADEL_KEY_MANAGER_ALLOWED_ENDPOINTS``) allows; elsewhere its key is unavailable
    (``endpoint_not_allowed``) and the deployment locks."""

    def __init__(self, platform: KeyProvider, endpoints: EndpointPolicy | None = None) -> None:
        self.platform = platform
        self.endpoints = endpoints or EndpointPolicy()
        self._opened: dict[tuple[str, str], KeyProvider] = {}

    def of(self, allocation: Allocation) -> KeyProvider:
        conn = allocation.key_connection
        if conn is None or allocation.key_path is None:
            return self.platform
        fingerprint = hashlib.sha256(
            repr((sorted(conn.settings.items()), conn.secret, conn.timeout_s)).encode()
        ).hexdigest()
        key = (allocation.key_path, fingerprint)
        if key not in self._opened:
            connection = Connection(
                dict(conn.settings), conn.secret, conn.timeout_s, endpoints=self.endpoints
            )
            self._opened[key] = open_provider(allocation.key_path, connection)
        return self._opened[key]

"""When a signing key is made, when it stops signing and when it leaves the JWK Set: a pure
decision over the stored keys and the time.

- No key at all: make one, signing at once (the first key is made on first need).
- The signing key has signed for `rotate_after`: make its successor. The successor is
  published at once but signs only `propagation` later, so every node has it in its JWK Set
  (allocator poll, node reload) before the first token it signed arrives. The old key signs
  until then.
- A key that no longer signs stays published until every token it signed has expired, with
  the nodes' clock skew on top (`active_until + token_lifetime + clock_skew`), then is deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class KeyTimes:
    """What the policy needs to know of one stored key."""

    kid: str
    generation: int
    active_from: datetime
    active_until: datetime | None = None
    publish_until: datetime | None = None


@dataclass(frozen=True)
class RotationPolicy:
    """The operator's rotation period, and the token lifetime and skew it must outlast."""

    rotate_after: timedelta = timedelta(days=30)
    token_lifetime: timedelta = timedelta(seconds=300)
    clock_skew: timedelta = timedelta(seconds=60)
    propagation: timedelta = timedelta(seconds=60)


@dataclass(frozen=True)
class NewKey:
    """A key to make: its generation and when it starts signing."""

    generation: int
    active_from: datetime


@dataclass(frozen=True)
class Retirement:
    """A key that stops signing at `active_until` and is published until `publish_until`."""

    kid: str
    active_until: datetime
    publish_until: datetime


@dataclass(frozen=True)
class RotationPlan:
    """What to do now; empty when nothing is due."""

    make: NewKey | None = None
    retire: Retirement | None = None
    delete: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return self.make is None and self.retire is None and not self.delete


def signing_key(keys: Sequence[KeyTimes], now: datetime) -> KeyTimes | None:
    """The key that signs at `now`: the newest one already active and not yet retired."""
    live = [
        k for k in keys if k.active_from <= now and (k.active_until is None or now < k.active_until)
    ]
    return max(live, key=lambda k: k.generation, default=None)


def plan(keys: Sequence[KeyTimes], now: datetime, policy: RotationPolicy) -> RotationPlan:
    """What the rotation owes at `now` (apply it in one transaction)."""
    delete = tuple(k.kid for k in keys if k.publish_until is not None and k.publish_until <= now)
    kept = [k for k in keys if k.kid not in delete]
    if not kept:
        return RotationPlan(make=NewKey(_next_generation(keys), now), delete=delete)
    newest = max(kept, key=lambda k: k.generation)
    if newest.active_until is not None or now - newest.active_from < policy.rotate_after:
        return RotationPlan(delete=delete)  # a successor is due later (or already made)
    starts = now + policy.propagation
    retire = Retirement(newest.kid, starts, starts + policy.token_lifetime + policy.clock_skew)
    return RotationPlan(make=NewKey(_next_generation(keys), starts), retire=retire, delete=delete)


def _next_generation(keys: Sequence[KeyTimes]) -> int:
    return max((k.generation for k in keys), default=0) + 1

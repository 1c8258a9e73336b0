"""Sign-in throttling: counters kept in the database, one pure decision over them.

Three buckets count failed sign-ins (ADR 22):

- the **pair** of account and source address, with the tightest limit: it is what answers a
  guesser 429, and a success from that address clears it;
- the **address**, across every account: one address spraying many accounts;
- the **account**, across every address: a slower, larger budget against a distributed guess.

After `limit` failures inside the window a bucket is blocked; each further failure doubles the
block (from 30 s up to the maximum). The decision over the stored blocks is pure
(`citadel.signin.throttle_decision.decide`): a blocked pair or address refuses; a blocked
account refuses only addresses the account has never signed in from, so a stranger's failures
never lock the owner out from an address they have used before, however long they go on.
Nothing locks an account for good.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from citadel.signin.models import ThrottleBucket
from citadel.signin.throttle_decision import Waits, block_seconds


@dataclass(frozen=True)
class Keys:
    """The buckets one sign-in attempt counts against."""

    pair: str
    address: str
    account: str

    @classmethod
    def of(cls, email: str, source_ip: str) -> Keys:
        return cls(pair_key(email, source_ip), address_key(source_ip), account_key(email))


@dataclass(frozen=True)
class Limits:
    """Failures each bucket allows inside the window, the window and the longest block."""

    pair: int
    address: int
    account: int
    window_s: int
    max_block_s: int


def account_key(email: str) -> str:
    return "acct:" + hashlib.sha256(email.encode()).hexdigest()[:40]


def address_key(source_ip: str) -> str:
    return "ip:" + source_ip[:60]


def pair_key(email: str, source_ip: str) -> str:
    digest = hashlib.sha256(email.encode() + b"\n" + source_ip.encode()).hexdigest()
    return "pair:" + digest[:40]


def waits(session: Session, keys: Keys, now: datetime) -> Waits:
    """The stored blocks of an attempt's buckets."""
    return Waits(
        pair=seconds_blocked(session, [keys.pair], now),
        address=seconds_blocked(session, [keys.address], now),
        account=seconds_blocked(session, [keys.account], now),
    )


def count_attempt_failure(session: Session, keys: Keys, now: datetime, limits: Limits) -> None:
    """Count one failed attempt against its three buckets."""
    for key, limit in (
        (keys.pair, limits.pair),
        (keys.address, limits.address),
        (keys.account, limits.account),
    ):
        count_failure(
            session,
            key,
            now,
            limit=limit,
            window_s=limits.window_s,
            max_block_s=limits.max_block_s,
        )


def seconds_blocked(session: Session, keys: list[str], now: datetime) -> int:
    """How long the longest block among `keys` still lasts (0: not blocked)."""
    longest = 0
    for key in keys:
        bucket = session.get(ThrottleBucket, key)
        if bucket and bucket.blocked_until and bucket.blocked_until > now:
            longest = max(longest, int((bucket.blocked_until - now).total_seconds()) + 1)
    return longest


def count_failure(
    session: Session, key: str, now: datetime, *, limit: int, window_s: int, max_block_s: int
) -> None:
    """Count one failure against `key`, blocking it once over the limit."""
    bucket = session.get(ThrottleBucket, key, with_for_update=True)
    if bucket is None:
        bucket = ThrottleBucket(key=key, failures=0, window_started_at=now)
        session.add(bucket)
    if now - bucket.window_started_at > timedelta(seconds=window_s):
        bucket.failures, bucket.window_started_at = 0, now
    bucket.failures += 1
    block = block_seconds(bucket.failures, limit=limit, max_block_s=max_block_s)
    if block:
        bucket.blocked_until = now + timedelta(seconds=block)
    session.flush()


def clear(session: Session, key: str) -> None:
    """Forget the failures of `key`."""
    bucket = session.get(ThrottleBucket, key)
    if bucket is not None:
        session.delete(bucket)
        session.flush()

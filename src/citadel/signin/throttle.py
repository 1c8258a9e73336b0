"""Sign-in throttling per account and per source address, kept in the database.

After `limit` failures inside the window a key is blocked; each further failure doubles the
block (from 30 s up to the maximum). A success clears the account's counter. Nothing locks an
account for good, so an attacker cannot lock a victim out for longer than the maximum.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from citadel.signin.models import ThrottleBucket


def account_key(email: str) -> str:
    return "acct:" + hashlib.sha256(email.encode()).hexdigest()[:40]


def address_key(source_ip: str) -> str:
    return "ip:" + source_ip[:60]


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
    over = bucket.failures - limit
    if over >= 0:
        block = min(max_block_s, 30 * 2 ** min(over, 20))
        bucket.blocked_until = now + timedelta(seconds=block)
    session.flush()


def clear(session: Session, key: str) -> None:
    """Forget the failures of `key`."""
    bucket = session.get(ThrottleBucket, key)
    if bucket is not None:
        session.delete(bucket)
        session.flush()

"""The sign-in throttle's decision, pure (no I/O): which stored blocks refuse an attempt.

`decide` refuses while the (account, address) pair or the address is blocked, and refuses a
blocked account only from addresses it has never signed in from (ADR 22); `block_seconds` is
how long a bucket stays blocked after its failures. `citadel.signin.throttle` keeps the counters.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

FIRST_BLOCK_S = 30


class ThrottleReason(StrEnum):
    """Why a sign-in attempt may go on, or not (stored in the audit event's details)."""

    CLEAR = "clear"
    PAIR_BLOCKED = "pair_blocked"
    ADDRESS_BLOCKED = "address_blocked"
    ACCOUNT_BLOCKED = "account_blocked"
    ACCOUNT_BLOCKED_KNOWN_ADDRESS = "account_blocked_known_address"
    """The account's budget is spent, but this address has signed in to it before: the
    credentials are checked (and a failure counted) as usual."""


@dataclass(frozen=True)
class Waits:
    """How many more seconds each bucket of an attempt stays blocked (0: not blocked)."""

    pair: int = 0
    address: int = 0
    account: int = 0


@dataclass(frozen=True)
class Verdict:
    """Whether the credentials of an attempt are checked at all; if not, for how long."""

    go: bool
    reason: ThrottleReason
    retry_after: int = 0


def decide(waits: Waits, *, known_address: bool) -> Verdict:
    """Whether an attempt goes on to the credential check (pure, no I/O)."""
    if waits.pair:
        return Verdict(False, ThrottleReason.PAIR_BLOCKED, waits.pair)
    if waits.address:
        return Verdict(False, ThrottleReason.ADDRESS_BLOCKED, waits.address)
    if waits.account and not known_address:
        return Verdict(False, ThrottleReason.ACCOUNT_BLOCKED, waits.account)
    if waits.account:
        return Verdict(True, ThrottleReason.ACCOUNT_BLOCKED_KNOWN_ADDRESS)
    return Verdict(True, ThrottleReason.CLEAR)


def block_seconds(failures: int, *, limit: int, max_block_s: int) -> int:
    """How long a bucket with `failures` inside its window is blocked (0: not yet)."""
    over = failures - limit
    if over < 0:
        return 0
    return min(max_block_s, FIRST_BLOCK_S * 2 ** min(over, 20))

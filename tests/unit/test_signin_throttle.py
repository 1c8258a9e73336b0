"""The sign-in throttle's pure decision: which blocks refuse, and for how long."""

import pytest

from citadel.signin.throttle_decision import ThrottleReason, Waits, block_seconds, decide


@pytest.mark.parametrize("known", [False, True])
def test_a_blocked_pair_refuses_known_or_not(known):
    verdict = decide(Waits(pair=12), known_address=known)
    assert (verdict.go, verdict.reason, verdict.retry_after) == (
        False,
        ThrottleReason.PAIR_BLOCKED,
        12,
    )


@pytest.mark.parametrize("known", [False, True])
def test_a_blocked_address_refuses_known_or_not(known):
    verdict = decide(Waits(address=7), known_address=known)
    assert (verdict.go, verdict.reason, verdict.retry_after) == (
        False,
        ThrottleReason.ADDRESS_BLOCKED,
        7,
    )


def test_a_spent_account_budget_refuses_a_new_address():
    verdict = decide(Waits(account=90), known_address=False)
    assert (verdict.go, verdict.reason, verdict.retry_after) == (
        False,
        ThrottleReason.ACCOUNT_BLOCKED,
        90,
    )


def test_a_spent_account_budget_never_refuses_a_known_address():
    verdict = decide(Waits(account=90), known_address=True)
    assert verdict.go
    assert verdict.reason is ThrottleReason.ACCOUNT_BLOCKED_KNOWN_ADDRESS


@pytest.mark.parametrize("known", [False, True])
def test_nothing_blocked_goes_on(known):
    assert decide(Waits(), known_address=known).go


@pytest.mark.parametrize(
    ("failures", "seconds"),
    [(0, 0), (4, 0), (5, 30), (6, 60), (7, 120), (9, 480), (10, 900), (60, 900)],
)
def test_blocks_start_at_the_limit_and_double_up_to_the_maximum(failures, seconds):
    assert block_seconds(failures, limit=5, max_block_s=900) == seconds

"""The key watch's verdicts (pure): ok, locked with a reason, unreachable with a backoff."""

from __future__ import annotations

import pytest

from citadel.runtime.keywatch import KeyState, KeyStatus, Outcome, next_state

INTERVAL = 60.0


def test_a_key_that_unwraps_is_ok_until_the_next_interval():
    after = next_state(KeyState(), Outcome(ok=True), now=100.0, interval_s=INTERVAL)
    assert after == KeyState(KeyStatus.OK, "", 160.0)


def test_an_unavailable_key_locks_with_its_reason():
    after = next_state(KeyState(), Outcome(unavailable="disabled: gone"), 100.0, INTERVAL)
    assert after.status is KeyStatus.LOCKED
    assert after.reason == "disabled: gone"
    assert after.next_check_at == 160.0


def test_a_key_that_comes_back_unlocks():
    locked = KeyState(KeyStatus.LOCKED, "disabled", 0.0)
    assert next_state(locked, Outcome(ok=True), 5.0, INTERVAL).status is KeyStatus.OK


@pytest.mark.parametrize("before", [KeyState(), KeyState(KeyStatus.LOCKED, "disabled", 0.0)])
def test_an_unreachable_provider_changes_no_state(before):
    after = next_state(before, Outcome(unreachable="refused"), 10.0, INTERVAL)
    assert after.status is before.status
    assert after.reason == before.reason
    assert after.outage == "refused"


def test_unreachable_checks_back_off_doubling_up_to_the_interval():
    state, waits = KeyState(), []
    for _ in range(9):
        state = next_state(state, Outcome(unreachable="timeout"), 0.0, 30.0)
        waits.append(state.next_check_at)
    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0, 30.0]
    assert state.unreachable_for == 9


def test_an_answer_after_an_outage_resets_the_backoff():
    state = KeyState(unreachable_for=5, outage="timeout")
    after = next_state(state, Outcome(ok=True), 0.0, INTERVAL)
    assert (after.unreachable_for, after.outage) == (0, "")

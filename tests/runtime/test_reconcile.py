"""The allocator's pure decisions, as a table: desired by observed → actions."""

from __future__ import annotations

import pytest

from citadel.runtime.reconcile import (
    BACKOFF_CAP_S,
    STABLE_AFTER_S,
    Action,
    ActionKind,
    Desired,
    DesiredState,
    Observed,
    ProcessState,
    failures_after_exit,
    next_wake,
    plan,
    restart_delay,
)

D = "d" * 32
START, STOP, CLOSE, REMOVE = ActionKind.START, ActionKind.STOP, ActionKind.CLOSE, ActionKind.REMOVE
RUNNING, STOPPED, DELETED = DesiredState.RUNNING, DesiredState.STOPPED, DesiredState.DELETED
ABSENT, STARTING, LIVE, EXITED = (
    ProcessState.ABSENT,
    ProcessState.STARTING,
    ProcessState.RUNNING,
    ProcessState.EXITED,
)
NOW = 1000.0

# (desired state or None, observed, expected action kinds)
TABLE = [
    # should run
    (RUNNING, None, [START]),
    (RUNNING, Observed(ABSENT), [START]),
    (RUNNING, Observed(STARTING), []),
    (RUNNING, Observed(LIVE), []),
    (RUNNING, Observed(EXITED, failures=1, exited_at=NOW - 0.5), [START]),
    (RUNNING, Observed(EXITED, failures=1, exited_at=NOW - 0.4), []),
    (RUNNING, Observed(EXITED, failures=3, exited_at=NOW - 1.9), []),
    (RUNNING, Observed(EXITED, failures=3, exited_at=NOW - 2.0), [START]),
    (RUNNING, Observed(EXITED, failures=50, exited_at=NOW - BACKOFF_CAP_S + 1), []),
    (RUNNING, Observed(EXITED, failures=50, exited_at=NOW - BACKOFF_CAP_S), [START]),
    # a crashed node of a deployment that should run keeps its volume open for the restart
    (RUNNING, Observed(EXITED, failures=1, exited_at=NOW, volume_open=True), []),
    (RUNNING, Observed(LIVE, volume_open=True), []),
    # should be stopped (or locked: the allocator then wants it stopped): node and volume
    (STOPPED, None, []),
    (STOPPED, Observed(ABSENT, directory_exists=True), []),
    (STOPPED, Observed(STARTING), [STOP, CLOSE]),
    (STOPPED, Observed(LIVE, volume_open=True), [STOP, CLOSE]),
    (STOPPED, Observed(EXITED, failures=2, exited_at=NOW), []),
    (STOPPED, Observed(EXITED, failures=2, exited_at=NOW, volume_open=True), [CLOSE]),
    (STOPPED, Observed(ABSENT, directory_exists=True, volume_open=True), [CLOSE]),
    # deleted: stop, close, then remove the directory (the control plane destroys the key)
    (DELETED, Observed(LIVE, directory_exists=True), [STOP, CLOSE, REMOVE]),
    (DELETED, Observed(STARTING, directory_exists=True), [STOP, CLOSE, REMOVE]),
    (DELETED, Observed(ABSENT, directory_exists=True), [REMOVE]),
    (DELETED, Observed(ABSENT, directory_exists=True, volume_open=True), [CLOSE, REMOVE]),
    (DELETED, Observed(EXITED, directory_exists=True), [REMOVE]),
    (DELETED, Observed(ABSENT, directory_exists=False), []),
    (DELETED, None, []),
    # no longer allocated at all: stop, close, keep the (encrypted) data
    (None, Observed(LIVE, directory_exists=True), [STOP, CLOSE]),
    (None, Observed(STARTING), [STOP, CLOSE]),
    (None, Observed(ABSENT, directory_exists=True), []),
    (None, Observed(EXITED, directory_exists=True, volume_open=True), [CLOSE]),
]


@pytest.mark.parametrize(("desired", "observed", "expected"), TABLE)
def test_plan_table(
    desired: DesiredState | None, observed: Observed | None, expected: list[ActionKind]
) -> None:
    want = {D: Desired(D, desired)} if desired is not None else {}
    have = {D: observed} if observed is not None else {}
    assert plan(want, have, NOW) == [Action(kind, D) for kind in expected]


def test_plan_orders_deployments_by_id() -> None:
    want = {i: Desired(i, RUNNING) for i in ("b" * 32, "a" * 32, "c" * 32)}
    assert [a.deployment_id for a in plan(want, {}, NOW)] == ["a" * 32, "b" * 32, "c" * 32]


@pytest.mark.parametrize(
    ("failures", "delay"),
    [(0, 0.0), (1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (7, 30.0), (8, 30.0), (100, 30.0)],
)
def test_restart_delay_doubles_and_is_capped(failures: int, delay: float) -> None:
    assert restart_delay(failures) == delay


def test_a_crash_after_a_long_run_starts_counting_again() -> None:
    assert failures_after_exit(6, STABLE_AFTER_S) == 1


def test_a_quick_crash_counts_one_more() -> None:
    assert failures_after_exit(2, 1.0) == 3


def test_next_wake_is_the_earliest_due_restart() -> None:
    want = {"a": Desired("a", RUNNING), "b": Desired("b", RUNNING), "c": Desired("c", STOPPED)}
    have = {
        "a": Observed(EXITED, failures=3, exited_at=10.0),
        "b": Observed(EXITED, failures=1, exited_at=10.0),
        "c": Observed(EXITED, failures=1, exited_at=0.0),
    }
    assert next_wake(have, want) == 10.5


def test_a_new_elastic_password_restarts_a_running_node():
    desired = {"d": Desired("d", DesiredState.RUNNING, password_digest="new")}
    observed = {"d": Observed(ProcessState.RUNNING, password_digest="old")}
    assert [a.kind for a in plan(desired, observed, NOW)] == [ActionKind.STOP, ActionKind.START]


def test_the_password_a_node_already_has_causes_no_restart():
    desired = {"d": Desired("d", DesiredState.RUNNING, password_digest="same")}
    observed = {"d": Observed(ProcessState.RUNNING, password_digest="same")}
    assert plan(desired, observed, NOW) == []


def test_a_starting_node_is_not_restarted_for_a_password():
    desired = {"d": Desired("d", DesiredState.RUNNING, password_digest="new")}
    observed = {"d": Observed(ProcessState.STARTING)}
    assert plan(desired, observed, NOW) == []

"""The deployment state machine (pure)."""

import pytest

from citadel.deployments.lifecycle import (
    Desired,
    Observed,
    Refusal,
    Transition,
    is_healthy,
    next_desired,
    status,
)


@pytest.mark.parametrize(
    ("current", "transition", "expected"),
    [
        (Desired.RUNNING, Transition.SHUTDOWN, Desired.STOPPED),
        (Desired.STOPPED, Transition.SHUTDOWN, Desired.STOPPED),
        (Desired.STOPPED, Transition.DELETE, Desired.DELETED),
        (Desired.RUNNING, Transition.DELETE, Refusal.NOT_SHUT_DOWN),
        (Desired.DELETED, Transition.SHUTDOWN, Refusal.ALREADY_DELETED),
        (Desired.DELETED, Transition.DELETE, Refusal.ALREADY_DELETED),
    ],
)
def test_next_desired_state(current, transition, expected):
    assert next_desired(current, transition) == expected


@pytest.mark.parametrize(
    ("desired", "observed", "expected"),
    [
        (Desired.RUNNING, Observed.INITIALIZING, "initializing"),
        (Desired.RUNNING, Observed.RUNNING, "started"),
        (Desired.RUNNING, Observed.STOPPED, "initializing"),
        (Desired.RUNNING, Observed.FAILED, "restarting"),
        (Desired.STOPPED, Observed.RUNNING, "stopping"),
        (Desired.STOPPED, Observed.STOPPED, "stopped"),
    ],
)
def test_status_combines_desired_and_observed(desired, observed, expected):
    assert status(desired, observed) == expected


def test_running_is_healthy_only_when_observed_running_and_reported_healthy():
    assert is_healthy(Desired.RUNNING, Observed.RUNNING, True)
    assert not is_healthy(Desired.RUNNING, Observed.RUNNING, False)
    assert not is_healthy(Desired.RUNNING, Observed.INITIALIZING, True)

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


def test_only_a_deployment_observed_serving_is_healthy():
    serving = [
        (desired, observed)
        for desired in Desired
        for observed in Observed
        if is_healthy(desired, observed, reported_healthy=True)
    ]
    assert serving == [(Desired.RUNNING, Observed.RUNNING)]


@pytest.mark.parametrize("observed", [o for o in Observed if o is not Observed.RUNNING])
@pytest.mark.parametrize("desired", list(Desired))
def test_a_deployment_not_serving_is_unhealthy_whatever_its_node_last_said(desired, observed):
    # stopped, stopping, starting (initializing), restarting, failed, locked, deleted
    assert not is_healthy(desired, observed, reported_healthy=True)


@pytest.mark.parametrize("desired", [Desired.STOPPED, Desired.DELETED])
def test_a_deployment_being_stopped_or_deleted_is_unhealthy_while_still_running(desired):
    assert not is_healthy(desired, Observed.RUNNING, reported_healthy=True)

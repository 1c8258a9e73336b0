"""A project's phase from its instance's observations (pure)."""

from __future__ import annotations

import pytest

from citadel.contract.states import ObservedState as Seen
from citadel.projects.phases import Outcome, Phase, after_observation, may_change


def test_a_new_project_is_initialized_once_its_instance_runs() -> None:
    assert after_observation(Phase.INITIALIZING, Seen.INITIALIZING) is Outcome.NOTHING
    assert after_observation(Phase.INITIALIZING, Seen.RUNNING) is Phase.INITIALIZED


@pytest.mark.parametrize("seen", [Seen.STOPPING, Seen.STOPPED, Seen.INITIALIZING])
def test_an_initialized_project_stays_so_while_stopped_for_idleness(seen: Seen) -> None:
    assert after_observation(Phase.INITIALIZED, seen) is Outcome.NOTHING


def test_a_locked_instance_suspends_the_project_until_it_runs_again() -> None:
    assert after_observation(Phase.INITIALIZED, Seen.LOCKED) is Phase.SUSPENDED
    assert after_observation(Phase.SUSPENDED, Seen.LOCKED) is Outcome.NOTHING
    assert after_observation(Phase.SUSPENDED, Seen.RUNNING) is Phase.INITIALIZED


@pytest.mark.parametrize("seen", [s for s in Seen if s is not Seen.DELETED])
def test_a_deleting_project_waits_for_its_instance_to_be_gone(seen: Seen) -> None:
    assert after_observation(Phase.DELETING, seen) is Outcome.NOTHING
    assert after_observation(Phase.DELETING, Seen.DELETED) is Outcome.REMOVE


def test_only_a_deleting_project_refuses_changes() -> None:
    assert [p for p in Phase if not may_change(p)] == [Phase.DELETING]

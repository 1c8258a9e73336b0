"""A project's phase (`ProjectStatusPhase`), derived from what its instance is observed doing:
pure, no I/O (ADR 28).

``initializing`` (created or resumed, the instance not yet seen running) → ``initialized``
(seen running once; it stays initialized while stopped because idle, since the gateway wakes
it) → ``deleting`` (delete accepted) → the row is removed once the instance is observed
deleted. An instance observed ``locked`` (its data key cannot be unwrapped) suspends the
project until it runs again.
"""

from __future__ import annotations

from enum import StrEnum

from citadel.contract.states import ObservedState

SUSPENDED_KEY_UNAVAILABLE = "encryption key unavailable"


class Phase(StrEnum):
    """`ProjectStatusPhase` (``suspending`` exists in the contract; Citadel suspends at once)."""

    INITIALIZING = "initializing"
    INITIALIZED = "initialized"
    DELETING = "deleting"
    SUSPENDING = "suspending"
    SUSPENDED = "suspended"


class Outcome(StrEnum):
    """What an observation of the instance does to the project, besides a phase change."""

    NOTHING = "nothing"
    REMOVE = "remove"
    """Deleted and observed gone: the project row goes."""


def after_observation(phase: Phase, observed: ObservedState) -> Phase | Outcome:
    """The project's phase after its instance was observed `observed`; `Outcome.NOTHING` when
    it stays, `Outcome.REMOVE` when a deleting project's instance is gone."""
    if phase is Phase.DELETING:
        return Outcome.REMOVE if observed is ObservedState.DELETED else Outcome.NOTHING
    if observed is ObservedState.LOCKED:
        return Phase.SUSPENDED if phase is not Phase.SUSPENDED else Outcome.NOTHING
    if observed is ObservedState.RUNNING and phase in (Phase.INITIALIZING, Phase.SUSPENDED):
        return Phase.INITIALIZED
    return Outcome.NOTHING


def may_change(phase: Phase) -> bool:
    """Whether a project in `phase` accepts a patch, a reset of credentials or a resume."""
    return phase is not Phase.DELETING

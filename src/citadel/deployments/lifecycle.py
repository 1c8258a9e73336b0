"""The deployment state machine: pure, no I/O.

Desired state is what users ask for (`running`, `stopped`, `deleted`); observed state is what
the allocator reports. The status the API shows is derived from both.
"""

from __future__ import annotations

from enum import StrEnum

from citadel.contract.states import DesiredState, ObservedState

# The contract's states, under the names the state machine has always used.
Desired = DesiredState
Observed = ObservedState


class Transition(StrEnum):
    """A user's request to change the desired state."""

    SHUTDOWN = "shutdown"
    DELETE = "delete"


class Refusal(StrEnum):
    """Why a transition is refused."""

    ALREADY_DELETED = "already_deleted"
    NOT_SHUT_DOWN = "not_shut_down"


def next_desired(current: Desired, transition: Transition) -> Desired | Refusal:
    """The desired state after `transition`, or why it is refused."""
    if current is Desired.DELETED:
        return Refusal.ALREADY_DELETED
    if transition is Transition.SHUTDOWN:
        return Desired.STOPPED
    if current is not Desired.STOPPED:
        return Refusal.NOT_SHUT_DOWN
    return Desired.DELETED


# The Cloud API's cluster status vocabulary.
_STATUS = {
    Observed.INITIALIZING: "initializing",
    Observed.RUNNING: "started",
    Observed.STOPPING: "stopping",
    Observed.STOPPED: "stopped",
    Observed.RESTARTING: "restarting",
    Observed.FAILED: "restarting",
    Observed.DELETED: "stopped",
    Observed.LOCKED: "locked",
}


def status(desired: Desired, observed: Observed) -> str:
    """The `status` the API shows for a deployment."""
    if desired is Desired.STOPPED and observed is not Observed.STOPPED:
        return "stopping"
    if desired is Desired.RUNNING and observed in (Observed.STOPPED, Observed.DELETED):
        return "initializing"
    return _STATUS[observed]


def is_healthy(desired: Desired, observed: Observed, reported_healthy: bool) -> bool:
    """Healthy means serving: meant to run, observed running, and the node says so. Anything
    not serving (starting, stopping, stopped, restarting, failed, locked, deleted) is not."""
    return desired is Desired.RUNNING and observed is Observed.RUNNING and reported_healthy

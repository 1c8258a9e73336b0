"""The allocator's decisions: what to do to make what runs match what should run.

`plan(desired, observed, now)` is pure: it compares the control plane's allocations with what
this allocator knows about its own sandboxes and returns actions; it never starts, stops or
reads anything. Crashed nodes come back after an exponential backoff (`restart_delay`), capped,
and the crash count starts over once a node stayed up for `STABLE_AFTER_S`. A deployment's
encrypted volume stays open only while its node should run: whenever a node is stopped for
good (stopped, locked, deleted, no longer allocated) its volume is closed too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from citadel.contract.messages import DesiredState

__all__ = ["DesiredState"]  # the contract's, re-exported beside the decisions that read it

BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 30.0
STABLE_AFTER_S = 60.0


class ProcessState(StrEnum):
    """What this allocator knows about a deployment's node process."""

    ABSENT = "absent"  # never started here, or stopped on purpose
    STARTING = "starting"  # started, not yet answering
    RUNNING = "running"  # answering on its socket
    EXITED = "exited"  # ended without being asked to


class ActionKind(StrEnum):
    """Things the allocator does."""

    START = "start"
    STOP = "stop"
    CLOSE = "close"  # unmount the encrypted volume (after a stop): the plaintext view is gone
    REMOVE = "remove"  # delete the deployment directory (after a stop and a close)


@dataclass(frozen=True)
class Desired:
    """One allocation, as far as decisions go."""

    id: str
    state: DesiredState
    password_digest: str | None = None  # a pending elastic password from the control plane


@dataclass(frozen=True)
class Observed:
    """One deployment as this allocator sees it."""

    process: ProcessState = ProcessState.ABSENT
    failures: int = 0  # consecutive crashes
    exited_at: float | None = None  # monotonic seconds of the last crash
    directory_exists: bool = False
    password_digest: str | None = None  # the elastic password the running node was given
    volume_open: bool = False  # the encrypted volume is mounted


@dataclass(frozen=True)
class Action:
    """One step for the allocator to take."""

    kind: ActionKind
    deployment_id: str


def restart_delay(failures: int) -> float:
    """Seconds to wait after the `failures`-th consecutive crash: 0.5, 1, 2, 4 ... capped."""
    if failures <= 0:
        return 0.0
    return min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2.0 ** (failures - 1))


def failures_after_exit(previous: int, ran_for_s: float) -> int:
    """The crash count after a crash: reset by a long enough run, else one more."""
    return 1 if ran_for_s >= STABLE_AFTER_S else previous + 1


def plan(
    desired: Mapping[str, Desired], observed: Mapping[str, Observed], now: float
) -> list[Action]:
    """The actions that move `observed` toward `desired`, in a stable order."""
    actions: list[Action] = []
    for dep_id in sorted(set(desired) | set(observed)):
        want = desired.get(dep_id)
        have = observed.get(dep_id, Observed())
        live = have.process in (ProcessState.STARTING, ProcessState.RUNNING)
        closing = live or have.volume_open
        if want is None:
            # Gone from the allocations without a "deleted": stop it, keep its data.
            if live:
                actions.append(Action(ActionKind.STOP, dep_id))
            if closing:
                actions.append(Action(ActionKind.CLOSE, dep_id))
            continue
        if want.state is DesiredState.RUNNING:
            if have.process is ProcessState.ABSENT:
                actions.append(Action(ActionKind.START, dep_id))
            elif (
                have.process is ProcessState.RUNNING
                and want.password_digest is not None
                and want.password_digest != have.password_digest
            ):
                # A password reset: the node takes a new elastic password only at start.
                actions += [Action(ActionKind.STOP, dep_id), Action(ActionKind.START, dep_id)]
            elif have.process is ProcessState.EXITED:
                due = (have.exited_at or 0.0) + restart_delay(have.failures)
                if now >= due:
                    actions.append(Action(ActionKind.START, dep_id))
        elif want.state is DesiredState.STOPPED:
            if live:
                actions.append(Action(ActionKind.STOP, dep_id))
            if closing:
                actions.append(Action(ActionKind.CLOSE, dep_id))
        elif want.state is DesiredState.DELETED:
            if live:
                actions.append(Action(ActionKind.STOP, dep_id))
            if closing:
                actions.append(Action(ActionKind.CLOSE, dep_id))
            if live or have.directory_exists:
                actions.append(Action(ActionKind.REMOVE, dep_id))
    return actions


def next_wake(observed: Mapping[str, Observed], desired: Mapping[str, Desired]) -> float | None:
    """The earliest monotonic time a pending restart becomes due, if any."""
    times = [
        (o.exited_at or 0.0) + restart_delay(o.failures)
        for dep_id, o in observed.items()
        if o.process is ProcessState.EXITED
        and dep_id in desired
        and desired[dep_id].state is DesiredState.RUNNING
    ]
    return min(times) if times else None

"""Which running projects to stop (ADR 29): pure, no I/O.

A project's last activity is the latest of its last request any gateway reported, its last
wake-up (waking counts as a request), when its node was last seen coming up (an observation
of its instance), its last phase change, its last change through the API (a ``_resume``, a
patch: someone is using it) and its creation.

Only a project that is `serving` (its node observed running, or failed) may be stopped: one
still starting (just created, or woken and not yet up) has not had a chance to serve the
request that woke it, however long its start takes; its memory counts against the budget all
the same.

Two rules, in this order:

1. **Idle.** A project with no activity for `idle_timeout_s` is stopped.
2. **Warm budget.** When the memory of every running project together exceeds the warm
   budget (``project_warm_memory_mb``; None: no budget), the projects idle longest are
   stopped, one at a time, until the rest fit. A project with activity in the last
   `MIN_WARM_S` seconds is never stopped for the budget: a client that is being served now
   is not cut off because someone else woke another project. The budget may therefore stay
   exceeded while every project is busy; it is a target, not a reservation.

"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

MIN_WARM_S = 15.0
"""A project with a request (or a wake-up) this recent is never stopped for the warm budget."""


class StopReason(StrEnum):
    """Why the sweep stops a project."""

    IDLE = "idle"
    """No request for the idle timeout."""
    WARM_BUDGET = "warm_budget"
    """The running projects exceed the warm memory budget and this one was idle longest."""


@dataclass(frozen=True)
class RunningProject:
    """A running project as the sweep sees it: its memory and its last activity."""

    id: str
    memory_mb: int
    last_active: datetime
    serving: bool = True
    """Its node is up (or failed); False while it starts: never stopped then."""


@dataclass(frozen=True)
class Stop:
    """One project to stop, why, and how long it had been idle."""

    project_id: str
    reason: StopReason
    idle_s: float


def last_active(*moments: datetime | None) -> datetime:
    """The latest of a project's activity moments (request, wake, phase change, change,
    creation); at least one must be given."""
    present = [m for m in moments if m is not None]
    if not present:
        raise ValueError("a project has at least its creation time")
    return max(present)


def to_stop(
    running: Sequence[RunningProject],
    *,
    now: datetime,
    idle_timeout_s: float,
    warm_memory_mb: int | None,
    min_warm_s: float = MIN_WARM_S,
) -> list[Stop]:
    """The projects to stop now, idle ones first, then (longest idle first) those the warm
    budget has no room for; only serving ones."""
    idle_for = {p.id: (now - p.last_active).total_seconds() for p in running}
    stops = [
        Stop(p.id, StopReason.IDLE, idle_for[p.id])
        for p in running
        if p.serving and idle_for[p.id] >= idle_timeout_s
    ]
    if warm_memory_mb is None:
        return stops
    stopped = {s.project_id for s in stops}
    remaining = [p for p in running if p.id not in stopped]
    held = sum(p.memory_mb for p in remaining)
    candidates = [p for p in remaining if p.serving]
    longest_idle_first = sorted(candidates, key=lambda p: (p.last_active, p.id))
    for p in longest_idle_first:
        if held <= warm_memory_mb:
            break
        if idle_for[p.id] < min_warm_s:
            break  # sorted: every one after this is as recent or more
        stops.append(Stop(p.id, StopReason.WARM_BUDGET, idle_for[p.id]))
        held -= p.memory_mb
    return stops

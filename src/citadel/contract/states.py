"""A deployment's states: what the control plane wants and what the allocator reports.

One vocabulary for the internal contract's messages and the control plane's state machine
(`deployments.lifecycle` calls them `Desired` and `Observed`). Pure: no I/O, no pydantic.
"""

from __future__ import annotations

from enum import StrEnum


class DesiredState(StrEnum):
    """What should be: what users ask for."""

    RUNNING = "running"
    STOPPED = "stopped"
    DELETED = "deleted"


class ObservedState(StrEnum):
    """What the allocator last saw and reported; the routes snapshot's `state` uses the same
    words."""

    INITIALIZING = "initializing"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    RESTARTING = "restarting"
    FAILED = "failed"
    DELETED = "deleted"
    LOCKED = "locked"  # the customer's key is disabled, destroyed or denied: nodes stopped

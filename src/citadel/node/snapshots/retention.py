"""SLM retention: which of a policy's snapshots to delete. Pure.

Only snapshots the policy took count (``policy`` of the catalog entry). Of its successful
snapshots, oldest first:

- ``max_count``: the oldest beyond that many are deleted, expired or not;
- ``expire_after``: those older than that are deleted, but never so many that fewer than
  ``min_count`` successful snapshots remain;
- a failed or partial snapshot older than the newest successful one is deleted (it restores
  nothing the newer one does not).

Snapshots already being deleted are left out by the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from citadel.contract.snapshot_jobs import SnapshotEntry

SUCCESS = "SUCCESS"


@dataclass(frozen=True)
class Retention:
    """A policy's ``retention``: None means no limit of that kind."""

    expire_after_s: float | None = None
    min_count: int | None = None
    max_count: int | None = None

    @property
    def empty(self) -> bool:
        return self.expire_after_s is None and self.max_count is None


def to_delete(
    snapshots: Sequence[SnapshotEntry], policy: str, retention: Retention, now: float
) -> list[str]:
    """The names of `policy`'s snapshots `retention` deletes at `now` (epoch seconds), oldest
    first."""
    own = sorted((s for s in snapshots if s.policy == policy), key=lambda s: s.start_time)
    successful = [s for s in own if s.state == SUCCESS]
    doomed: set[str] = set()
    if retention.max_count is not None and len(successful) > retention.max_count:
        doomed.update(s.name for s in successful[: len(successful) - retention.max_count])
    if retention.expire_after_s is not None:
        deletable = len(successful) - (retention.min_count or 0)
        for s in successful[: max(deletable, 0)]:
            if now - s.start_time > retention.expire_after_s:
                doomed.add(s.name)
    if successful:
        newest = successful[-1].start_time
        doomed.update(s.name for s in own if s.state != SUCCESS and s.start_time < newest)
    return [s.name for s in own if s.name in doomed]

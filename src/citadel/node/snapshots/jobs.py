"""The snapshot job queue in the node store, and the requests waiting for a job's result.

A job is a row of ``snapshot_jobs``: the contract's `SnapshotJob` the allocator reads, what
the node keeps to finish it (`request`: a staged snapshot's description, a restore's renames),
its state (``pending`` until the allocator posts the result, then ``done`` or ``failed``) and
the reason of a failure. Finished rows are kept (the newest `KEEP_FINISHED`) so a request that
stopped waiting can still learn how its job ended. A job survives a restart of the node: the
allocator finds it pending after the restart as before.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from citadel.contract.snapshot_jobs import MAX_JOBS, JobKind, SnapshotJob
from citadel.node.errors import EsError

PENDING = "pending"
DONE = "done"
FAILED = "failed"
KEEP_FINISHED = 200

Connection = Any


class TooManyJobs(EsError):
    """More pending jobs than the allocator is asked to hold (`MAX_JOBS`)."""

    type = "concurrent_snapshot_execution_exception"
    status = 503


@dataclass(frozen=True)
class JobRow:
    """One job as stored."""

    job: SnapshotJob
    request: dict[str, Any]
    state: str
    reason: str | None
    finished_at: float | None

    @property
    def pending(self) -> bool:
        return self.state == PENDING


def enqueue(conn: Connection, job: SnapshotJob, request: dict[str, Any]) -> None:
    """Add `job` (503 when `MAX_JOBS` are already pending)."""
    if count_pending(conn) >= MAX_JOBS:
        raise TooManyJobs(
            f"[found-snapshots] {MAX_JOBS} snapshot operations are already waiting; try later"
        )
    conn.execute(
        "INSERT INTO snapshot_jobs (job_id, job, request) VALUES (?, ?, ?)",
        (job.job_id, job.model_dump_json(), json.dumps(request)),
    )


def count_pending(conn: Connection) -> int:
    row = conn.execute("SELECT count(*) FROM snapshot_jobs WHERE state = ?", (PENDING,))
    return int(row.fetchone()[0])


def pending(conn: Connection, kind: JobKind | None = None) -> list[JobRow]:
    """The pending jobs, oldest first (of `kind` when given)."""
    rows = conn.execute(
        "SELECT job, request, state, reason, finished_at FROM snapshot_jobs WHERE state = ? "
        "ORDER BY seq",
        (PENDING,),
    ).fetchall()
    out = [_row(r) for r in rows]
    return [r for r in out if kind is None or r.job.kind is kind]


def get(conn: Connection, job_id: str) -> JobRow | None:
    row = conn.execute(
        "SELECT job, request, state, reason, finished_at FROM snapshot_jobs WHERE job_id = ?",
        (job_id,),
    ).fetchone()
    return _row(row) if row else None


def finish(conn: Connection, job_id: str, ok: bool, reason: str, at: float) -> None:
    """Mark `job_id` done or failed, and forget the oldest finished jobs beyond the kept."""
    conn.execute(
        "UPDATE snapshot_jobs SET state = ?, reason = ?, finished_at = ? WHERE job_id = ?",
        (DONE if ok else FAILED, reason or None, at, job_id),
    )
    conn.execute(
        "DELETE FROM snapshot_jobs WHERE state != ? AND seq NOT IN (SELECT seq FROM "
        "snapshot_jobs WHERE state != ? ORDER BY seq DESC LIMIT ?)",
        (PENDING, PENDING, KEEP_FINISHED),
    )


def forget_all(conn: Connection) -> None:
    """Drop every job (a store restored from a snapshot carries its source's jobs)."""
    conn.execute("DELETE FROM snapshot_jobs")


def _row(row: Any) -> JobRow:
    return JobRow(
        SnapshotJob.model_validate_json(row[0]), json.loads(row[1]), row[2], row[3], row[4]
    )


class Waiters:
    """Wakes the requests waiting for a job (``wait_for_completion``) when its result arrives."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._finished: set[str] = set()

    def finished(self, job_id: str) -> None:
        with self._cond:
            if len(self._finished) >= 1000:  # jobs nobody waited for (SLM's): forget them
                self._finished.clear()
            self._finished.add(job_id)
            self._cond.notify_all()

    def wait(self, job_id: str, timeout: float) -> bool:
        """Whether `job_id` finished within `timeout` seconds (after this call began)."""
        with self._cond:
            done = self._cond.wait_for(lambda: job_id in self._finished, timeout)
            self._finished.discard(job_id)
            return done

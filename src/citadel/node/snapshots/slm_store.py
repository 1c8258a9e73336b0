"""SLM policies in the node store, with each policy's history and the node's totals.

A policy row keeps the policy as sent, its version and modification time, and a history:
the last success and failure, the counters ``GET _slm/stats`` shows, when it last ran, and
(for the platform's ``cloud-snapshot-policy``) the policy the node derived from the platform's
defaults, so a later change of the defaults reaches a policy the user did not change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from citadel.contract.snapshot_jobs import JobKind, StagedSnapshot
from citadel.node.snapshots.jobs import JobRow

Connection = Any
TOTALS_KEY = "slm/stats"
MODE_KEY = "slm/operation_mode"
COUNTERS = (
    "snapshots_taken",
    "snapshots_failed",
    "snapshots_deleted",
    "snapshot_deletion_failures",
)


@dataclass
class PolicyRow:
    """One stored policy."""

    id: str
    policy: dict[str, Any]
    version: int
    modified_at: int  # epoch milliseconds
    history: dict[str, Any] = field(default_factory=dict)


def get(conn: Connection, policy_id: str) -> PolicyRow | None:
    row = conn.execute(
        "SELECT id, policy, version, modified_at, history FROM slm_policies WHERE id = ?",
        (policy_id,),
    ).fetchone()
    return _row(row) if row else None


def every(conn: Connection) -> list[PolicyRow]:
    rows = conn.execute(
        "SELECT id, policy, version, modified_at, history FROM slm_policies ORDER BY id"
    ).fetchall()
    return [_row(r) for r in rows]


def put(conn: Connection, policy_id: str, policy: dict[str, Any], now_ms: int) -> PolicyRow:
    """Store `policy` (a new version of an existing one keeps its history)."""
    existing = get(conn, policy_id)
    version = existing.version + 1 if existing else 1
    history = existing.history if existing else {}
    conn.execute(
        "INSERT OR REPLACE INTO slm_policies (id, policy, version, modified_at, history) "
        "VALUES (?, ?, ?, ?, ?)",
        (policy_id, json.dumps(policy), version, now_ms, json.dumps(history)),
    )
    return PolicyRow(policy_id, policy, version, now_ms, history)


def save_history(conn: Connection, policy_id: str, history: dict[str, Any]) -> None:
    conn.execute(
        "UPDATE slm_policies SET history = ? WHERE id = ?", (json.dumps(history), policy_id)
    )


def delete(conn: Connection, policy_id: str) -> bool:
    return conn.execute("DELETE FROM slm_policies WHERE id = ?", (policy_id,)).rowcount > 0


def totals(conn: Connection) -> dict[str, int]:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (TOTALS_KEY,)).fetchone()
    return json.loads(row[0]) if row else {}


def bump_totals(conn: Connection, **increments: int) -> None:
    current = totals(conn)
    for name, value in increments.items():
        current[name] = current.get(name, 0) + value
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (TOTALS_KEY, json.dumps(current))
    )


def operation_mode(conn: Connection) -> str:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (MODE_KEY,)).fetchone()
    return row[0] if row else "RUNNING"


def set_operation_mode(conn: Connection, mode: str) -> None:
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (MODE_KEY, mode))


def record_outcome(conn: Connection, row: JobRow, ok: bool, reason: str, now: float) -> None:
    """Count a finished job against the policy that asked for it (if any)."""
    policy_id: str | None = None
    if row.job.kind is JobKind.CREATE:
        policy_id = StagedSnapshot.model_validate(row.request["staged"]).policy
    elif row.job.kind is JobKind.DELETE and row.request.get("retention"):
        policy_id = row.request.get("policy")
    if policy_id is None:
        return
    stored = get(conn, policy_id)
    now_ms = int(now * 1000)
    if row.job.kind is JobKind.CREATE:
        counter = "snapshots_taken" if ok else "snapshots_failed"
        bump_totals(conn, **{f"total_{counter}": 1})
        if stored is None:
            return
        history = stored.history
        history[counter] = history.get(counter, 0) + 1
        start_ms = int(row.job.created_at * 1000)
        if ok:
            history["last_success"] = {
                "snapshot_name": row.job.snapshot,
                "start_time": start_ms,
                "time": now_ms,
            }
        else:
            history["last_failure"] = {
                "snapshot_name": row.job.snapshot,
                "time": now_ms,
                "details": json.dumps({"type": "snapshot_exception", "reason": reason}),
            }
    else:
        counter = "snapshots_deleted" if ok else "snapshot_deletion_failures"
        total = "total_snapshots_deleted" if ok else "total_snapshot_deletion_failures"
        bump_totals(conn, **{total: 1})
        if stored is None:
            return
        history = stored.history
        history[counter] = history.get(counter, 0) + 1
    save_history(conn, policy_id, history)


def _row(row: Any) -> PolicyRow:
    return PolicyRow(row[0], json.loads(row[1]), int(row[2]), int(row[3]), json.loads(row[4]))

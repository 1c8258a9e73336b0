"""Connectors and sync jobs in the catalog (``connectors``, ``connector_sync_jobs``)."""

from __future__ import annotations

import json
from typing import Any

from citadel.node.errors import IllegalArgument, ResourceNotFound

Connection = Any
MAX_CONNECTORS = 1_000
MAX_SYNC_JOBS = 10_000


def _dump(doc: dict[str, Any]) -> str:
    return json.dumps(doc, separators=(",", ":"))


def get(conn: Connection, connector_id: str, *, include_deleted: bool = False) -> dict[str, Any]:
    """Connector `connector_id`; 404 when there is none (or it was soft-deleted)."""
    row = conn.execute("SELECT document FROM connectors WHERE id = ?", (connector_id,)).fetchone()
    doc = json.loads(row[0]) if row else None
    if doc is None or (doc.get("deleted") and not include_deleted):
        raise ResourceNotFound(f"connector [{connector_id}] not found")
    return doc


def exists(conn: Connection, connector_id: str) -> bool:
    """Whether a row for `connector_id` exists (soft-deleted included)."""
    row = conn.execute("SELECT 1 FROM connectors WHERE id = ?", (connector_id,)).fetchone()
    return row is not None


def put(conn: Connection, doc: dict[str, Any]) -> None:
    """Store (or replace) a connector document; refuses an index name another connector uses."""
    index = doc.get("index_name")
    if index:
        for other in every(conn, include_deleted=False):
            if other["id"] != doc["id"] and other.get("index_name") == index:
                raise IllegalArgument(f"Index name [{index}] is used by another connector.")
    row = conn.execute("SELECT seq FROM connectors WHERE id = ?", (doc["id"],)).fetchone()
    if row is not None:
        conn.execute("UPDATE connectors SET document = ? WHERE id = ?", (_dump(doc), doc["id"]))
        return
    (count, top) = conn.execute("SELECT count(*), coalesce(max(seq), 0) FROM connectors").fetchone()
    if count >= MAX_CONNECTORS:
        raise IllegalArgument(f"this node holds at most {MAX_CONNECTORS} connectors")
    conn.execute(
        "INSERT INTO connectors (id, seq, document) VALUES (?, ?, ?)",
        (doc["id"], top + 1, _dump(doc)),
    )


def every(conn: Connection, *, include_deleted: bool) -> list[dict[str, Any]]:
    """Every connector, oldest first."""
    rows = conn.execute("SELECT document FROM connectors ORDER BY seq").fetchall()
    docs = [json.loads(r[0]) for r in rows]
    return [d for d in docs if include_deleted or not d.get("deleted")]


def delete(conn: Connection, connector_id: str, *, hard: bool, sync_jobs: bool) -> None:
    """Delete a connector (soft: marked ``deleted``), and with `sync_jobs` its sync jobs."""
    doc = get(conn, connector_id)
    if hard:
        conn.execute("DELETE FROM connectors WHERE id = ?", (connector_id,))
    else:
        put(conn, {**doc, "deleted": True})
    if sync_jobs:
        conn.execute("DELETE FROM connector_sync_jobs WHERE connector_id = ?", (connector_id,))


def get_job(conn: Connection, job_id: str) -> dict[str, Any]:
    """Sync job `job_id`; 404 when there is none."""
    row = conn.execute(
        "SELECT document FROM connector_sync_jobs WHERE id = ?", (job_id,)
    ).fetchone()
    if row is None:
        raise ResourceNotFound(f"connector sync job [{job_id}] not found")
    return json.loads(row[0])


def put_job(conn: Connection, job: dict[str, Any]) -> None:
    """Store (or replace) a sync job."""
    row = conn.execute("SELECT 1 FROM connector_sync_jobs WHERE id = ?", (job["id"],)).fetchone()
    if row is not None:
        conn.execute(
            "UPDATE connector_sync_jobs SET document = ? WHERE id = ?", (_dump(job), job["id"])
        )
        return
    (count, top) = conn.execute(
        "SELECT count(*), coalesce(max(seq), 0) FROM connector_sync_jobs"
    ).fetchone()
    if count >= MAX_SYNC_JOBS:
        raise IllegalArgument(f"this node holds at most {MAX_SYNC_JOBS} connector sync jobs")
    conn.execute(
        "INSERT INTO connector_sync_jobs (id, seq, connector_id, document) VALUES (?, ?, ?, ?)",
        (job["id"], top + 1, job["connector"]["id"], _dump(job)),
    )


def delete_job(conn: Connection, job_id: str) -> None:
    """Drop sync job `job_id` (404 when there is none)."""
    get_job(conn, job_id)
    conn.execute("DELETE FROM connector_sync_jobs WHERE id = ?", (job_id,))


def jobs(conn: Connection) -> list[dict[str, Any]]:
    """Every sync job, oldest first."""
    rows = conn.execute("SELECT document FROM connector_sync_jobs ORDER BY seq").fetchall()
    return [json.loads(r[0]) for r in rows]

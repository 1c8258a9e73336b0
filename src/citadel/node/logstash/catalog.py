"""Logstash pipelines in the catalog: the ``logstash_pipelines`` table (at most `MAX_PIPELINES`)."""

from __future__ import annotations

import json
from typing import Any

from citadel.node.errors import IllegalArgument
from citadel.node.logstash.pipelines import id_matcher

Connection = Any
MAX_PIPELINES = 1_000


def put(conn: Connection, pipeline_id: str, document: str) -> bool:
    """Create or replace a pipeline; True when it is new."""
    exists = conn.execute("SELECT 1 FROM logstash_pipelines WHERE id = ?", (pipeline_id,))
    created = exists.fetchone() is None
    if created:
        (count,) = conn.execute("SELECT COUNT(*) FROM logstash_pipelines").fetchone()
        if count >= MAX_PIPELINES:
            raise IllegalArgument(f"this node holds at most {MAX_PIPELINES} Logstash pipelines")
    conn.execute(
        "INSERT INTO logstash_pipelines (id, document) VALUES (?, ?) "
        "ON CONFLICT(id) DO UPDATE SET document = excluded.document",
        (pipeline_id, document),
    )
    return created


def get(conn: Connection, expression: str | None) -> dict[str, Any]:
    """The pipelines an id expression names, by id."""
    matcher = id_matcher(expression)
    rows = conn.execute("SELECT id, document FROM logstash_pipelines ORDER BY id").fetchall()
    return {row[0]: json.loads(row[1]) for row in rows if matcher.fullmatch(row[0])}


def delete(conn: Connection, pipeline_id: str) -> bool:
    """Delete a pipeline; True when it was there."""
    cursor = conn.execute("DELETE FROM logstash_pipelines WHERE id = ?", (pipeline_id,))
    return bool(cursor.rowcount)

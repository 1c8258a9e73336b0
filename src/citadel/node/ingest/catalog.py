"""Stored pipelines: the ``ingest_pipelines`` table of the node's catalog.

A definition is checked (`parse_pipeline`) before it is stored and kept as the JSON the
client sent, which is what ``GET _ingest/pipeline`` returns. Parsed pipelines are cached per
process by (id, definition text), so a write parses each pipeline once.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from citadel.node.errors import ActionRequestValidation, IllegalArgument
from citadel.node.ingest.errors import PipelineNotFound
from citadel.node.ingest.pipeline import Pipeline, parse_pipeline

Connection = Any
MAX_PIPELINES = 10_000
MAX_ID_BYTES = 512


def check_id(pipeline_id: str) -> None:
    """400 for an id Elasticsearch would refuse."""
    if not pipeline_id:
        raise ActionRequestValidation("Validation Failed: 1: pipeline id is missing;")
    if len(pipeline_id.encode()) > MAX_ID_BYTES:
        raise IllegalArgument(f"pipeline id [{pipeline_id[:40]}...] is longer than 512 bytes")
    if any(ch in pipeline_id for ch in '*?"<>|, /\\#'):
        raise IllegalArgument(f"pipeline id [{pipeline_id}] contains an invalid character")


def put(conn: Connection, pipeline_id: str, body: Any, *, if_version: int | None = None) -> None:
    """Store (or replace) pipeline `pipeline_id` after checking it."""
    check_id(pipeline_id)
    parsed = parse_pipeline(pipeline_id, body)
    row = conn.execute(
        "SELECT version FROM ingest_pipelines WHERE id = ?", (pipeline_id,)
    ).fetchone()
    if if_version is not None:
        current = row[0] if row is not None else None
        if row is None or current != if_version:
            shown = "does not exist" if row is None else f"is [{current}]"
            raise IllegalArgument(
                f"version conflict, required version [{if_version}] for pipeline "
                f"[{pipeline_id}] but current version {shown}"
            )
    if row is None:
        (count,) = conn.execute("SELECT COUNT(*) FROM ingest_pipelines").fetchone()
        if count >= MAX_PIPELINES:
            raise IllegalArgument(f"this node holds at most {MAX_PIPELINES} pipelines")
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    conn.execute(
        "INSERT INTO ingest_pipelines (id, definition, version) VALUES (?, ?, ?) "
        "ON CONFLICT(id) DO UPDATE SET definition = excluded.definition, "
        "version = excluded.version",
        (pipeline_id, text, parsed.version),
    )


def definitions(conn: Connection, expression: str | None) -> dict[str, Any]:
    """The stored definitions matching `expression` (comma-separated ids and wildcards)."""
    rows = conn.execute("SELECT id, definition FROM ingest_pipelines ORDER BY id").fetchall()
    if expression in (None, "", "*", "_all"):
        return {row[0]: json.loads(row[1]) for row in rows}
    patterns = [_pattern(p) for p in str(expression).split(",") if p]
    return {
        row[0]: json.loads(row[1]) for row in rows if any(p.fullmatch(row[0]) for p in patterns)
    }


def delete(conn: Connection, expression: str) -> list[str]:
    """Delete the pipelines matching `expression`; 404 when a plain id is not there."""
    matched = list(definitions(conn, expression))
    names = [p for p in expression.split(",") if p]
    if not matched and not any("*" in n for n in names):
        raise PipelineNotFound(f"pipeline [{expression}] is missing")
    for pipeline_id in matched:
        conn.execute("DELETE FROM ingest_pipelines WHERE id = ?", (pipeline_id,))
    return matched


def load(conn: Connection, pipeline_id: str) -> Pipeline | None:
    """The parsed pipeline `pipeline_id`, or None."""
    row = conn.execute(
        "SELECT definition FROM ingest_pipelines WHERE id = ?", (pipeline_id,)
    ).fetchone()
    if row is None:
        return None
    return _parsed(pipeline_id, row[0])


@lru_cache(maxsize=256)
def _parsed(pipeline_id: str, text: str) -> Pipeline:
    return parse_pipeline(pipeline_id, json.loads(text))


def _pattern(expression: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in expression.split("*")))

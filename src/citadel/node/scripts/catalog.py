"""Stored scripts: the ``stored_scripts`` table of the node's catalog (at most `MAX_SCRIPTS`)."""

from __future__ import annotations

import json
from typing import Any

from citadel.node.errors import IllegalArgument, ResourceNotFound
from citadel.node.scripts.stored import MUSTACHE, StoredScript

Connection = Any
MAX_SCRIPTS = 10_000


def put(conn: Connection, script_id: str, script: StoredScript) -> None:
    """Store (or replace) `script` under `script_id`."""
    exists = conn.execute("SELECT 1 FROM stored_scripts WHERE id = ?", (script_id,)).fetchone()
    if exists is None:
        (count,) = conn.execute("SELECT COUNT(*) FROM stored_scripts").fetchone()
        if count >= MAX_SCRIPTS:
            raise IllegalArgument(f"this node holds at most {MAX_SCRIPTS} stored scripts")
    conn.execute(
        "INSERT INTO stored_scripts (id, lang, source, options) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(id) DO UPDATE SET lang = excluded.lang, source = excluded.source, "
        "options = excluded.options",
        (script_id, script.lang, script.source, json.dumps(script.options)),
    )


def get(conn: Connection, script_id: str) -> StoredScript | None:
    """The stored script `script_id`, or None."""
    row = conn.execute(
        "SELECT lang, source, options FROM stored_scripts WHERE id = ?", (script_id,)
    ).fetchone()
    if row is None:
        return None
    return StoredScript(row[0], row[1], json.loads(row[2]))


def delete(conn: Connection, script_id: str) -> None:
    """Delete `script_id`; Elasticsearch's 404 when there is none."""
    deleted = conn.execute("DELETE FROM stored_scripts WHERE id = ?", (script_id,)).rowcount
    if not deleted:
        raise ResourceNotFound(f"stored script [{script_id}] does not exist")


def template(conn: Connection, script_id: str) -> str:
    """The mustache source of stored template `script_id` (a search template's ``id``)."""
    script = get(conn, script_id)
    if script is None:
        raise ResourceNotFound(f"unable to find script [{script_id}] in cluster state")
    if script.lang != MUSTACHE:
        raise IllegalArgument(
            f"stored script [{script_id}] is a [{script.lang}] script; search templates run "
            "[mustache] scripts only"
        )
    return script.source

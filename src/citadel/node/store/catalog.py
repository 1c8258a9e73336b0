"""Catalog entries kept as JSON in the ``meta`` table under a kind prefix.

Aliases and index state (``index/<uuid>``), composable and component index templates
(``index_template/<name>``, ``component_template/<name>``), legacy templates
(``template/<name>``) and data streams (``data_stream/<name>``) are rows of the store's
``meta(key, value)`` table: one JSON object per entry, read and written inside the route's
transaction like the ``indices`` rows they describe.
"""

from __future__ import annotations

import json
from typing import Any

Connection = Any  # a sqlcipher3 connection with Row rows

INDEX = "index/"
INDEX_TEMPLATE = "index_template/"
COMPONENT_TEMPLATE = "component_template/"
LEGACY_TEMPLATE = "template/"
DATA_STREAM = "data_stream/"


def get(conn: Connection, kind: str, name: str) -> dict[str, Any] | None:
    """The entry `name` of `kind`, or None."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (kind + name,)).fetchone()
    return json.loads(row[0]) if row else None


def put(conn: Connection, kind: str, name: str, value: dict[str, Any]) -> None:
    """Store (or replace) the entry `name` of `kind`."""
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
        (kind + name, json.dumps(value, separators=(",", ":"))),
    )


def remove(conn: Connection, kind: str, name: str) -> None:
    """Drop the entry `name` of `kind` (nothing when there is none)."""
    conn.execute("DELETE FROM meta WHERE key = ?", (kind + name,))


def every(conn: Connection, kind: str) -> dict[str, dict[str, Any]]:
    """Every entry of `kind` by name, sorted by name."""
    rows = conn.execute(
        "SELECT key, value FROM meta WHERE key >= ? AND key < ? ORDER BY key",
        (kind, kind[:-1] + chr(ord(kind[-1]) + 1)),
    )
    return {key[len(kind) :]: json.loads(value) for key, value in rows}


def count(conn: Connection, kind: str) -> int:
    """How many entries of `kind` there are."""
    row = conn.execute(
        "SELECT count(*) FROM meta WHERE key >= ? AND key < ?",
        (kind, kind[:-1] + chr(ord(kind[-1]) + 1)),
    ).fetchone()
    return int(row[0])

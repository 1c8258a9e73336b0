"""Search applications and analytics collections in the catalog.

Tables ``search_applications`` (definitions as JSON), ``analytics_collections`` and
``analytics_events``. At most `MAX_APPLICATIONS` applications, `MAX_COLLECTIONS` collections,
and the newest `MAX_EVENTS_PER_COLLECTION` events of each collection (older ones dropped).
"""

from __future__ import annotations

import json
import re
from typing import Any

from citadel.node.errors import (
    IllegalArgument,
    ResourceAlreadyExists,
    ResourceNotFound,
    VersionConflict,
)

Connection = Any
MAX_APPLICATIONS = 1_000
MAX_COLLECTIONS = 100
MAX_EVENTS_PER_COLLECTION = 10_000


def put_application(
    conn: Connection, name: str, definition: dict[str, Any], *, now_millis: int, create: bool
) -> bool:
    """Create or replace an application; True when it is new."""
    exists = conn.execute("SELECT 1 FROM search_applications WHERE name = ?", (name,)).fetchone()
    if exists is not None and create:
        raise VersionConflict(f"Search application [{name}] already exists")
    if exists is None:
        (count,) = conn.execute("SELECT COUNT(*) FROM search_applications").fetchone()
        if count >= MAX_APPLICATIONS:
            raise IllegalArgument(f"this node holds at most {MAX_APPLICATIONS} search applications")
    conn.execute(
        "INSERT INTO search_applications (name, definition, updated_at_millis) VALUES (?, ?, ?) "
        "ON CONFLICT(name) DO UPDATE SET definition = excluded.definition, "
        "updated_at_millis = excluded.updated_at_millis",
        (name, json.dumps(definition, separators=(",", ":")), now_millis),
    )
    return exists is None


def application(conn: Connection, name: str) -> tuple[dict[str, Any], int]:
    """An application's definition and update time; 404 when it is not there."""
    row = conn.execute(
        "SELECT definition, updated_at_millis FROM search_applications WHERE name = ?", (name,)
    ).fetchone()
    if row is None:
        raise ResourceNotFound(f"Search application [{name}] not found")
    return json.loads(row[0]), int(row[1])


def applications(
    conn: Connection, pattern: str, start: int, size: int
) -> tuple[int, list[tuple[str, dict[str, Any], int]]]:
    """The applications whose names match `pattern` (``*`` wildcards): count and one page."""
    matcher = re.compile(".*".join(re.escape(p) for p in pattern.split("*")), re.DOTALL)
    rows = conn.execute(
        "SELECT name, definition, updated_at_millis FROM search_applications ORDER BY name"
    ).fetchall()
    found = [(r[0], json.loads(r[1]), int(r[2])) for r in rows if matcher.fullmatch(r[0])]
    return len(found), found[start : start + size]


def delete_application(conn: Connection, name: str) -> None:
    """Delete an application."""
    if not conn.execute("DELETE FROM search_applications WHERE name = ?", (name,)).rowcount:
        raise ResourceNotFound(f"Search application [{name}] not found")


def put_collection(conn: Connection, name: str, *, now_millis: int) -> None:
    """Create a collection; 400 when it exists."""
    if conn.execute("SELECT 1 FROM analytics_collections WHERE name = ?", (name,)).fetchone():
        raise ResourceAlreadyExists(f"analytics collection [{name}] already exists")
    (count,) = conn.execute("SELECT COUNT(*) FROM analytics_collections").fetchone()
    if count >= MAX_COLLECTIONS:
        raise IllegalArgument(f"this node holds at most {MAX_COLLECTIONS} analytics collections")
    conn.execute(
        "INSERT INTO analytics_collections (name, created_at_millis) VALUES (?, ?)",
        (name, now_millis),
    )


def collections(conn: Connection, names: list[str] | None) -> list[str]:
    """Collection names, all or those `names` give (``*`` wildcards); 404 for a missing name."""
    every = [r[0] for r in conn.execute("SELECT name FROM analytics_collections ORDER BY name")]
    if not names:
        return every
    chosen: list[str] = []
    for name in names:
        matcher = re.compile(".*".join(re.escape(p) for p in name.split("*")), re.DOTALL)
        hits = [n for n in every if matcher.fullmatch(n)]
        if not hits and "*" not in name:
            raise ResourceNotFound(f"analytics collection [{name}] does not exist")
        chosen.extend(h for h in hits if h not in chosen)
    return chosen


def delete_collection(conn: Connection, name: str) -> None:
    """Delete a collection and its events."""
    conn.execute("DELETE FROM analytics_events WHERE collection = ?", (name,))
    if not conn.execute("DELETE FROM analytics_collections WHERE name = ?", (name,)).rowcount:
        raise ResourceNotFound(f"analytics collection [{name}] does not exist")


def add_event(conn: Connection, name: str, event: dict[str, Any]) -> None:
    """Keep one event of an existing collection, dropping the oldest beyond the bound."""
    if not conn.execute("SELECT 1 FROM analytics_collections WHERE name = ?", (name,)).fetchone():
        raise ResourceNotFound(f"analytics collection [{name}] does not exist")
    conn.execute(
        "INSERT INTO analytics_events (collection, event) VALUES (?, ?)",
        (name, json.dumps(event, separators=(",", ":"), ensure_ascii=False)),
    )
    conn.execute(
        "DELETE FROM analytics_events WHERE collection = ? AND seq <= (SELECT seq FROM "
        "analytics_events WHERE collection = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)",
        (name, name, MAX_EVENTS_PER_COLLECTION),
    )


def event_count(conn: Connection, name: str) -> int:
    """How many events of a collection are kept."""
    (count,) = conn.execute(
        "SELECT COUNT(*) FROM analytics_events WHERE collection = ?", (name,)
    ).fetchone()
    return int(count)

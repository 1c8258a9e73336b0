"""Enrich policies in the catalog's ``enrich_policies`` table, with their enrich index."""

from __future__ import annotations

import json
from typing import Any

from citadel.node.enrich.policies import MAX_POLICIES, Policy, from_json
from citadel.node.errors import IllegalArgument, ResourceAlreadyExists, ResourceNotFound

Connection = Any


def put(conn: Connection, policy: Policy) -> None:
    """Store a new policy (policies cannot be replaced, as in Elasticsearch)."""
    row = conn.execute("SELECT 1 FROM enrich_policies WHERE name = ?", (policy.name,)).fetchone()
    if row is not None:
        raise ResourceAlreadyExists(f"policy [{policy.name}] already exists")
    (count,) = conn.execute("SELECT count(*) FROM enrich_policies").fetchone()
    if count >= MAX_POLICIES:
        raise IllegalArgument(f"this node holds at most {MAX_POLICIES} enrich policies")
    conn.execute(
        "INSERT INTO enrich_policies (name, definition) VALUES (?, ?)",
        (policy.name, json.dumps(policy.as_json(), separators=(",", ":"))),
    )


def get(conn: Connection, name: str) -> tuple[Policy, str | None]:
    """Policy `name` and its current enrich index; 404 when there is none."""
    row = conn.execute(
        "SELECT definition, enrich_index FROM enrich_policies WHERE name = ?", (name,)
    ).fetchone()
    if row is None:
        raise ResourceNotFound(f"policy [{name}] does not exist")
    return from_json(name, json.loads(row[0])), row[1]


def every(conn: Connection) -> list[tuple[Policy, str | None]]:
    """Every policy with its enrich index, by name."""
    rows = conn.execute(
        "SELECT name, definition, enrich_index FROM enrich_policies ORDER BY name"
    ).fetchall()
    return [(from_json(r[0], json.loads(r[1])), r[2]) for r in rows]


def set_index(conn: Connection, name: str, index: str) -> None:
    """Record the enrich index the policy's last execution built."""
    conn.execute("UPDATE enrich_policies SET enrich_index = ? WHERE name = ?", (index, name))


def delete(conn: Connection, name: str) -> str | None:
    """Drop policy `name`; its enrich index name (the caller deletes it), if any."""
    _, index = get(conn, name)
    conn.execute("DELETE FROM enrich_policies WHERE name = ?", (name,))
    return index

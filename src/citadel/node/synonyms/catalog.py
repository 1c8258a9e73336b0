"""Synonym sets in the catalog: the ``synonym_sets`` and ``synonym_rules`` tables.

At most `MAX_SETS` sets of `MAX_RULES_PER_SET` rules each. Rules are listed by id.
"""

from __future__ import annotations

from typing import Any

from citadel.node.errors import IllegalArgument, ResourceNotFound
from citadel.node.synonyms.rules import MAX_RULES_PER_SET, SynonymRule

Connection = Any
MAX_SETS = 1_000


def put_set(conn: Connection, set_id: str, rules: list[SynonymRule]) -> bool:
    """Create or replace set `set_id` with `rules`; True when it is new."""
    created = not _exists(conn, set_id)
    if created:
        (count,) = conn.execute("SELECT COUNT(*) FROM synonym_sets").fetchone()
        if count >= MAX_SETS:
            raise IllegalArgument(f"this node holds at most {MAX_SETS} synonyms sets")
        conn.execute("INSERT INTO synonym_sets (id) VALUES (?)", (set_id,))
    conn.execute("DELETE FROM synonym_rules WHERE set_id = ?", (set_id,))
    conn.executemany(
        "INSERT INTO synonym_rules (set_id, rule_id, synonyms) VALUES (?, ?, ?)",
        [(set_id, rule.id, rule.synonyms) for rule in rules],
    )
    return created


def put_rule(conn: Connection, set_id: str, rule: SynonymRule) -> bool:
    """Create or replace one rule of an existing set; True when it is new."""
    _require_set(conn, set_id)
    row = conn.execute(
        "SELECT 1 FROM synonym_rules WHERE set_id = ? AND rule_id = ?", (set_id, rule.id)
    ).fetchone()
    if row is None and _rule_count(conn, set_id) >= MAX_RULES_PER_SET:
        raise IllegalArgument(
            f"synonyms set [{set_id}] already holds {MAX_RULES_PER_SET} rules, the most a set holds"
        )
    conn.execute(
        "INSERT INTO synonym_rules (set_id, rule_id, synonyms) VALUES (?, ?, ?) "
        "ON CONFLICT(set_id, rule_id) DO UPDATE SET synonyms = excluded.synonyms",
        (set_id, rule.id, rule.synonyms),
    )
    return row is None


def rules(conn: Connection, set_id: str, start: int, size: int) -> tuple[int, list[SynonymRule]]:
    """The set's rule count and one page of its rules, by id."""
    _require_set(conn, set_id)
    rows = conn.execute(
        "SELECT rule_id, synonyms FROM synonym_rules WHERE set_id = ? ORDER BY rule_id "
        "LIMIT ? OFFSET ?",
        (set_id, size, start),
    ).fetchall()
    return _rule_count(conn, set_id), [SynonymRule(r[0], r[1]) for r in rows]


def rule(conn: Connection, set_id: str, rule_id: str) -> SynonymRule:
    """One rule; 404 when the set or the rule is not there."""
    _require_set(conn, set_id)
    row = conn.execute(
        "SELECT synonyms FROM synonym_rules WHERE set_id = ? AND rule_id = ?", (set_id, rule_id)
    ).fetchone()
    if row is None:
        raise ResourceNotFound(f"synonym rule [{rule_id}] not found")
    return SynonymRule(rule_id, row[0])


def sets(conn: Connection, start: int, size: int) -> tuple[int, list[tuple[str, int]]]:
    """The number of sets and one page of (set id, rule count), by id."""
    (total,) = conn.execute("SELECT COUNT(*) FROM synonym_sets").fetchone()
    rows = conn.execute(
        "SELECT s.id, (SELECT COUNT(*) FROM synonym_rules r WHERE r.set_id = s.id) "
        "FROM synonym_sets s ORDER BY s.id LIMIT ? OFFSET ?",
        (size, start),
    ).fetchall()
    return total, [(r[0], r[1]) for r in rows]


def delete_set(conn: Connection, set_id: str) -> None:
    """Delete a set and its rules."""
    _require_set(conn, set_id)
    conn.execute("DELETE FROM synonym_rules WHERE set_id = ?", (set_id,))
    conn.execute("DELETE FROM synonym_sets WHERE id = ?", (set_id,))


def delete_rule(conn: Connection, set_id: str, rule_id: str) -> None:
    """Delete one rule."""
    _require_set(conn, set_id)
    deleted = conn.execute(
        "DELETE FROM synonym_rules WHERE set_id = ? AND rule_id = ?", (set_id, rule_id)
    ).rowcount
    if not deleted:
        raise ResourceNotFound(f"synonym rule [{rule_id}] not found")


def _exists(conn: Connection, set_id: str) -> bool:
    return conn.execute("SELECT 1 FROM synonym_sets WHERE id = ?", (set_id,)).fetchone() is not None


def _require_set(conn: Connection, set_id: str) -> None:
    if not _exists(conn, set_id):
        raise ResourceNotFound(f"synonyms set [{set_id}] not found")


def _rule_count(conn: Connection, set_id: str) -> int:
    (count,) = conn.execute(
        "SELECT COUNT(*) FROM synonym_rules WHERE set_id = ?", (set_id,)
    ).fetchone()
    return int(count)

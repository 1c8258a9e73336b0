"""Query rulesets in the catalog: the ``query_rulesets`` table (rules as JSON, in order).

At most `MAX_RULESETS` rulesets; a ruleset whose last rule is deleted is deleted with it
(a ruleset holds at least one rule, as in Elasticsearch).
"""

from __future__ import annotations

import json
from typing import Any

from citadel.node.errors import IllegalArgument, ResourceNotFound
from citadel.node.query_rules.rules import (
    MAX_RULES_PER_RULESET,
    QueryRule,
    from_stored,
    ordered,
)

Connection = Any
MAX_RULESETS = 1_000


def put_ruleset(conn: Connection, ruleset_id: str, rules: list[QueryRule]) -> bool:
    """Create or replace a ruleset; True when it is new."""
    created = _load(conn, ruleset_id) is None
    if created:
        _check_room(conn)
    _save(conn, ruleset_id, rules)
    return created


def put_rule(conn: Connection, ruleset_id: str, rule: QueryRule) -> bool:
    """Create or replace one rule, creating the ruleset when missing; True when the rule is new."""
    rules = _load(conn, ruleset_id)
    if rules is None:
        _check_room(conn)
        rules = []
    position = next((i for i, r in enumerate(rules) if r.rule_id == rule.rule_id), None)
    if position is None:
        if len(rules) >= MAX_RULES_PER_RULESET:
            raise IllegalArgument(
                f"query ruleset [{ruleset_id}] already holds {MAX_RULES_PER_RULESET} rules, "
                "the most a ruleset holds"
            )
        rules.append(rule)
    else:
        rules[position] = rule
    _save(conn, ruleset_id, ordered(rules))
    return position is None


def ruleset(conn: Connection, ruleset_id: str) -> list[QueryRule]:
    """A ruleset's rules; 404 when it is not there."""
    rules = _load(conn, ruleset_id)
    if rules is None:
        raise ResourceNotFound(f"Query ruleset [{ruleset_id}] not found")
    return rules


def rule(conn: Connection, ruleset_id: str, rule_id: str) -> QueryRule:
    """One rule; 404 when the ruleset or the rule is not there."""
    for found in ruleset(conn, ruleset_id):
        if found.rule_id == rule_id:
            return found
    raise ResourceNotFound(f"rule id [{rule_id}] not found in ruleset [{ruleset_id}]")


def rulesets(
    conn: Connection, start: int, size: int
) -> tuple[int, list[tuple[str, list[QueryRule]]]]:
    """The number of rulesets and one page of (id, rules), by id."""
    (total,) = conn.execute("SELECT COUNT(*) FROM query_rulesets").fetchone()
    rows = conn.execute(
        "SELECT id, rules FROM query_rulesets ORDER BY id LIMIT ? OFFSET ?", (size, start)
    ).fetchall()
    return total, [(row[0], from_stored(json.loads(row[1]))) for row in rows]


def delete_ruleset(conn: Connection, ruleset_id: str) -> None:
    """Delete a ruleset."""
    if not conn.execute("DELETE FROM query_rulesets WHERE id = ?", (ruleset_id,)).rowcount:
        raise ResourceNotFound(f"Query ruleset [{ruleset_id}] not found")


def delete_rule(conn: Connection, ruleset_id: str, rule_id: str) -> None:
    """Delete one rule (and the ruleset with its last rule)."""
    rules = ruleset(conn, ruleset_id)
    kept = [r for r in rules if r.rule_id != rule_id]
    if len(kept) == len(rules):
        raise ResourceNotFound(f"rule id [{rule_id}] not found in ruleset [{ruleset_id}]")
    if kept:
        _save(conn, ruleset_id, kept)
    else:
        delete_ruleset(conn, ruleset_id)


def _load(conn: Connection, ruleset_id: str) -> list[QueryRule] | None:
    row = conn.execute("SELECT rules FROM query_rulesets WHERE id = ?", (ruleset_id,)).fetchone()
    return None if row is None else from_stored(json.loads(row[0]))


def _save(conn: Connection, ruleset_id: str, rules: list[QueryRule]) -> None:
    text = json.dumps([r.as_json() for r in rules], separators=(",", ":"))
    conn.execute(
        "INSERT INTO query_rulesets (id, rules) VALUES (?, ?) "
        "ON CONFLICT(id) DO UPDATE SET rules = excluded.rules",
        (ruleset_id, text),
    )


def _check_room(conn: Connection) -> None:
    (count,) = conn.execute("SELECT COUNT(*) FROM query_rulesets").fetchone()
    if count >= MAX_RULESETS:
        raise IllegalArgument(f"this node holds at most {MAX_RULESETS} query rulesets")

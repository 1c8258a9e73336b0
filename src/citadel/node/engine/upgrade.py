"""Bringing a node store written by an earlier release up to the tantivy engine, once.

The FTS5 engine kept documents in the store itself (``docs``, ``doc_values``, ``text_fields``,
``fts_*`` tables) and had no ``layout`` column on ``indices``. At the first start on this
release, `upgrade` adds the column, gives every index its slot layout, writes every document
into the engine with its id, version and sequence number, commits, checks that each index holds
as many documents as its ``docs`` rows, and only then drops the old tables. A failure leaves the
old tables in place (the next start tries again from scratch: the engine's copy is replaced).
"""

from __future__ import annotations

import json
from typing import Any

import structlog

from citadel.node.engine.engine import Engine, build_document
from citadel.node.engine.layout import Layout, assign
from citadel.node.store import indices
from citadel.node.store import mapping as mp
from citadel.node.store.connection import Store

log = structlog.get_logger(__name__)
LEGACY_TABLES = ("doc_values", "text_fields", "docs")


class UpgradeFailed(RuntimeError):
    """The migrated engine does not hold what the old store held."""


def upgrade(store: Store, engine: Engine) -> dict[str, int]:
    """Migrate a legacy store (no-op when there is nothing to do); documents per index."""
    with store.write() as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(indices)")}
        if "layout" not in columns:
            conn.execute("ALTER TABLE indices ADD COLUMN layout TEXT NOT NULL DEFAULT '{}'")
        if not _has_table(conn, "docs"):
            return {}
        for row in conn.execute("SELECT id, mappings, layout FROM indices").fetchall():
            layout = Layout.from_json(json.loads(row["layout"] or "{}"))
            if not layout.slots:
                layout = assign(Layout(), json.loads(row["mappings"])).layout
                conn.execute(
                    "UPDATE indices SET layout = ? WHERE id = ?",
                    (json.dumps(layout.to_json()), row["id"]),
                )
    counts: dict[str, int] = {}
    with store.read() as conn:
        row = conn.execute("SELECT value FROM meta WHERE key = 'seq_no'").fetchone()
        last_seq_no = int(row[0]) if row else -1  # the old node-wide counter
        records = [indices.load(conn, name) for name in indices.all_names(conn)]
        for record in records:
            assert record is not None
            engine.drop(record.uuid)  # a half-done earlier attempt starts over
            counts[record.name] = _copy(conn, engine, record, last_seq_no)
    with store.write() as conn:
        for record in records:
            assert record is not None
            held = engine.shard(record).doc_count()
            if held != counts[record.name]:
                raise UpgradeFailed(
                    f"index [{record.name}]: {counts[record.name]} documents in the old store, "
                    f"{held} in the engine"
                )
        fts = [r[0] for r in conn.execute("SELECT fts_table FROM text_fields")]
        for table in fts:
            if table.replace("_", "").isalnum():
                conn.execute(f'DROP TABLE IF EXISTS "{table}"')
        for table in LEGACY_TABLES:
            conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute("DELETE FROM meta WHERE key = 'seq_no'")
    log.info("node.upgraded", indices=len(counts), documents=sum(counts.values()))
    return counts


def _copy(conn: Any, engine: Engine, record: indices.IndexRecord, last_seq_no: int) -> int:
    """Every document of `record` into its shard; its sequence numbers continue after the old
    node-wide counter (deletes took numbers too, and those must not be handed out again)."""
    shard = engine.shard(record)
    shard.max_seq_no = max(shard.max_seq_no, last_seq_no)
    copied = 0
    rows = conn.execute(
        "SELECT doc_id, version, seq_no, source FROM docs WHERE index_id = ? ORDER BY seq_no",
        (record.id,),
    )
    for doc_id, version, seq_no, text in rows:
        source = json.loads(text)
        indexed = mp.index_document(record.mappings, source, doc_id)
        body = text.encode()
        document = build_document(record.table, doc_id, body, indexed, version, seq_no)
        shard.max_seq_no = max(shard.max_seq_no, seq_no)
        shard.index_document(doc_id, body, document, version, seq_no)
        copied += 1
    shard.sync()
    shard.refresh()
    shard.write_checkpoint()  # the counter, even for an index with no documents
    return copied


def _has_table(conn: Any, name: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).fetchone()
    return row is not None

"""The node's tables. Text fields get one FTS5 table each, created when first mapped.

Layout::

    meta(key, value)                       cluster uuid, sequence counter
    indices(id, name, uuid, created_at, settings, mappings)
    docs(rowid, index_id, doc_id, version, seq_no, primary_term, source)
    doc_values(index_id, field, doc_rowid, kw, num)
        one row per value of every keyword, numeric, date and boolean field (kw: the keyword
        text or "true"/"false"; num: the number, epoch milliseconds, or 1/0), and one row with
        both NULL per text field, so `exists` works for every field type
    text_fields(index_id, field, fts_table)
    fts_<index id>_<n>(content)            FTS5, rowid = docs.rowid, unicode61 tokenizer
    users(username, password_hash, roles, full_name, email, metadata, enabled)
    roles(name, descriptor)
    api_keys(id, name, secret_hash, username, role_descriptors, limited_by, created_at,
             expires_at, invalidated, metadata)
"""

from __future__ import annotations

DDL = [
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS indices (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        uuid TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        settings TEXT NOT NULL,
        mappings TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS docs (
        rowid INTEGER PRIMARY KEY,
        index_id INTEGER NOT NULL REFERENCES indices(id) ON DELETE CASCADE,
        doc_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        seq_no INTEGER NOT NULL,
        primary_term INTEGER NOT NULL,
        source TEXT NOT NULL,
        UNIQUE (index_id, doc_id)
    )""",
    """CREATE TABLE IF NOT EXISTS doc_values (
        index_id INTEGER NOT NULL,
        field TEXT NOT NULL,
        doc_rowid INTEGER NOT NULL,
        kw TEXT,
        num REAL
    )""",
    "CREATE INDEX IF NOT EXISTS doc_values_kw ON doc_values (index_id, field, kw, doc_rowid)",
    "CREATE INDEX IF NOT EXISTS doc_values_num ON doc_values (index_id, field, num, doc_rowid)",
    "CREATE INDEX IF NOT EXISTS doc_values_doc ON doc_values (doc_rowid)",
    """CREATE TABLE IF NOT EXISTS text_fields (
        index_id INTEGER NOT NULL,
        field TEXT NOT NULL,
        fts_table TEXT NOT NULL,
        PRIMARY KEY (index_id, field)
    )""",
    """CREATE TABLE IF NOT EXISTS users (
        username TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        roles TEXT NOT NULL,
        full_name TEXT,
        email TEXT,
        metadata TEXT NOT NULL DEFAULT '{}',
        enabled INTEGER NOT NULL DEFAULT 1
    )""",
    "CREATE TABLE IF NOT EXISTS roles (name TEXT PRIMARY KEY, descriptor TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS api_keys (
        id TEXT PRIMARY KEY,
        name TEXT,
        secret_hash BLOB NOT NULL,
        username TEXT NOT NULL,
        role_descriptors TEXT NOT NULL,
        limited_by TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER,
        invalidated INTEGER NOT NULL DEFAULT 0,
        metadata TEXT NOT NULL DEFAULT '{}'
    )""",
]

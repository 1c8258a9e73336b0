"""The node's catalog and security tables (SQLite). Documents live in the engine's shards.

Layout::

    meta(key, value)                       cluster uuid
    indices(id, name, uuid, created_at, settings, mappings, layout)
        layout: which tantivy slot holds each mapped field (citadel.node.engine.layout)
    users(username, password_hash, roles, full_name, email, metadata, enabled)
    roles(name, descriptor)
    api_keys(id, name, secret_hash, username, role_descriptors, limited_by, created_at,
             expires_at, invalidated, metadata)
    ingest_pipelines(id, definition, version)   definition: the pipeline's JSON as stored
    stored_scripts(id, lang, source, options)   `_scripts`: mustache or painless source as stored
    synonym_sets(id), synonym_rules(set_id, rule_id, synonyms)   `_synonyms`
    snapshot_jobs(seq, job_id, job, request, state, reason, finished_at)   snapshots' jobs
    snapshot_catalog(id, body)   the repository's snapshots as the allocator last pushed them
    slm_policies(id, policy, version, modified_at, history)   `_slm/policy`

A store written by the FTS5 engine (release before the tantivy engine) also has ``docs``,
``doc_values``, ``text_fields`` and ``fts_*`` tables; `citadel.node.engine.upgrade` moves their
documents into the engine once and drops them.
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
        mappings TEXT NOT NULL,
        layout TEXT NOT NULL DEFAULT '{}'
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
    """CREATE TABLE IF NOT EXISTS ingest_pipelines (
        id TEXT PRIMARY KEY,
        definition TEXT NOT NULL,
        version INTEGER
    )""",
    # stored scripts (`_scripts`): search templates (mustache) and painless sources kept as sent
    """CREATE TABLE IF NOT EXISTS stored_scripts (
        id TEXT PRIMARY KEY,
        lang TEXT NOT NULL,
        source TEXT NOT NULL,
        options TEXT NOT NULL DEFAULT '{}'
    )""",
    # synonym sets (`_synonyms`) and their rules
    "CREATE TABLE IF NOT EXISTS synonym_sets (id TEXT PRIMARY KEY)",
    """CREATE TABLE IF NOT EXISTS synonym_rules (
        set_id TEXT NOT NULL REFERENCES synonym_sets(id) ON DELETE CASCADE,
        rule_id TEXT NOT NULL,
        synonyms TEXT NOT NULL,
        PRIMARY KEY (set_id, rule_id)
    )""",
    # query rulesets (`_query_rules`): each ruleset's rules as JSON, in priority order
    "CREATE TABLE IF NOT EXISTS query_rulesets (id TEXT PRIMARY KEY, rules TEXT NOT NULL)",
    # search applications and behavioral analytics collections (`_application`)
    """CREATE TABLE IF NOT EXISTS search_applications (
        name TEXT PRIMARY KEY,
        definition TEXT NOT NULL,
        updated_at_millis INTEGER NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS analytics_collections (
        name TEXT PRIMARY KEY,
        created_at_millis INTEGER NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS analytics_events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        collection TEXT NOT NULL REFERENCES analytics_collections(name) ON DELETE CASCADE,
        event TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS analytics_events_by_collection "
    "ON analytics_events (collection, seq)",
    # Logstash central management pipelines (`_logstash/pipeline`): each document as sent
    "CREATE TABLE IF NOT EXISTS logstash_pipelines (id TEXT PRIMARY KEY, document TEXT NOT NULL)",
    # enrich policies (`_enrich/policy`) and the enrich index their last execution built
    """CREATE TABLE IF NOT EXISTS enrich_policies (
        name TEXT PRIMARY KEY,
        definition TEXT NOT NULL,
        enrich_index TEXT
    )""",
    # connectors and their sync jobs (`_connector`): documents kept for the connector service
    """CREATE TABLE IF NOT EXISTS connectors (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        document TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS connector_sync_jobs (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        connector_id TEXT NOT NULL,
        document TEXT NOT NULL
    )""",
    # snapshots (`citadel.node.snapshots`): the jobs the allocator runs, oldest first (`job`:
    # the contract's SnapshotJob; `request`: what the node keeps to finish it), the catalog the
    # allocator last pushed, and the SLM policies with their history
    """CREATE TABLE IF NOT EXISTS snapshot_jobs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id TEXT NOT NULL UNIQUE,
        job TEXT NOT NULL,
        request TEXT NOT NULL DEFAULT '{}',
        state TEXT NOT NULL DEFAULT 'pending',
        reason TEXT,
        finished_at REAL
    )""",
    "CREATE TABLE IF NOT EXISTS snapshot_catalog (id INTEGER PRIMARY KEY, body TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS slm_policies (
        id TEXT PRIMARY KEY,
        policy TEXT NOT NULL,
        version INTEGER NOT NULL,
        modified_at INTEGER NOT NULL,
        history TEXT NOT NULL DEFAULT '{}'
    )""",
]

"""The security realm's tables beyond users, roles and API keys (created at the realm's start).

Layout::

    application_privileges(application, name, actions, metadata)   actions: JSON array
    role_mappings(name, body)                                       body: the normalized mapping
    security_index_settings(index_name, settings)                   settings: JSON object

They live in the catalog file next to the tables of `citadel.node.store.schema`, created with
``IF NOT EXISTS`` so a node written before them gains them at its next start.
"""

from __future__ import annotations

from citadel.node.store.connection import Store

DDL = [
    """CREATE TABLE IF NOT EXISTS application_privileges (
        application TEXT NOT NULL,
        name TEXT NOT NULL,
        actions TEXT NOT NULL,
        metadata TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (application, name)
    )""",
    "CREATE TABLE IF NOT EXISTS role_mappings (name TEXT PRIMARY KEY, body TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS security_index_settings (
        index_name TEXT PRIMARY KEY,
        settings TEXT NOT NULL
    )""",
]


def ensure_tables(store: Store) -> None:
    """Create the tables this module describes, if missing."""
    with store.write() as conn:
        for statement in DDL:
            conn.execute(statement)

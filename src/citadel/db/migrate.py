"""Running the Alembic migrations against an engine (no alembic.ini needed at run time)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

_HERE = Path(__file__).parent / "migrations"


def _config(connection: sa.Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE))
    cfg.attributes["connection"] = connection
    return cfg


_MIGRATION_LOCK = 0x43495441  # "CITA": the advisory lock replicas migrate under


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Bring the schema up to `revision`. On PostgreSQL under an advisory lock held until the
    transaction ends: control-plane replicas starting together migrate one after the other
    (the later finds the schema current; PostgreSQL's DDL is transactional)."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        command.upgrade(_config(conn), revision)


def downgrade(engine: sa.Engine, revision: str) -> None:
    """Take the schema down to `revision` (``base`` removes every table)."""
    with engine.begin() as conn:
        command.downgrade(_config(conn), revision)


def current(engine: sa.Engine) -> str | None:
    """The revision the database is at."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()

"""Alembic environment: runs on the connection handed in by `citadel.db.migrate`."""

from __future__ import annotations

from alembic import context

from citadel.db.base import Base
from citadel.models import ALL_TABLES  # noqa: F401  (registers every table)

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()

"""Migrations run up and down on the real backend."""

import sqlalchemy as sa

from citadel.db.migrate import current, downgrade, upgrade


def test_migrations_go_down_to_nothing_and_back_up(services):
    engine = services.db.engine
    assert current(engine) == "0015"
    downgrade(engine, "base")
    tables = set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    assert tables == set()
    upgrade(engine)
    assert current(engine) == "0015"
    assert {"organizations", "api_keys", "audit_events"} <= set(
        sa.inspect(engine).get_table_names()
    )


def test_the_schema_matches_the_models_after_upgrade(services):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from citadel.db.base import Base

    with services.db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []

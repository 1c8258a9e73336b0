"""Shared fixtures: a real database (SQLCipher or PostgreSQL), the services, the app.

``CITADEL_TEST_DATABASE=postgresql`` with ``CITADEL_TEST_POSTGRES_URL`` (a server URL such
as ``postgresql+psycopg://postgres@127.0.0.1:55432/postgres``) runs the database on PostgreSQL;
otherwise on SQLCipher. Each xdist worker migrates one database once; each test then starts
from empty tables (PostgreSQL: TRUNCATE) or from a copy of the migrated file (SQLCipher).

Every test whose fixtures reach the control-plane database (anything built on
``postgres_url``: ``template_data_dir``, ``data_dir``, ``services``, ``client``...) is marked
``db`` at collection, so the second backend runs only those (``pytest -m db``); the others do
not depend on the backend and run once. Hypothesis uses the ``ci`` profile (fewer examples)
when ``CI=true``, or the profile ``HYPOTHESIS_PROFILE`` names.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from argon2 import profiles
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings

from citadel.app import create_app
from citadel.bootstrap import Services, build
from citadel.config import Settings
from citadel.crypto.passwords import use_profile
from citadel.db.base import Base
from citadel.db.migrate import upgrade
from citadel.kit.clock import SettableClock
from citadel.models import ALL_TABLES
from tests.fixtures.key_servers import LOOPBACK

BACKEND = os.environ.get("CITADEL_TEST_DATABASE", "sqlite")

# Cheap argon2 parameters in-process (real argon2id, a fraction of the memory and passes).
use_profile(profiles.CHEAPEST)

# Property tests take their example counts from here, not from their decorators. No deadline:
# a loaded machine must not turn a slow example into a failure.
hypothesis_settings.register_profile("default", max_examples=300, deadline=None)
hypothesis_settings.register_profile("ci", max_examples=50, deadline=None)
hypothesis_settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE")
    or ("ci" if os.environ.get("CI", "").lower() == "true" else "default")
)

# The fixture every database fixture is built on; a test whose closure holds it is a db test.
DATABASE_FIXTURE = "postgres_url"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `db` every test whose fixture closure reaches the control-plane database."""
    for item in items:
        if DATABASE_FIXTURE in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def postgres_url() -> str | None:
    """A migrated PostgreSQL database of this worker's own, or None on SQLCipher."""
    if BACKEND != "postgresql":
        return None
    server = os.environ["CITADEL_TEST_POSTGRES_URL"]
    prefix = os.environ.get("CITADEL_TEST_DB_PREFIX", "citadel_test")
    name = f"{prefix}_{_worker()}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    url = server.rsplit("/", 1)[0] + "/" + name
    engine = sa.create_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def template_data_dir(tmp_path_factory: pytest.TempPathFactory, postgres_url: str | None) -> Path:
    """A data directory with keys (and, on SQLCipher, a migrated database) to copy per test."""
    path = tmp_path_factory.mktemp("template") / "data"
    services = build(_settings(path, postgres_url))
    if postgres_url is None:
        upgrade(services.db.engine)
    services.close()
    return path


def _settings(data_dir: Path, postgres_url: str | None) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=postgres_url,
        regions=["local", "elsewhere"],
        key_manager_allowed_endpoints=LOOPBACK,  # the test key servers run on loopback
        _env_file=None,
    )


@pytest.fixture
def data_dir(tmp_path: Path, template_data_dir: Path) -> Path:
    path = tmp_path / "data"
    shutil.copytree(template_data_dir, path)
    return path


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock()


@pytest.fixture
def services(data_dir: Path, postgres_url: str | None, clock: SettableClock) -> Iterator[Services]:
    """The real services over a fresh, migrated, empty database."""
    built = build(_settings(data_dir, postgres_url), clock=clock)
    if postgres_url is not None:
        names = ", ".join(f'"{t.__tablename__}"' for t in ALL_TABLES)
        with built.db.engine.begin() as conn:
            conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    assert {t.name for t in Base.metadata.sorted_tables} >= {t.__tablename__ for t in ALL_TABLES}
    yield built
    built.close()


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    """The real application in process, over https:// so Secure cookies behave."""
    with TestClient(create_app(services), base_url="https://testserver") as c:
        yield c

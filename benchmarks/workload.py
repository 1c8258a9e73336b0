"""The workload both benchmarks measure: one organization with 100 members and an API key.

Everything is created through the real services (as `tests/fixtures/builders.py` does), on
SQLCipher in a data directory or on a fresh PostgreSQL database created for the run and
dropped afterwards, so the figures never depend on leftovers of an earlier run.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from citadel.api_keys.service import issue
from citadel.authz.assignments import Assignment
from citadel.authz.decide import Grant
from citadel.authz.roles import OWNER, RoleId
from citadel.bootstrap import Services, build
from citadel.config import load_settings
from citadel.db.migrate import upgrade
from citadel.orgs.models import Membership, RoleAssignment
from citadel.orgs.service import found_organization
from citadel.users.service import create_user

MEMBERS = 100
PASSWORD = "benchmark password, never used to sign in"


def open_services(data_dir: Path, database_url: str | None) -> Services:
    """Real Services on `data_dir` (SQLCipher) or on `database_url` (PostgreSQL), migrated."""
    services = build(load_settings(data_dir=data_dir, database_url=database_url))
    upgrade(services.db.engine)
    return services


def backend_name(database_url: str | None) -> str:
    """``sqlite`` (SQLCipher, the embedded default) or ``postgresql``."""
    return "postgresql" if database_url else "sqlite"


def database_version(services: Services) -> str:
    """What the database engine says it is, for the record of the run."""
    with services.db.read() as session:
        if services.db.is_sqlite:
            cipher = session.scalar(sa.text("PRAGMA cipher_version"))
            sqlite = session.scalar(sa.text("SELECT sqlite_version()"))
            return f"SQLCipher {cipher} (SQLite {sqlite})"
        return f"PostgreSQL {session.scalar(sa.text('SHOW server_version'))}"


@contextmanager
def fresh_postgres_database(server_url: str) -> Iterator[str]:
    """A new empty database on the server of `server_url`; dropped when the block ends."""
    name = f"citadel_bench_{secrets.token_hex(4)}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


def create_owner_and_organization(services: Services) -> str:
    """A new organization with one Organization owner; returns the organization id."""
    with services.db.write() as session:
        owner = _new_user(services, session, "owner")
        ctx = services.context(session, services.system_caller())
        return found_organization(ctx, name="Benchmark", owner_user_id=owner).id


def add_members(services: Services, organization_id: str, count: int) -> None:
    """Add `count` members, each a Deployment viewer on all deployments."""
    with services.db.write() as session:
        now = services.clock.now()
        for _ in range(count):
            user_id = _new_user(services, session, "member")
            session.add(
                Membership(organization_id=organization_id, user_id=user_id, member_since=now)
            )
            session.add(
                RoleAssignment(
                    organization_id=organization_id,
                    user_id=user_id,
                    role_id=str(RoleId.DEPLOYMENT_VIEWER),
                    all_resources=True,
                    resource_ids=[],
                    application_roles=[],
                    created_at=now,
                )
            )


def member_count(services: Services, organization_id: str) -> int:
    """How many members the organization has."""
    with services.db.read() as session:
        stmt = sa.select(sa.func.count()).where(Membership.organization_id == organization_id)
        return session.scalar(stmt) or 0


def issue_owner_key(services: Services, organization_id: str) -> str:
    """The text of a new Organization owner key, as `citadel admin create-api-key` makes it."""
    with services.db.write() as session:
        ctx = services.context(session, services.system_caller())
        issued = issue(
            ctx,
            organization_id,
            description="benchmark key",
            expiration="1d",
            granted=[Assignment(Grant(organization_id, OWNER, all=True))],
            created_by=None,
        )
        return issued.text


def build_organization(services: Services) -> tuple[str, str]:
    """An organization with `MEMBERS` members and an owner key: (organization id, key text)."""
    organization_id = create_owner_and_organization(services)
    add_members(services, organization_id, MEMBERS - 1)
    return organization_id, issue_owner_key(services, organization_id)


def _new_user(services: Services, session: sa.orm.Session, kind: str) -> str:
    email = f"{kind}-{secrets.token_hex(6)}@bench.example.com"
    user = create_user(
        session, email=email, password=PASSWORD, name=None, now=services.clock.now(), field="p"
    )
    return user.id

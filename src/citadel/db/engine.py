"""Engines: SQLCipher (the embedded default) or PostgreSQL, and the unit of work.

SQLite allows one writer at a time. Write transactions therefore start with
``BEGIN IMMEDIATE`` so that two writers queue on the busy timeout instead of failing when one
upgrades a read lock; read transactions use a plain ``BEGIN`` and run concurrently under WAL.
On PostgreSQL invariants that span rows (the last Organization owner) lock the organization
row with ``SELECT ... FOR UPDATE``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
import sqlcipher3.dbapi2 as sqlcipher
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from citadel.errors import CitadelError

_WRITE = "citadel_write"


def sqlcipher_engine(path: Path, key: bytes) -> sa.Engine:
    """An engine over an encrypted SQLite file, keyed with a raw 256-bit key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        f"sqlite:///{path}",
        module=sqlcipher,
        pool_size=16,
        max_overflow=16,
        connect_args={"check_same_thread": False, "timeout": 30},
    )
    key_hex = key.hex()

    @event.listens_for(engine, "connect")
    def _unlock(dbapi_conn: Any, _record: object) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA key = \"x'{key_hex}'\"")
        cur.execute("PRAGMA cipher_log_level = NONE")
        cur.execute("SELECT count(*) FROM sqlite_master")  # a wrong key fails here, not later
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = FULL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA busy_timeout = 30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        write = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def server_engine(url: str) -> sa.Engine:
    """An engine over a database server (PostgreSQL)."""
    return sa.create_engine(url, pool_size=16, max_overflow=16, pool_pre_ping=True)


def rows_changed(session: Session, statement: sa.Update | sa.Delete) -> int:
    """Run an UPDATE or DELETE in `session`; how many rows it changed."""
    # A DML statement always yields a CursorResult; Session.execute is typed for any statement.
    return cast("sa.CursorResult[Any]", session.execute(statement)).rowcount


def _unit_of_work(session: Session) -> Iterator[Session]:
    try:
        yield session
    except CitadelError as exc:
        if exc.keeps_writes:
            session.commit()
        else:
            session.rollback()
        raise
    except BaseException:
        session.rollback()
        raise
    else:
        session.commit()


class Database:
    """Opens read and write units of work; the edge commits, services only flush."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._reader = sessionmaker(engine, expire_on_commit=False)
        self._writer = sessionmaker(
            engine.execution_options(**{_WRITE: True}), expire_on_commit=False
        )

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that commits when the block ends without an exception."""
        with self._writer() as session:
            yield from _unit_of_work(session)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A transaction for reading; it may still write (it commits like `write`)."""
        with self._reader() as session:
            yield from _unit_of_work(session)

    def dispose(self) -> None:
        self.engine.dispose()

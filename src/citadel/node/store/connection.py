"""Opening the encrypted store: the key check, per-thread connections, transactions.

The data key arrives once, at start, from the process that launched the node. The store
checks it on a read-only connection before anything else, so a wrong key changes no file.
Writes are serialized by one lock and begin with ``BEGIN IMMEDIATE``; ``synchronous=FULL``
makes every acknowledged write durable (it survives ``kill -9`` and power loss).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlcipher3.dbapi2 as sqlcipher

from citadel.node.store.schema import DDL

DB_FILE = "node.db"


class WrongKey(Exception):
    """The data key does not open this node's data."""


class Store:
    """The node's database; connections are per thread, writes are serialized."""

    def __init__(self, path: Path, key: bytes, *, encrypted: bool = True) -> None:
        self.path = path
        self._key_hex = key.hex()
        self._encrypted = encrypted
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._all: list[sqlcipher.Connection] = []
        self._all_lock = threading.Lock()

    @classmethod
    def open(cls, data_dir: Path, key: bytes, *, encrypted: bool = True) -> Store:
        """Open (or create) the store in `data_dir`; raises `WrongKey` before writing anything."""
        if len(key) != 32:
            raise WrongKey("the data key must be 256 bits")
        data_dir.mkdir(parents=True, exist_ok=True)
        store = cls(data_dir / DB_FILE, key, encrypted=encrypted)
        if store.path.exists():
            store._check_key()
        with store.write() as conn:
            for statement in DDL:
                conn.execute(statement)
        return store

    def _check_key(self) -> None:
        conn = sqlcipher.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
        try:
            self._key(conn)
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlcipher.DatabaseError:
            raise WrongKey(f"the data key does not open {self.path}") from None
        finally:
            conn.close()

    def _key(self, conn: sqlcipher.Connection) -> None:
        if self._encrypted:
            conn.execute(f"PRAGMA key = \"x'{self._key_hex}'\"")
            conn.execute("PRAGMA cipher_log_level = NONE")

    def _connection(self) -> sqlcipher.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlcipher.connect(str(self.path), check_same_thread=False, timeout=30)
            conn.isolation_level = None
            self._key(conn)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("PRAGMA cache_size = -65536")
            conn.row_factory = sqlcipher.Row
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def read(self) -> Iterator[sqlcipher.Connection]:
        """A consistent snapshot for reading."""
        conn = self._connection()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    @contextmanager
    def write(self) -> Iterator[sqlcipher.Connection]:
        """One durable write transaction; committed when the block ends without an error."""
        conn = self._connection()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")

    def close(self) -> None:
        """Close every connection (at shutdown)."""
        with self._all_lock:
            for conn in self._all:
                with contextlib.suppress(sqlcipher.Error):
                    conn.close()
            self._all.clear()

"""Opening the node's catalog store: per-thread connections, transactions, the one-time
decryption of a store written by an earlier release.

The node holds no key: its data directory is the deployment's encrypted volume (ADR 16), so
the catalog is a plain SQLite file inside it. A store written by the release before the
volumes is SQLCipher-encrypted; the allocator then hands the old data key on
``--legacy-key-fd`` once, the store is exported to a plain file next to it, fsync'd and renamed
over the old one (a crash before the rename leaves the old file intact), and the key is dropped.
Writes are serialized by one lock and begin with ``BEGIN IMMEDIATE``; ``synchronous=FULL``
makes every acknowledged write durable (it survives ``kill -9`` and power loss).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlcipher3.dbapi2 as sqlcipher

from citadel.kit.logging import get_logger
from citadel.node.store.schema import DDL

log = get_logger(__name__)

DB_FILE = "node.db"


SQLITE_HEADER = b"SQLite format 3\x00"


class WrongKey(Exception):
    """The legacy data key does not open this node's store (or none was given for one)."""


def is_legacy_encrypted(path: Path) -> bool:
    """Whether `path` is a store encrypted by an earlier release (not a plain SQLite file)."""
    if not path.exists() or path.stat().st_size == 0:
        return False
    with open(path, "rb") as f:
        return f.read(len(SQLITE_HEADER)) != SQLITE_HEADER


class Store:
    """The node's database; connections are per thread, writes are serialized."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._all: list[sqlcipher.Connection] = []
        self._all_lock = threading.Lock()

    @classmethod
    def open(cls, data_dir: Path, legacy_key: bytes | None = None) -> Store:
        """Open (or create) the store in `data_dir`, decrypting a legacy store first.

        Raises `WrongKey` (before changing any file) for a legacy store without its key or
        with another key.
        """
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / DB_FILE
        if is_legacy_encrypted(path):
            if legacy_key is None:
                raise WrongKey(
                    f"{path} is encrypted by an earlier release: start once with its data key "
                    "on --legacy-key-fd"
                )
            decrypt_legacy(path, legacy_key)
        store = cls(path)
        store._connection().execute("PRAGMA journal_mode = WAL")  # kept in the file from now on
        with store.write() as conn:
            for statement in DDL:
                conn.execute(statement)
        return store

    def _connection(self) -> sqlcipher.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # One thread at a time opens its connection and maps the WAL index. On the
            # encrypted volume (FUSE), a thread's new connection in a node's first second
            # has, rarely and only on a loaded machine, failed its first statement with
            # SQLITE_IOERR while the store's first connection worked (root cause not found;
            # docs/node.md, "How it stores"): such a connection is closed and opened again.
            with self._all_lock:
                conn = _open_retrying(self.path)
                self._local.conn = conn
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


OPEN_DELAYS_S = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)
"""How long to wait before each new try of a connection whose first statements failed with
an I/O error (3.15 s in all); then the error is raised."""


def _open_retrying(path: Path) -> sqlcipher.Connection:
    for delay in (*OPEN_DELAYS_S, None):
        conn = sqlcipher.connect(str(path), check_same_thread=False, timeout=30)
        try:
            _configure(conn)
        except sqlcipher.OperationalError as exc:
            conn.close()
            if delay is None or "disk I/O error" not in str(exc):
                raise
            log.warning("node.store_open_retried", error=str(exc), delay_s=delay)
            time.sleep(delay)
        else:
            return conn
    raise AssertionError("unreachable")  # the last try returns or raises


def _configure(conn: sqlcipher.Connection) -> None:
    conn.isolation_level = None
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA cache_size = -65536")
    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # reads the schema and WAL
    conn.row_factory = sqlcipher.Row


def decrypt_legacy(path: Path, key: bytes) -> None:
    """Replace the SQLCipher store at `path` by a plain copy (checked with `key` first)."""
    if len(key) != 32:
        raise WrongKey("the data key must be 256 bits")
    plain = path.with_name(path.name + ".plain")
    plain.unlink(missing_ok=True)
    conn = sqlcipher.connect(str(path), check_same_thread=False)
    try:
        conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
        conn.execute("PRAGMA cipher_log_level = NONE")
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlcipher.DatabaseError:
            raise WrongKey(f"the data key does not open {path}") from None
        conn.execute(f"ATTACH DATABASE '{plain}' AS plain KEY ''")
        conn.execute("SELECT sqlcipher_export('plain')")
        conn.execute("DETACH DATABASE plain")
    finally:
        conn.close()
    with open(plain, "rb+") as f:
        os.fsync(f.fileno())
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    plain.replace(path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

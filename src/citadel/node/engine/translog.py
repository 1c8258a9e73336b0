"""The write-ahead translog of one index: every acknowledged write, until a commit holds it.

Files ``translog-<generation>.tlog`` in the index's ``translog/`` directory. Each record::

    length (u32 LE) | crc32 of the payload (u32 LE) | payload
    payload = op (1 byte: b"i" index, b"d" delete) | version (i64) | seq_no (i64)
              | id length (u16) | id (UTF-8) | source (the JSON source, index ops only)

A write is appended to an in-memory buffer; `sync` writes the buffer in one system call and
fsyncs it (one write and one fsync for a whole bulk request: through the encrypted volume's
FUSE mount every system call is a round trip), and the node answers only after it.
Replaying every retained record in order is idempotent (an index op replaces the document with
that id, a delete removes it), so a crash between a commit and `trim` only replays what the
commit already holds.
A torn record at the tail (a crash mid-append, never acknowledged) ends the replay.
"""

from __future__ import annotations

import os
import struct
import threading
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

_HEAD = struct.Struct("<II")
_FIXED = struct.Struct("<cqqH")
INDEX = b"i"
DELETE = b"d"


@dataclass(frozen=True, slots=True)
class Op:
    """One logged write."""

    kind: bytes
    doc_id: str
    version: int
    seq_no: int
    source: bytes = b""

    def encode(self) -> bytes:
        ident = self.doc_id.encode()
        payload = (
            _FIXED.pack(self.kind, self.version, self.seq_no, len(ident)) + ident + self.source
        )
        return _HEAD.pack(len(payload), zlib.crc32(payload)) + payload


def decode(payload: bytes) -> Op:
    """The op of one record's payload."""
    kind, version, seq_no, size = _FIXED.unpack_from(payload)
    start = _FIXED.size
    ident = payload[start : start + size].decode()
    return Op(kind, ident, version, seq_no, payload[start + size :])


class Translog:
    """Append, sync, roll and trim the log files of one index."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        generations = self.generations()
        self.generation = (generations[-1] + 1) if generations else 1
        self._lock = threading.Lock()
        self._file = open(self._path(self.generation), "ab", buffering=0)  # noqa: SIM115
        self._pending: list[bytes] = []
        self.appended = 0
        """Operations appended since this process opened the translog (a metrics counter)."""
        _fsync_directory(directory)

    def generations(self) -> list[int]:
        """The generation numbers on disk, oldest first."""
        out = []
        for path in self.directory.glob("translog-*.tlog"):
            try:
                out.append(int(path.stem.split("-", 1)[1]))
            except ValueError:
                continue
        return sorted(out)

    def _path(self, generation: int) -> Path:
        return self.directory / f"translog-{generation}.tlog"

    def replay(self) -> Iterator[Op]:
        """Every intact record of the generations before this process's, in order."""
        for generation in self.generations():
            if generation >= self.generation:
                continue
            yield from _read(self._path(generation))

    def append(self, ops: Sequence[Op]) -> None:
        """Add `ops` to the current generation (durable after `sync`)."""
        data = b"".join(op.encode() for op in ops)
        with self._lock:
            self._pending.append(data)
            self.appended += len(ops)

    def sync(self) -> None:
        """Write every appended record and make it durable."""
        with self._lock:
            self._flush_pending()

    def _flush_pending(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        view = memoryview(data)
        while view:
            written = self._file.write(view)
            view = view[written:]
        os.fsync(self._file.fileno())

    def roll(self) -> int:
        """Start a new generation; returns the last one closed (everything up to it may be
        trimmed once a commit holds it)."""
        with self._lock:
            self._flush_pending()
            self._file.close()
            closed = self.generation
            self.generation += 1
            self._file = open(self._path(self.generation), "ab", buffering=0)  # noqa: SIM115
            _fsync_directory(self.directory)
            return closed

    def trim(self, upto: int) -> None:
        """Remove generations up to and including `upto` (a commit holds their writes)."""
        for generation in self.generations():
            if generation <= upto:
                self._path(generation).unlink(missing_ok=True)
        _fsync_directory(self.directory)

    def size_bytes(self) -> int:
        return sum(self._path(g).stat().st_size for g in self.generations())

    def close(self) -> None:
        with self._lock:
            self._flush_pending()
            self._file.close()


def _read(path: Path) -> Iterator[Op]:
    data = path.read_bytes()
    at = 0
    while at + _HEAD.size <= len(data):
        length, crc = _HEAD.unpack_from(data, at)
        start = at + _HEAD.size
        payload = data[start : start + length]
        if len(payload) < length or zlib.crc32(payload) != crc:
            return  # a torn tail: never acknowledged
        yield decode(payload)
        at = start + length


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""One Elasticsearch index on disk: a tantivy index, its translog and its live version map.

Writes go to the tantivy writer and the translog (`sync` makes them durable before the node
answers); they become searchable at the next `refresh`, which commits the tantivy index,
reopens the searcher and trims the translog the commit now holds. A `GET` by id is real-time:
the live version map holds every write since the last refresh (and deletes, as tombstones, for
``index.gc_deletes``: 60 s) so versions continue across a delete as in Elasticsearch.

Directory layout: ``index/`` (tantivy), ``translog/``, ``checkpoint.json`` (the highest sequence
number a commit holds, written after each commit).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import tantivy

from citadel.node.engine import analysis
from citadel.node.engine import fields as f
from citadel.node.engine.layout import Layout
from citadel.node.engine.stored import stored_source_bytes
from citadel.node.engine.translog import DELETE, INDEX, Op, Translog

WRITER_HEAP_BYTES = 64 * 1024 * 1024
GC_DELETES_S = 60.0

Rebuild = Callable[[Op], tantivy.Document]
"""Turns a logged index op back into its tantivy document (mappings applied)."""


@dataclass(slots=True)
class Live:
    """A write since the last refresh; `source` None is a delete (a tombstone)."""

    version: int
    seq_no: int
    source: bytes | None
    at: float


@dataclass(frozen=True, slots=True)
class Current:
    """The latest revision of a document id; `source` None: deleted (versions continue)."""

    version: int
    seq_no: int
    source: bytes | None

    @property
    def exists(self) -> bool:
        return self.source is not None


@dataclass(slots=True)
class Flushes:
    """Commits of a shard since it opened: all (``total``), those no ``_flush`` asked for
    (``periodic``: a refresh commits here), and the time they took."""

    total: int = 0
    periodic: int = 0
    time_ns: int = 0


class Shard:
    """The engine of one index. Writes are serialized by the caller's write transaction;
    refresh and close take the shard's lock."""

    def __init__(self, directory: Path, layout: Layout, rebuild: Rebuild) -> None:
        self.directory = directory
        (directory / "index").mkdir(parents=True, exist_ok=True)
        self.layout = layout
        self.schema = analysis.build_schema(layout)
        self.index = tantivy.Index(self.schema, path=str(directory / "index"), reuse=True)
        analysis.register(self.index)
        self.writer = self.index.writer(WRITER_HEAP_BYTES, 1)
        self.translog = Translog(directory / "translog")
        self.lock = threading.RLock()
        self.live: dict[str, Live] = {}
        self.max_seq_no = self._checkpoint()
        self.dirty = False
        self.refreshes = 0
        self.refresh_ns = 0
        self.flushes = Flushes()
        self.opened_at_ms = int(time.time() * 1000)
        self.replayed_ops = 0
        self._replay(rebuild)
        self.opened_ms = int(time.time() * 1000) - self.opened_at_ms
        self.index.reload()
        self._searcher = self.index.searcher()

    # -- opening -----------------------------------------------------------------------------

    def _checkpoint(self) -> int:
        path = self.directory / "checkpoint.json"
        if not path.exists():
            return -1
        return int(json.loads(path.read_text())["max_seq_no"])

    def write_checkpoint(self) -> None:
        path = self.directory / "checkpoint.json"
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w") as out:
            out.write(json.dumps({"max_seq_no": self.max_seq_no}))
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(path)

    def _replay(self, rebuild: Rebuild) -> None:
        replayed = False
        for op in self.translog.replay():
            self.writer.delete_documents_by_term(f.ID_FIELD, op.doc_id)
            if op.kind == INDEX:
                self.writer.add_document(rebuild(op))
            self.max_seq_no = max(self.max_seq_no, op.seq_no)
            self.replayed_ops += 1
            replayed = True
        if replayed:
            self.writer.commit()
            self.write_checkpoint()
        self.translog.trim(self.translog.generation - 1)

    # -- writes ------------------------------------------------------------------------------

    def next_seq_no(self) -> int:
        self.max_seq_no += 1
        return self.max_seq_no

    def index_document(
        self, doc_id: str, source: bytes, document: tantivy.Document, version: int, seq_no: int
    ) -> None:
        """Replace (or add) document `doc_id`; durable after `sync`."""
        with self.lock:
            self.translog.append([Op(INDEX, doc_id, version, seq_no, source)])
            self.writer.delete_documents_by_term(f.ID_FIELD, doc_id)
            self.writer.add_document(document)
            self.live[doc_id] = Live(version, seq_no, source, time.monotonic())
            self.dirty = True

    def delete_document(self, doc_id: str, version: int, seq_no: int) -> None:
        """Delete `doc_id`, keeping a tombstone so its version continues."""
        with self.lock:
            self.translog.append([Op(DELETE, doc_id, version, seq_no)])
            self.writer.delete_documents_by_term(f.ID_FIELD, doc_id)
            self.live[doc_id] = Live(version, seq_no, None, time.monotonic())
            self.dirty = True

    def sync(self) -> None:
        """Make every write so far durable (the translog's fsync)."""
        self.translog.sync()

    def refresh(self, *, flush: bool = False) -> bool:
        """Commit and reopen the searcher when there are unrefreshed writes; True if it did.

        A commit is what Elasticsearch calls a flush: counted as periodic unless `flush` (the
        ``_flush`` API, counted by `flush`)."""
        with self.lock:
            if not self.dirty:
                self._gc_tombstones()
                return False
            started = time.monotonic_ns()
            self.writer.commit()
            self.write_checkpoint()
            closed = self.translog.roll()
            self.translog.trim(closed)
            self.index.reload()
            self._searcher = self.index.searcher()
            self.dirty = False
            self.refreshes += 1
            elapsed = time.monotonic_ns() - started
            self.refresh_ns += elapsed
            self.flushes.time_ns += elapsed
            if not flush:
                self.flushes.total += 1
                self.flushes.periodic += 1
            self.live = {k: v for k, v in self.live.items() if v.source is None}
            self._gc_tombstones()
            return True

    def _gc_tombstones(self) -> None:
        cutoff = time.monotonic() - GC_DELETES_S
        stale = [k for k, v in self.live.items() if v.source is None and v.at < cutoff]
        for key in stale:
            del self.live[key]

    def flush(self) -> None:
        """``_flush``: commit what is pending (one flush counted, as Elasticsearch's API)."""
        with self.lock:
            self.refresh(flush=True)
            self.flushes.total += 1

    # -- reads -------------------------------------------------------------------------------

    def searcher(self) -> tantivy.Searcher:
        """The searcher of the last refresh."""
        return self._searcher

    def get(self, doc_id: str) -> Current | None:
        """The latest revision of `doc_id`, real-time; None when never seen (or long deleted)."""
        live = self.live.get(doc_id)
        if live is not None:
            return Current(live.version, live.seq_no, live.source)
        searcher = self._searcher
        hits = searcher.search(tantivy.Query.term_query(self.schema, f.ID_FIELD, doc_id), 1).hits
        if not hits:
            return None
        address = hits[0][1]
        version = searcher.fast_field_values(f.VERSION_FIELD, [address])[0]
        seq_no = searcher.fast_field_values(f.SEQ_NO_FIELD, [address])[0]
        source = stored_source_bytes(searcher.doc(address))
        return Current(int(version or 1), int(seq_no or 0), source)

    def ids_since_refresh(self) -> Iterable[str]:
        return list(self.live)

    def doc_count(self) -> int:
        return int(self._searcher.num_docs)

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.directory.rglob("*") if p.is_file())

    # -- life --------------------------------------------------------------------------------

    def copy_to(self, target: Path) -> None:
        """Commit, then copy the committed tantivy files and checkpoint into a new shard
        directory `target` (an index with this layout opens it; its translog starts empty)."""
        with self.lock:
            self.refresh(flush=True)
            self.writer.wait_merging_threads()  # no merge may change the files mid-copy
            self.writer = self.index.writer(WRITER_HEAP_BYTES, 1)
            (target / "index").mkdir(parents=True, exist_ok=False)
            for path in (self.directory / "index").iterdir():
                if path.is_file() and not path.name.endswith(".lock"):
                    shutil.copy2(path, target / "index" / path.name)
            checkpoint = self.directory / "checkpoint.json"
            if checkpoint.exists():
                shutil.copy2(checkpoint, target / "checkpoint.json")

    def force_merge(self) -> None:
        with self.lock:
            self.refresh()
            self.writer.wait_merging_threads()
            self.writer = self.index.writer(WRITER_HEAP_BYTES, 1)

    def close(self) -> None:
        """Commit what is pending and release the writer."""
        with self.lock:
            self.refresh()
            self.translog.close()
            del self.writer

    def destroy(self) -> None:
        """Close and remove every file of this index."""
        with self.lock:
            self.translog.close()
            del self.writer
            shutil.rmtree(self.directory, ignore_errors=True)

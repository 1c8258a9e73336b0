"""Documents: index, create, get, update, delete, with versions and sequence numbers.

A `WriteSession` is one write transaction's view of the store: it caches the indices it has
touched and hands out sequence numbers from the node-wide counter in ``meta`` (``seq_no``,
the last number handed out), saving the counter once at the end. Every write keeps the
index tables in step with the source: ``doc_values`` rows and the text fields' FTS5 rows
(rowid = ``docs.rowid``; several values of one text field are joined with newlines).
"""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from citadel.kit.clock import Clock
from citadel.node.errors import (
    ActionRequestValidation,
    DocumentMissing,
    EsError,
    IllegalArgument,
    IndexNotFound,
    VersionConflict,
    XContentParseError,
)
from citadel.node.store import indices
from citadel.node.store import mapping as mp
from citadel.node.store import source as src
from citadel.node.store.indices import Connection, IndexRecord

PRIMARY_TERM = 1
MAX_ID_BYTES = 512
SHARDS = {"total": 1, "successful": 1, "failed": 0}
NOOP_SHARDS = {"total": 0, "successful": 0, "failed": 0}
_ID_FIRST = string.ascii_letters + string.digits
_UPDATE_KEYS = frozenset(
    {"doc", "upsert", "doc_as_upsert", "detect_noop", "script", "scripted_upsert", "_source"}
)

Authorize = Callable[[str, str], None]
"""``authorize(privilege, index)`` raises Forbidden when the caller lacks the privilege."""


@dataclass(frozen=True)
class Concurrency:
    """``if_seq_no`` / ``if_primary_term``: write only over this exact revision."""

    seq_no: int | None = None
    primary_term: int | None = None

    @property
    def is_set(self) -> bool:
        return self.seq_no is not None or self.primary_term is not None


@dataclass(frozen=True)
class WriteResult:
    """The outcome of one document write, as Elasticsearch reports it."""

    index: str
    id: str
    version: int
    result: str
    seq_no: int
    status: int
    get: dict[str, Any] | None = None

    def body(self) -> dict[str, Any]:
        """The response body of the single-document API."""
        out: dict[str, Any] = {
            "_index": self.index,
            "_id": self.id,
            "_version": self.version,
            "result": self.result,
            "_shards": NOOP_SHARDS if self.result == "noop" else SHARDS,
            "_seq_no": self.seq_no,
            "_primary_term": PRIMARY_TERM,
        }
        if self.get is not None:
            out["get"] = self.get
        return out


@dataclass(frozen=True)
class StoredDoc:
    """One stored document."""

    rowid: int
    doc_id: str
    version: int
    seq_no: int
    primary_term: int
    source: dict[str, Any]


class WriteSession:
    """Document writes inside one write transaction."""

    def __init__(self, conn: Connection, clock: Clock, authorize: Authorize) -> None:
        self.conn = conn
        self.clock = clock
        self.authorize = authorize
        self._records: dict[str, IndexRecord] = {}
        self._values: list[tuple[int, str, int, str | None, float | None]] = []
        self._texts: dict[str, list[tuple[int, str]]] = {}
        row = conn.execute("SELECT value FROM meta WHERE key = 'seq_no'").fetchone()
        self._seq_no = int(row[0]) if row else -1
        self._saved_seq_no = self._seq_no

    # -- transaction helpers -------------------------------------------------------------

    def save(self) -> None:
        """Write queued index rows and the sequence counter (before the commit)."""
        self._flush()
        if self._seq_no != self._saved_seq_no:
            self.conn.execute(
                "INSERT INTO meta (key, value) VALUES ('seq_no', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(self._seq_no),),
            )
            self._saved_seq_no = self._seq_no

    @contextmanager
    def item(self) -> Iterator[None]:
        """One item of a multi-document request: a failure leaves the other items alone.

        Every check that can refuse a document (its mapping, conflicts, privileges) runs
        before its first row is written, so a refused item has written nothing but, like in
        Elasticsearch, an auto-created index. Anything else is a bug and fails the request.
        """
        seq_no = self._seq_no
        try:
            yield
        except EsError:
            self._seq_no = seq_no
            raise

    def _next_seq_no(self) -> int:
        self._seq_no += 1
        return self._seq_no

    # -- indices -------------------------------------------------------------------------

    def existing_index(self, name: str) -> IndexRecord:
        """A cached index record; 404 when the index does not exist."""
        record = self._records.get(name) or indices.load(self.conn, name)
        if record is None:
            raise IndexNotFound(name)
        self._records[name] = record
        return record

    def index_for_write(self, name: str) -> IndexRecord:
        """The index to write into, created on first write (which needs create_index)."""
        record = self._records.get(name) or indices.load(self.conn, name)
        if record is None:
            mp.validate_index_name(name)
            self.authorize("create_index", name)
            record = indices.create(self.conn, self.clock, name, None)
        self._records[name] = record
        return record

    # -- writes --------------------------------------------------------------------------

    def index(
        self,
        index: str,
        doc_id: str | None,
        source: Any,
        *,
        create_only: bool = False,
        concurrency: Concurrency = Concurrency(),
    ) -> WriteResult:
        """Index (or with `create_only`, create) a document; auto ids when `doc_id` is None."""
        auto_id = doc_id is None
        doc_id = new_doc_id() if doc_id is None else doc_id
        check_id(doc_id)
        if concurrency.is_set and create_only:
            raise ActionRequestValidation(
                "Validation Failed: 1: create operations do not support compare and set. "
                "use index instead;"
            )
        record = self.index_for_write(index)
        # a fresh random id cannot exist yet (Elasticsearch's append-only shortcut)
        current = None if auto_id else find(self.conn, record, doc_id)
        _check_concurrency(record, doc_id, current, concurrency)
        if create_only and current is not None:
            raise _conflict(
                record,
                doc_id,
                f"[{doc_id}]: version conflict, document already exists "
                f"(current version [{current.version}])",
            )
        return self._write(record, doc_id, source, current)

    def update(
        self,
        index: str,
        doc_id: str,
        body: Any,
        *,
        concurrency: Concurrency = Concurrency(),
        source_filter: src.SourceFilter | None = None,
    ) -> WriteResult:
        """Partial update (``doc``), ``doc_as_upsert`` or ``upsert``; noop when unchanged."""
        request = parse_update(body)
        check_id(doc_id)
        record = self._records.get(index) or indices.load(self.conn, index)
        current = find(self.conn, record, doc_id) if record else None
        if current is None:
            upsert = request.doc if request.doc_as_upsert else request.upsert
            if upsert is None:
                if concurrency.is_set and record is not None:
                    _check_concurrency(record, doc_id, None, concurrency)
                raise DocumentMissing(
                    f"[{doc_id}]: document missing",
                    index_uuid=record.uuid if record else "_na_",
                    shard="0",
                    index=index,
                )
            record = self.index_for_write(index)
            _check_concurrency(record, doc_id, None, concurrency)
            result = self._write(record, doc_id, upsert, None)
            return _with_get(result, upsert, source_filter)
        assert record is not None
        self._records[index] = record
        _check_concurrency(record, doc_id, current, concurrency)
        merged = merge_source(current.source, request.doc or {})
        if request.detect_noop and merged == current.source:
            result = WriteResult(index, doc_id, current.version, "noop", current.seq_no, 200)
            return _with_get(result, merged, source_filter)
        result = self._write(record, doc_id, merged, current)
        return _with_get(result, merged, source_filter)

    def delete(
        self,
        index: str,
        doc_id: str,
        *,
        concurrency: Concurrency = Concurrency(),
    ) -> WriteResult:
        """Delete a document; ``result: not_found`` (404) when it is not there."""
        check_id(doc_id)
        record = self.existing_index(index)
        current = find(self.conn, record, doc_id)
        _check_concurrency(record, doc_id, current, concurrency)
        seq_no = self._next_seq_no()
        if current is None:
            return WriteResult(index, doc_id, 1, "not_found", seq_no, 404)
        self._clear_index_rows(record, current.rowid)
        self.conn.execute("DELETE FROM docs WHERE rowid = ?", (current.rowid,))
        return WriteResult(index, doc_id, current.version + 1, "deleted", seq_no, 200)

    def _write(
        self, record: IndexRecord, doc_id: str, source: Any, current: StoredDoc | None
    ) -> WriteResult:
        indexed = mp.index_document(record.mappings, source, doc_id, record.limits)
        if indexed.mappings_changed:
            indices.save_mappings(self.conn, record, indexed.mappings)
        elif any(name not in record.text_tables for name in indexed.texts):
            indices.ensure_text_tables(self.conn, record)
        text = json.dumps(source, ensure_ascii=False, separators=(",", ":"))
        seq_no = self._next_seq_no()
        if current is None:
            version = 1
            cursor = self.conn.execute(
                "INSERT INTO docs (index_id, doc_id, version, seq_no, primary_term, source) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (record.id, doc_id, version, seq_no, PRIMARY_TERM, text),
            )
            rowid = int(cursor.lastrowid)
        else:
            version, rowid = current.version + 1, current.rowid
            self._clear_index_rows(record, rowid)
            self.conn.execute(
                "UPDATE docs SET version = ?, seq_no = ?, primary_term = ?, source = ? "
                "WHERE rowid = ?",
                (version, seq_no, PRIMARY_TERM, text, rowid),
            )
        self._queue(record, rowid, indexed)
        created = current is None
        return WriteResult(
            record.name,
            doc_id,
            version,
            "created" if created else "updated",
            seq_no,
            201 if created else 200,
        )

    # -- index rows (queued, written in batches) ------------------------------------------

    def _queue(self, record: IndexRecord, rowid: int, indexed: mp.Indexed) -> None:
        self._values.extend((record.id, name, rowid, kw, num) for name, kw, num in indexed.values)
        for name, values in indexed.texts.items():
            table = record.text_tables[name]
            self._texts.setdefault(table, []).append((rowid, "\n".join(values)))

    def _flush(self) -> None:
        if self._values:
            self.conn.executemany(
                "INSERT INTO doc_values (index_id, field, doc_rowid, kw, num) "
                "VALUES (?, ?, ?, ?, ?)",
                self._values,
            )
            self._values = []
        for table, rows in self._texts.items():
            self.conn.executemany(
                f"INSERT INTO {table} (rowid, content) VALUES (?, ?)",  # noqa: S608
                rows,
            )
        self._texts = {}

    def _clear_index_rows(self, record: IndexRecord, rowid: int) -> None:
        self._flush()
        texts = self.conn.execute(
            "SELECT field FROM doc_values WHERE doc_rowid = ? AND kw IS NULL AND num IS NULL",
            (rowid,),
        ).fetchall()
        for (name,) in texts:
            table = record.text_tables.get(name)
            if table:
                self.conn.execute(f"DELETE FROM {table} WHERE rowid = ?", (rowid,))  # noqa: S608
        self.conn.execute("DELETE FROM doc_values WHERE doc_rowid = ?", (rowid,))


# -- reading ---------------------------------------------------------------------------------


def find(conn: Connection, record: IndexRecord, doc_id: str) -> StoredDoc | None:
    """The stored document `doc_id` of `record`, or None."""
    row = conn.execute(
        "SELECT rowid, doc_id, version, seq_no, primary_term, source FROM docs "
        "WHERE index_id = ? AND doc_id = ?",
        (record.id, doc_id),
    ).fetchone()
    if row is None:
        return None
    return StoredDoc(
        rowid=row[0],
        doc_id=row[1],
        version=row[2],
        seq_no=row[3],
        primary_term=row[4],
        source=json.loads(row[5]),
    )


def get_body(
    index: str, doc_id: str, doc: StoredDoc | None, spec: src.SourceFilter = src.FETCH_ALL
) -> dict[str, Any]:
    """The body of ``GET /{index}/_doc/{id}`` (``found`` false when `doc` is None)."""
    if doc is None:
        return {"_index": index, "_id": doc_id, "found": False}
    out: dict[str, Any] = {
        "_index": index,
        "_id": doc_id,
        "_version": doc.version,
        "_seq_no": doc.seq_no,
        "_primary_term": doc.primary_term,
        "found": True,
    }
    filtered = spec.apply(doc.source)
    if filtered is not None:
        out["_source"] = filtered
    return out


def get_document(
    conn: Connection, index: str, doc_id: str, spec: src.SourceFilter = src.FETCH_ALL
) -> dict[str, Any]:
    """Look a document up; 404 index_not_found_exception when the index does not exist."""
    record = indices.require(conn, index)
    return get_body(index, doc_id, find(conn, record, doc_id), spec)


# -- update requests (pure) ------------------------------------------------------------------


@dataclass(frozen=True)
class UpdateRequest:
    """A parsed ``_update`` body."""

    doc: dict[str, Any] | None
    upsert: dict[str, Any] | None
    doc_as_upsert: bool
    detect_noop: bool


def parse_update(body: Any) -> UpdateRequest:
    """Validate an ``_update`` body (a partial ``doc``; scripts are not supported)."""
    if not isinstance(body, Mapping):
        raise ActionRequestValidation("Validation Failed: 1: script or doc is missing;")
    for key in body:
        if key not in _UPDATE_KEYS:
            raise XContentParseError(f"[1:2] [UpdateRequest] unknown field [{key}]")
    if "script" in body:
        raise IllegalArgument("script updates are not supported; send a partial [doc] instead")
    doc, upsert = body.get("doc"), body.get("upsert")
    if doc is None:
        raise ActionRequestValidation("Validation Failed: 1: script or doc is missing;")
    for name, value in (("doc", doc), ("upsert", upsert)):
        if value is not None and not isinstance(value, Mapping):
            raise XContentParseError(f"[1:2] [UpdateRequest] failed to parse field [{name}]")
    return UpdateRequest(
        doc=dict(doc),
        upsert=dict(upsert) if upsert is not None else None,
        doc_as_upsert=_flag(body.get("doc_as_upsert", False), "doc_as_upsert"),
        detect_noop=_flag(body.get("detect_noop", True), "detect_noop"),
    )


def merge_source(current: Mapping[str, Any], doc: Mapping[str, Any]) -> dict[str, Any]:
    """`doc` merged into `current`: objects recursively, everything else replaced."""
    out = dict(current)
    for key, value in doc.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge_source(out[key], value)
        else:
            out[key] = value
    return out


def _flag(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise XContentParseError(f"[1:2] [UpdateRequest] failed to parse field [{name}]")


# -- ids and checks (pure) -------------------------------------------------------------------


def new_doc_id() -> str:
    """A 20-character URL-safe id, like Elasticsearch's, never starting with ``_`` or ``-``."""
    return secrets.choice(_ID_FIRST) + secrets.token_urlsafe(15)[:19]


def check_id(doc_id: str) -> None:
    """400 for an empty id or one longer than 512 bytes."""
    if not doc_id:
        raise ActionRequestValidation(
            "Validation Failed: 1: if _id is specified it must not be empty;"
        )
    size = len(doc_id.encode())
    if size > MAX_ID_BYTES:
        raise ActionRequestValidation(
            f"Validation Failed: 1: id [{doc_id[:40]}...] is too long, must be no longer than "
            f"512 bytes but was: {size};"
        )


def _check_concurrency(
    record: IndexRecord, doc_id: str, current: StoredDoc | None, wanted: Concurrency
) -> None:
    if not wanted.is_set:
        return
    required = (
        f"[{doc_id}]: version conflict, required seqNo [{wanted.seq_no}], "
        f"primary term [{wanted.primary_term}]."
    )
    if current is None:
        raise _conflict(record, doc_id, f"{required} but no document was found")
    if current.seq_no != wanted.seq_no or current.primary_term != wanted.primary_term:
        raise _conflict(
            record,
            doc_id,
            f"{required} current document has seqNo [{current.seq_no}] and primary term "
            f"[{current.primary_term}]",
        )


def _conflict(record: IndexRecord, doc_id: str, reason: str) -> VersionConflict:
    return VersionConflict(reason, index_uuid=record.uuid, shard="0", index=record.name)


def _with_get(
    result: WriteResult, source: Mapping[str, Any], spec: src.SourceFilter | None
) -> WriteResult:
    if spec is None:
        return result
    get: dict[str, Any] = {
        "_seq_no": result.seq_no,
        "_primary_term": PRIMARY_TERM,
        "found": True,
    }
    filtered = spec.apply(source)
    if filtered is not None:
        get["_source"] = filtered
    return WriteResult(
        result.index, result.id, result.version, result.result, result.seq_no, result.status, get
    )

"""Documents: index, create, get, update, delete, with versions and sequence numbers.

A `WriteSession` is one write request's view of the node: it caches the index records it has
touched (catalog rows, in the store's write transaction, which also holds dynamic mapping
updates) and writes documents into each index's engine shard. Every shard written is synced
(its translog fsync'd) by `save`, before the node answers. Sequence numbers are per index, as
in Elasticsearch (one shard per index).
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
from citadel.node.engine.engine import Engine, build_document
from citadel.node.engine.shard import Current, Shard
from citadel.node.errors import (
    ActionRequestValidation,
    DocumentMissing,
    IllegalArgument,
    IndexNotFound,
    VersionConflict,
    XContentParseError,
)
from citadel.node.ingest import catalog as pipelines
from citadel.node.ingest import writes as ingest
from citadel.node.ingest.pipeline import Pipeline
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
VERSION_TYPES = ("internal", "external", "external_gt", "external_gte")

Authorize = Callable[[str, str], None]
"""``authorize(privilege, index)`` raises Forbidden when the caller lacks the privilege."""


@dataclass(frozen=True)
class Concurrency:
    """``if_seq_no`` / ``if_primary_term`` (write only over this exact revision), or an
    external ``version`` with ``version_type`` external / external_gte."""

    seq_no: int | None = None
    primary_term: int | None = None
    version: int | None = None
    version_type: str = "internal"

    @property
    def is_set(self) -> bool:
        return self.seq_no is not None or self.primary_term is not None

    @property
    def external(self) -> bool:
        return self.version is not None and self.version_type != "internal"


def parse_concurrency(params: Mapping[str, Any]) -> Concurrency:
    """Concurrency control from URL parameters or bulk action metadata; 400s as ES."""
    out: dict[str, Any] = {}
    for key, name in (("if_seq_no", "seq_no"), ("if_primary_term", "primary_term")):
        if params.get(key) is not None:
            out[name] = _int(params[key], key)
    if params.get("version") is not None:
        out["version"] = _int(params["version"], "version")
    version_type = str(params.get("version_type", "internal"))
    if version_type not in VERSION_TYPES:
        raise IllegalArgument(f"No version type match [{version_type}]")
    out["version_type"] = "external" if version_type == "external_gt" else version_type
    concurrency = Concurrency(**out)
    if concurrency.version is not None and concurrency.version_type == "internal":
        raise ActionRequestValidation(
            "Validation Failed: 1: internal versioning can not be used for optimistic "
            "concurrency control. Please use `if_seq_no` and `if_primary_term` instead;"
        )
    if concurrency.external and concurrency.is_set:
        raise ActionRequestValidation(
            "Validation Failed: 1: compare and write operations can not be used with "
            "version type [external];"
        )
    if concurrency.seq_no is not None and concurrency.seq_no < 0:
        raise ActionRequestValidation(
            f"Validation Failed: 1: ifSeqNo must be non negative, found [{concurrency.seq_no}];"
        )
    return concurrency


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise IllegalArgument(
            f"Failed to parse int parameter [{name}] with value [{value}]"
        ) from None


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
    dropped: bool = False
    """A pipeline dropped the document: nothing was written."""

    def body(self) -> dict[str, Any]:
        """The response body of the single-document API."""
        if self.dropped:
            return {
                "_index": self.index,
                "_id": self.id,
                "_version": self.version,
                "result": "noop",
                "_shards": NOOP_SHARDS,
            }
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

    doc_id: str
    version: int
    seq_no: int
    primary_term: int
    source: dict[str, Any]


class WriteSession:
    """Document writes of one request."""

    def __init__(
        self, conn: Connection, clock: Clock, authorize: Authorize, engine: Engine
    ) -> None:
        self.conn = conn
        self.clock = clock
        self.authorize = authorize
        self.engine = engine
        self._records: dict[str, IndexRecord] = {}
        self._written: dict[str, Shard] = {}
        self._pipelines: dict[str, Pipeline | None] = {}
        self.refreshed: list[str] = []

    # -- request helpers -----------------------------------------------------------------

    def save(self) -> None:
        """Make every write of this session durable (before the response)."""
        for shard in self._written.values():
            shard.sync()

    def written_uuids(self) -> list[str]:
        """The uuids of the indices this session wrote into."""
        return list(self._written)

    def refresh(self) -> None:
        """``refresh=true|wait_for``: make this session's writes searchable now."""
        for uuid in self._written:
            self.engine.refresh(uuid)

    @contextmanager
    def item(self) -> Iterator[None]:
        """One item of a multi-document request: a failure leaves the other items alone.

        Every check that can refuse a document (its mapping, conflicts, privileges) runs
        before it is written, so a refused item has written nothing but, like in
        Elasticsearch, an auto-created index or a mapping update.
        """
        yield

    def shard(self, record: IndexRecord) -> Shard:
        return self.engine.shard(record)

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
        pipeline: str | None = None,
    ) -> WriteResult:
        """Index (or with `create_only`, create) a document; auto ids when `doc_id` is None.

        The document first goes through its ingest pipelines (`pipeline`, else the index's
        default, then its final pipeline), which may change its index and id, or drop it.
        """
        ingested = self._ingest(index, doc_id, source, pipeline)
        if ingested is not None:
            if ingested.dropped:
                return WriteResult(index, doc_id or new_doc_id(), -3, "noop", -2, 200, dropped=True)
            if ingested.index != index:  # a pipeline rerouted it: the caller must hold that too
                self.authorize("create" if create_only else "index", ingested.index)
            index, doc_id, source = ingested.index, ingested.id, ingested.source
        auto_id = doc_id is None
        doc_id = new_doc_id() if doc_id is None else doc_id
        check_id(doc_id)
        if concurrency.is_set and create_only:
            raise ActionRequestValidation(
                "Validation Failed: 1: create operations do not support compare and set. "
                "use index instead;"
            )
        if concurrency.external and create_only:
            raise ActionRequestValidation(
                "Validation Failed: 1: create operations only support internal versioning. "
                "use index instead;"
            )
        record = self.index_for_write(index)
        indices.check_write(record, index, create_only=create_only)
        shard = self.shard(record)
        # a fresh random id cannot exist yet (Elasticsearch's append-only shortcut)
        current = None if auto_id else shard.get(doc_id)
        _check_concurrency(record, doc_id, current, concurrency)
        if create_only and current is not None and current.exists:
            raise _conflict(
                record,
                doc_id,
                f"[{doc_id}]: version conflict, document already exists "
                f"(current version [{current.version}])",
            )
        return self._write(record, shard, doc_id, source, current, concurrency)

    def _ingest(
        self, index: str, doc_id: str | None, source: Any, pipeline: str | None
    ) -> ingest.Ingested | None:
        settings = None
        record = self._records.get(index) or indices.load(self.conn, index)
        if record is not None:
            settings = record.settings
        if pipeline is None and not any(
            settings and settings.get(k) for k in (ingest.DEFAULT_SETTING, ingest.FINAL_SETTING)
        ):
            return None
        return ingest.ingest(
            self.pipeline,
            index=index,
            doc_id=doc_id,
            source=source,
            requested=pipeline,
            settings=settings,
            now=self.clock.now(),
        )

    def pipeline(self, pipeline_id: str) -> Pipeline | None:
        """A stored pipeline (cached for this request)."""
        if pipeline_id not in self._pipelines:
            self._pipelines[pipeline_id] = pipelines.load(self.conn, pipeline_id)
        return self._pipelines[pipeline_id]

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
        if concurrency.external:
            raise ActionRequestValidation(
                "Validation Failed: 1: only internal versioning can be used for update operations;"
            )
        record = self._records.get(index) or indices.load(self.conn, index)
        if record is not None:
            indices.check_write(record, index, create_only=None)
        current = self.shard(record).get(doc_id) if record else None
        if current is None or not current.exists:
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
            result = self._write(record, self.shard(record), doc_id, upsert, current)
            return _with_get(result, upsert, source_filter)
        assert record is not None
        self._records[index] = record
        _check_concurrency(record, doc_id, current, concurrency)
        assert current.source is not None
        existing = json.loads(current.source)
        merged = merge_source(existing, request.doc or {})
        if request.detect_noop and merged == existing:
            result = WriteResult(index, doc_id, current.version, "noop", current.seq_no, 200)
            return _with_get(result, merged, source_filter)
        result = self._write(record, self.shard(record), doc_id, merged, current)
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
        indices.check_write(record, index, create_only=None)
        shard = self.shard(record)
        current = shard.get(doc_id)
        _check_concurrency(record, doc_id, current, concurrency)
        exists = current is not None and current.exists
        if concurrency.external:
            version = concurrency.version or 1
        else:
            version = current.version + 1 if current is not None else 1
        seq_no = shard.next_seq_no()
        shard.delete_document(doc_id, version, seq_no)
        self._written[record.uuid] = shard
        if not exists:
            return WriteResult(index, doc_id, version, "not_found", seq_no, 404)
        return WriteResult(index, doc_id, version, "deleted", seq_no, 200)

    def _write(
        self,
        record: IndexRecord,
        shard: Shard,
        doc_id: str,
        source: Any,
        current: Current | None,
        concurrency: Concurrency = Concurrency(),
    ) -> WriteResult:
        indexed = mp.index_document(record.mappings, source, doc_id, record.limits)
        if indexed.mappings_changed:
            indices.save_mappings(self.conn, record, indexed.mappings)
        text = json.dumps(source, ensure_ascii=False, separators=(",", ":")).encode()
        if concurrency.external:
            version = concurrency.version or 1
        else:
            version = current.version + 1 if current is not None else 1
        seq_no = shard.next_seq_no()
        document = build_document(record.table, doc_id, text, indexed, version, seq_no)
        shard.index_document(doc_id, text, document, version, seq_no)
        self._written[record.uuid] = shard
        created = current is None or not current.exists
        return WriteResult(
            record.name,
            doc_id,
            version,
            "created" if created else "updated",
            seq_no,
            201 if created else 200,
        )


# -- reading ---------------------------------------------------------------------------------


def find(engine: Engine, record: IndexRecord, doc_id: str) -> StoredDoc | None:
    """The latest revision of document `doc_id` of `record` (real-time), or None."""
    current = engine.shard(record).get(doc_id)
    if current is None or current.source is None:
        return None
    return StoredDoc(
        doc_id=doc_id,
        version=current.version,
        seq_no=current.seq_no,
        primary_term=PRIMARY_TERM,
        source=json.loads(current.source),
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
    conn: Connection,
    engine: Engine,
    index: str,
    doc_id: str,
    spec: src.SourceFilter = src.FETCH_ALL,
) -> dict[str, Any]:
    """Look a document up; 404 index_not_found_exception when the index does not exist."""
    record = indices.require(conn, index)
    return get_body(record.name, doc_id, find(engine, record, doc_id), spec)


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
    record: IndexRecord, doc_id: str, current: Current | None, wanted: Concurrency
) -> None:
    if wanted.external:
        assert wanted.version is not None
        if current is None:
            return
        ok = (
            wanted.version >= current.version
            if wanted.version_type == "external_gte"
            else wanted.version > current.version
        )
        if not ok:
            relation = (
                "higher than" if wanted.version_type == "external_gte" else ("higher or equal to")
            )
            raise _conflict(
                record,
                doc_id,
                f"[{doc_id}]: version conflict, current version [{current.version}] is "
                f"{relation} the one provided [{wanted.version}]",
            )
        return
    if not wanted.is_set:
        return
    required = (
        f"[{doc_id}]: version conflict, required seqNo [{wanted.seq_no}], "
        f"primary term [{wanted.primary_term}]."
    )
    if current is None or not current.exists:
        raise _conflict(record, doc_id, f"{required} but no document was found")
    if current.seq_no != wanted.seq_no or wanted.primary_term != PRIMARY_TERM:
        raise _conflict(
            record,
            doc_id,
            f"{required} current document has seqNo [{current.seq_no}] and primary term "
            f"[{PRIMARY_TERM}]",
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

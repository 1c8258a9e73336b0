"""Document routes: ``_doc``, ``_create``, ``_update``, ``_source``, ``_bulk`` and ``_mget``.

Single-document writes need the matching index privilege (``index``, ``create``, ``delete``;
``write`` grants them all); writing into an index that does not exist creates it, which also
needs ``create_index``. ``_bulk`` and ``_mget`` check every item's own index.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from citadel.node.errors import (
    ActionRequestValidation,
    DocumentMissing,
    EsError,
    IllegalArgument,
    XContentParseError,
)
from citadel.node.http.access import IndexAccess
from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.router import AUTHENTICATED, Router, index
from citadel.node.search import service
from citadel.node.security.document_security import Restriction, refuse_update
from citadel.node.services import NodeServices
from citadel.node.store import bulk, documents, indices
from citadel.node.store import source as src
from citadel.node.store.documents import Concurrency, WriteSession

UPDATE = ("index",)  # the privilege an update needs: its grants' restrictions refuse it
_MGET_DOC_KEYS = frozenset({"_index", "_id", "_source", "routing", "stored_fields", "_routing"})


def register(router: Router, services: NodeServices) -> None:
    """Add this area's routes to `router`."""
    routes = DocumentRoutes(services)
    for method in ("PUT", "POST"):
        router.add(method, "/{index}/_doc/{id}", routes.index, index("index"))
        router.add(method, "/{index}/_create/{id}", routes.create, index("create"))
        router.add(method, "/_bulk", routes.bulk, AUTHENTICATED)
        router.add(method, "/{index}/_bulk", routes.bulk, AUTHENTICATED)
    router.add("POST", "/{index}/_doc", routes.index_auto_id, index("create"))
    router.add("GET", "/{index}/_doc/{id}", routes.get, index("read"))
    router.add("DELETE", "/{index}/_doc/{id}", routes.delete, index("delete"))
    router.add("GET", "/{index}/_source/{id}", routes.get_source, index("read"))
    router.add("POST", "/{index}/_update/{id}", routes.update, index("index"))
    for method in ("GET", "POST"):
        router.add(method, "/_mget", routes.mget, AUTHENTICATED)
        router.add(method, "/{index}/_mget", routes.mget, AUTHENTICATED)


class DocumentRoutes:
    """Handlers over the node's store."""

    def __init__(self, services: NodeServices) -> None:
        self.services = services

    # -- writes --------------------------------------------------------------------------

    def index(self, request: NodeRequest) -> NodeResponse:
        """``PUT|POST /{index}/_doc/{id}`` (``op_type=create`` refuses to overwrite)."""
        op_type = request.query.get("op_type", "index")
        if op_type not in ("index", "create"):
            raise IllegalArgument(f"opType must be 'create' or 'index', found: [{op_type}]")
        return self._index(request, request.params["id"], create_only=op_type == "create")

    def create(self, request: NodeRequest) -> NodeResponse:
        """``PUT|POST /{index}/_create/{id}``: 409 when the document exists."""
        return self._index(request, request.params["id"], create_only=True)

    def index_auto_id(self, request: NodeRequest) -> NodeResponse:
        """``POST /{index}/_doc``: a new document under a generated id."""
        return self._index(request, None, create_only=True)

    def _index(
        self, request: NodeRequest, doc_id: str | None, *, create_only: bool
    ) -> NodeResponse:
        source = request.json()
        if source is None:
            raise ActionRequestValidation("Validation Failed: 1: source is missing;")
        concurrency = concurrency_of(request)
        with self.services.store.write() as conn:
            session = self._session(conn, request)
            result = session.index(
                request.params["index"],
                doc_id,
                source,
                create_only=create_only,
                concurrency=concurrency,
                pipeline=request.query.get("pipeline"),
            )
            session.save()
        if wants_refresh(request):
            session.refresh()
        return _write_response(request, result)

    def update(self, request: NodeRequest) -> NodeResponse:
        """``POST /{index}/_update/{id}``: partial ``doc``, ``doc_as_upsert``, ``upsert``."""
        body = request.json(required=True)
        spec = src.parse_source_params(request.query)
        if isinstance(body, Mapping) and "_source" in body:
            spec = src.parse_source(body["_source"])
        concurrency = concurrency_of(request)
        with self.services.store.write() as conn:
            refuse_update(
                service.restriction_on(conn, request.identity, request.params["index"], UPDATE)
            )
            session = self._session(conn, request)
            result = session.update(
                request.params["index"],
                request.params["id"],
                body,
                concurrency=concurrency,
                source_filter=spec,
            )
            session.save()
        if wants_refresh(request):
            session.refresh()
        return _write_response(request, result)

    def delete(self, request: NodeRequest) -> NodeResponse:
        """``DELETE /{index}/_doc/{id}`` (404 with ``result: not_found`` when absent)."""
        concurrency = concurrency_of(request)
        with self.services.store.write() as conn:
            session = self._session(conn, request)
            result = session.delete(
                request.params["index"], request.params["id"], concurrency=concurrency
            )
            session.save()
        if wants_refresh(request):
            session.refresh()
        return _write_response(request, result)

    def bulk(self, request: NodeRequest) -> NodeResponse:
        """``_bulk``: NDJSON operations in one transaction, a result per item."""
        started = self.services.clock.now()
        ops = bulk.parse_bulk(
            request.body, request.params.get("index"), request.query.get("pipeline")
        )
        access = IndexAccess(self.services.realm, request.identity)
        with self.services.store.write() as conn:
            session = self._session(conn, request)
            refused = _UpdateRefusal(conn, request.identity)
            items, errors = bulk.run_bulk(session, ops, access.require, refused.check)
        if wants_refresh(request):
            session.refresh()
        took = int((self.services.clock.now() - started).total_seconds() * 1000)
        return NodeResponse(body={"errors": errors, "took": took, "items": items})

    def _session(self, conn: Any, request: NodeRequest) -> WriteSession:
        access = IndexAccess(self.services.realm, request.identity)
        return WriteSession(conn, self.services.clock, access.require, self.services.engine)

    # -- reads ---------------------------------------------------------------------------

    def get(self, request: NodeRequest) -> NodeResponse:
        """``GET|HEAD /{index}/_doc/{id}``: 404 with ``found: false`` when absent."""
        spec = source_filter_of(request)
        with self.services.store.read() as conn:
            body = self._get(conn, request, request.params["index"], request.params["id"], spec)
        return NodeResponse(status=200 if body["found"] else 404, body=body)

    def get_source(self, request: NodeRequest) -> NodeResponse:
        """``GET /{index}/_source/{id}``: the source alone."""
        spec = source_filter_of(request)
        with self.services.store.read() as conn:
            body = self._get(conn, request, request.params["index"], request.params["id"], spec)
        if not body["found"]:
            raise DocumentMissing(
                f"Document not found [{request.params['index']}]/[{request.params['id']}]"
            )
        return NodeResponse(body=body.get("_source", {}))

    def mget(self, request: NodeRequest) -> NodeResponse:
        """``_mget`` with ``docs`` or ``ids``; each document checked and answered alone."""
        default_index = request.params.get("index")
        wanted = mget_items(request.json(required=True), default_index)
        default_spec = source_filter_of(request)
        access = IndexAccess(self.services.realm, request.identity)
        out = []
        with self.services.store.read() as conn:
            for name, doc_id, spec in wanted:
                try:
                    access.require("read", name)
                    body = self._get(conn, request, name, doc_id, spec or default_spec)
                except EsError as exc:
                    body = {"_index": name, "_id": doc_id, "error": exc.body()["error"]}
                out.append(body)
        return NodeResponse(body={"docs": out})

    def _get(
        self, conn: Any, request: NodeRequest, name: str, doc_id: str, spec: src.SourceFilter
    ) -> dict[str, Any]:
        """One document as the caller may see it (field- and document-level security); 404
        index_not_found_exception when the index does not exist."""
        (record,) = service.secured(conn, [indices.require(conn, name)], request.identity)
        doc = service.visible_document(
            self.services.engine, record, doc_id, now=self.services.clock.now()
        )
        return documents.get_body(record.name, doc_id, doc, spec)


class _UpdateRefusal:
    """Refuses the ``update`` items of a ``_bulk`` on indices the caller reads under field- or
    document-level security, as Elasticsearch does (each index looked up once)."""

    def __init__(self, conn: Any, identity: Any) -> None:
        self.conn = conn
        self.identity = identity
        self.seen: dict[str, Restriction] = {}

    def check(self, op: bulk.BulkOp) -> None:
        if op.action != "update":
            return
        if op.index not in self.seen:
            self.seen[op.index] = service.restriction_on(self.conn, self.identity, op.index, UPDATE)
        refuse_update(self.seen[op.index], bulk=True)


# -- request parsing (pure) ------------------------------------------------------------------


def concurrency_of(request: NodeRequest) -> Concurrency:
    """``if_seq_no``, ``if_primary_term``, ``version`` and ``version_type`` from the query."""
    return documents.parse_concurrency(request.query)


def source_filter_of(request: NodeRequest) -> src.SourceFilter:
    """The ``_source``, ``_source_includes`` and ``_source_excludes`` query parameters."""
    return src.parse_source_params(request.query) or src.FETCH_ALL


def mget_items(
    body: Any, default_index: str | None
) -> list[tuple[str, str, src.SourceFilter | None]]:
    """(index, id, source filter) for every document an ``_mget`` body asks for."""
    if not isinstance(body, Mapping):
        raise XContentParseError("[1:1] [mget] expected an object")
    unknown = set(body) - {"docs", "ids"}
    if unknown:
        raise XContentParseError(f"unknown parameter [{sorted(unknown)[0]}] in [mget]")
    out: list[tuple[str, str, src.SourceFilter | None]] = []
    if "ids" in body:
        ids = body["ids"]
        if not isinstance(ids, list):
            raise XContentParseError("[mget] [ids] must be an array")
        for i, doc_id in enumerate(ids):
            if default_index is None:
                raise ActionRequestValidation(
                    f"Validation Failed: 1: index is missing for doc {i};"
                )
            out.append((default_index, _mget_id(doc_id, i), None))
    docs = body.get("docs", [])
    if not isinstance(docs, list):
        raise XContentParseError("[mget] [docs] must be an array")
    for i, doc in enumerate(docs):
        if not isinstance(doc, Mapping):
            raise XContentParseError(f"[mget] docs[{i}] must be an object")
        bad = set(doc) - _MGET_DOC_KEYS
        if bad:
            raise XContentParseError(f"[mget] unknown field [{sorted(bad)[0]}] in docs[{i}]")
        name = doc.get("_index", default_index)
        if not isinstance(name, str) or not name:
            raise ActionRequestValidation(f"Validation Failed: 1: index is missing for doc {i};")
        spec = src.parse_source(doc["_source"]) if "_source" in doc else None
        out.append((name, _mget_id(doc.get("_id"), i), spec))
    if not out:
        raise ActionRequestValidation("Validation Failed: 1: no documents to get;")
    return out


def _mget_id(value: Any, i: int) -> str:
    if value is None or value == "":
        raise ActionRequestValidation(f"Validation Failed: 1: id is missing for doc {i};")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise XContentParseError(f"[mget] docs[{i}]: [_id] must be a string")
    return str(value)


def wants_refresh(request: NodeRequest) -> bool:
    """``refresh=true`` or ``wait_for`` (both answered once the write is searchable)."""
    value = request.query.get("refresh", "false")
    if value not in ("", "true", "false", "wait_for"):
        raise IllegalArgument(f"Unknown value for refresh: [{value}].")
    return value != "false"


def _write_response(request: NodeRequest, result: documents.WriteResult) -> NodeResponse:
    body = result.body()
    if request.query.get("refresh") in ("", "true"):
        body["forced_refresh"] = True
    headers = {}
    if result.status == 201:
        headers["Location"] = f"/{quote(result.index)}/_doc/{quote(result.id, safe='')}"
    return NodeResponse(status=result.status, body=body, headers=headers)

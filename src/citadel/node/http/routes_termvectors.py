"""``GET|POST /{index}/_termvectors[/{id}]`` and ``GET|POST [/{index}]/_mtermvectors``.

Each document's index needs ``read`` (checked per item for ``_mtermvectors``, whose failures
are per item as in Elasticsearch). Vectors are computed by `citadel.node.termvectors`.
``routing`` and ``preference`` are accepted: the one shard of each index answers either way.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import tantivy

from citadel.node import termvectors as tv
from citadel.node.engine import fields as f
from citadel.node.errors import EsError, IllegalArgument, IndexNotFound, VersionConflict
from citadel.node.http.access import IndexAccess
from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.router import AUTHENTICATED, Router
from citadel.node.search import service
from citadel.node.search.request import parse_index_options
from citadel.node.security.document_security import (
    restriction_of,
    visible_mappings,
    visible_table,
)
from citadel.node.security.realm import index_forbidden
from citadel.node.services import NodeServices
from citadel.node.store import mapping as mp

READ = "read"
_PARAMS = frozenset(
    {
        "fields",
        "field_statistics",
        "offsets",
        "payloads",
        "positions",
        "preference",
        "realtime",
        "routing",
        "term_statistics",
        "version",
        "version_type",
    }
)
_MULTI_PARAMS = _PARAMS | {"ids"}


def register(router: Router, services: NodeServices) -> None:
    """Add the term vector routes to `router`."""
    routes = TermVectorRoutes(services)
    for method in ("GET", "POST"):
        router.add(method, "/{index}/_termvectors", routes.termvectors, AUTHENTICATED)
        router.add(method, "/{index}/_termvectors/{id}", routes.termvectors, AUTHENTICATED)
        router.add(method, "/_mtermvectors", routes.mtermvectors, AUTHENTICATED)
        router.add(method, "/{index}/_mtermvectors", routes.mtermvectors, AUTHENTICATED)


class TermVectorRoutes:
    """Handlers over the store and the engine."""

    def __init__(self, services: NodeServices) -> None:
        self.services = services

    def termvectors(self, request: NodeRequest) -> NodeResponse:
        """One document's term vectors (stored by id, or artificial in ``doc``)."""
        _known(request, _PARAMS)
        options = tv.parse_options(request.query, request.json())
        options = tv.replace_target(options, request.params["index"], request.params.get("id"))
        return NodeResponse(body=self._one(request, options))

    def mtermvectors(self, request: NodeRequest) -> NodeResponse:
        """Several documents' term vectors; an item that fails carries its error."""
        _known(request, _MULTI_PARAMS)
        items, settings = tv.parse_items(request.json(), request.query.get("ids"))
        base = tv.parse_options(request.query, settings)
        docs = []
        for number, item in enumerate(items):
            if not isinstance(item, Mapping):
                raise tv.ActionInvalid(f"multi term vectors: item [{number}] is not an object")
            options = tv.parse_options({}, item, base, item=True)
            index = options.index or request.params.get("index")
            if not index:
                raise tv.ActionInvalid(f"index is missing for doc {number}")
            options = tv.replace_target(options, index, options.id)
            try:
                docs.append(self._one(request, options))
            except EsError as exc:
                failed: dict[str, Any] = {"_index": index}
                if options.id is not None:
                    failed["_id"] = options.id
                failed["error"] = exc.body()["error"]
                docs.append(failed)
        return NodeResponse(body={"docs": docs})

    def _one(self, request: NodeRequest, options: tv.Options) -> dict[str, Any]:
        started = time.monotonic()
        if options.id is None and options.doc is None:
            raise tv.ActionInvalid("Validation Failed: 1: id or doc is missing;")
        record = self._record(request, str(options.index))
        shard = self.services.engine.shard(record)
        searcher = shard.searcher()
        out: dict[str, Any] = {"_index": record.name}
        if options.doc is not None:
            source: Any = options.doc
            version = 0
        else:
            out["_id"] = options.id
            if restriction_of(record).unrestricted:
                found = _stored(shard, searcher, str(options.id), realtime=options.realtime)
            else:  # the document as the caller may see it (it refreshes a real-time read)
                shown = service.visible_document(
                    self.services.engine, record, str(options.id), now=self.services.clock.now()
                )
                found = None if shown is None else (shown.version, shown.source)
                searcher = shard.searcher()
            if found is None:
                return {**out, "_version": 0, "found": False, "took": _took(started)}
            version, source = found
            if options.version is not None and options.version != version:
                raise VersionConflict(
                    f"[{options.id}]: version conflict, current version [{version}] is "
                    f"different than the one provided [{options.version}]",
                    index_uuid=record.uuid,
                    shard="0",
                    index=record.name,
                )
        indexed = mp.index_document(visible_mappings(record), source, options.id or "")
        specs = tv.select_fields(indexed.mappings, indexed, options)
        stats = tv.IndexStats(searcher, shard.schema)
        vectors = tv.term_vectors(specs, visible_table(record), stats, options)
        out.update({"_version": version, "found": True, "took": _took(started)})
        if vectors:
            out["term_vectors"] = vectors
        return out

    def _record(self, request: NodeRequest, index: str) -> Any:
        access = IndexAccess(self.services.realm, request.identity)
        with self.services.store.read() as conn:
            opened = service.open_indices(
                conn, index, parse_index_options({}), access.expanding(READ)
            )
            if opened.denied:
                raise index_forbidden(request.identity, READ, opened.denied)
            records = service.secured(conn, opened.indices, request.identity)
        if not records:
            raise IndexNotFound(index)
        if len(records) > 1:
            raise IllegalArgument(
                f"[termvectors] resolves [{index}] to more than one index; name one index"
            )
        return records[0]


def _stored(shard: Any, searcher: Any, doc_id: str, *, realtime: bool) -> tuple[int, Any] | None:
    """(version, source) of a stored document: real-time, or as of the last refresh."""
    if realtime:
        current = shard.get(doc_id)
        if current is None or current.source is None:
            return None
        return current.version, json.loads(current.source)
    query = tantivy.Query.term_query(shard.schema, f.ID_FIELD, doc_id)
    hits = searcher.search(query, 1).hits
    if not hits:
        return None
    address = hits[0][1]
    version = searcher.fast_field_values(f.VERSION_FIELD, [address])[0]
    source = searcher.doc(address).get_first(f.SOURCE_FIELD)
    return int(version or 1), json.loads(bytes(source))


def _took(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _known(request: NodeRequest, known: frozenset[str]) -> None:
    unknown = sorted(p for p in request.query if p not in known)
    if unknown:
        raise IllegalArgument(
            f"request [{request.path}] contains unrecognized parameter: [{','.join(unknown)}]"
        )

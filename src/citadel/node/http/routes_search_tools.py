"""``_explain``, ``_validate/query``, ``_search_shards`` and ``_terms_enum``.

Like ``_search``, these routes ask for an authenticated caller and resolve the index expression
themselves (wildcards to readable indices, 403 for a named index the caller may not read).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any

from citadel.node.engine.stored import stored_source
from citadel.node.errors import IllegalArgument, IndexNotFound, ParsingError
from citadel.node.http.access import IndexAccess
from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.router import AUTHENTICATED, Router
from citadel.node.search import explain as explaining
from citadel.node.search import service
from citadel.node.search.dsl import Query
from citadel.node.search.request import parse_count, parse_index_options
from citadel.node.search.terms_enum import parse_terms_enum, terms_enum
from citadel.node.security.document_security import visible_source
from citadel.node.security.realm import index_forbidden
from citadel.node.services import NodeServices
from citadel.node.store.source import parse_source_params

READ = "read"
_EXPLAIN_PARAMS = frozenset(
    {
        "q",
        "df",
        "analyzer",
        "analyze_wildcard",
        "default_operator",
        "lenient",
        "routing",
        "preference",
        "stored_fields",
        "_source",
        "_source_includes",
        "_source_excludes",
    }
)
_VALIDATE_PARAMS = frozenset(
    {
        "explain",
        "rewrite",
        "all_shards",
        "q",
        "df",
        "analyzer",
        "analyze_wildcard",
        "default_operator",
        "lenient",
        "ignore_unavailable",
        "allow_no_indices",
        "expand_wildcards",
    }
)
_SHARDS_PARAMS = frozenset(
    {
        "routing",
        "preference",
        "local",
        "master_timeout",
        "ignore_unavailable",
        "allow_no_indices",
        "expand_wildcards",
    }
)


def register(router: Router, services: NodeServices) -> None:
    """Add these routes to `router`."""
    routes = SearchToolRoutes(services)
    for method in ("GET", "POST"):
        router.add(method, "/{index}/_explain/{id}", routes.explain, AUTHENTICATED)
        for prefix in ("", "/{index}"):
            router.add(method, f"{prefix}/_validate/query", routes.validate, AUTHENTICATED)
            router.add(method, f"{prefix}/_search_shards", routes.search_shards, AUTHENTICATED)
        router.add(method, "/{index}/_terms_enum", routes.terms_enum, AUTHENTICATED)


class SearchToolRoutes:
    """Handlers over the store, the engine, the realm and the clock."""

    def __init__(self, services: NodeServices) -> None:
        self.services = services

    def explain(self, request: NodeRequest) -> NodeResponse:
        """``GET|POST /{index}/_explain/{id}``: how one document scores under a query."""
        _known(request, _EXPLAIN_PARAMS)
        body = request.json()
        if body is not None and not isinstance(body, Mapping):
            raise ParsingError("request body must be an object")
        for key in body or {}:
            if key != "query":
                raise ParsingError(f"request does not support [{key}]")
        params = {k: v for k, v in request.query.items() if k in ("q", "df", "default_operator")}
        query, _ = parse_count(body, params, path=request.path)
        if body is None and "q" not in request.query:
            raise IllegalArgument("query is missing")
        record = self._one(request)
        doc_id = request.params["id"]
        exists, explained, address = explaining.explain_document(
            self.services.engine, record, doc_id, query, now=self.services.clock.now()
        )
        out: dict[str, Any] = {
            "_index": record.name,
            "_id": doc_id,
            "matched": explained is not None,
        }
        if not exists:
            return NodeResponse(status=404, body=out)
        out["explanation"] = explained if explained is not None else explaining.NO_MATCH
        source = parse_source_params(request.query)
        if source is not None and source.fetch:
            searcher = self.services.engine.shard(record).searcher()
            doc = visible_source(record, stored_source(searcher.doc(address)))
            out["get"] = {"_source": source.apply(doc), "found": True}
        return NodeResponse(body=out)

    def validate(self, request: NodeRequest) -> NodeResponse:
        """``GET|POST [/{index}]/_validate/query``: whether a query parses and compiles."""
        _known(request, _VALIDATE_PARAMS)
        records = self._records(request)
        params = {k: v for k, v in request.query.items() if k in ("q", "df", "default_operator")}

        def parse(body: Any) -> Query:
            if body is not None and not isinstance(body, Mapping):
                raise ParsingError("request body must be an object")
            for key in body or {}:
                if key != "query":
                    raise ParsingError(f"request does not support [{key}]")
            query, _ = parse_count(body, params, path=request.path)
            return query

        body = explaining.validate(
            self.services.engine,
            records,
            request.json(),
            parse,
            explain=request.flag("explain"),
            now=self.services.clock.now(),
        )
        return NodeResponse(body=body)

    def search_shards(self, request: NodeRequest) -> NodeResponse:
        """``GET|POST [/{index}]/_search_shards``: the one shard of each index, on this node."""
        _known(request, _SHARDS_PARAMS)
        records = self._records(request)
        info = self.services.info
        node_id = _node_id(info.node_name, info.cluster_uuid)
        node = {
            "name": info.node_name,
            "ephemeral_id": _node_id("ephemeral", node_id),
            "transport_address": "127.0.0.1:9300",
            "external_id": info.node_name,
            "attributes": {},
            "roles": ["data", "ingest", "master"],
            "version": info.version,
            "min_index_version": 7000099,
            "max_index_version": 8505000,
        }
        shards = [
            [
                {
                    "state": "STARTED",
                    "primary": True,
                    "node": node_id,
                    "relocating_node": None,
                    "shard": 0,
                    "index": record.name,
                    "allocation_id": {"id": _node_id(record.uuid, "allocation")},
                    "relocation_failure_info": {"failed_attempts": 0},
                }
            ]
            for record in records
        ]
        return NodeResponse(
            body={
                "nodes": {node_id: node} if records else {},
                "indices": {record.name: {} for record in records},
                "shards": shards,
            }
        )

    def terms_enum(self, request: NodeRequest) -> NodeResponse:
        """``GET|POST /{index}/_terms_enum``: a keyword field's terms starting with a string."""
        _known(request, frozenset())
        parsed = parse_terms_enum(request.json(required=True))
        records = self._records(request)
        found = terms_enum(self.services.engine, records, parsed, now=self.services.clock.now())
        return NodeResponse(
            body={"_shards": service.shards(len(records)), "terms": found, "complete": True}
        )

    # -- shared ------------------------------------------------------------------------------

    def _records(self, request: NodeRequest) -> list[Any]:
        options = parse_index_options(request.query)
        access = IndexAccess(self.services.realm, request.identity)
        with self.services.store.read() as conn:
            opened = service.open_indices(
                conn,
                request.params.get("index"),
                options,
                access.expanding(READ),
            )
            if opened.denied:
                raise index_forbidden(request.identity, READ, opened.denied)
            return service.secured(conn, opened.indices, request.identity)

    def _one(self, request: NodeRequest) -> Any:
        records = self._records(request)
        if not records:
            raise IndexNotFound(request.params["index"])
        if len(records) > 1:
            raise IllegalArgument(
                f"[explain] resolves [{request.params['index']}] to more than one index"
            )
        return records[0]


def _known(request: NodeRequest, known: frozenset[str]) -> None:
    unknown = sorted(p for p in request.query if p not in known)
    if unknown:
        raise IllegalArgument(
            f"request [{request.path}] contains unrecognized parameter: [{','.join(unknown)}]"
        )


def _node_id(*parts: str) -> str:
    """A stable 22-character id (Elasticsearch's node ids are random base64 of that size)."""
    digest = hashlib.sha256("/".join(parts).encode()).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")

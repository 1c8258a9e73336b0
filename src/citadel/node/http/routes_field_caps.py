"""``GET|POST [/{index}]/_field_caps``.

``index_filter`` keeps the indices where the filter matches at least one document (Elasticsearch
drops only the indices its rewrite proves empty, so it may list more); ``include_empty_fields=
false`` drops the fields no document of an index holds (by an ``exists`` count per field).
"""

from __future__ import annotations

from citadel.node.http.access import IndexAccess
from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.router import AUTHENTICATED, Router
from citadel.node.search import service
from citadel.node.search.dsl import parse_query
from citadel.node.search.request import parse_index_options
from citadel.node.security.document_security import visible_mappings
from citadel.node.security.realm import index_forbidden
from citadel.node.services import NodeServices
from citadel.node.store import field_caps
from citadel.node.store import mapping as mp
from citadel.node.store.indices import IndexRecord

_PRIVILEGES = ("read", "view_index_metadata")


def register(router: Router, services: NodeServices) -> None:
    """Add this area's routes to `router`."""
    routes = FieldCapsRoutes(services)
    for method in ("GET", "POST"):
        router.add(method, "/_field_caps", routes.field_caps, AUTHENTICATED)
        router.add(method, "/{index}/_field_caps", routes.field_caps, AUTHENTICATED)


class FieldCapsRoutes:
    """Handlers over the catalog and the engine."""

    def __init__(self, services: NodeServices) -> None:
        self.services = services

    def field_caps(self, request: NodeRequest) -> NodeResponse:
        """The capabilities of the requested fields across the named indices."""
        body = request.json()
        options = field_caps.parse_options(request.query, body)
        index_filter = (body or {}).get("index_filter")
        query = parse_query(index_filter) if index_filter is not None else None
        records = self._open(request)
        if query is not None:
            now = self.services.clock.now()
            records = [
                r
                for r in records
                if service.count(self.services.engine, [r], query, min_score=None, now=now) > 0
            ]
        keep_empty = request.flag("include_empty_fields", True)
        per_index = []
        for record in records:
            non_empty = None if keep_empty else self._non_empty(record)
            mappings = visible_mappings(record)  # fields hidden by field-level security are absent
            per_index.append((record.name, field_caps.select(mappings, options, non_empty)))
        return NodeResponse(body=field_caps.merge(per_index, options))

    def _open(self, request: NodeRequest) -> list[IndexRecord]:
        access = IndexAccess(self.services.realm, request.identity)
        options = parse_index_options(request.query)
        with self.services.store.read() as conn:
            opened = service.open_indices(
                conn,
                request.params.get("index"),
                options,
                access.expanding(*_PRIVILEGES),
            )
            if opened.denied:
                raise index_forbidden(request.identity, "view_index_metadata", opened.denied)
            return service.secured(conn, opened.indices, request.identity, _PRIVILEGES)

    def _non_empty(self, record: IndexRecord) -> set[str]:
        """The leaf fields at least one document of `record` holds a value for."""
        now = self.services.clock.now()
        out: set[str] = set()
        for path, found in mp.fields_of(visible_mappings(record)).items():
            if found.is_object:
                continue
            exists = parse_query({"exists": {"field": path}})
            total = service.count(self.services.engine, [record], exists, min_score=None, now=now)
            if total > 0:
                out.add(path)
        return out

"""``_search``, ``_count``, ``_msearch``, scrolling and points in time.

Routes ask only for an authenticated caller: the index expression is resolved here, with
wildcards expanded to the indices the caller may read and explicit names checked one by one
(403 for a name the caller may not read, 404 for one that does not exist). Scroll and
point-in-time contexts (`citadel.node.search.contexts`) pin the searchers of the moment they
open; they answer only the caller who opened them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from citadel.node.errors import ActionRequestValidation, EsError, IllegalArgument, ParsingError
from citadel.node.http import routes_search_templates, routes_search_tools
from citadel.node.http.access import IndexAccess
from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.router import AUTHENTICATED, Router
from citadel.node.search import service
from citadel.node.search.contexts import ContextKind, Contexts, ReaderContext
from citadel.node.search.dsl import parse_query
from citadel.node.search.request import (
    IndexOptions,
    SearchRequest,
    parse_count,
    parse_index_options,
    parse_search,
)
from citadel.node.search.time_values import parse_time_value
from citadel.node.security.realm import index_forbidden
from citadel.node.services import NodeServices
from citadel.node.xcontent import parse_json

READ = "read"
MAX_MSEARCH = 1_000  # searches in one _msearch
_MSEARCH_HEADER = frozenset(
    {
        "index",
        "indices",
        "search_type",
        "preference",
        "routing",
        "request_cache",
        "ignore_unavailable",
        "allow_no_indices",
        "expand_wildcards",
        "ignore_throttled",
        "allow_partial_search_results",
        "ccs_minimize_roundtrips",
    }
)
_MSEARCH_PARAMS = frozenset(
    {
        "max_concurrent_searches",
        "max_concurrent_shard_requests",
        "pre_filter_shard_size",
        "rest_total_hits_as_int",
        "typed_keys",
        "search_type",
        "ccs_minimize_roundtrips",
        "ignore_unavailable",
        "allow_no_indices",
        "expand_wildcards",
        "ignore_throttled",
        "routing",
        "preference",
    }
)
_PIT_PARAMS = frozenset(
    {
        "keep_alive",
        "ignore_unavailable",
        "expand_wildcards",
        "allow_no_indices",
        "routing",
        "preference",
        "allow_partial_search_results",
        "max_concurrent_shard_requests",
    }
)


def register(router: Router, services: NodeServices) -> None:
    """Add the search routes to `router`."""
    routes = SearchRoutes(services)
    for method in ("GET", "POST"):
        for prefix in ("", "/_all", "/{index}"):
            router.add(method, f"{prefix}/_search", routes.search, AUTHENTICATED)
            router.add(method, f"{prefix}/_count", routes.count, AUTHENTICATED)
            router.add(method, f"{prefix}/_msearch", routes.msearch, AUTHENTICATED)
        router.add(method, "/_search/scroll", routes.scroll, AUTHENTICATED)
        router.add(method, "/_search/scroll/{scroll_id}", routes.scroll, AUTHENTICATED)
    router.add("DELETE", "/_search/scroll", routes.clear_scroll, AUTHENTICATED)
    router.add("DELETE", "/_search/scroll/{scroll_id}", routes.clear_scroll, AUTHENTICATED)
    router.add("DELETE", "/_search/scroll/_all", routes.clear_scroll, AUTHENTICATED)
    router.add("POST", "/{index}/_pit", routes.open_pit, AUTHENTICATED)
    router.add("DELETE", "/_pit", routes.close_pit, AUTHENTICATED)
    routes_search_tools.register(router, services)
    routes_search_templates.register(router, services, routes)


class SearchRoutes:
    """Handlers over the store, the engine, the realm, the clock and the open contexts."""

    def __init__(self, services: NodeServices) -> None:
        self.services = services
        self.contexts = Contexts()

    # -- search ------------------------------------------------------------------------------

    def search(self, request: NodeRequest) -> NodeResponse:
        """``GET|POST [/{index}]/_search``."""
        started = time.perf_counter()
        body = self._search(
            request, request.params.get("index"), request.json(), request.query, request.path
        )
        took = int((time.perf_counter() - started) * 1000)
        return NodeResponse(body={"took": took, **body})

    def _search(
        self,
        request: NodeRequest,
        expression: str | None,
        body: Any,
        params: Mapping[str, str],
        path: str,
    ) -> dict[str, Any]:
        parsed = parse_search(body, params, path=path)
        now = self.services.clock.now()
        if parsed.pit is not None:
            return self._search_pit(request, expression, parsed)
        options = parse_index_options(params)
        with self.services.store.read() as conn:
            opened = self._open(conn, request, expression, options)
        engine = self.services.engine
        if parsed.scroll_s is None:
            return service.search(engine, opened.indices, parsed, now=now)
        pinned = service.pin(engine, opened.indices)
        context = self.contexts.open(
            ContextKind.SCROLL,
            owner=_owner(request),
            records=opened.indices,
            searchers=pinned,
            keep_alive_s=parsed.scroll_s,
            now=now,
            request=replace(parsed, aggregations=None),
        )
        with context.lock:
            out = service.search(engine, opened.indices, parsed, now=now, pinned=pinned)
            context.position = parsed.from_ + parsed.size
        return {"_scroll_id": context.id, **out}

    def _search_pit(
        self, request: NodeRequest, expression: str | None, parsed: SearchRequest
    ) -> dict[str, Any]:
        assert parsed.pit is not None
        if expression is not None:
            raise ActionRequestValidation(
                "Validation Failed: 1: [indices] cannot be used with point in time. Do not "
                "specify any index with point in time.;"
            )
        now = self.services.clock.now()
        context = self.contexts.get(ContextKind.PIT, parsed.pit.id, owner=_owner(request), now=now)
        self._recheck(request, context)
        self.contexts.keep(context, parsed.pit.keep_alive_s, now)
        out = service.search(
            self.services.engine, context.records, parsed, now=now, pinned=context.searchers
        )
        return {"pit_id": context.id, **out}

    def count(self, request: NodeRequest) -> NodeResponse:
        """``GET|POST [/{index}]/_count``."""
        query, min_score = parse_count(request.json(), request.query, path=request.path)
        options = parse_index_options(request.query)
        with self.services.store.read() as conn:
            opened = self._open(conn, request, request.params.get("index"), options)
        total = service.count(
            self.services.engine,
            opened.indices,
            query,
            min_score=min_score,
            now=self.services.clock.now(),
        )
        return NodeResponse(body={"count": total, "_shards": service.shards(len(opened.indices))})

    # -- msearch -----------------------------------------------------------------------------

    def msearch(self, request: NodeRequest) -> NodeResponse:
        """``GET|POST [/{index}]/_msearch``: NDJSON header and body lines, one answer each."""
        started = time.perf_counter()
        unknown = sorted(p for p in request.query if p not in _MSEARCH_PARAMS)
        if unknown:
            raise IllegalArgument(
                f"request [{request.path}] contains unrecognized parameter: [{','.join(unknown)}]"
            )
        items, shared = msearch_lines(request)
        responses = []
        for header, body in items:
            try:
                params, expression = msearch_item_params(
                    header, shared, request.params.get("index")
                )
                one_started = time.perf_counter()
                out = self._search(request, expression, body, params, request.path)
                took = int((time.perf_counter() - one_started) * 1000)
                responses.append({"took": took, **out, "status": 200})
            except EsError as exc:
                responses.append(exc.body())
        took = int((time.perf_counter() - started) * 1000)
        return NodeResponse(body={"took": took, "responses": responses})

    # -- scroll ------------------------------------------------------------------------------

    def scroll(self, request: NodeRequest) -> NodeResponse:
        """``GET|POST /_search/scroll``: the next page of a scroll."""
        started = time.perf_counter()
        body = request.json()
        if body is not None and not isinstance(body, Mapping):
            raise ParsingError("request body must be an object")
        body = body or {}
        for key in body:
            if key not in ("scroll_id", "scroll"):
                raise ParsingError(
                    f"Unknown parameter [{key}] in request body or parameter is of the wrong "
                    f"type[{_token(body[key])}] "
                )
        unknown = sorted(
            p for p in request.query if p not in ("scroll", "scroll_id", "rest_total_hits_as_int")
        )
        if unknown:
            raise IllegalArgument(
                f"request [{request.path}] contains unrecognized parameter: [{','.join(unknown)}]"
            )
        scroll_id = body.get("scroll_id") or request.query.get("scroll_id")
        scroll_id = scroll_id or request.params.get("scroll_id")
        if not isinstance(scroll_id, str) or not scroll_id:
            raise ActionRequestValidation("Validation Failed: 1: scrollId is missing;")
        keep = body.get("scroll", request.query.get("scroll"))
        keep_s = None if keep is None else parse_time_value(str(keep), "scroll")
        now = self.services.clock.now()
        context = self.contexts.get(ContextKind.SCROLL, scroll_id, owner=_owner(request), now=now)
        self._recheck(request, context)
        self.contexts.keep(context, keep_s, now)
        parsed: SearchRequest = context.request
        if request.query.get("rest_total_hits_as_int") in ("", "true"):
            parsed = replace(parsed, total_as_int=True)
        with context.lock:
            page = replace(parsed, from_=context.position)
            out = service.search(
                self.services.engine, context.records, page, now=now, pinned=context.searchers
            )
            context.position += parsed.size
        took = int((time.perf_counter() - started) * 1000)
        return NodeResponse(body={"_scroll_id": context.id, "took": took, **out})

    def clear_scroll(self, request: NodeRequest) -> NodeResponse:
        """``DELETE /_search/scroll``: free scrolls by id, or ``_all``."""
        body = request.json()
        ids: list[str] = []
        if isinstance(body, Mapping):
            raw = body.get("scroll_id", [])
            ids = raw if isinstance(raw, list) else [raw]
        elif body is not None:
            raise ParsingError("request body must be an object")
        if "scroll_id" in request.query:
            ids += request.query["scroll_id"].split(",")
        if "scroll_id" in request.params:
            ids += request.params["scroll_id"].split(",")
        if request.path.rstrip("/").endswith("/_all"):
            ids.append("_all")
        if not ids:
            raise ActionRequestValidation("Validation Failed: 1: no scroll ids specified;")
        now = self.services.clock.now()
        owner = _owner(request)
        if "_all" in ids:
            freed = self.contexts.close_all(ContextKind.SCROLL, owner=owner, now=now)
        else:
            freed = self.contexts.close(ContextKind.SCROLL, map(str, ids), owner=owner, now=now)
        return _freed(freed)

    # -- point in time -----------------------------------------------------------------------

    def open_pit(self, request: NodeRequest) -> NodeResponse:
        """``POST /{index}/_pit?keep_alive=``: pin the indices' searchers of this moment."""
        unknown = sorted(p for p in request.query if p not in _PIT_PARAMS)
        if unknown:
            raise IllegalArgument(
                f"request [{request.path}] contains unrecognized parameter: [{','.join(unknown)}]"
            )
        if "keep_alive" not in request.query:
            raise ActionRequestValidation("Validation Failed: 1: [keep_alive] is not specified;")
        keep_s = parse_time_value(request.query["keep_alive"], "keep_alive")
        body = request.json()
        index_filter = None
        if body is not None:
            if not isinstance(body, Mapping):
                raise ParsingError("request body must be an object")
            for key in body:
                if key != "index_filter":
                    raise ParsingError(f"[open_point_in_time] unknown field [{key}]")
            if "index_filter" in body:
                index_filter = parse_query(body["index_filter"])
        options = parse_index_options(request.query)
        with self.services.store.read() as conn:
            opened = self._open(conn, request, request.params.get("index"), options)
        now = self.services.clock.now()
        records = opened.indices
        if index_filter is not None:
            records = [
                r
                for r in records
                if service.count(self.services.engine, [r], index_filter, min_score=None, now=now)
            ]
        context = self.contexts.open(
            ContextKind.PIT,
            owner=_owner(request),
            records=records,
            searchers=service.pin(self.services.engine, records),
            keep_alive_s=keep_s,
            now=now,
        )
        return NodeResponse(body={"id": context.id, "_shards": service.shards(len(records))})

    def close_pit(self, request: NodeRequest) -> NodeResponse:
        """``DELETE /_pit``: free a point in time."""
        body = request.json(required=True)
        if not isinstance(body, Mapping) or not isinstance(body.get("id"), str):
            raise ActionRequestValidation("Validation Failed: 1: id is missing;")
        freed = self.contexts.close(
            ContextKind.PIT, [body["id"]], owner=_owner(request), now=self.services.clock.now()
        )
        return _freed(freed)

    # -- shared ------------------------------------------------------------------------------

    def _open(
        self, conn: Any, request: NodeRequest, expression: str | None, options: IndexOptions
    ) -> service.Opened:
        """The searched indices; 403 for an explicitly named one the caller may not read."""
        access = IndexAccess(self.services.realm, request.identity)
        opened = service.open_indices(conn, expression, options, access.expanding(READ))
        if opened.denied:
            raise index_forbidden(request.identity, READ, opened.denied)
        return service.Opened(service.secured(conn, opened.indices, request.identity))

    def _recheck(self, request: NodeRequest, context: ReaderContext) -> None:
        """The caller may still read every index of a context (roles may have changed)."""
        access = IndexAccess(self.services.realm, request.identity)
        denied = [r.name for r in context.records if not access.allowed(READ, r.name)]
        if denied:
            raise index_forbidden(request.identity, READ, denied)


def _owner(request: NodeRequest) -> str:
    """Who holds a context: the user of a realm, or one API key."""
    identity = request.identity
    return f"{identity.realm}/{identity.username}/{identity.api_key_id or ''}"


def _freed(count: int) -> NodeResponse:
    """Elasticsearch's answer to freeing contexts: 404 when none was open."""
    return NodeResponse(status=200 if count else 404, body={"succeeded": True, "num_freed": count})


def _token(value: Any) -> str:
    return "START_OBJECT" if isinstance(value, Mapping) else "VALUE"


def msearch_lines(request: NodeRequest) -> tuple[list[tuple[dict[str, Any], Any]], dict[str, str]]:
    """The (header, body) pairs of a multi-request (``_msearch``, ``_msearch/template``) and
    the URL parameters every item shares; 400 when there is none."""
    items = _msearch_items(request.body)
    if not items:
        raise ActionRequestValidation("Validation Failed: 1: no requests added;")
    shared = {
        k: v
        for k, v in request.query.items()
        if k in ("rest_total_hits_as_int", "typed_keys", "search_type")
    }
    return items, shared


def _msearch_items(body: bytes) -> list[tuple[dict[str, Any], Any]]:
    """(header, body) pairs of an ``_msearch`` NDJSON body."""
    lines = [line for line in body.split(b"\n") if line.strip()]
    if len(lines) % 2:
        raise IllegalArgument("The msearch request must be terminated by a newline [\\n]")
    if len(lines) // 2 > MAX_MSEARCH:
        raise IllegalArgument(f"[_msearch] takes at most {MAX_MSEARCH} searches on this node")
    out = []
    for i in range(0, len(lines), 2):
        header = parse_json(lines[i])
        if not isinstance(header, Mapping):
            raise ParsingError("msearch header must be an object")
        for key in header:
            if key not in _MSEARCH_HEADER:
                raise IllegalArgument(f"key [{key}] is not supported in the metadata section")
        out.append((dict(header), parse_json(lines[i + 1])))
    return out


def msearch_item_params(
    header: Mapping[str, Any], shared: Mapping[str, str], default_index: str | None
) -> tuple[dict[str, str], str | None]:
    """The URL-style parameters and index expression of one ``_msearch`` search."""
    params = dict(shared)
    for key in (
        "ignore_unavailable",
        "allow_no_indices",
        "expand_wildcards",
        "routing",
        "preference",
        "search_type",
        "request_cache",
    ):
        if key in header:
            value = header[key]
            if isinstance(value, bool):
                value = "true" if value else "false"
            elif isinstance(value, list):
                value = ",".join(str(v) for v in value)
            params[key] = str(value)
    index = header.get("index", header.get("indices", default_index))
    if isinstance(index, list):
        index = ",".join(str(i) for i in index)
    return params, index

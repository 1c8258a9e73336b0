"""Index routes: create, delete, exists, get, ``_mapping``, ``_settings``, ``_refresh``,
``_open``/``_close``, ``_stats``, ``_forcemerge``, ``_flush``, ``_cache/clear``, ``_block``,
``_analyze``, ``_resolve/index``, ``_mapping/field``."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from citadel.node.errors import EsError, IllegalArgument, IndexNotFound
from citadel.node.http.access import IndexAccess
from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.router import AUTHENTICATED, Router, index
from citadel.node.search import service
from citadel.node.security.document_security import visible_mappings
from citadel.node.security.realm import index_forbidden
from citadel.node.services import NodeServices
from citadel.node.store import analyze as analysis
from citadel.node.store import data_streams, indices
from citadel.node.store import mapping as mp
from citadel.node.store.expressions import Catalog

ACKNOWLEDGED = {"acknowledged": True}
_REFRESH_PRIVILEGES = ("read", "write", "manage", "index", "create", "delete")


def register(router: Router, services: NodeServices) -> None:
    """Add this area's routes to `router`."""
    routes = IndexRoutes(services)
    router.add("PUT", "/{index}", routes.create, index("create_index"))
    router.add("DELETE", "/{index}", routes.delete, index("delete_index"))
    # reads that expand wildcards to the indices the caller may see check names themselves
    router.add("GET", "/{index}", routes.get, AUTHENTICATED)
    router.add("GET", "/_mapping", routes.get_mapping, AUTHENTICATED)
    router.add("GET", "/{index}/_mapping", routes.get_mapping, AUTHENTICATED)
    router.add("PUT", "/{index}/_mapping", routes.put_mapping, index("manage"))
    router.add("POST", "/{index}/_mapping", routes.put_mapping, index("manage"))
    router.add("GET", "/_settings", routes.get_settings, AUTHENTICATED)
    router.add("GET", "/{index}/_settings", routes.get_settings, AUTHENTICATED)
    router.add("PUT", "/{index}/_settings", routes.put_settings, index("manage"))
    router.add("PUT", "/_settings", routes.put_settings, AUTHENTICATED)
    router.add("POST", "/{index}/_close", routes.close, index("manage"))
    router.add("POST", "/{index}/_open", routes.open, index("manage"))
    router.add("PUT", "/{index}/_block/{block}", routes.add_block, index("manage"))
    router.add("DELETE", "/{index}/_block/{block}", routes.remove_block, index("manage"))
    router.add("GET", "/_stats", routes.stats, AUTHENTICATED)
    router.add("GET", "/_stats/{metric}", routes.stats, AUTHENTICATED)
    router.add("GET", "/{index}/_stats", routes.stats, AUTHENTICATED)
    router.add("GET", "/{index}/_stats/{metric}", routes.stats, AUTHENTICATED)
    for method in ("GET", "POST"):
        router.add(method, "/_resolve/index/{name}", routes.resolve_index, AUTHENTICATED)
    router.add("GET", "/_resolve/cluster/{name}", routes.resolve_cluster, AUTHENTICATED)
    router.add("GET", "/_mapping/field/{fields}", routes.field_mapping, AUTHENTICATED)
    router.add(
        "GET",
        "/{index}/_mapping/field/{fields}",
        routes.field_mapping,
        AUTHENTICATED,
    )
    for method in ("GET", "POST"):
        router.add(method, "/_analyze", routes.analyze, AUTHENTICATED)
        router.add(method, "/{index}/_analyze", routes.analyze, index("read"))
    for method in ("POST", "GET"):
        router.add(method, "/_flush", routes.flush, AUTHENTICATED)
        router.add(method, "/{index}/_flush", routes.flush, index("manage"))
    router.add("POST", "/_forcemerge", routes.forcemerge, AUTHENTICATED)
    router.add("POST", "/{index}/_forcemerge", routes.forcemerge, index("manage"))
    router.add("POST", "/_cache/clear", routes.clear_cache, AUTHENTICATED)
    router.add("POST", "/{index}/_cache/clear", routes.clear_cache, index("manage"))
    for method in ("POST", "GET"):
        router.add(method, "/_refresh", routes.refresh, AUTHENTICATED)
        router.add(method, "/{index}/_refresh", routes.refresh, AUTHENTICATED)


class IndexRoutes:
    """Handlers over the node's store."""

    def __init__(self, services: NodeServices) -> None:
        self.services = services

    def create(self, request: NodeRequest) -> NodeResponse:
        """``PUT /{index}``."""
        name = request.params["index"]
        body = request.json()
        with self.services.store.write() as conn:
            indices.create(conn, self.services.clock, name, body, explicit=True)
        return NodeResponse(body={"acknowledged": True, "shards_acknowledged": True, "index": name})

    def delete(self, request: NodeRequest) -> NodeResponse:
        """``DELETE /{index}``: named indices only (no wildcards, as Elasticsearch 8)."""
        expression = request.params["index"]
        if indices.is_pattern(expression):
            raise IllegalArgument("Wildcard expressions or all indices are not allowed")
        with self.services.store.write() as conn:
            catalog = indices.load_catalog(conn)
            for name in expression.split(","):
                _refuse_non_index(catalog, name)
            records = indices.resolve(
                conn,
                expression,
                ignore_unavailable=request.flag("ignore_unavailable"),
                closed_ok=True,
            )
            for record in records:
                data_streams.forget_backing(conn, record)
                indices.delete(conn, record)
        for record in records:
            self.services.engine.drop(record.uuid)
        return NodeResponse(body=ACKNOWLEDGED)

    def get(self, request: NodeRequest) -> NodeResponse:
        """``GET /{index}`` (and ``HEAD``, which answers 200 or 404 with no body)."""
        with self.services.store.read() as conn:
            records = self._with_mappings(conn, request)
        if not records and request.method == "HEAD":
            raise IndexNotFound(request.params["index"])
        flat = request.flag("flat_settings")
        return NodeResponse(body={r.name: indices.describe(r, flat_settings=flat) for r in records})

    def get_mapping(self, request: NodeRequest) -> NodeResponse:
        """``GET [/{index}]/_mapping``."""
        with self.services.store.read() as conn:
            records = self._with_mappings(conn, request)
        return NodeResponse(body={r.name: {"mappings": r.mappings} for r in records})

    def put_mapping(self, request: NodeRequest) -> NodeResponse:
        """``PUT /{index}/_mapping``: add fields; changing a field's type is a 400."""
        body = request.json(required=True)
        with self.services.store.write() as conn:
            records = self._resolve(conn, request, "manage")
            for record in records:
                indices.put_mapping(conn, record, body)
        return NodeResponse(body=ACKNOWLEDGED)

    def get_settings(self, request: NodeRequest) -> NodeResponse:
        """``GET [/{index}]/_settings``."""
        flat = request.flag("flat_settings")
        with self.services.store.read() as conn:
            records = self._resolve(conn, request, "view_index_metadata")
        return NodeResponse(
            body={r.name: {"settings": indices.settings_view(r, flat=flat)} for r in records}
        )

    def put_settings(self, request: NodeRequest) -> NodeResponse:
        """``PUT /{index}/_settings``: dynamic settings only."""
        body = request.json(required=True)
        access = IndexAccess(self.services.realm, request.identity)
        with self.services.store.write() as conn:
            records = self._resolve(conn, request, "manage")
            for record in records:
                access.require("manage", record.name)
                indices.put_settings(conn, record, body)
        for record in records:
            self.services.engine.set_refresh_interval(record.uuid, record.refresh_s)
        return NodeResponse(body=ACKNOWLEDGED)

    def refresh(self, request: NodeRequest) -> NodeResponse:
        """``_refresh``: make every acknowledged write searchable now."""
        access = IndexAccess(self.services.realm, request.identity)
        with self.services.store.read() as conn:
            records = indices.resolve(
                conn,
                request.params.get("index"),
                allowed=access.expanding(*_REFRESH_PRIVILEGES),
                ignore_unavailable=request.flag("ignore_unavailable"),
            )
        for record in records:
            if not access.allowed_any(_REFRESH_PRIVILEGES, record.name):
                raise index_forbidden(request.identity, "manage", [record.name])
        for record in records:
            self.services.engine.shard(record).refresh()
        count = len(records)
        return NodeResponse(body={"_shards": {"total": count, "successful": count, "failed": 0}})

    def _resolve(
        self, conn: Any, request: NodeRequest, privilege: str
    ) -> list[indices.IndexRecord]:
        """The indices named in the path (all when none), wildcards expanded to allowed ones;
        a 403 for a name given exactly that the caller may not `privilege`."""
        access = IndexAccess(self.services.realm, request.identity)
        access.require_named(request.params.get("index"), privilege)
        return indices.resolve(
            conn,
            request.params.get("index"),
            allowed=access.expanding(privilege),
            ignore_unavailable=request.flag("ignore_unavailable"),
            allow_no_indices=request.flag("allow_no_indices", True),
            expand_hidden=_expands(request, "hidden"),
            expand_closed=_expands(request, "closed"),
            closed_ok=True,
        )

    def _with_mappings(self, conn: Any, request: NodeRequest) -> list[indices.IndexRecord]:
        """The indices named (`_resolve` with ``view_index_metadata``) with the mappings the
        caller may see: fields hidden by field-level security left out, as Elasticsearch's
        mapping APIs do."""
        records = self._resolve(conn, request, _METADATA)
        secured = service.secured(conn, records, request.identity, (_METADATA,))
        return [
            r if r.mappings is visible_mappings(r) else replace(r, mappings=visible_mappings(r))
            for r in secured
        ]

    # -- open and close ----------------------------------------------------------------------

    def close(self, request: NodeRequest) -> NodeResponse:
        """``POST /{index}/_close``: reads and writes refused until ``_open``."""
        records = self._set_state(request, "close")
        return NodeResponse(
            body={
                "acknowledged": True,
                "shards_acknowledged": True,
                "indices": {r.name: {"closed": True} for r in records},
            }
        )

    def open(self, request: NodeRequest) -> NodeResponse:
        """``POST /{index}/_open``."""
        self._set_state(request, "open")
        return NodeResponse(body={"acknowledged": True, "shards_acknowledged": True})

    def _set_state(self, request: NodeRequest, state: str) -> list[indices.IndexRecord]:
        with self.services.store.write() as conn:
            records = indices.resolve(
                conn,
                request.params["index"],
                ignore_unavailable=request.flag("ignore_unavailable"),
                allow_no_indices=request.flag("allow_no_indices", True),
                expand_closed=True,
                closed_ok=True,
            )
            for record in records:
                if state == "close":
                    _refuse_write_index_of_stream(conn, record)
                record.state = state
                indices.save_meta(conn, record)
        if state == "close":
            for record in records:
                self.services.engine.shard(record).refresh()
        return records

    # -- blocks ------------------------------------------------------------------------------

    def add_block(self, request: NodeRequest) -> NodeResponse:
        """``PUT /{index}/_block/{block}``: sets ``index.blocks.<block>``."""
        names = self._block(request, "true")
        return NodeResponse(
            body={
                "acknowledged": True,
                "shards_acknowledged": True,
                "indices": [{"name": n, "blocked": True} for n in names],
            }
        )

    def remove_block(self, request: NodeRequest) -> NodeResponse:
        """``DELETE /{index}/_block/{block}``."""
        names = self._block(request, "false")
        return NodeResponse(
            body={"acknowledged": True, "indices": [{"name": n, "unblocked": True} for n in names]}
        )

    def _block(self, request: NodeRequest, value: str) -> list[str]:
        block = request.params["block"]
        if block not in ("write", "read", "read_only", "metadata"):
            raise IllegalArgument(f"No block [{block}]")
        with self.services.store.write() as conn:
            records = self._resolve(conn, request, "manage")
            for record in records:
                indices.put_settings(conn, record, {f"index.blocks.{block}": value})
        return [r.name for r in records]

    # -- statistics and maintenance ----------------------------------------------------------

    def stats(self, request: NodeRequest) -> NodeResponse:
        """``GET [/{index}]/_stats[/{metric}]``: docs and store (the node keeps no other
        counters; other metrics are a 400)."""
        metrics = _metrics(request.params.get("metric"))
        access = IndexAccess(self.services.realm, request.identity)
        access.require_named(request.params.get("index"), "monitor")
        with self.services.store.read() as conn:
            records = indices.resolve(
                conn,
                request.params.get("index"),
                allowed=access.expanding("monitor"),
                ignore_unavailable=request.flag("ignore_unavailable"),
                expand_hidden=_expands(request, "hidden"),
            )
        per_index = {}
        total = _Figures()
        for record in records:
            figures = _Figures.of(self.services.engine.shard(record))
            total.add(figures)
            section = _stats_section(metrics, figures)
            per_index[record.name] = {
                "uuid": record.uuid,
                "health": "green",
                "status": "open",
                "primaries": section,
                "total": section,
            }
        all_section = _stats_section(metrics, total)
        count = len(records)
        return NodeResponse(
            body={
                "_shards": {"total": count, "successful": count, "failed": 0},
                "_all": {"primaries": all_section, "total": all_section},
                "indices": per_index,
            }
        )

    def forcemerge(self, request: NodeRequest) -> NodeResponse:
        """``POST [/{index}]/_forcemerge``: merges each shard's segments."""
        records = self._maintained(request)
        for record in records:
            self.services.engine.shard(record).force_merge()
        return NodeResponse(body={"_shards": _shards(len(records))})

    def flush(self, request: NodeRequest) -> NodeResponse:
        """``POST [/{index}]/_flush``: commits each shard (a refresh commits here)."""
        records = self._maintained(request)
        for record in records:
            self.services.engine.shard(record).flush()
        return NodeResponse(body={"_shards": _shards(len(records))})

    def clear_cache(self, request: NodeRequest) -> NodeResponse:
        """``POST [/{index}]/_cache/clear``: the node keeps no query or fielddata caches."""
        records = self._maintained(request)
        return NodeResponse(body={"_shards": _shards(len(records))})

    def _maintained(self, request: NodeRequest) -> list[indices.IndexRecord]:
        access = IndexAccess(self.services.realm, request.identity)
        with self.services.store.read() as conn:
            return indices.resolve(
                conn,
                request.params.get("index"),
                allowed=access.expanding("manage"),
                ignore_unavailable=request.flag("ignore_unavailable"),
                expand_hidden=_expands(request, "hidden"),
            )

    # -- analysis, resolution, field mappings ------------------------------------------------

    def analyze(self, request: NodeRequest) -> NodeResponse:
        """``[/{index}]/_analyze``: the node's analyzers, tokenizers and filters."""
        body = analysis.parse_request(request.json(required=True))
        analyzer = body.get("analyzer")
        if body.get("field") is not None:
            name = request.params.get("index")
            if name is None:
                raise IllegalArgument("analysis by [field] needs an index")
            with self.services.store.read() as conn:
                record = indices.require(conn, name)
            found = mp.fields_of(record.mappings).get(str(body["field"]))
            definition = found.definition if found else None
            analyzer = analysis.field_analyzer(definition, str(body["field"]))
        elif request.params.get("index") is not None:
            with self.services.store.read() as conn:
                indices.require(conn, request.params["index"])
        filters = body.get("filter")
        if filters is not None and not isinstance(filters, list):
            filters = [filters]
        if filters is not None and not all(isinstance(f, str) for f in filters):
            raise IllegalArgument("custom token filters are not supported by this node")
        tokenizer = body.get("tokenizer")
        if tokenizer is not None and not isinstance(tokenizer, str):
            raise IllegalArgument("custom tokenizers are not supported by this node")
        found_tokens = analysis.tokens(
            body["text"], analyzer=analyzer, tokenizer=tokenizer, filters=filters
        )
        return NodeResponse(body={"tokens": [t.body() for t in found_tokens]})

    def resolve_index(self, request: NodeRequest) -> NodeResponse:
        """``GET /_resolve/index/{name}``: the indices, aliases and data streams it names."""
        access = IndexAccess(self.services.realm, request.identity)
        with self.services.store.read() as conn:
            catalog = indices.load_catalog(conn)
            records = {
                r.name: r
                for r in indices.resolve(
                    conn, None, expand_hidden=True, expand_closed=True, closed_ok=True
                )
            }
        body = _resolved(
            catalog,
            request.params["name"],
            records,
            access.expanding("view_index_metadata"),
            hidden=_expands(request, "hidden"),
        )
        return NodeResponse(body=body)

    def resolve_cluster(self, request: NodeRequest) -> NodeResponse:
        """``GET /_resolve/cluster/{name}``: the local cluster only (no remote clusters)."""
        expression = request.params["name"]
        for part in expression.split(","):
            if ":" in part:
                cluster = part.split(":", 1)[0]
                raise NoSuchRemoteCluster(f"no such remote cluster: [{cluster}]")
        entry: dict[str, Any] = {"connected": True, "skip_unavailable": False}
        try:
            found = self.resolve_index(request).body
            entry["matching_indices"] = any(found[k] for k in found)
        except IndexNotFound as missing:
            entry["error"] = missing.reason
        entry["version"] = {
            "number": self.services.info.version,
            "build_flavor": "default",
            "minimum_wire_compatibility_version": "7.17.0",
            "minimum_index_compatibility_version": "7.0.0",
        }
        return NodeResponse(body={"(local)": entry})

    def field_mapping(self, request: NodeRequest) -> NodeResponse:
        """``GET [/{index}]/_mapping/field/{fields}``."""
        patterns = [p for p in request.params["fields"].split(",") if p]
        with self.services.store.read() as conn:
            records = self._with_mappings(conn, request)
        body = {}
        for record in records:
            found = {}
            for path, fld in mp.fields_of(record.mappings).items():
                if any(indices.wildcard(p).fullmatch(path) for p in patterns):
                    leaf = path.rsplit(".", 1)[-1]
                    definition = {
                        k: v for k, v in fld.definition.items() if k not in ("properties", "fields")
                    }
                    found[path] = {"full_name": path, "mapping": {leaf: definition}}
            body[record.name] = {"mappings": found}
        return NodeResponse(body=body)


class NoSuchRemoteCluster(EsError):
    type = "no_such_remote_cluster_exception"
    status = 404


_METADATA = "view_index_metadata"


def _expands(request: NodeRequest, state: str) -> bool:
    wanted = set((request.query.get("expand_wildcards") or "open").split(","))
    return bool(wanted & {state, "all"})


def _shards(count: int) -> dict[str, int]:
    return {"total": count, "successful": count, "failed": 0}


_METRICS = frozenset({"docs", "store", "flush", "refresh"})


@dataclass
class _Figures:
    """What ``_stats`` reports of one shard, or of several added up."""

    docs: int = 0
    bytes: int = 0
    flushes: int = 0
    periodic_flushes: int = 0
    flush_ns: int = 0
    refreshes: int = 0
    refresh_ns: int = 0

    @classmethod
    def of(cls, shard: Any) -> _Figures:
        return cls(
            docs=int(shard.doc_count()),
            bytes=int(shard.size_bytes()),
            flushes=shard.flushes.total,
            periodic_flushes=shard.flushes.periodic,
            flush_ns=shard.flushes.time_ns,
            refreshes=shard.refreshes,
            refresh_ns=shard.refresh_ns,
        )

    def add(self, other: _Figures) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def _metrics(spec: str | None) -> set[str]:
    if spec is None or spec == "_all":
        return set(_METRICS)
    wanted = {m.strip() for m in spec.split(",") if m.strip()}
    unknown = sorted(wanted - _METRICS - {"_all"})
    if unknown:
        raise IllegalArgument(
            f"index stats metric [{unknown[0]}] is not supported by this node "
            "(it keeps docs, store, flush and refresh)"
        )
    return set(_METRICS) if "_all" in wanted else wanted


def _stats_section(metrics: set[str], figures: _Figures) -> dict[str, Any]:
    out: dict[str, Any] = {}
    size = figures.bytes
    if "docs" in metrics:
        out["docs"] = {"count": figures.docs, "deleted": 0, "total_size_in_bytes": size}
    if "store" in metrics:
        out["store"] = {
            "size_in_bytes": size,
            "total_data_set_size_in_bytes": size,
            "reserved_in_bytes": 0,
        }
    if "flush" in metrics:
        out["flush"] = {
            "total": figures.flushes,
            "periodic": figures.periodic_flushes,
            "total_time_in_millis": figures.flush_ns // 1_000_000,
            "total_time_excluding_waiting_on_lock_in_millis": figures.flush_ns // 1_000_000,
        }
    if "refresh" in metrics:
        millis = figures.refresh_ns // 1_000_000
        out["refresh"] = {
            "total": figures.refreshes,
            "total_time_in_millis": millis,
            "external_total": figures.refreshes,
            "external_total_time_in_millis": millis,
            "listeners": 0,
        }
    return out


def _refuse_non_index(catalog: Catalog, name: str) -> None:
    kind = catalog.kind(name)
    if kind in ("alias", "data_stream"):
        raise IllegalArgument(
            f"The provided expression [{name}] matches "
            f"{'an alias' if kind == 'alias' else 'a data stream'}, specify the corresponding "
            "concrete indices instead."
        )


def _refuse_write_index_of_stream(conn: Any, record: indices.IndexRecord) -> None:
    found = data_streams.stream_of(conn, record.name)
    if found is not None and found[1]["indices"][-1] == record.name:
        raise IllegalArgument(
            f"cannot close index [{record.name}] because it is the write index for data "
            f"stream [{found[0]}]"
        )


def _resolved(
    catalog: Catalog,
    expression: str,
    records: dict[str, indices.IndexRecord],
    allowed: Any,
    *,
    hidden: bool,
) -> dict[str, Any]:
    """The body of ``_resolve/index``: what each kind of name in `expression` resolves to."""
    names: list[str] = []
    every = sorted({*catalog.indices, *catalog.aliases, *catalog.streams})
    for part in (p.strip() for p in expression.split(",") if p.strip()):
        if not indices.is_pattern(part):
            if catalog.kind(part) is None:
                raise IndexNotFound(part)
            names.append(part)
            continue
        pattern = indices.wildcard("*" if part == "_all" else part)
        hidden_ok = hidden or part.startswith(".")
        for name in every:
            if not pattern.fullmatch(name) or not allowed(name):
                continue
            record = records.get(name)
            concealed = name.startswith(".") or (record is not None and record.hidden)
            if concealed and not hidden_ok:
                continue
            names.append(name)
    out_indices, out_aliases, out_streams = [], [], []
    stream_of = {i: s for s, f in catalog.streams.items() for i in f.indices}
    for name in dict.fromkeys(names):
        kind = catalog.kind(name)
        if kind == "index":
            record = records[name]
            entry: dict[str, Any] = {"name": name}
            if record.aliases:
                entry["aliases"] = sorted(record.aliases)
            entry["attributes"] = (["hidden"] if record.hidden else []) + [
                "closed" if record.closed else "open"
            ]
            if name in stream_of:
                entry["data_stream"] = stream_of[name]
            out_indices.append(entry)
        elif kind == "alias":
            out_aliases.append({"name": name, "indices": sorted(catalog.aliases[name])})
        else:
            out_streams.append(
                {
                    "name": name,
                    "backing_indices": list(catalog.streams[name].indices),
                    "timestamp_field": "@timestamp",
                }
            )
    return {"indices": out_indices, "aliases": out_aliases, "data_streams": out_streams}

"""Shard-level index APIs: ``_segments``, ``_recovery``, ``_shard_stores``, ``_disk_usage`` and
``_field_usage_stats``, over each index's one shard on this node.

- ``_segments`` lists the committed tantivy segments (``meta.json``), named ``_0``, ``_1`` … by
  position as Lucene names its segments; the tantivy segment id is the ``segment_id``
  attribute. ``_shards.total`` counts the replicas an index asks for, which one node never
  assigns (as Elasticsearch counts them).
- ``_recovery``: every primary recovered when it opened, ``EMPTY_STORE`` for an index created
  since the node started (``LOCAL_SHARDS`` for a clone, shrink or split target),
  ``EXISTING_STORE`` otherwise, with the translog operations replayed; all ``DONE``.
- ``_shard_stores``: the one store of each shard whose health ``status`` asks for (default
  ``yellow,red``: an index with replicas it cannot assign is yellow).
- ``_disk_usage`` (``run_expensive_tasks=true`` required): `citadel.node.disk_usage`.
- ``_field_usage_stats``: the node does not count field accesses, so every count is zero; the
  shape is Elasticsearch's and ``tracking_started_at_millis`` is when the shard opened.
"""

from __future__ import annotations

from typing import Any

from citadel.node import cluster_health, cluster_state, disk_usage, local_node
from citadel.node.errors import IllegalArgument
from citadel.node.http.access import IndexAccess
from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.router import AUTHENTICATED, Router
from citadel.node.security.realm import index_forbidden
from citadel.node.services import LUCENE_VERSION, NodeServices
from citadel.node.shard_stats import read_segments
from citadel.node.store import indices
from citadel.node.store.indices import IndexRecord

_MONITOR = ("monitor", "view_index_metadata")
_STATUSES = ("green", "yellow", "red", "all")
RESIZE_SOURCE = "index.resize.source.name"


def register(router: Router, services: NodeServices) -> None:
    """Add this area's routes to `router`."""
    routes = ShardRoutes(services)
    for prefix in ("", "/{index}"):
        router.add("GET", f"{prefix}/_segments", routes.segments, AUTHENTICATED)
        router.add("GET", f"{prefix}/_recovery", routes.recovery, AUTHENTICATED)
        router.add("GET", f"{prefix}/_shard_stores", routes.shard_stores, AUTHENTICATED)
    router.add("POST", "/{index}/_disk_usage", routes.disk_usage, AUTHENTICATED)
    router.add("GET", "/{index}/_field_usage_stats", routes.field_usage, AUTHENTICATED)


class ShardRoutes:
    """Handlers over the catalog and the engine's shards."""

    def __init__(self, services: NodeServices) -> None:
        self.services = services

    def _records(
        self, request: NodeRequest, privileges: tuple[str, ...] = _MONITOR
    ) -> list[IndexRecord]:
        access = IndexAccess(self.services.realm, request.identity)
        wanted = set((request.query.get("expand_wildcards") or "open").split(","))
        with self.services.store.read() as conn:
            records = indices.resolve(
                conn,
                request.params.get("index"),
                allowed=access.expanding(*privileges),
                ignore_unavailable=request.flag("ignore_unavailable"),
                allow_no_indices=request.flag("allow_no_indices", True),
                expand_hidden=bool(wanted & {"hidden", "all"}),
            )
        for record in records:
            if not access.allowed_any(privileges, record.name):
                raise index_forbidden(request.identity, privileges[0], [record.name])
        return sorted(records, key=lambda r: r.name)

    def _node(self) -> local_node.LocalNode:
        return local_node.of(self.services.info, self.services.clock)

    # -- segments ----------------------------------------------------------------------------

    def segments(self, request: NodeRequest) -> NodeResponse:
        """``GET [/{index}]/_segments``."""
        records = self._records(request)
        node = self._node()
        out: dict[str, Any] = {}
        total = 0
        for record in records:
            total += 1 + cluster_health.replicas(record.settings)
            shard = self.services.engine.shard(record)
            found = read_segments(shard.directory / "index")
            segments = {
                f"_{_base36(s.generation)}": {
                    "generation": s.generation,
                    "num_docs": s.docs,
                    "deleted_docs": s.deleted,
                    "size_in_bytes": s.bytes,
                    "memory_in_bytes": 0,
                    "committed": True,
                    "search": True,
                    "version": LUCENE_VERSION,
                    "compound": False,
                    "attributes": {"segment_id": s.id},
                }
                for s in found
            }
            entry = {
                "routing": {"state": "STARTED", "primary": True, "node": node.id},
                "num_committed_segments": len(found),
                "num_search_segments": len(found),
                "segments": segments,
            }
            out[record.name] = {"shards": {"0": [entry]}}
        shards = {"total": total, "successful": len(records), "failed": 0}
        return NodeResponse(body={"_shards": shards, "indices": out})

    # -- recovery ----------------------------------------------------------------------------

    def recovery(self, request: NodeRequest) -> NodeResponse:
        """``GET [/{index}]/_recovery``: each primary's (finished) recovery."""
        records = self._records(request)
        if request.flag("active_only"):
            return NodeResponse(body={})
        node = self._node()
        detailed = request.flag("detailed")
        return NodeResponse(
            body={r.name: {"shards": [self._recovery(r, node, detailed)]} for r in records}
        )

    def _recovery(
        self, record: IndexRecord, node: local_node.LocalNode, detailed: bool
    ) -> dict[str, Any]:
        shard = self.services.engine.shard(record)
        fresh = record.created_at >= node.started_ms
        if fresh and record.settings.get(RESIZE_SOURCE):
            kind = "LOCAL_SHARDS"
        else:
            kind = "EMPTY_STORE" if fresh else "EXISTING_STORE"
        size = 0 if kind == "EMPTY_STORE" else int(shard.size_bytes())
        files = 0 if kind == "EMPTY_STORE" else _file_count(shard.directory / "index")
        replayed = shard.replayed_ops
        index_section: dict[str, Any] = {
            "size": {
                "total_in_bytes": size,
                "reused_in_bytes": size,
                "recovered_in_bytes": 0,
                "recovered_from_snapshot_in_bytes": 0,
                "percent": "100.0%" if size else "0.0%",
            },
            "files": {
                "total": files,
                "reused": files,
                "recovered": 0,
                "percent": "100.0%" if files else "0.0%",
            },
            "total_time_in_millis": 0,
            "source_throttle_time_in_millis": 0,
            "target_throttle_time_in_millis": 0,
        }
        if detailed:
            index_section["files"]["details"] = []
        source: dict[str, Any] = {}
        if kind == "LOCAL_SHARDS":
            source = {"index": record.settings[RESIZE_SOURCE]}
        elif kind == "EXISTING_STORE":
            source = {"bootstrap_new_history_uuid": False}
        return {
            "id": 0,
            "type": kind,
            "stage": "DONE",
            "primary": True,
            "start_time_in_millis": shard.opened_at_ms,
            "stop_time_in_millis": shard.opened_at_ms + shard.opened_ms,
            "total_time_in_millis": shard.opened_ms,
            "source": source,
            "target": {
                "id": node.id,
                "host": node.host,
                "transport_address": f"{node.ip}:9300",
                "ip": node.ip,
                "name": node.name,
            },
            "index": index_section,
            "translog": {
                "recovered": replayed,
                "total": replayed,
                "percent": "100.0%",
                "total_on_start": replayed,
                "total_time_in_millis": 0,
            },
            "verify_index": {"check_index_time_in_millis": 0, "total_time_in_millis": 0},
        }

    # -- shard stores ------------------------------------------------------------------------

    def shard_stores(self, request: NodeRequest) -> NodeResponse:
        """``GET [/{index}]/_shard_stores``: the stores of shards in the asked health."""
        wanted = _statuses(request.query.get("status", "yellow,red"))
        node = self._node()
        out: dict[str, Any] = {}
        for record in self._records(request):
            status = cluster_health.index_health(record.name, record.settings).status
            if "all" not in wanted and status not in wanted:
                continue
            store = {
                node.id: {**cluster_state.node_entry(node), "transport_address": f"{node.ip}:9300"},
                "allocation_id": cluster_state.allocation_id(record),
                "allocation": "primary",
            }
            out[record.name] = {"shards": {"0": {"stores": [store]}}}
        return NodeResponse(body={"indices": out})

    # -- disk and field usage ----------------------------------------------------------------

    def disk_usage(self, request: NodeRequest) -> NodeResponse:
        """``POST /{index}/_disk_usage?run_expensive_tasks=true``."""
        if not request.flag("run_expensive_tasks"):
            raise IllegalArgument(
                "analyzing the disk usage of an index is expensive and resource-intensive, the "
                "parameter [run_expensive_tasks] must be set to [true] in order for the task to "
                "be performed."
            )
        records = self._records(request, ("manage",))
        usages = {}
        for record in records:
            shard = self.services.engine.shard(record)
            if request.flag("flush", True):
                shard.flush()
            usages[record.name] = disk_usage.analyze(
                shard.directory / "index", record.table, int(shard.size_bytes())
            )
        return NodeResponse(body=disk_usage.usage_body(usages))

    def field_usage(self, request: NodeRequest) -> NodeResponse:
        """``GET /{index}/_field_usage_stats``: Elasticsearch's shape, every count zero."""
        records = self._records(request, ("manage",))
        node = self._node()
        body: dict[str, Any] = {
            "_shards": {"total": len(records), "successful": len(records), "failed": 0}
        }
        for record in records:
            shard = self.services.engine.shard(record)
            body[record.name] = {
                "shards": [
                    {
                        "tracking_id": cluster_state.allocation_id(record),
                        "tracking_started_at_millis": shard.opened_at_ms,
                        "routing": {
                            "state": "STARTED",
                            "primary": True,
                            "node": node.id,
                            "relocating_node": None,
                        },
                        "stats": {"all_fields": _no_usage(), "fields": {}},
                    }
                ]
            }
        return NodeResponse(body=body)


def _no_usage() -> dict[str, Any]:
    return {
        "any": 0,
        "inverted_index": {
            "terms": 0,
            "postings": 0,
            "proximity": 0,
            "positions": 0,
            "term_frequencies": 0,
            "offsets": 0,
            "payloads": 0,
        },
        "stored_fields": 0,
        "doc_values": 0,
        "points": 0,
        "norms": 0,
        "term_vectors": 0,
        "knn_vectors": 0,
    }


def _statuses(spec: str) -> set[str]:
    wanted = {s.strip() for s in spec.split(",") if s.strip()}
    unknown = sorted(wanted - set(_STATUSES))
    if unknown:
        raise IllegalArgument(f"unknown shard status [{unknown[0]}]")
    return wanted


def _file_count(directory: Any) -> int:
    try:
        return sum(1 for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))
    except OSError:
        return 0


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if number == 0:
            return out

"""The ``_cat`` APIs: the node's indices, shards, segments, health and the node itself as tables.

Tables and their parameters are rendered by `citadel.node.http.cat`; each handler here only
gathers rows. Index-level tables (indices, count, shards, segments, recovery) list the indices
the caller may monitor (``read`` for count); a concrete name the caller may not see is a 403.
Cluster-level tables need the ``monitor`` cluster privilege. What a one-node cluster without
plugins, repositories, breakers or fielddata has is an empty table, as in Elasticsearch;
snapshots are those of the platform's ``found-snapshots`` repository when the node has it
(`citadel.node.snapshots`).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from citadel.contract.snapshot_jobs import REPOSITORY, SnapshotEntry
from citadel.node import cluster_health as ch
from citadel.node import local_node
from citadel.node.errors import EsError, IllegalArgument
from citadel.node.http import cat
from citadel.node.http.access import IndexAccess
from citadel.node.http.cat import ByteSize, Column, col, num
from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.router import AUTHENTICATED, Router, cluster
from citadel.node.search import service as search_service
from citadel.node.search.dsl import MatchAll
from citadel.node.security.document_security import has_restrictions
from citadel.node.security.realm import index_forbidden
from citadel.node.services import NodeServices
from citadel.node.shard_stats import ShardStats, shard_stats
from citadel.node.snapshots.service import FAILED, IN_PROGRESS
from citadel.node.store import indices

Rows = list[dict[str, Any]]
MONITOR = cluster("monitor")
_EPOCH = (
    col("epoch", "t", "time", desc="seconds since 1970-01-01 00:00:00"),
    col("timestamp", "ts", "hms", "hhmmss", desc="time in HH:MM:SS"),
)
_WILDCARD_STATES = frozenset({"open", "closed", "hidden", "none", "all"})


class RepositoryMissing(EsError):
    type = "repository_missing_exception"
    status = 404


class CatApi:
    """One ``_cat`` endpoint: its paths, columns, extra parameters and row source."""

    def __init__(
        self,
        name: str,
        columns: Sequence[Column],
        rows: Callable[[NodeServices, NodeRequest], Rows],
        *,
        paths: Sequence[str] = (),
        params: Iterable[str] = (),
        need: Any = MONITOR,
    ) -> None:
        self.name = name
        self.columns = tuple(columns)
        self.rows = rows
        self.paths = tuple(paths) or (f"/_cat/{name}",)
        self.params = frozenset(params)
        self.need = need

    def handle(self, services: NodeServices, request: NodeRequest) -> NodeResponse:
        """Check the parameters, gather the rows, render them."""
        cat.check_params(request.query, request.path, self.params)
        if request.query.get("help") is not None:
            rendered = cat.render(self.columns, [], request.query)
        else:
            rendered = cat.render(self.columns, self.rows(services, request), request.query)
        if rendered.text:
            return NodeResponse(body=rendered.body, content_type=cat.TEXT)
        return NodeResponse(body=rendered.body)


def register(router: Router, services: NodeServices) -> None:
    """Add this area's routes to `router`."""
    router.add("GET", "/_cat", lambda r: cat_help(r), MONITOR)
    for api in APIS:
        for path in api.paths:
            router.add("GET", path, functools.partial(api.handle, services), api.need)
    for path in COUNT.paths:
        router.add("POST", path, lambda r: COUNT.handle(services, r), COUNT.need)


def cat_help(request: NodeRequest) -> NodeResponse:
    """``GET /_cat``: the cat APIs this node serves."""
    cat.check_params(request.query, request.path)
    lines = ["=^.^="] + [path for api in APIS for path in api.paths]
    return NodeResponse(body="\n".join(lines) + "\n", content_type=cat.TEXT)


# -- shared ----------------------------------------------------------------------------------


def _now(services: NodeServices) -> datetime:
    return services.clock.now().astimezone(UTC)


def _epoch_cells(services: NodeServices) -> dict[str, Any]:
    now = _now(services)
    return {"epoch": int(now.timestamp()), "timestamp": now.strftime("%H:%M:%S")}


def _node(services: NodeServices) -> local_node.LocalNode:
    return local_node.of(services.info, services.clock)


def _expand(request: NodeRequest, *, closed: bool) -> dict[str, bool]:
    """``expand_wildcards`` as the resolver's flags (default: open, and closed when asked)."""
    raw = request.query.get("expand_wildcards")
    if raw is None:
        return {"expand_hidden": False, "expand_closed": closed}
    states = {s.strip() for s in raw.split(",") if s.strip()}
    unknown = sorted(states - _WILDCARD_STATES)
    if unknown:
        raise IllegalArgument(f"No enum constant for expand_wildcards [{unknown[0]}]")
    return {
        "expand_hidden": bool(states & {"hidden", "all"}),
        "expand_closed": bool(states & {"closed", "all"}),
    }


def visible_indices(
    services: NodeServices,
    request: NodeRequest,
    privileges: tuple[str, ...] = ("monitor", "view_index_metadata"),
    *,
    closed: bool = False,
) -> list[indices.IndexRecord]:
    """The indices the path's expression names that the caller may see (403 for a concrete
    name it may not)."""
    access = IndexAccess(services.realm, request.identity)
    with services.store.read() as conn:
        records = indices.resolve(
            conn,
            request.params.get("index"),
            allowed=access.expanding(*privileges),
            **_expand(request, closed=closed),
        )
    for record in records:
        if not access.allowed_any(privileges, record.name):
            raise index_forbidden(request.identity, privileges[0], [record.name])
    return records


def _stats(services: NodeServices, records: Iterable[indices.IndexRecord]) -> list[ShardStats]:
    return [s for r in records if (s := shard_stats(services.engine, r)) is not None]


def _status(record: indices.IndexRecord) -> str:
    return "close" if getattr(record, "closed", False) else "open"


# -- indices ---------------------------------------------------------------------------------

INDICES_COLUMNS = (
    col("health", "h", desc="current health status"),
    col("status", "s", desc="open/close status"),
    col("index", "i", "idx", desc="index name"),
    col("uuid", "id", desc="index uuid"),
    num("pri", "p", "shards.primary", "shardsPrimary", desc="number of primary shards"),
    num("rep", "r", "shards.replica", "shardsReplica", desc="number of replica shards"),
    num("docs.count", "dc", "docsCount", desc="available docs"),
    num("docs.deleted", "dd", "docsDeleted", desc="deleted docs"),
    num("creation.date", "cd", desc="index creation date (millisecond value)", default=False),
    col(
        "creation.date.string",
        "cds",
        desc="index creation date (as string)",
        default=False,
    ),
    num("store.size", "ss", "storeSize", desc="store size of primaries & replicas"),
    num("pri.store.size", desc="store size of primaries"),
    num("dataset.size", desc="total size of dataset"),
    num("segments.count", "sc", "segmentsCount", desc="number of segments", default=False),
    num("pri.segments.count", desc="number of segments", default=False),
)


def indices_rows(services: NodeServices, request: NodeRequest) -> Rows:
    """One row per index (closed ones too, without figures)."""
    wanted = request.query.get("health")
    if wanted is not None and wanted not in (ch.GREEN, ch.YELLOW, ch.RED):
        raise IllegalArgument(f"unknown health [{wanted}], expected green, yellow or red")
    records = visible_indices(services, request, closed=True)
    rows = []
    for record in sorted(records, key=lambda r: r.name):
        health = ch.index_health(record.name, record.settings)
        if wanted is not None and health.status != wanted:
            continue
        stats = shard_stats(services.engine, record)
        created = datetime.fromtimestamp(record.created_at / 1000, UTC)
        row: dict[str, Any] = {
            "health": health.status,
            "status": _status(record),
            "index": record.name,
            "uuid": record.uuid,
            "pri": 1,
            "rep": health.replicas,
            "creation.date": record.created_at,
            "creation.date.string": created.strftime("%Y-%m-%dT%H:%M:%S.")
            + f"{created.microsecond // 1000:03d}Z",
        }
        if stats is not None:
            size = ByteSize(stats.bytes)
            row |= {
                "docs.count": stats.docs,
                "docs.deleted": stats.deleted,
                "store.size": size,
                "pri.store.size": size,
                "dataset.size": size,
                "segments.count": len(stats.segments),
                "pri.segments.count": len(stats.segments),
            }
        rows.append(row)
    return rows


# -- count -----------------------------------------------------------------------------------

COUNT_COLUMNS = (*_EPOCH, num("count", "dc", "docs.count", "docsCount", desc="the document count"))


def count_rows(services: NodeServices, request: NodeRequest) -> Rows:
    """The searchable documents of the indices named (refreshed, as a search counts)."""
    records = visible_indices(services, request, ("read",))
    if has_restrictions(request.identity):  # under document-level security, count as _count
        with services.store.read() as conn:
            shown = search_service.secured(conn, records, request.identity)
        total = search_service.count(
            services.engine, shown, MatchAll(), min_score=None, now=services.clock.now()
        )
    else:
        total = sum(s.docs for s in _stats(services, records))
    return [{**_epoch_cells(services), "count": total}]


# -- health ----------------------------------------------------------------------------------

HEALTH_COLUMNS = (
    *_EPOCH,
    col("cluster", "cl", desc="cluster name"),
    col("status", "st", desc="health status"),
    num("node.total", "nt", "nodeTotal", desc="total number of nodes"),
    num("node.data", "nd", "nodeData", desc="number of nodes that can store data"),
    num("shards", "t", "sh", "shards.total", "shardsTotal", desc="total number of shards"),
    num("pri", "p", "shards.primary", "shardsPrimary", desc="number of primary shards"),
    num("relo", "r", "shards.relocating", "shardsRelocating", desc="number of relocating nodes"),
    num(
        "init",
        "i",
        "shards.initializing",
        "shardsInitializing",
        desc="number of initializing nodes",
    ),
    num(
        "unassign.pri",
        "up",
        "shards.unassigned.primary",
        "shardsUnassignedPrimary",
        desc="number of unassigned primary shards",
    ),
    num(
        "unassign", "u", "shards.unassigned", "shardsUnassigned", desc="number of unassigned shards"
    ),
    num("pending_tasks", "pt", "pendingTasks", desc="number of pending tasks"),
    num("max_task_wait_time", "mtwt", "maxTaskWaitTime", desc="wait time of longest task pending"),
    num(
        "active_shards_percent",
        "asp",
        "activeShardsPercent",
        desc="active number of shards in percent",
    ),
)


def all_health(services: NodeServices) -> ch.ClusterHealth:
    """The health of every index on the node."""
    with services.store.read() as conn:
        records = indices.resolve(conn, None, expand_hidden=True, expand_closed=True)
    return ch.cluster_health(ch.index_health(r.name, r.settings) for r in records)


def health_rows(services: NodeServices, request: NodeRequest) -> Rows:
    """The one line of cluster health."""
    health = all_health(services)
    return [
        {
            **_epoch_cells(services),
            "cluster": services.info.cluster_name,
            "status": health.status,
            "node.total": 1,
            "node.data": 1,
            "shards": health.active_shards,
            "pri": health.active_shards,
            "relo": 0,
            "init": 0,
            "unassign.pri": 0,
            "unassign": health.unassigned_shards,
            "pending_tasks": 0,
            "max_task_wait_time": "-",
            "active_shards_percent": f"{health.active_percent:.1f}%",
        }
    ]


# -- shards and segments ---------------------------------------------------------------------

SHARDS_COLUMNS = (
    col("index", "i", "idx", desc="index name"),
    col("shard", "s", "sh", desc="shard name"),
    col("prirep", "p", "pr", "primaryOrReplica", desc="primary or replica"),
    col("state", "st", desc="shard state"),
    num("docs", "d", "dc", desc="number of docs in shard"),
    num("store", "sto", desc="store size of shard (how much disk it uses)"),
    num("dataset", desc="total size of dataset"),
    col("ip", desc="ip of node where it lives"),
    col("id", desc="unique id of node where it lives", default=False),
    col("node", "n", desc="name of node where it lives"),
    col("unassigned.reason", "ur", desc="reason shard became unassigned", default=False),
    num("segments.count", "sc", "segmentsCount", desc="number of segments", default=False),
    num("seq_no.max", "sqm", "maxSeqNo", desc="max sequence number", default=False),
)


def shards_rows(services: NodeServices, request: NodeRequest) -> Rows:
    """Each index's started primary, and its replicas unassigned (they cannot be placed)."""
    node = _node(services)
    rows: Rows = []
    for record in sorted(visible_indices(services, request, closed=True), key=lambda r: r.name):
        stats = shard_stats(services.engine, record)
        primary: dict[str, Any] = {
            "index": record.name,
            "shard": 0,
            "prirep": "p",
            "state": "STARTED",
            "ip": node.ip,
            "id": node.id,
            "node": node.name,
        }
        if stats is not None:
            primary |= {
                "docs": stats.docs,
                "store": ByteSize(stats.bytes),
                "dataset": ByteSize(stats.bytes),
                "segments.count": len(stats.segments),
                "seq_no.max": stats.max_seq_no,
            }
        rows.append(primary)
        for _ in range(ch.replicas(record.settings)):
            rows.append(
                {
                    "index": record.name,
                    "shard": 0,
                    "prirep": "r",
                    "state": "UNASSIGNED",
                    "unassigned.reason": "INDEX_CREATED",
                }
            )
    return rows


SEGMENTS_COLUMNS = (
    col("index", "i", "idx", desc="index name"),
    col("shard", "s", "sh", desc="shard name"),
    col("prirep", "p", "pr", "primaryOrReplica", desc="primary or replica"),
    col("ip", desc="ip of node where it lives"),
    col("id", desc="unique id of node where it lives", default=False),
    col("segment", "seg", desc="segment name"),
    num("generation", "g", "gen", desc="segment generation"),
    num("docs.count", "dc", "docsCount", desc="number of docs in segment"),
    num("docs.deleted", "dd", "docsDeleted", desc="number of deleted docs in segment"),
    num("size", "si", desc="segment size in bytes"),
    num("size.memory", "sm", "sizeMemory", desc="segment memory in bytes"),
    col("committed", "ic", "isCommitted", desc="is segment committed"),
    col("searchable", "is", "isSearchable", desc="is segment searched"),
    col("version", "v", "segmentVersion", desc="version"),
    col("compound", "ico", "isCompound", desc="is segment compound"),
)


def segments_rows(services: NodeServices, request: NodeRequest) -> Rows:
    """Every committed segment of every open index (tantivy segments: ids, not Lucene names)."""
    node = _node(services)
    rows: Rows = []
    for stats in _stats(services, sorted(visible_indices(services, request), key=lambda r: r.name)):
        for segment in stats.segments:
            rows.append(
                {
                    "index": stats.record.name,
                    "shard": 0,
                    "prirep": "p",
                    "ip": node.ip,
                    "id": node.id,
                    "segment": segment.id,
                    "generation": segment.generation,
                    "docs.count": segment.docs,
                    "docs.deleted": segment.deleted,
                    "size": ByteSize(segment.bytes),
                    "size.memory": ByteSize(0),
                    "committed": True,
                    "searchable": True,
                    "version": None,
                    "compound": False,
                }
            )
    return rows


# -- recovery --------------------------------------------------------------------------------

RECOVERY_COLUMNS = (
    col("index", "i", "idx", desc="index name"),
    num("shard", "s", "sh", desc="shard name"),
    num("time", "t", "ti", desc="recovery time"),
    col("type", "ty", desc="recovery type"),
    col("stage", "st", desc="recovery stage"),
    col("source_host", "shost", desc="source host"),
    col("source_node", "snode", desc="source node name"),
    col("target_host", "thost", desc="target host"),
    col("target_node", "tnode", desc="target node name"),
    col("repository", "rep", desc="repository"),
    col("snapshot", "snap", desc="snapshot"),
    num("files", "f", desc="number of files to recover"),
    num("files_recovered", "fr", desc="files recovered"),
    num("files_percent", "fp", desc="percent of files recovered"),
    num("files_total", "tf", desc="total number of files"),
    num("bytes", "b", desc="number of bytes to recover"),
    num("bytes_recovered", "br", desc="bytes recovered"),
    num("bytes_percent", "bp", desc="percent of bytes recovered"),
    num("bytes_total", "tb", desc="total number of bytes"),
    num("translog_ops", "to", desc="number of translog ops to recover"),
    num("translog_ops_recovered", "tor", desc="translog ops recovered"),
    num("translog_ops_percent", "top", desc="percent of translog ops recovered"),
)


def recovery_rows(services: NodeServices, request: NodeRequest) -> Rows:
    """Each open primary: created empty since this process started, or opened from its files
    (figures this node does not record are empty)."""
    if request.flag("active_only"):
        return []
    node = _node(services)
    rows: Rows = []
    for record in sorted(visible_indices(services, request), key=lambda r: r.name):
        empty = record.created_at >= node.started_ms
        figures: dict[str, Any] = dict.fromkeys(
            (c.name for c in RECOVERY_COLUMNS[11:]), 0 if empty else None
        )
        if empty:
            figures |= {
                "files_percent": "0.0%",
                "bytes_percent": "0.0%",
                "translog_ops_percent": "100.0%",
            }
        rows.append(
            {
                "index": record.name,
                "shard": 0,
                "time": None,
                "type": "empty_store" if empty else "existing_store",
                "stage": "done",
                "source_host": "n/a",
                "source_node": "n/a",
                "target_host": node.ip,
                "target_node": node.name,
                "repository": "n/a",
                "snapshot": "n/a",
                **figures,
            }
        )
    return rows


# -- the node --------------------------------------------------------------------------------

NODES_COLUMNS = (
    col("id", "nodeId", desc="unique node id", default=False),
    num("pid", "p", desc="process id", default=False),
    col("ip", "i", desc="ip address"),
    col("version", "v", desc="es version", default=False),
    num("disk.total", "dt", "diskTotal", desc="total disk space", default=False),
    num("disk.used", "du", "diskUsed", desc="used disk space", default=False),
    num("disk.avail", "d", "da", "disk", "diskAvail", desc="available disk space", default=False),
    num(
        "disk.used_percent",
        "dup",
        "diskUsedPercent",
        desc="used disk space percentage",
        default=False,
    ),
    num("heap.current", "hc", "heapCurrent", desc="used heap", default=False),
    num("heap.percent", "hp", "heapPercent", desc="used heap ratio"),
    num("heap.max", "hm", "heapMax", desc="max configured heap", default=False),
    num("ram.current", "rc", "ramCurrent", desc="used machine memory", default=False),
    num("ram.percent", "rp", "ramPercent", desc="used machine memory ratio"),
    num("ram.max", "rm", "ramMax", desc="total machine memory", default=False),
    num(
        "file_desc.current",
        "fdc",
        "fileDescriptorCurrent",
        desc="used file descriptors",
        default=False,
    ),
    num(
        "file_desc.percent",
        "fdp",
        "fileDescriptorPercent",
        desc="used file descriptor ratio",
        default=False,
    ),
    num("file_desc.max", "fdm", "fileDescriptorMax", desc="max file descriptors", default=False),
    num("cpu", desc="recent cpu usage"),
    num("load_1m", "l", desc="1m load avg"),
    num("load_5m", desc="5m load avg"),
    num("load_15m", desc="15m load avg"),
    num("uptime", "u", desc="node uptime", default=False),
    col("node.role", "r", "role", "nodeRole", desc="m:master eligible node, d:data node"),
    col("master", "m", desc="*:current node"),
    col("name", "n", desc="node name"),
)


def nodes_rows(services: NodeServices, request: NodeRequest) -> Rows:
    """The one node (no JVM: heap columns are empty)."""
    node = _node(services)
    host = local_node.host_facts(services.engine.root)
    full_id = request.flag("full_id")
    load = host.load
    fd_percent = (
        round(100 * host.open_fds / host.max_fds) if host.open_fds and host.max_fds else None
    )
    uptime_ms = max(0, int(_now(services).timestamp() * 1000) - node.started_ms)
    return [
        {
            "id": node.id if full_id else node.id[:4],
            "pid": _pid(),
            "ip": node.ip,
            "version": node.version,
            "disk.total": ByteSize(host.disk_total),
            "disk.used": ByteSize(host.disk_used),
            "disk.avail": ByteSize(host.disk_free),
            "disk.used_percent": host.disk_percent,
            "ram.current": ByteSize(host.mem_used) if host.mem_used is not None else None,
            "ram.percent": host.mem_percent,
            "ram.max": ByteSize(host.mem_total) if host.mem_total is not None else None,
            "file_desc.current": host.open_fds,
            "file_desc.percent": fd_percent,
            "file_desc.max": host.max_fds,
            "cpu": host.cpu_percent,
            "load_1m": f"{load[0]:.2f}" if load else None,
            "load_5m": f"{load[1]:.2f}" if load else None,
            "load_15m": f"{load[2]:.2f}" if load else None,
            "uptime": cat.Duration(uptime_ms),
            "node.role": local_node.ROLE_LETTERS,
            "master": "*",
            "name": node.name,
        }
    ]


def _pid() -> int:
    return os.getpid()


MASTER_COLUMNS = (
    col("id", desc="node id"),
    col("host", "h", desc="host name"),
    col("ip", desc="ip address"),
    col("node", "n", desc="node name"),
)


def master_rows(services: NodeServices, request: NodeRequest) -> Rows:
    """The elected master: this node."""
    node = _node(services)
    return [{"id": node.id, "host": node.host, "ip": node.ip, "node": node.name}]


ALLOCATION_COLUMNS = (
    num("shards", "s", desc="number of shards on node"),
    num("shards.undesired", desc="number of shards that are scheduled to be moved elsewhere"),
    num(
        "write_load.forecast", "wlf", "writeLoadForecast", desc="sum of index write load forecasts"
    ),
    num("disk.indices.forecast", "dif", "diskIndicesForecast", desc="sum of shard size forecasts"),
    num("disk.indices", "di", "diskIndices", desc="disk used by ES indices"),
    num("disk.used", "du", "diskUsed", desc="disk used (total, not just ES)"),
    num("disk.avail", "da", "diskAvail", desc="disk available"),
    num("disk.total", "dt", "diskTotal", desc="total capacity of all volumes"),
    num("disk.percent", "dp", "diskPercent", desc="percent disk used"),
    col("host", "h", desc="host of node"),
    col("ip", desc="ip of node"),
    col("node", "n", desc="name of node"),
    col("node.role", "r", "role", "nodeRole", desc="node roles"),
)


def allocation_rows(services: NodeServices, request: NodeRequest) -> Rows:
    """Shards and disk on the one node (no write-load forecasts are kept)."""
    node = _node(services)
    _check_node(request.params.get("node_id"), node)
    with services.store.read() as conn:
        records = indices.resolve(conn, None, expand_hidden=True)
    on_disk = sum(s.bytes for s in _stats(services, records))
    host = local_node.host_facts(services.engine.root)
    return [
        {
            "shards": len(records),
            "shards.undesired": 0,
            "write_load.forecast": None,
            "disk.indices.forecast": ByteSize(on_disk),
            "disk.indices": ByteSize(on_disk),
            "disk.used": ByteSize(host.disk_used),
            "disk.avail": ByteSize(host.disk_free),
            "disk.total": ByteSize(host.disk_total),
            "disk.percent": host.disk_percent,
            "host": node.host,
            "ip": node.ip,
            "node": node.name,
            "node.role": local_node.ROLE_LETTERS,
        }
    ]


def _check_node(selector: str | None, node: local_node.LocalNode) -> None:
    """Only this node exists: a node filter naming something else matches nothing."""
    if selector is None:
        return
    for part in (p.strip() for p in selector.split(",")):
        if part in ("_all", "_local", "_master", "*", node.id, node.name):
            return
    raise IllegalArgument(f"node [{selector}] is not known; this cluster has one node")


NODEATTRS_COLUMNS = (
    col("node", "name", desc="node name"),
    col("id", "nodeId", desc="unique node id", default=False),
    num("pid", "p", desc="process id", default=False),
    col("host", "h", desc="host name"),
    col("ip", "i", desc="ip address"),
    col("attr", "attr.name", desc="attribute description"),
    col("value", "attr.value", desc="attribute value"),
)


def nodeattrs_rows(services: NodeServices, request: NodeRequest) -> Rows:
    """The node's attributes."""
    node = _node(services)
    return [
        {
            "node": node.name,
            "id": node.id[:4],
            "pid": _pid(),
            "host": node.host,
            "ip": node.ip,
            "attr": name,
            "value": value,
        }
        for name, value in sorted(local_node.ATTRIBUTES.items())
    ]


THREAD_POOL_COLUMNS = (
    col("node_name", "nn", desc="node name"),
    col("node_id", "id", desc="persistent node id", default=False),
    col("ephemeral_node_id", "eid", desc="ephemeral node id", default=False),
    num("pid", "p", desc="process id", default=False),
    col("host", "h", desc="host name", default=False),
    col("ip", "i", desc="ip address", default=False),
    col("name", "n", desc="thread pool name"),
    col("type", "t", desc="thread pool type", default=False),
    num("active", "a", desc="number of active threads"),
    num("queue", "q", desc="number of tasks currently in queue"),
    num("rejected", "r", desc="number of rejected tasks"),
    num("size", "sz", desc="number of threads", default=False),
    num("max", "mx", desc="maximum number of threads", default=False),
)
# The node's threads: request handlers (the HTTP edge's worker limit) and the refresh loop.
THREAD_POOLS = (("generic", "fixed", 16), ("refresh", "fixed", 1))


def thread_pool_rows(services: NodeServices, request: NodeRequest) -> Rows:
    """The node's pools; it does not count active, queued or rejected tasks (empty cells)."""
    node = _node(services)
    patterns = request.params.get("thread_pool_patterns")
    rows = []
    for name, kind, size in THREAD_POOLS:
        if patterns and not any(
            indices.wildcard(p.strip()).fullmatch(name) for p in patterns.split(",")
        ):
            continue
        rows.append(
            {
                "node_name": node.name,
                "node_id": node.id,
                "ephemeral_node_id": node.ephemeral_id,
                "pid": _pid(),
                "host": node.host,
                "ip": node.ip,
                "name": name,
                "type": kind,
                "active": None,
                "queue": None,
                "rejected": None,
                "size": size,
                "max": size,
            }
        )
    return rows


TASKS_COLUMNS = (
    col("id", desc="id of the task with the node", default=False),
    col("action", "ac", desc="task action"),
    col("task_id", "ti", desc="unique task id"),
    col("parent_task_id", "pti", desc="parent task id"),
    col("type", "ty", desc="task type"),
    col("start_time", "start", desc="start time in ms"),
    col("timestamp", "ts", "hms", "hhmmss", desc="start time in HH:MM:SS"),
    num("running_time_ns", desc="running time ns", default=False),
    num("running_time", "time", desc="running time"),
    col("node_id", "ni", desc="unique node id", default=False),
    col("ip", "i", desc="ip address"),
    col("port", "po", desc="bound transport port", default=False),
    col("node", "n", desc="node name"),
    col("version", "v", desc="es version", default=False),
    col("x_opaque_id", "x", desc="X-Opaque-ID header", default=False),
    col("description", "desc", desc="task action", default=False),
)


def tasks_rows(services: NodeServices, request: NodeRequest) -> Rows:
    """The node's running tasks (every request in flight, this one included)."""
    if request.query.get("parent_task_id") or request.query.get("nodes") not in (
        None,
        "",
        "_all",
        "_local",
        services.tasks.node_id,
    ):
        raise IllegalArgument("[nodes] and [parent_task_id] filters are not supported")
    detailed = request.flag("detailed")
    node = _node(services)
    rows = []
    for task in services.tasks.running(request.query.get("actions")):
        info = task.info(detailed=detailed)
        started = datetime.fromtimestamp(task.start_ms / 1000, UTC)
        rows.append(
            {
                "id": task.number,
                "action": task.action,
                "task_id": task.id,
                "parent_task_id": "-",
                "type": info["type"],
                "start_time": task.start_ms,
                "timestamp": started.strftime("%H:%M:%S"),
                "running_time_ns": info["running_time_in_nanos"],
                "running_time": cat.Duration(info["running_time_in_nanos"] / 1_000_000),
                "node_id": node.id,
                "ip": node.ip,
                "port": None,
                "node": node.name,
                "version": node.version,
                "x_opaque_id": task.headers.get("X-Opaque-Id", "-"),
                "description": info.get("description") if detailed else None,
            }
        )
    return rows


# -- what a node without plugins, repositories or breakers has: nothing ----------------------


def _nothing(services: NodeServices, request: NodeRequest) -> Rows:
    return []


def snapshots_rows(services: NodeServices, request: NodeRequest) -> Rows:
    """The snapshots of ``found-snapshots`` (the catalog, then the node's own in progress),
    as ``GET _snapshot/found-snapshots/_all`` lists them; a named repository the node does
    not have is a 404 repository_missing_exception (every one without ``--snapshot-*``)."""
    snapshots = services.snapshots
    has_repository = snapshots is not None and snapshots.settings is not None
    repository = request.params.get("repository")
    if repository and repository not in ("_all", "*"):
        for name in repository.split(","):
            if not has_repository or name != REPOSITORY:
                raise RepositoryMissing(f"[{name}] missing", **{"repository": name})
    if snapshots is None or not has_repository:
        return []
    now_ms = int(services.clock.now().timestamp() * 1000)
    views = sorted(snapshots.views(), key=lambda v: (v.entry.start_time, v.entry.name))
    return [_snapshot_row(view.entry, now_ms) for view in views]


def _snapshot_row(entry: SnapshotEntry, now_ms: int) -> dict[str, Any]:
    """One row of ``_cat/snapshots``: shards as ``GET _snapshot`` counts them (one per index),
    an in-progress snapshot's end at the epoch and its duration up to now, as Elasticsearch."""
    start_ms = int(entry.start_time * 1000)
    running = entry.state == IN_PROGRESS
    end_ms = 0 if running else int(entry.end_time * 1000)
    total = 0 if running else len(entry.indices)
    failed = total if entry.state == FAILED else 0
    return {
        "id": entry.name,
        "repository": REPOSITORY,
        "status": entry.state,
        "start_epoch": start_ms // 1000,
        "start_time": _hms(start_ms),
        "end_epoch": end_ms // 1000,
        "end_time": _hms(end_ms),
        "duration": cat.Duration(max((now_ms if running else end_ms) - start_ms, 0)),
        "indices": len(entry.indices),
        "successful_shards": total - failed,
        "failed_shards": failed,
        "total_shards": total,
        "reason": entry.reason,
    }


def _hms(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%H:%M:%S")


PLUGINS_COLUMNS = (
    col("id", desc="unique node id", default=False),
    col("name", "n", desc="node name"),
    col("component", "c", desc="component"),
    col("version", "v", desc="component version"),
    col("description", "d", desc="plugin details", default=False),
)
REPOSITORIES_COLUMNS = (
    col("id", "repoId", desc="unique repository id"),
    col("type", "t", desc="repository type"),
)
SNAPSHOTS_COLUMNS = (
    col("id", "snapshot", desc="unique snapshot"),
    col("repository", "re", "repo", desc="repository name"),
    col("status", "s", desc="snapshot name"),
    num("start_epoch", "ste", "startEpoch", desc="start time in seconds since 1970-01-01 00:00:00"),
    col("start_time", "sti", "startTime", desc="start time in HH:MM:SS"),
    num("end_epoch", "ete", "endEpoch", desc="end time in seconds since 1970-01-01 00:00:00"),
    col("end_time", "eti", "endTime", desc="end time in HH:MM:SS"),
    num("duration", "dur", desc="duration"),
    num("indices", "i", desc="number of indices"),
    num("successful_shards", "ss", desc="number of successful shards"),
    num("failed_shards", "fs", desc="number of failed shards"),
    num("total_shards", "ts", desc="number of total shards"),
    col("reason", "r", desc="reason for failures", default=False),
)
PENDING_TASKS_COLUMNS = (
    num("insertOrder", "o", desc="task insertion order"),
    num("timeInQueue", "t", desc="how long task has been in queue"),
    col("priority", "p", desc="task priority"),
    col("source", "s", desc="task source"),
)
FIELDDATA_COLUMNS = (
    col("id", desc="node id"),
    col("host", "h", desc="host name"),
    col("ip", desc="ip address"),
    col("node", "n", desc="node name"),
    col("field", "f", desc="field name"),
    num("size", "s", desc="field data usage"),
)
CIRCUIT_BREAKER_COLUMNS = (
    col("node_id", "id", desc="persistent node id"),
    col("node_name", "nn", desc="node name", default=False),
    col("breaker", "b", desc="breaker name"),
    num("limit", "l", desc="limit size"),
    num("limit_bytes", "lb", desc="limit size in bytes", default=False),
    num("estimated", "e", desc="estimated size"),
    num("estimated_bytes", "eb", desc="estimated size in bytes", default=False),
    num("tripped", "t", desc="tripped count"),
    num("overhead", "o", desc="overhead", default=False),
)


_BYTES = ("bytes",)
_TIME = ("time",)
_INDEX_PARAMS = ("expand_wildcards",)

COUNT = CatApi(
    "count",
    COUNT_COLUMNS,
    count_rows,
    paths=("/_cat/count", "/_cat/count/{index}"),
    need=AUTHENTICATED,
)
APIS: tuple[CatApi, ...] = (
    CatApi(
        "allocation",
        ALLOCATION_COLUMNS,
        allocation_rows,
        paths=("/_cat/allocation", "/_cat/allocation/{node_id}"),
        params=_BYTES,
    ),
    CatApi(
        "shards",
        SHARDS_COLUMNS,
        shards_rows,
        paths=("/_cat/shards", "/_cat/shards/{index}"),
        params=(*_BYTES, *_TIME),
        need=AUTHENTICATED,
    ),
    CatApi("master", MASTER_COLUMNS, master_rows),
    CatApi(
        "nodes",
        NODES_COLUMNS,
        nodes_rows,
        params=(*_BYTES, *_TIME, "full_id", "include_unloaded_segments"),
    ),
    CatApi(
        "indices",
        INDICES_COLUMNS,
        indices_rows,
        paths=("/_cat/indices", "/_cat/indices/{index}"),
        params=(*_BYTES, *_TIME, *_INDEX_PARAMS, "health", "include_unloaded_segments"),
        need=AUTHENTICATED,
    ),
    CatApi(
        "segments",
        SEGMENTS_COLUMNS,
        segments_rows,
        paths=("/_cat/segments", "/_cat/segments/{index}"),
        params=(*_BYTES, *_INDEX_PARAMS),
        need=AUTHENTICATED,
    ),
    COUNT,
    CatApi(
        "recovery",
        RECOVERY_COLUMNS,
        recovery_rows,
        paths=("/_cat/recovery", "/_cat/recovery/{index}"),
        params=(*_BYTES, *_TIME, *_INDEX_PARAMS, "active_only", "detailed"),
        need=AUTHENTICATED,
    ),
    CatApi("health", HEALTH_COLUMNS, health_rows, params=_TIME),
    CatApi("pending_tasks", PENDING_TASKS_COLUMNS, _nothing, params=_TIME),
    CatApi(
        "tasks",
        TASKS_COLUMNS,
        tasks_rows,
        params=(*_TIME, "actions", "detailed", "nodes", "parent_task_id", "timeout"),
    ),
    CatApi(
        "thread_pool",
        THREAD_POOL_COLUMNS,
        thread_pool_rows,
        paths=("/_cat/thread_pool", "/_cat/thread_pool/{thread_pool_patterns}"),
        params=_TIME,
    ),
    CatApi("plugins", PLUGINS_COLUMNS, _nothing, params=("include_bootstrap",)),
    CatApi(
        "fielddata",
        FIELDDATA_COLUMNS,
        _nothing,
        paths=("/_cat/fielddata", "/_cat/fielddata/{fields}"),
        params=(*_BYTES, "fields"),
    ),
    CatApi("nodeattrs", NODEATTRS_COLUMNS, nodeattrs_rows),
    CatApi("repositories", REPOSITORIES_COLUMNS, _nothing),
    CatApi(
        "snapshots",
        SNAPSHOTS_COLUMNS,
        snapshots_rows,
        paths=("/_cat/snapshots", "/_cat/snapshots/{repository}"),
        params=(*_TIME, "ignore_unavailable"),
    ),
    CatApi(
        "circuit_breaker",
        CIRCUIT_BREAKER_COLUMNS,
        _nothing,
        paths=("/_cat/circuit_breaker", "/_cat/circuit_breaker/{circuit_breaker_patterns}"),
        params=_BYTES,
    ),
)

"""``GET /``, ``_cluster/health`` and ``_cat/indices``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from citadel.node.errors import IllegalArgument
from citadel.node.http.access import IndexAccess
from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.router import AUTHENTICATED, Router, cluster
from citadel.node.security.realm import index_forbidden
from citadel.node.services import LUCENE_VERSION, NodeServices
from citadel.node.store import indices

TEXT = "text/plain; charset=UTF-8"
CAT_COLUMNS = (
    "health",
    "status",
    "index",
    "uuid",
    "pri",
    "rep",
    "docs.count",
    "docs.deleted",
    "store.size",
    "pri.store.size",
    "dataset.size",
)
_ALIASES = {
    "h": "health",
    "s": "status",
    "i": "index",
    "idx": "index",
    "id": "uuid",
    "p": "pri",
    "shards.primary": "pri",
    "r": "rep",
    "shards.replica": "rep",
    "dc": "docs.count",
    "docsCount": "docs.count",
    "dd": "docs.deleted",
    "docsDeleted": "docs.deleted",
    "ss": "store.size",
    "storeSize": "store.size",
}
_NUMERIC = frozenset(CAT_COLUMNS[4:])
_SIZE_COLUMNS = frozenset({"store.size", "pri.store.size", "dataset.size"})
_UNITS = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3, "tb": 1024**4}


def register(router: Router, services: NodeServices) -> None:
    """Add this area's routes to `router`."""
    router.add("GET", "/", lambda r: root(services), cluster("monitor"))
    router.add("GET", "/_cluster/health", lambda r: health(services, r), cluster("monitor"))
    router.add("GET", "/_cluster/health/{index}", lambda r: health(services, r), cluster("monitor"))
    router.add("GET", "/_cat/indices", lambda r: cat_indices(services, r), AUTHENTICATED)
    router.add("GET", "/_cat/indices/{index}", lambda r: cat_indices(services, r), AUTHENTICATED)


def root(services: NodeServices) -> NodeResponse:
    """Who this node is."""
    info = services.info
    return NodeResponse(
        body={
            "name": info.node_name,
            "cluster_name": info.cluster_name,
            "cluster_uuid": info.cluster_uuid,
            "version": {
                "number": info.version,
                "build_flavor": "default",
                "build_type": "citadel",
                "build_hash": "citadel",
                "build_date": "2024-08-05T10:05:34.233336849Z",
                "build_snapshot": False,
                "lucene_version": LUCENE_VERSION,
                "minimum_wire_compatibility_version": "7.17.0",
                "minimum_index_compatibility_version": "7.0.0",
            },
            "tagline": "You Know, for Search",
        }
    )


def health(services: NodeServices, request: NodeRequest) -> NodeResponse:
    """Always green: one node, one primary shard per index, no replicas to assign."""
    with services.store.read() as conn:
        count = len(indices.resolve(conn, request.params.get("index"), expand_hidden=True))
    return NodeResponse(
        body={
            "cluster_name": services.info.cluster_name,
            "status": "green",
            "timed_out": False,
            "number_of_nodes": 1,
            "number_of_data_nodes": 1,
            "active_primary_shards": count,
            "active_shards": count,
            "relocating_shards": 0,
            "initializing_shards": 0,
            "unassigned_shards": 0,
            "unassigned_primary_shards": 0,
            "delayed_unassigned_shards": 0,
            "number_of_pending_tasks": 0,
            "number_of_in_flight_fetch": 0,
            "task_max_waiting_in_queue_millis": 0,
            "active_shards_percent_as_number": 100.0,
        }
    )


def cat_indices(services: NodeServices, request: NodeRequest) -> NodeResponse:
    """``_cat/indices``: a text table (``v`` for headers) or ``format=json``."""
    access = IndexAccess(services.realm, request.identity)
    expression = request.params.get("index")
    columns = cat_columns(request.query.get("h"))
    unit = request.query.get("bytes")
    if unit is not None and unit not in _UNITS:
        raise IllegalArgument(f"failed to parse [bytes] with value [{unit}]")
    with services.store.read() as conn:
        records = indices.resolve(
            conn,
            expression,
            allowed=lambda name: access.allowed_any(("monitor", "view_index_metadata"), name),
            expand_hidden=request.query.get("expand_wildcards") in ("all", "hidden"),
        )
        for record in records:  # concrete names are not filtered: refuse them instead
            if not access.allowed_any(("monitor", "view_index_metadata"), record.name):
                raise index_forbidden(request.identity, "monitor", [record.name])
    rows = [cat_row(s, unit) for s in index_stats(services, records)]
    rows = sort_rows(rows, request.query.get("s"))
    if request.query.get("format") == "json":
        return NodeResponse(body=[{c: row[c] for c in columns} for row in rows])
    if request.query.get("format") not in (None, "text", "txt"):
        raise IllegalArgument(f"unsupported format [{request.query['format']}]")
    return NodeResponse(body=cat_table(rows, columns, headers=request.flag("v")), content_type=TEXT)


def cat_columns(spec: str | None) -> list[str]:
    """The columns ``h=`` asks for (names or aliases, ``*`` wildcards); all by default."""
    if not spec:
        return list(CAT_COLUMNS)
    out: list[str] = []
    for raw in (part.strip() for part in spec.split(",") if part.strip()):
        name = _ALIASES.get(raw, raw)
        if "*" in name:
            prefix = name.split("*")[0]
            out.extend(c for c in CAT_COLUMNS if c.startswith(prefix) and c not in out)
        elif name in CAT_COLUMNS:
            out.append(name)
        else:
            raise IllegalArgument(f"header [{raw}] not found")
    return out


def cat_row(stats: indices.IndexStats, unit: str | None) -> dict[str, str]:
    """One ``_cat/indices`` row; every value a string, as Elasticsearch sends them."""
    size = (
        human_bytes(stats.store_bytes) if unit is None else str(stats.store_bytes // _UNITS[unit])
    )
    return {
        "health": "green",
        "status": "open",
        "index": stats.record.name,
        "uuid": stats.record.uuid,
        "pri": "1",
        "rep": "0",
        "docs.count": str(stats.docs),
        "docs.deleted": "0",
        "store.size": size,
        "pri.store.size": size,
        "dataset.size": size,
    }


def sort_rows(rows: list[dict[str, str]], spec: str | None) -> list[dict[str, str]]:
    """Rows ordered by ``s=col[:asc|:desc],...`` (by index name when not given)."""
    keys = [p.strip() for p in (spec or "index").split(",") if p.strip()]
    for key in reversed(keys):
        name, _, direction = key.partition(":")
        name = _ALIASES.get(name, name)
        if name not in CAT_COLUMNS:
            raise IllegalArgument(f"Unable to sort by unknown sort key `{name}`")
        rows = sorted(rows, key=lambda r: _sort_key(name, r[name]), reverse=direction == "desc")
    return rows


def _sort_key(column: str, value: str) -> Any:
    if column in _SIZE_COLUMNS:
        return parse_bytes(value)
    if column in _NUMERIC:
        return int(value)
    return value


def cat_table(rows: Sequence[Mapping[str, str]], columns: Sequence[str], *, headers: bool) -> str:
    """Columns padded to their widest cell; numbers right-aligned, as ``_cat`` prints them."""
    table = ([dict(zip(columns, columns, strict=True))] if headers else []) + [
        dict(r) for r in rows
    ]
    if not table:
        return ""
    widths = {c: max(len(row[c]) for row in table) for c in columns}
    lines = []
    for row in table:
        cells = [
            row[c].rjust(widths[c]) if c in _NUMERIC else row[c].ljust(widths[c]) for c in columns
        ]
        lines.append(" ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def human_bytes(size: int) -> str:
    """Elasticsearch's short byte sizes: ``225b``, ``5.4kb``, ``1.2mb``."""
    for unit in ("tb", "gb", "mb", "kb"):
        scale = _UNITS[unit]
        if size >= scale:
            value = round(size / scale, 1)
            text = f"{value:.1f}".removesuffix(".0")
            return f"{text}{unit}"
    return f"{size}b"


def parse_bytes(text: str) -> float:
    """The byte count of a ``human_bytes`` string (for sorting)."""
    for unit in ("tb", "gb", "mb", "kb", "b"):
        if text.endswith(unit):
            return float(text[: -len(unit)] or 0) * _UNITS[unit]
    return float(text or 0)


def index_stats(
    services: NodeServices, records: list[indices.IndexRecord]
) -> list[indices.IndexStats]:
    """Document count and bytes on disk of each index, from its shard."""
    out = []
    for record in records:
        shard = services.engine.shard(record)
        out.append(indices.IndexStats(record, shard.doc_count(), shard.size_bytes()))
    return out

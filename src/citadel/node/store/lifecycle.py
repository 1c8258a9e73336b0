"""Data stream lifecycles (``_data_stream/{name}/_lifecycle``): retention only.

A lifecycle is kept on its data stream's catalog entry (``lifecycle: {enabled,
data_retention}``). The node never rolls a stream over by itself; what it enforces is
retention: a backing index other than the write index whose generation date (the creation of
the next backing index, i.e. its rollover, or else its own creation) is older than
``data_retention`` is deleted by `expired` + `remove_expired`, run by
`citadel.node.lifecycle_loop`. Names that are plain indices are acknowledged and left alone,
as Elasticsearch does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from citadel.node.errors import IllegalArgument, IndexNotFound, XContentParseError
from citadel.node.search.time_values import parse_time_value
from citadel.node.store import catalog as meta
from citadel.node.store import data_streams, indices
from citadel.node.store.indices import Connection, IndexRecord, wildcard

_KEYS = frozenset({"data_retention", "enabled", "downsampling"})
_BY_CONFIG = "data_stream_configuration"


def parse(body: Any) -> dict[str, Any]:
    """A checked lifecycle body: ``enabled`` (default true) and ``data_retention``."""
    if body is None:
        body = {}
    if not isinstance(body, Mapping):
        raise XContentParseError("[lifecycle] must be an object")
    unknown = sorted(set(body) - _KEYS)
    if unknown:
        raise XContentParseError(f"[lifecycle] unknown field [{unknown[0]}]")
    if body.get("downsampling") is not None:
        raise IllegalArgument("data stream lifecycle [downsampling] is not supported by this node")
    enabled = body.get("enabled", True)
    if not isinstance(enabled, bool):
        raise XContentParseError("[lifecycle] failed to parse field [enabled]")
    out: dict[str, Any] = {"enabled": enabled}
    retention = body.get("data_retention")
    if retention is not None:
        if not isinstance(retention, str):
            raise XContentParseError("[lifecycle] failed to parse field [data_retention]")
        if retention_ms(retention) <= 0:
            raise IllegalArgument(
                f"data_retention [{retention}] must be greater than 0 (or absent: kept forever)"
            )
        out["data_retention"] = retention
    return out


def retention_ms(text: str) -> int:
    """A retention time value in milliseconds (``-1`` is refused: leave it out instead)."""
    return int(parse_time_value(text, "data_retention") * 1000)


def _targets(conn: Connection, names: str) -> list[str]:
    """The data streams `names` covers; an existing plain index or alias counts for nothing,
    a name that is nothing at all is a 404."""
    every = meta.every(conn, meta.DATA_STREAM)
    if names in ("*", "_all"):
        return list(every)
    catalog = indices.load_catalog(conn)
    out: list[str] = []
    for part in names.split(","):
        if "*" in part:
            pattern = wildcard(part)
            out.extend(n for n in every if pattern.fullmatch(n) and n not in out)
        elif part in every:
            if part not in out:
                out.append(part)
        elif catalog.kind(part) is None:
            raise IndexNotFound(part)
    return out


def put(conn: Connection, names: str, body: Any) -> None:
    """Set the lifecycle of the data streams `names` covers."""
    lifecycle = parse(body)
    for name in _targets(conn, names):
        stream = data_streams.require(conn, name)
        meta.put(conn, meta.DATA_STREAM, name, {**stream, "lifecycle": lifecycle})


def delete(conn: Connection, names: str) -> None:
    """Remove the lifecycle of the data streams `names` covers."""
    for name in _targets(conn, names):
        stream = data_streams.require(conn, name)
        stream.pop("lifecycle", None)
        meta.put(conn, meta.DATA_STREAM, name, stream)


def view(lifecycle: Mapping[str, Any]) -> dict[str, Any]:
    """A lifecycle as ``GET _lifecycle`` shows it (with its effective retention)."""
    out = dict(lifecycle)
    if "data_retention" in lifecycle:
        out["effective_retention"] = lifecycle["data_retention"]
        out["retention_determined_by"] = _BY_CONFIG
    return out


def get(conn: Connection, names: str) -> dict[str, Any]:
    """The body of ``GET _data_stream/{name}/_lifecycle``."""
    shown = []
    for name in _targets(conn, names):
        stream = data_streams.require(conn, name)
        entry: dict[str, Any] = {"name": name}
        if "lifecycle" in stream:
            entry["lifecycle"] = view(stream["lifecycle"])
        shown.append(entry)
    return {"global_retention": {}, "data_streams": shown}


def generation_ms(stream: Mapping[str, Any], index: str, created: Mapping[str, int]) -> int:
    """When backing `index` stopped being written: the next index's creation, else its own."""
    order = list(stream["indices"])
    at = order.index(index)
    if at + 1 < len(order) and order[at + 1] in created:
        return created[order[at + 1]]
    return created[index]


def expired(stream: Mapping[str, Any], created: Mapping[str, int], now_ms: int) -> list[str]:
    """The backing indices of `stream` past its retention (never the write index). Pure."""
    lifecycle = stream.get("lifecycle")
    if not lifecycle or not lifecycle.get("enabled", True) or "data_retention" not in lifecycle:
        return []
    keep_ms = retention_ms(lifecycle["data_retention"])
    doomed = []
    for index in stream["indices"][:-1]:
        if index in created and now_ms - generation_ms(stream, index, created) >= keep_ms:
            doomed.append(index)
    return doomed


def remove_expired(conn: Connection, now_ms: int) -> list[IndexRecord]:
    """Delete every managed stream's expired backing indices; the records whose shards to drop."""
    dropped = []
    for stream in meta.every(conn, meta.DATA_STREAM).values():
        records = {i: indices.load_index(conn, i) for i in stream["indices"]}
        created = {i: r.created_at for i, r in records.items() if r is not None}
        for name in expired(stream, created, now_ms):
            record = records[name]
            assert record is not None
            data_streams.forget_backing(conn, record)
            indices.delete(conn, record)
            dropped.append(record)
    return dropped


def explain(conn: Connection, records: list[IndexRecord], now_ms: int) -> dict[str, Any]:
    """The body of ``GET {index}/_lifecycle/explain`` for the resolved `records`."""
    streams = meta.every(conn, meta.DATA_STREAM)
    return {"indices": {r.name: _explain_one(conn, r.name, streams, now_ms) for r in records}}


def _explain_one(
    conn: Connection, index: str, streams: Mapping[str, Any], now_ms: int
) -> dict[str, Any]:
    owner = next(((n, s) for n, s in streams.items() if index in s["indices"]), None)
    if owner is None or not owner[1].get("lifecycle", {}).get("enabled", False):
        return {"index": index, "managed_by_lifecycle": False}
    stream = owner[1]
    created = {}
    for name in stream["indices"]:
        record = indices.load_index(conn, name)
        if record is not None:
            created[name] = record.created_at
    out: dict[str, Any] = {
        "index": index,
        "managed_by_lifecycle": True,
        "index_creation_date_millis": created.get(index, 0),
        "time_since_index_creation": _age(now_ms - created.get(index, now_ms)),
        "lifecycle": view(stream["lifecycle"]),
    }
    if stream["indices"][-1] != index and index in created:
        rolled = generation_ms(stream, index, created)
        out["rollover_date_millis"] = rolled
        out["time_since_rollover"] = _age(now_ms - rolled)
        out["generation_time"] = _age(now_ms - rolled)
    return out


def _age(ms: int) -> str:
    """A duration as Elasticsearch prints one (the largest unit, one decimal)."""
    ms = max(ms, 0)
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms >= size:
            value = ms / size
            return f"{value:.1f}{unit}" if value != int(value) else f"{int(value)}{unit}"
    return f"{ms}ms"


def stats(conn: Connection) -> dict[str, Any]:
    """The body of ``GET _lifecycle/stats``: the managed data streams."""
    rows = []
    for name, stream in meta.every(conn, meta.DATA_STREAM).items():
        if stream.get("lifecycle", {}).get("enabled", False):
            rows.append(
                {
                    "name": name,
                    "backing_indices_in_total": len(stream["indices"]),
                    "backing_indices_in_error": 0,
                }
            )
    return {"data_stream_count": len(rows), "data_streams": rows}

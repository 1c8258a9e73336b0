"""Data streams: a name over hidden backing indices ``.ds-<name>-<yyyy.MM.dd>-<generation>``.

A data stream is created by ``PUT _data_stream/<name>`` or by the first write to a name that a
composable template with ``data_stream: {}`` matches. Every backing index maps ``@timestamp``
as a date and requires it in each document; writes go to the newest backing index, searches
cover them all, and a rollover adds a new one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from citadel.kit.clock import Clock
from citadel.node.errors import (
    IllegalArgument,
    IndexNotFound,
    ResourceAlreadyExists,
)
from citadel.node.store import catalog as meta
from citadel.node.store import indices, templates
from citadel.node.store import mapping as mp
from citadel.node.store.indices import Connection, IndexRecord, wildcard

MAX_DATA_STREAMS = 1_000
TIMESTAMP = "@timestamp"


def backing_name(stream: str, generation: int, created_ms: int) -> str:
    """Elasticsearch's backing index name (the date is the day the index was created, UTC)."""
    import datetime as dt

    day = dt.datetime.fromtimestamp(created_ms / 1000, tz=dt.UTC).strftime("%Y.%m.%d")
    return f".ds-{stream}-{day}-{generation:06d}"


def create(conn: Connection, clock: Clock, name: str) -> IndexRecord:
    """Create data stream `name` from its matching template; its first backing index."""
    mp.validate_index_name(name)
    if name.startswith(".ds-"):
        raise IllegalArgument(f"data_stream [{name}] must not start with '.ds-'")
    if meta.get(conn, meta.DATA_STREAM, name) is not None:
        raise ResourceAlreadyExists(f"data_stream [{name}] already exists")
    if indices.load_catalog(conn).kind(name) is not None:
        raise ResourceAlreadyExists(f"index [{name}] already exists as an index or alias")
    if meta.count(conn, meta.DATA_STREAM) >= MAX_DATA_STREAMS:
        raise IllegalArgument(f"this node holds at most {MAX_DATA_STREAMS} data streams")
    found = templates.for_index(conn, name)
    if found is None or found[1].get("data_stream") is None:
        raise IllegalArgument(f"no matching index template found for data stream [{name}]")
    template_name, template = found
    record = _new_backing(conn, clock, name, 1, template)
    meta.put(
        conn,
        meta.DATA_STREAM,
        name,
        {
            "indices": [record.name],
            "generation": 1,
            "template": template_name,
            "hidden": bool(template["data_stream"].get("hidden")),
        },
    )
    return record


def _new_backing(
    conn: Connection, clock: Clock, name: str, generation: int, template: Mapping[str, Any]
) -> IndexRecord:
    composed = templates.resolve(conn, template)
    if composed.aliases:
        raise IllegalArgument(
            f"data stream [{name}]: aliases in its template are not supported by this node"
        )
    mappings = composed.mappings
    props = dict(mappings.get("properties", {}))
    props.setdefault(TIMESTAMP, {"type": "date"})
    if mp.field_type(props[TIMESTAMP]) not in ("date",):
        raise IllegalArgument(
            f"data stream timestamp field [{TIMESTAMP}] is of type "
            f"[{mp.field_type(props[TIMESTAMP])}], but [date,date_nanos] is expected"
        )
    mappings = {**mappings, "properties": props, mp.DATA_STREAM_TIMESTAMP: {"enabled": True}}
    settings = {**composed.settings, "index.hidden": "true"}
    created = int(clock.now().timestamp() * 1000)
    backing = backing_name(name, generation, created)
    return indices.insert(conn, clock, backing, settings, mappings)


def require(conn: Connection, name: str) -> dict[str, Any]:
    """The stored data stream `name`; 404 as Elasticsearch when there is none."""
    stream = meta.get(conn, meta.DATA_STREAM, name)
    if stream is None:
        raise IndexNotFound(name)
    return stream


def select(conn: Connection, names: str | None) -> dict[str, dict[str, Any]]:
    """Data streams matching `names` (comma list, wildcards); 404 for a missing exact name."""
    every = meta.every(conn, meta.DATA_STREAM)
    if not names or names in ("*", "_all"):
        return every
    out: dict[str, dict[str, Any]] = {}
    for part in names.split(","):
        pattern = wildcard(part)
        found = {n: s for n, s in every.items() if pattern.fullmatch(n)}
        if not found and "*" not in part:
            raise IndexNotFound(part)
        out.update(found)
    return dict(sorted(out.items()))


def view(conn: Connection, name: str, stream: Mapping[str, Any]) -> dict[str, Any]:
    """One data stream as ``GET _data_stream`` shows it."""
    backing = []
    for index in stream["indices"]:
        record = indices.load_index(conn, index)
        backing.append(
            {
                "index_name": index,
                "index_uuid": record.uuid if record else "_na_",
                "prefer_ilm": True,
                "managed_by": "Unmanaged",
            }
        )
    return {
        "name": name,
        "timestamp_field": {"name": TIMESTAMP},
        "indices": backing,
        "generation": stream["generation"],
        "status": "GREEN",
        "template": stream.get("template"),
        "next_generation_managed_by": "Unmanaged",
        "prefer_ilm": True,
        "hidden": bool(stream.get("hidden")),
        "system": False,
        "allow_custom_routing": False,
        "replicated": False,
        "rollover_on_write": False,
    }


def delete(conn: Connection, names: str) -> list[IndexRecord]:
    """Delete data streams and their backing indices; the records whose shards to drop."""
    doomed = select(conn, names)
    out = []
    for name, stream in doomed.items():
        for index in stream["indices"]:
            record = indices.load_index(conn, index)
            if record is not None:
                indices.delete(conn, record)
                out.append(record)
        meta.remove(conn, meta.DATA_STREAM, name)
    return out


def rollover(conn: Connection, clock: Clock, name: str) -> tuple[str, IndexRecord]:
    """Add a new backing index to data stream `name`; (old write index, new record)."""
    stream = require(conn, name)
    template = meta.get(conn, meta.INDEX_TEMPLATE, stream.get("template") or "")
    if template is None:
        found = templates.for_index(conn, name)
        if found is None or found[1].get("data_stream") is None:
            raise IllegalArgument(f"no matching index template found for data stream [{name}]")
        stream["template"], template = found
    generation = int(stream["generation"]) + 1
    record = _new_backing(conn, clock, name, generation, template)
    old = stream["indices"][-1]
    stream["indices"] = [*stream["indices"], record.name]
    stream["generation"] = generation
    meta.put(conn, meta.DATA_STREAM, name, stream)
    return old, record


def stream_of(conn: Connection, index: str) -> tuple[str, dict[str, Any]] | None:
    """The data stream that `index` backs, if any."""
    for name, stream in meta.every(conn, meta.DATA_STREAM).items():
        if index in stream["indices"]:
            return name, stream
    return None


def forget_backing(conn: Connection, record: IndexRecord) -> None:
    """Before deleting a backing index: refuse the write index, drop it from its stream."""
    found = stream_of(conn, record.name)
    if found is None:
        return
    name, stream = found
    if stream["indices"][-1] == record.name:
        raise IllegalArgument(
            f"index [{record.name}] is the write index for data stream [{name}] and cannot be "
            "deleted"
        )
    stream["indices"] = [i for i in stream["indices"] if i != record.name]
    meta.put(conn, meta.DATA_STREAM, name, stream)


def stats(
    conn: Connection, names: str | None, size_of: Callable[[IndexRecord], int]
) -> dict[str, Any]:
    """The body of ``GET _data_stream/_stats``."""
    rows = []
    total_bytes = 0
    backing = 0
    for name, stream in select(conn, names).items():
        records = [r for r in (indices.load_index(conn, i) for i in stream["indices"]) if r]
        size = sum(size_of(r) for r in records)
        total_bytes += size
        backing += len(records)
        rows.append(
            {
                "data_stream": name,
                "backing_indices": len(records),
                "store_size_bytes": size,
                "maximum_timestamp": 0,
            }
        )
    return {
        "_shards": {"total": backing, "successful": backing, "failed": 0},
        "data_stream_count": len(rows),
        "backing_indices": backing,
        "total_store_size_bytes": total_bytes,
        "data_streams": rows,
    }

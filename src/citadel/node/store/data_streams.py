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
    conn: Connection,
    clock: Clock,
    name: str,
    generation: int,
    template: Mapping[str, Any],
    stream: Mapping[str, Any] | None = None,
) -> IndexRecord:
    composed = _effective(conn, template, stream or {})
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
        "settings": indices.nest_settings(stream.get("settings", {})),
        "mappings": stream.get("mappings", {}),
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
    record = _new_backing(conn, clock, name, generation, template, stream)
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


# -- mappings and settings of a data stream (applied to its next backing indices) -------------


def _effective(
    conn: Connection, template: Mapping[str, Any], stream: Mapping[str, Any]
) -> templates.Composed:
    """The template's composition with the stream's own settings and mappings over it."""
    composed = templates.resolve(conn, template)
    composed.settings.update(stream.get("settings", {}))
    if stream.get("mappings"):
        composed.mappings = templates.overlay_mappings(composed.mappings, stream["mappings"])
    return composed


def _template_of(conn: Connection, name: str, stream: Mapping[str, Any]) -> Mapping[str, Any]:
    template = meta.get(conn, meta.INDEX_TEMPLATE, stream.get("template") or "")
    if template is None:
        found = templates.for_index(conn, name)
        if found is None or found[1].get("data_stream") is None:
            raise IllegalArgument(f"no matching index template found for data stream [{name}]")
        template = found[1]
    return template


def mappings_view(conn: Connection, name: str, stream: Mapping[str, Any]) -> dict[str, Any]:
    """``GET _data_stream/{name}/_mappings``: the stream's own and the effective mappings."""
    composed = _effective(conn, _template_of(conn, name, stream), stream)
    return {
        "name": name,
        "mappings": stream.get("mappings", {}),
        "effective_mappings": mp.canonical(composed.mappings),
    }


def put_mappings(conn: Connection, name: str, body: Any, *, dry_run: bool) -> dict[str, Any]:
    """Set the mappings the stream's next backing indices get over its template's."""
    stream = require(conn, name)
    update = mp.canonical(mp.normalize_mappings(body))
    merged = templates.overlay_mappings(stream.get("mappings", {}), update)
    mp.normalize_mappings(merged)
    changed = {**stream, "mappings": merged}
    view = mappings_view(conn, name, changed)
    if not dry_run:
        meta.put(conn, meta.DATA_STREAM, name, changed)
    return {**view, "applied_to_data_stream": not dry_run}


def settings_view(conn: Connection, name: str, stream: Mapping[str, Any]) -> dict[str, Any]:
    """``GET _data_stream/{name}/_settings``: the stream's own and the effective settings."""
    composed = _effective(conn, _template_of(conn, name, stream), stream)
    return {
        "name": name,
        "settings": indices.nest_settings(stream.get("settings", {})),
        "effective_settings": indices.nest_settings(composed.settings),
    }


def put_settings(
    conn: Connection, name: str, body: Any, *, dry_run: bool
) -> tuple[dict[str, Any], list[IndexRecord]]:
    """Set settings for the stream's next backing indices; the ones an index may change are
    also applied to its backing indices (Elasticsearch's split). Returns the view and the
    backing indices changed."""
    stream = require(conn, name)
    update = indices.normalize_settings(body)
    changed = {**stream, "settings": {**stream.get("settings", {}), **update}}
    view = settings_view(conn, name, changed)
    stream_only, everywhere, touched = [], [], []
    for key, value in sorted(update.items()):
        if key in _NEW_INDICES_ONLY:
            stream_only.append(key)
            continue
        everywhere.append(key)
        if dry_run:
            continue
        for index in stream["indices"]:
            record = indices.load_index(conn, index)
            if record is not None:
                indices.put_settings(conn, record, {key: value})
                touched.append(record)
    if not dry_run:
        meta.put(conn, meta.DATA_STREAM, name, changed)
    results = {
        "applied_to_data_stream_only": stream_only,
        "applied_to_data_stream_and_backing_indices": everywhere,
    }
    body_out = {**view, "applied_to_data_stream": not dry_run, "index_settings_results": results}
    return body_out, touched


_NEW_INDICES_ONLY = frozenset(
    {"index.number_of_shards", "index.number_of_routing_shards", "index.mode", "index.codec"}
)


# -- migrating an alias and modifying backing indices ----------------------------------------


def migrate(conn: Connection, name: str) -> list[IndexRecord]:
    """``_data_stream/_migrate/{name}``: alias `name` becomes a data stream over its indices
    (hidden, the write index last); returns the indices changed."""
    catalog = indices.load_catalog(conn)
    if catalog.kind(name) != "alias":
        raise IllegalArgument(f"alias [{name}] does not exist")
    members = [r for r in (indices.load_index(conn, i) for i in sorted(catalog.aliases[name])) if r]
    writers = [r for r in members if r.aliases[name].get("is_write_index")]
    if len(members) > 1 and not writers:
        raise IllegalArgument(f"alias [{name}] must specify a write index")
    if any(set(r.aliases[name]) - {"is_write_index", "is_hidden"} for r in members):
        raise IllegalArgument(f"alias [{name}] may not have custom filtering or routing")
    found = templates.for_index(conn, name)
    if found is None or found[1].get("data_stream") is None:
        raise IllegalArgument(f"no matching index template found for data stream [{name}]")
    writer = writers[0] if writers else members[0]
    ordered = [r for r in members if r.name != writer.name] + [writer]
    for record in ordered:
        del record.aliases[name]
        _make_backing(conn, record, name)
    meta.put(
        conn,
        meta.DATA_STREAM,
        name,
        {
            "indices": [r.name for r in ordered],
            "generation": len(ordered),
            "template": found[0],
            "hidden": bool(found[1]["data_stream"].get("hidden")),
        },
    )
    return ordered


def _make_backing(conn: Connection, record: IndexRecord, stream: str) -> None:
    """Hide `record` and require ``@timestamp`` (a date) in it, as a backing index of `stream`."""
    if record.aliases:
        alias = sorted(record.aliases)[0]
        raise IllegalArgument(
            f"cannot add index [{record.name}] to data stream [{stream}] until its alias "
            f"[{alias}] is removed"
        )
    props = dict(record.mappings.get("properties", {}))
    kind = mp.field_type(props[TIMESTAMP]) if TIMESTAMP in props else None
    if kind is None:
        props[TIMESTAMP] = {"type": "date"}
    elif kind != "date":
        raise IllegalArgument(
            f"data stream timestamp field [{TIMESTAMP}] is of type [{kind}], but "
            "[date,date_nanos] is expected"
        )
    mappings = {**record.mappings, "properties": props, mp.DATA_STREAM_TIMESTAMP: {"enabled": True}}
    indices.save_mappings(conn, record, mappings)
    indices.put_settings(conn, record, {"index.hidden": "true"})
    indices.save_meta(conn, record)


_MODIFY_ACTIONS = frozenset({"add_backing_index", "remove_backing_index"})


def modify(conn: Connection, body: Any) -> None:
    """``POST _data_stream/_modify``: add or remove backing indices, all actions or none."""
    actions = body.get("actions") if isinstance(body, Mapping) else None
    if not isinstance(actions, list) or not actions:
        raise IllegalArgument("[actions] must be a non-empty list of actions")
    for action in actions:
        if not isinstance(action, Mapping) or len(action) != 1:
            raise IllegalArgument(
                "each action names one of [add_backing_index, remove_backing_index]"
            )
        ((kind, spec),) = action.items()
        if kind not in _MODIFY_ACTIONS:
            raise IllegalArgument(f"unknown data stream action [{kind}]")
        if not isinstance(spec, Mapping) or set(spec) - {"data_stream", "index"}:
            raise IllegalArgument(f"[{kind}] takes [data_stream] and [index]")
        stream_name, index = str(spec.get("data_stream") or ""), str(spec.get("index") or "")
        stream = require(conn, stream_name)
        record = indices.load_index(conn, index)
        if record is None:
            raise IndexNotFound(index)
        if kind == "add_backing_index":
            _add_backing(conn, stream_name, stream, record)
        else:
            _remove_backing(conn, stream_name, stream, record)


def _add_backing(conn: Connection, name: str, stream: dict[str, Any], record: IndexRecord) -> None:
    owner = stream_of(conn, record.name)
    if owner is not None and owner[0] != name:
        raise IllegalArgument(
            f"cannot add index [{record.name}] to data stream [{name}] because it is already a "
            f"backing index on data stream [{owner[0]}]"
        )
    if record.name in stream["indices"]:
        return
    _make_backing(conn, record, name)
    stream["indices"] = [record.name, *stream["indices"]]
    meta.put(conn, meta.DATA_STREAM, name, stream)


def _remove_backing(
    conn: Connection, name: str, stream: dict[str, Any], record: IndexRecord
) -> None:
    if record.name not in stream["indices"]:
        raise IllegalArgument(f"index [{record.name}] is not part of data stream [{name}]")
    if stream["indices"][-1] == record.name:
        raise IllegalArgument(
            f"cannot remove backing index [{record.name}] of data stream [{name}] because it is "
            "the write index"
        )
    stream["indices"] = [i for i in stream["indices"] if i != record.name]
    meta.put(conn, meta.DATA_STREAM, name, stream)
    indices.put_settings(conn, record, {"index.hidden": "false"})

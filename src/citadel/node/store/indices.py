"""Indices: create, delete, look up, mappings, settings, and index expressions.

Every function takes an open store connection (the route holds the transaction). The catalog
row of an index holds its settings, mappings and slot layout (`citadel.node.engine.layout`):
which tantivy field holds each mapped field. Its documents live in the engine's shard
``indices/<uuid>/``, which the caller drops after the transaction commits.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from citadel.kit.clock import Clock
from citadel.node.engine.layout import FieldTable, Layout, assign, field_table
from citadel.node.errors import (
    EsError,
    IllegalArgument,
    IndexNotFound,
    ParsingError,
    ResourceAlreadyExists,
)
from citadel.node.store import catalog as meta
from citadel.node.store import mapping as mp
from citadel.node.store.expressions import (
    AliasLink,
    Catalog,
    IndexClosed,
    IndexFacts,
    StreamFacts,
    single_index,
    write_index,
)
from citadel.node.store.expressions import Targets as Targets
from citadel.node.store.expressions import is_pattern as is_pattern
from citadel.node.store.expressions import resolve as resolve_expression

Connection = Any  # a sqlcipher3 connection with Row rows
VERSION_CREATED = "8512000"
_PRIVATE_SETTINGS = frozenset(
    {"index.uuid", "index.creation_date", "index.provided_name", "index.version.created"}
)
_FINAL_SETTINGS = frozenset({"index.number_of_shards", "index.number_of_routing_shards"})
_CREATE_KEYS = frozenset({"settings", "mappings", "aliases"})


@dataclass
class IndexRecord:
    """One index as stored: settings flat (``index.*`` → string), mappings in ES shape."""

    id: int
    name: str
    uuid: str
    created_at: int
    settings: dict[str, Any]
    mappings: dict[str, Any]
    layout: Layout = field(default_factory=Layout)
    aliases: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Alias name → its definition as ``GET _alias`` shows it (filter, is_write_index ...)."""
    state: str = "open"
    alias_filter: Mapping[str, Any] | None = field(default=None, compare=False)
    """Set by a search through filtered aliases: the query its documents must also match."""
    _table: FieldTable | None = field(default=None, repr=False, compare=False)

    @property
    def closed(self) -> bool:
        """Whether the index is closed (no reads or writes until reopened)."""
        return self.state == "close"

    @property
    def hidden(self) -> bool:
        """``index.hidden`` (wildcards skip the index unless asked)."""
        return str(self.settings.get("index.hidden", "false")) == "true"

    @property
    def table(self) -> FieldTable:
        """Every leaf field with its slot (cached until the mappings change)."""
        if self._table is None:
            self._table = field_table(self.mappings, self.layout)
        return self._table

    @property
    def refresh_s(self) -> float | None:
        """``index.refresh_interval`` in seconds (None: ``-1``, refresh only on request)."""
        return refresh_seconds(self.settings.get("index.refresh_interval", "1s"))

    @property
    def limits(self) -> mp.Limits:
        """The mapping-explosion limits from the index settings."""
        return mp.Limits(
            total_fields=_int_setting(
                self.settings, "index.mapping.total_fields.limit", mp.DEFAULT_TOTAL_FIELDS
            ),
            depth=_int_setting(self.settings, "index.mapping.depth.limit", mp.DEFAULT_DEPTH),
        )


# -- settings (pure) -------------------------------------------------------------------------


def normalize_settings(body: Any) -> dict[str, Any]:
    """Flatten create-index settings to ``index.*`` keys with string values; 400 when invalid."""
    if body is None:
        return {}
    if not isinstance(body, Mapping):
        raise IllegalArgument("[settings] must be an object")
    flat: dict[str, Any] = {}
    for key, value in _flatten(body, ""):
        name = key if key.startswith("index.") else f"index.{key}"
        if name in _PRIVATE_SETTINGS:
            raise IllegalArgument(f"private index setting [{name}] can not be set explicitly")
        if value is None:
            flat.pop(name, None)
            continue
        flat[name] = (
            [_setting_text(v) for v in value] if isinstance(value, list) else (_setting_text(value))
        )
    for name in flat:
        check_setting_name(name)
    _check_int(flat, "index.number_of_shards", low=1, high=1024)
    _check_int(flat, "index.number_of_replicas", low=0, high=1024)
    _check_int(flat, "index.mapping.total_fields.limit", low=1, high=100_000)
    _check_int(flat, "index.mapping.depth.limit", low=1, high=100)
    _check_int(flat, "index.max_result_window", low=1, high=2**31 - 1)
    return flat


_KNOWN_SETTINGS = frozenset(
    {
        "index.number_of_shards",
        "index.number_of_replicas",
        "index.number_of_routing_shards",
        "index.auto_expand_replicas",
        "index.refresh_interval",
        "index.max_result_window",
        "index.max_inner_result_window",
        "index.max_rescore_window",
        "index.max_docvalue_fields_search",
        "index.max_script_fields",
        "index.max_terms_count",
        "index.max_regex_length",
        "index.max_ngram_diff",
        "index.max_shingle_diff",
        "index.max_refresh_listeners",
        "index.max_slices_per_scroll",
        "index.analyze.max_token_count",
        "index.highlight.max_analyzed_offset",
        "index.hidden",
        "index.codec",
        "index.priority",
        "index.format",
        "index.gc_deletes",
        "index.default_pipeline",
        "index.final_pipeline",
        "index.shard.check_on_startup",
        "index.load_fixed_bitset_filters_eagerly",
        "index.write.wait_for_active_shards",
        "index.queries.cache.enabled",
        "index.requests.cache.enable",
        "index.blocks.read_only",
        "index.blocks.read_only_allow_delete",
        "index.blocks.read",
        "index.blocks.write",
        "index.blocks.metadata",
        "index.mapping.total_fields.limit",
        "index.mapping.total_fields.ignore_dynamic_beyond_limit",
        "index.mapping.depth.limit",
        "index.mapping.nested_fields.limit",
        "index.mapping.nested_objects.limit",
        "index.mapping.field_name_length.limit",
        "index.mapping.dimension_fields.limit",
        "index.mapping.coerce",
        "index.mapping.ignore_malformed",
        "index.verified_before_close",
    }
)
_KNOWN_PREFIXES = (
    "index.routing.",
    "index.lifecycle.",
    "index.translog.",
    "index.merge.",
    "index.search.",
    "index.indexing.",
    "index.unassigned.",
    "index.store.",
    "index.soft_deletes.",
    "index.version.",
    "index.query.",
)
_REFUSED_PREFIXES = {
    "index.analysis.": "custom analysis (analyzers, tokenizers, filters, normalizers)",
    "index.sort.": "index sorting",
    "index.similarity.": "custom similarities",
    "index.mode": "index modes (time_series, logsdb)",
    "index.time_series.": "time series indices",
    "index.routing_path": "time series indices",
}


def check_setting_name(name: str) -> None:
    """400 for a setting Elasticsearch does not know, and for known ones this node cannot
    honour (custom analysis, index sorting, time series)."""
    for prefix, feature in _REFUSED_PREFIXES.items():
        if name.startswith(prefix):
            raise IllegalArgument(f"setting [{name}]: {feature} is not supported by this node")
    if name in _KNOWN_SETTINGS or name.startswith(_KNOWN_PREFIXES):
        return
    raise IllegalArgument(
        f"unknown setting [{name}] please check that any required plugins are installed, or "
        "check the breaking changes documentation for removed settings"
    )


def _flatten(body: Mapping[str, Any], prefix: str) -> Iterable[tuple[str, Any]]:
    for key, value in body.items():
        if isinstance(value, Mapping):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _setting_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _check_int(flat: Mapping[str, Any], name: str, *, low: int, high: int) -> None:
    if name not in flat:
        return
    raw = flat[name]
    try:
        number = int(str(raw))
    except ValueError:
        raise IllegalArgument(f"Failed to parse value [{raw}] for setting [{name}]") from None
    if number < low:
        raise IllegalArgument(
            f"Failed to parse value [{raw}] for setting [{name}] must be >= {low}"
        )
    if number > high:
        raise IllegalArgument(
            f"Failed to parse value [{raw}] for setting [{name}] must be <= {high}"
        )


def _int_setting(settings: Mapping[str, Any], name: str, default: int) -> int:
    try:
        return int(settings.get(name, default))
    except (TypeError, ValueError):
        return default


def nest_settings(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"index.a.b": v}`` → ``{"index": {"a": {"b": v}}}``, as ``GET _settings`` shows them."""
    out: dict[str, Any] = {}
    for key, value in sorted(flat.items()):
        *parents, leaf = key.split(".")
        node = _nested_parent(out, parents)
        if node is None:
            out[key] = value
        else:
            node[leaf] = value
    return out


def _nested_parent(out: dict[str, Any], parents: list[str]) -> dict[str, Any] | None:
    node = out
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):  # "a" and "a.b" both set: keep the leaf flat
            return None
        node = child
    return node


# -- index expressions ----------------------------------------------------------------------

ALL = "_all"


class IndexNames(list[str]):
    """Every index name, sorted, carrying the catalog (aliases, data streams, closed and
    hidden indices) so that `resolve_targets` resolves every kind of name."""

    catalog: Catalog

    def __init__(self, catalog: Catalog) -> None:
        super().__init__(sorted(catalog.indices))
        self.catalog = catalog


def resolve_targets(
    expression: str | None,
    names: Iterable[str],
    allowed: Callable[[str], bool],
    *,
    deny_explicit: bool = True,
    ignore_unavailable: bool = False,
    allow_no_indices: bool = True,
    expand_hidden: bool = False,
    expand_closed: bool = False,
    closed_ok: bool = False,
) -> Targets:
    """Concrete index names for an expression: indices, aliases, data streams, comma lists,
    ``*`` wildcards, ``_all``, ``-x`` (`citadel.node.store.expressions.resolve`).

    `names` is `all_names` (which carries aliases and data streams) or plain index names.
    `Targets.filters` holds the filter of every index reached only through filtered aliases:
    a search applies it (``IndexRecord.alias_filter``).
    """
    catalog = names.catalog if isinstance(names, IndexNames) else Catalog.of_names(names)
    return resolve_expression(
        expression,
        catalog,
        allowed,
        deny_explicit=deny_explicit,
        ignore_unavailable=ignore_unavailable,
        allow_no_indices=allow_no_indices,
        expand_hidden=expand_hidden,
        expand_closed=expand_closed,
        closed_ok=closed_ok,
    )


def resolve_names(
    expression: str | None,
    names: Iterable[str],
    *,
    allowed: Callable[[str], bool] | None = None,
    ignore_unavailable: bool = False,
    allow_no_indices: bool = True,
    expand_hidden: bool = False,
    expand_closed: bool = False,
    closed_ok: bool = False,
) -> list[str]:
    """`resolve_targets` for routes whose explicit names the router already authorized:
    `allowed` (everything when None) narrows wildcards only."""
    targets = resolve_targets(
        expression,
        names,
        allowed or _everything,
        deny_explicit=False,
        ignore_unavailable=ignore_unavailable,
        allow_no_indices=allow_no_indices,
        expand_hidden=expand_hidden,
        expand_closed=expand_closed,
        closed_ok=closed_ok,
    )
    return list(targets.names)


def _everything(name: str) -> bool:
    return True


def wildcard(pattern: str) -> re.Pattern[str]:
    """A ``*`` pattern as a regular expression (for `fullmatch`)."""
    return re.compile(".*".join(re.escape(p) for p in pattern.split("*")))


# -- reading ---------------------------------------------------------------------------------


_SELECT = (
    "SELECT i.*, m.value AS meta FROM indices i LEFT JOIN meta m ON m.key = 'index/' || i.uuid"
)


def load_index(conn: Connection, name: str) -> IndexRecord | None:
    """The index called exactly `name` (open or closed; no alias resolution), or None."""
    row = conn.execute(f"{_SELECT} WHERE i.name = ?", (name,)).fetchone()
    return _record(conn, row) if row else None


def load(conn: Connection, name: str) -> IndexRecord | None:
    """The index a write through `name` goes to, or None when `name` names nothing.

    `name` may be an index, an alias (its write index; 400 when it has none) or a data stream
    (its newest backing index). A closed index is index_closed_exception.
    """
    record = load_index(conn, name)
    if record is None:
        target = write_index(name, load_catalog(conn))
        record = load_index(conn, target) if target is not None else None
    if record is not None and record.closed:
        raise IndexClosed(record.name, record.uuid)
    return record


class ClusterBlock(EsError):
    """A write to an index whose ``index.blocks.*`` setting forbids it."""

    type = "cluster_block_exception"
    status = 403


_WRITE_BLOCKS = {
    "index.blocks.read_only": "FORBIDDEN/5/index read-only (api)",
    "index.blocks.write": "FORBIDDEN/8/index write (api)",
}


def check_write(record: IndexRecord, name: str, *, create_only: bool | None) -> None:
    """Refuse a document write as Elasticsearch would: write blocks, and on a data stream
    anything but ``op_type=create`` (`create_only` None: an update or a delete)."""
    for setting, block in _WRITE_BLOCKS.items():
        if str(record.settings.get(setting, "false")) == "true":
            raise ClusterBlock(f"index [{record.name}] blocked by: [{block}];")
    if not record.mappings.get(mp.DATA_STREAM_TIMESTAMP, {}).get("enabled") or create_only:
        return
    if create_only is None and name == record.name:  # a backing index by its own name
        return
    if name != record.name:
        raise IllegalArgument(
            "only write ops with an op_type of create are allowed in data streams"
        )
    raise IllegalArgument(
        "index request with op_type=index and no if_primary_term and if_seq_no set targeting "
        "backing indices is disallowed, target corresponding data stream instead"
    )


def require(conn: Connection, name: str) -> IndexRecord:
    """The one index a read by id through `name` reads; 404 index_not_found_exception when
    there is none, 400 for an alias of several indices or a data stream (as Elasticsearch)."""
    record = load_index(conn, name)
    if record is None:
        target = single_index(name, load_catalog(conn))
        record = load_index(conn, target) if target is not None else None
    if record is None:
        raise IndexNotFound(name)
    if record.closed:
        raise IndexClosed(record.name, record.uuid)
    return record


def all_names(conn: Connection) -> IndexNames:
    """Every index name, sorted (carrying aliases and data streams for `resolve_targets`)."""
    return IndexNames(load_catalog(conn))


def load_catalog(conn: Connection) -> Catalog:
    """Every index, alias and data stream, for resolving expressions."""
    facts: dict[str, IndexFacts] = {}
    aliases: dict[str, dict[str, AliasLink]] = {}
    rows = conn.execute(
        "SELECT i.name, i.uuid, i.settings, m.value AS meta FROM indices i "
        "LEFT JOIN meta m ON m.key = 'index/' || i.uuid"
    )
    for name, uuid, settings, raw in rows:
        extra = json.loads(raw) if raw else {}
        hidden = str(json.loads(settings).get("index.hidden", "false")) == "true"
        facts[name] = IndexFacts(uuid, hidden, extra.get("state") == "close")
        for alias, spec in extra.get("aliases", {}).items():
            aliases.setdefault(alias, {})[name] = AliasLink(
                spec.get("filter"), spec.get("is_write_index"), bool(spec.get("is_hidden"))
            )
    streams = {
        name: StreamFacts(tuple(s["indices"]), bool(s.get("hidden")))
        for name, s in meta.every(conn, meta.DATA_STREAM).items()
    }
    return Catalog(facts, aliases, streams)


def resolve(
    conn: Connection,
    expression: str | None,
    *,
    allowed: Callable[[str], bool] | None = None,
    ignore_unavailable: bool = False,
    allow_no_indices: bool = True,
    expand_hidden: bool = False,
    expand_closed: bool = False,
    closed_ok: bool = False,
) -> list[IndexRecord]:
    """The indices an expression names (see `resolve_names`), loaded."""
    names = resolve_names(
        expression,
        all_names(conn),
        allowed=allowed,
        ignore_unavailable=ignore_unavailable,
        allow_no_indices=allow_no_indices,
        expand_hidden=expand_hidden,
        expand_closed=expand_closed,
        closed_ok=closed_ok,
    )
    out = []
    for name in names:
        record = load_index(conn, name)
        if record is None:
            raise IndexNotFound(name)
        out.append(record)
    return out


def _record(conn: Connection, row: Any) -> IndexRecord:
    extra = json.loads(row["meta"]) if row["meta"] else {}
    mappings, layout, table = _parsed_fields(row["mappings"], row["layout"] or "{}")
    return IndexRecord(
        id=row["id"],
        name=row["name"],
        uuid=row["uuid"],
        created_at=row["created_at"],
        settings=json.loads(row["settings"]),
        mappings=copy.deepcopy(mappings),
        layout=layout,
        aliases=extra.get("aliases", {}),
        state=extra.get("state", "open"),
        _table=table,
    )


_FIELDS_CACHE: dict[tuple[str, str], tuple[dict[str, Any], Layout, FieldTable]] = {}
_FIELDS_CACHE_SIZE = 256


def _parsed_fields(mappings: str, layout: str) -> tuple[dict[str, Any], Layout, FieldTable]:
    """Mappings, layout and field table of a catalog row, parsed once per distinct text (every
    search loads its indices' rows; walking the mappings each time cost more than the search)."""
    key = (mappings, layout)
    cached = _FIELDS_CACHE.get(key)
    if cached is None:
        parsed = json.loads(mappings)
        slots = Layout.from_json(json.loads(layout))
        cached = (parsed, slots, field_table(parsed, slots))
        if len(_FIELDS_CACHE) >= _FIELDS_CACHE_SIZE:
            _FIELDS_CACHE.clear()
        _FIELDS_CACHE[key] = cached
    return cached


def save_meta(conn: Connection, record: IndexRecord) -> None:
    """Store an index's aliases and state (kept beside its catalog row)."""
    if not record.aliases and record.state == "open":
        meta.remove(conn, meta.INDEX, record.uuid)
        return
    meta.put(conn, meta.INDEX, record.uuid, {"aliases": record.aliases, "state": record.state})


def describe(record: IndexRecord, *, flat_settings: bool = False) -> dict[str, Any]:
    """The body of ``GET /{index}`` for one index."""
    return {
        "aliases": {name: record.aliases[name] for name in sorted(record.aliases)},
        "mappings": record.mappings,
        "settings": settings_view(record, flat=flat_settings),
    }


def settings_view(record: IndexRecord, *, flat: bool = False) -> dict[str, Any]:
    """The index settings as ``GET _settings`` shows them (with the private ones)."""
    shown = {
        "index.number_of_shards": "1",
        "index.number_of_replicas": "1",
        "index.routing.allocation.include._tier_preference": "data_content",
        **record.settings,
        "index.uuid": record.uuid,
        "index.creation_date": str(record.created_at),
        "index.provided_name": record.name,
        "index.version.created": VERSION_CREATED,
    }
    return shown if flat else nest_settings(shown)


# -- writing ---------------------------------------------------------------------------------


def create(
    conn: Connection, clock: Clock, name: str, body: Any, *, explicit: bool = False
) -> IndexRecord:
    """Create index `name` from a create-index body (settings, mappings, aliases) and the
    templates that match it. A first write (not `explicit`) to a name that a data stream
    template matches creates the data stream and answers its write index."""
    from citadel.node.store import creation  # creation composes templates, aliases, streams

    return creation.create(conn, clock, name, body, explicit=explicit)


def check_create_body(body: Any) -> Mapping[str, Any]:
    """A create-index body's keys (settings, mappings, aliases); 400 for others."""
    if body is None:
        return {}
    if not isinstance(body, Mapping):
        raise ParsingError("request body must be an object")
    unknown = [k for k in body if k not in _CREATE_KEYS]
    if unknown:
        raise ParsingError(f"unknown key [{unknown[0]}] for create index")
    return body


def insert(
    conn: Connection,
    clock: Clock,
    name: str,
    settings: dict[str, Any],
    mappings: Mapping[str, Any],
    *,
    layout: Layout | None = None,
) -> IndexRecord:
    """Write the catalog row of new index `name` (settings flat, mappings validated here);
    `layout` keeps another index's slots (a resize copies that index's files)."""
    mp.validate_index_name(name)
    mappings = mp.canonical(mp.normalize_mappings(mappings))
    existing = load_index(conn, name)
    if existing is not None:
        raise ResourceAlreadyExists(
            f"index [{name}/{existing.uuid}] already exists",
            index_uuid=existing.uuid,
            index=name,
        )
    limits = IndexRecord(0, name, "", 0, settings, mappings).limits
    _check_limits(mappings, limits)
    created_at = int(clock.now().timestamp() * 1000)
    uuid = secrets.token_urlsafe(16)[:22]
    refresh_seconds(settings.get("index.refresh_interval", "1s"))
    layout = layout if layout is not None else assign(Layout(), mappings).layout
    cursor = conn.execute(
        "INSERT INTO indices (name, uuid, created_at, settings, mappings, layout) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (name, uuid, created_at, json.dumps(settings), json.dumps(mappings), _layout(layout)),
    )
    return IndexRecord(int(cursor.lastrowid), name, uuid, created_at, settings, mappings, layout)


def delete(conn: Connection, record: IndexRecord) -> None:
    """Drop an index's catalog row (the caller drops its shard once this commits)."""
    conn.execute("DELETE FROM indices WHERE id = ?", (record.id,))
    meta.remove(conn, meta.INDEX, record.uuid)


def put_mapping(conn: Connection, record: IndexRecord, body: Any) -> IndexRecord:
    """Add to an index's mappings (never removes or retypes a field)."""
    update = mp.normalize_mappings(body)
    merged = mp.merge_mappings(record.mappings, update)
    _check_limits(merged, record.limits)
    return save_mappings(conn, record, merged)


def save_mappings(conn: Connection, record: IndexRecord, mappings: dict[str, Any]) -> IndexRecord:
    """Store new mappings for `record`, giving new fields their slots."""
    mappings = mp.canonical(mappings)
    assignment = assign(record.layout, mappings)
    if assignment.grown:
        raise IllegalArgument(
            f"index [{record.name}] has no room for more fields of this kind on this node "
            "(the slot layout is full); reindex into a new index"
        )
    conn.execute(
        "UPDATE indices SET mappings = ?, layout = ? WHERE id = ?",
        (json.dumps(mappings), _layout(assignment.layout), record.id),
    )
    record.mappings = mappings
    record.layout = assignment.layout
    record._table = None
    return record


def _layout(layout: Layout) -> str:
    return json.dumps(layout.to_json(), separators=(",", ":"))


def put_settings(conn: Connection, record: IndexRecord, body: Any) -> IndexRecord:
    """Update an index's dynamic settings; final ones (shard count) are refused."""
    if isinstance(body, Mapping) and isinstance(body.get("settings"), Mapping):
        body = body["settings"]
    update = normalize_settings(body)
    for name in update:
        if name in _FINAL_SETTINGS and update[name] != record.settings.get(name, "1"):
            raise IllegalArgument(f"final {record.name} setting [{name}], not updateable")
    settings = {**record.settings, **update}
    conn.execute("UPDATE indices SET settings = ? WHERE id = ?", (json.dumps(settings), record.id))
    record.settings = settings
    return record


def _check_limits(mappings: Mapping[str, Any], limits: mp.Limits) -> None:
    total = len(mp.fields_of(mappings))
    if total > limits.total_fields:
        raise IllegalArgument(f"Limit of total fields [{limits.total_fields}] has been exceeded")
    deepest = max((f.path.count(".") + 1 for f in mp.fields_of(mappings).values()), default=0)
    if deepest > limits.depth + 1:
        raise IllegalArgument(f"Limit of mapping depth [{limits.depth}] has been exceeded")


# -- statistics ------------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexStats:
    """What ``_cat/indices`` and ``_stats`` report for one index."""

    record: IndexRecord
    docs: int
    store_bytes: int


def refresh_seconds(value: Any) -> float | None:
    """``index.refresh_interval`` (``1s``, ``500ms``, ``-1``) in seconds; None for ``-1``."""
    text = str(value).strip()
    if text == "-1":
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(nanos|micros|ms|s|m|h|d)?", text)
    if match is None or (match.group(2) is None and float(match.group(1)) != 0):
        raise IllegalArgument(
            f"failed to parse setting [index.refresh_interval] with value [{text}] as a time "
            "value: "
            "unit is missing or unrecognized"
        )
    scale = {"nanos": 1e-9, "micros": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600, "d": 86400}
    return float(match.group(1)) * scale[match.group(2) or "s"]


def load_by_uuid(conn: Connection, uuid: str) -> IndexRecord | None:
    """The index whose uuid is `uuid`, or None."""
    row = conn.execute(f"{_SELECT} WHERE i.uuid = ?", (uuid,)).fetchone()
    return _record(conn, row) if row else None

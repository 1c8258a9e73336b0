"""Indices: create, delete, look up, mappings, settings, and index expressions.

Every function takes an open store connection (the route holds the transaction). The catalog
row of an index holds its settings, mappings and slot layout (`citadel.node.engine.layout`):
which tantivy field holds each mapped field. Its documents live in the engine's shard
``indices/<uuid>/``, which the caller drops after the transaction commits.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from citadel.kit.clock import Clock
from citadel.node.engine.layout import FieldTable, Layout, assign, field_table
from citadel.node.errors import (
    IllegalArgument,
    IndexNotFound,
    ParsingError,
    ResourceAlreadyExists,
)
from citadel.node.store import mapping as mp

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
    _table: FieldTable | None = field(default=None, repr=False, compare=False)

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
    _check_int(flat, "index.number_of_shards", low=1, high=1024)
    _check_int(flat, "index.number_of_replicas", low=0, high=1024)
    _check_int(flat, "index.mapping.total_fields.limit", low=1, high=100_000)
    _check_int(flat, "index.mapping.depth.limit", low=1, high=100)
    _check_int(flat, "index.max_result_window", low=1, high=2**31 - 1)
    return flat


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
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):  # "a" and "a.b" both set: keep the leaf flat
                node = None
                break
            node = child
        if node is None:
            out[key] = value
        else:
            node[leaf] = value
    return out


# -- index expressions (pure) ----------------------------------------------------------------

ALL = "_all"


@dataclass(frozen=True)
class Targets:
    """The indices an expression names for a caller, or the explicit names it may not read."""

    names: tuple[str, ...]
    denied: tuple[str, ...] = ()


def resolve_targets(
    expression: str | None,
    names: Iterable[str],
    allowed: Callable[[str], bool],
    *,
    deny_explicit: bool = True,
    ignore_unavailable: bool = False,
    allow_no_indices: bool = True,
    expand_hidden: bool = False,
) -> Targets:
    """Concrete index names for an expression: comma lists, ``*`` wildcards, ``_all``, ``-x``.

    Wildcards expand only to names `allowed` accepts (as Elasticsearch expands only to
    authorized indices, so a search over ``*`` silently covers what the caller can see) and
    skip ``.hidden`` names unless the pattern starts with a dot or `expand_hidden`. A ``-x``
    after the first item removes what it matches. With `deny_explicit`, a name given
    explicitly that `allowed` refuses is `denied` (the caller answers 403, whether the index
    exists or not, so existence does not leak). A concrete name that does not exist, or a
    wildcard that matches nothing when not `allow_no_indices`, is a 404. `ignore_unavailable`
    skips denied and missing names alike.
    """
    existing = sorted(set(names))
    known = set(existing)
    parts = [p.strip() for p in (expression or ALL).split(",") if p.strip()] or [ALL]
    chosen: dict[str, None] = {}
    denied: list[str] = []
    missing: str | None = None
    for i, part in enumerate(parts):
        if part.startswith("-") and i > 0:
            pattern = _wildcard(part[1:])
            for name in [n for n in chosen if pattern.fullmatch(n)]:
                del chosen[name]
        elif is_pattern(part):
            pattern = _wildcard("*" if part == ALL else part)
            hidden_ok = expand_hidden or part.startswith(".")
            matched = [
                n
                for n in existing
                if pattern.fullmatch(n) and (hidden_ok or not n.startswith(".")) and allowed(n)
            ]
            if not matched and not allow_no_indices:
                missing = missing or part
            chosen.update(dict.fromkeys(matched))
        elif deny_explicit and not allowed(part):
            if not ignore_unavailable:
                denied.append(part)
        elif part in known:
            chosen[part] = None
        elif not ignore_unavailable:
            missing = missing or part
    if denied:
        return Targets((), tuple(denied))
    if missing is not None:
        raise IndexNotFound(missing)
    if not chosen and not allow_no_indices:
        raise IndexNotFound(expression or ALL)
    return Targets(tuple(chosen))


def resolve_names(
    expression: str | None,
    names: Iterable[str],
    *,
    allowed: Callable[[str], bool] | None = None,
    ignore_unavailable: bool = False,
    allow_no_indices: bool = True,
    expand_hidden: bool = False,
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
    )
    return list(targets.names)


def is_pattern(expression: str) -> bool:
    """Whether an expression may name more than one index."""
    return any(p.strip() in (ALL, "*") or "*" in p for p in expression.split(","))


def _everything(name: str) -> bool:
    return True


def _wildcard(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(p) for p in pattern.split("*")))


# -- reading ---------------------------------------------------------------------------------


def load(conn: Connection, name: str) -> IndexRecord | None:
    """The index called `name`, or None."""
    row = conn.execute("SELECT * FROM indices WHERE name = ?", (name,)).fetchone()
    return _record(conn, row) if row else None


def require(conn: Connection, name: str) -> IndexRecord:
    """The index called `name`; 404 index_not_found_exception when there is none."""
    record = load(conn, name)
    if record is None:
        raise IndexNotFound(name)
    return record


def all_names(conn: Connection) -> list[str]:
    """Every index name, sorted."""
    return [r[0] for r in conn.execute("SELECT name FROM indices ORDER BY name")]


def resolve(
    conn: Connection,
    expression: str | None,
    *,
    allowed: Callable[[str], bool] | None = None,
    ignore_unavailable: bool = False,
    allow_no_indices: bool = True,
    expand_hidden: bool = False,
) -> list[IndexRecord]:
    """The indices an expression names (see `resolve_names`), loaded."""
    names = resolve_names(
        expression,
        all_names(conn),
        allowed=allowed,
        ignore_unavailable=ignore_unavailable,
        allow_no_indices=allow_no_indices,
        expand_hidden=expand_hidden,
    )
    return [require(conn, n) for n in names]


def _record(conn: Connection, row: Any) -> IndexRecord:
    return IndexRecord(
        id=row["id"],
        name=row["name"],
        uuid=row["uuid"],
        created_at=row["created_at"],
        settings=json.loads(row["settings"]),
        mappings=json.loads(row["mappings"]),
        layout=Layout.from_json(json.loads(row["layout"] or "{}")),
    )


def describe(record: IndexRecord, *, flat_settings: bool = False) -> dict[str, Any]:
    """The body of ``GET /{index}`` for one index."""
    return {
        "aliases": {},
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


def create(conn: Connection, clock: Clock, name: str, body: Any) -> IndexRecord:
    """Create index `name` from a create-index body (settings, mappings, aliases)."""
    mp.validate_index_name(name)
    if body is None:
        body = {}
    if not isinstance(body, Mapping):
        raise ParsingError("request body must be an object")
    unknown = [k for k in body if k not in _CREATE_KEYS]
    if unknown:
        raise ParsingError(f"unknown key [{unknown[0]}] for create index")
    if body.get("aliases"):
        raise IllegalArgument("index aliases are not supported by this node")
    settings = normalize_settings(body.get("settings"))
    mappings = mp.canonical(mp.normalize_mappings(body.get("mappings")))
    existing = load(conn, name)
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
    layout = assign(Layout(), mappings).layout
    cursor = conn.execute(
        "INSERT INTO indices (name, uuid, created_at, settings, mappings, layout) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (name, uuid, created_at, json.dumps(settings), json.dumps(mappings), _layout(layout)),
    )
    return IndexRecord(int(cursor.lastrowid), name, uuid, created_at, settings, mappings, layout)


def delete(conn: Connection, record: IndexRecord) -> None:
    """Drop an index's catalog row (the caller drops its shard once this commits)."""
    conn.execute("DELETE FROM indices WHERE id = ?", (record.id,))


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
    row = conn.execute("SELECT * FROM indices WHERE uuid = ?", (uuid,)).fetchone()
    return _record(conn, row) if row else None

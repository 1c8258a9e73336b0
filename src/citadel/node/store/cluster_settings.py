"""Cluster settings (``_cluster/settings``): which ones the node knows, honours, and stores.

Persistent settings are kept in the catalog's ``meta`` table (key ``cluster/settings``) and
survive restarts; transient ones live in the process (`Transient`) and are gone after a
restart, as after a full cluster restart in Elasticsearch. A setting may be given a value only
when the node honours it (`HONOURED`); any other known Elasticsearch setting may only be reset
(``null``, which is its default here), and an unknown name is Elasticsearch's 400
``[persistent] setting [x], not recognized``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from citadel.node.errors import ActionRequestValidation, IllegalArgument, XContentParseError
from citadel.node.search.time_values import parse_time_value

Connection = Any  # a sqlcipher3 connection
KEY = "cluster/settings"
EXCLUSIONS_KEY = "cluster/voting_config_exclusions"
MAX_VOTING_EXCLUSIONS = "cluster.max_voting_config_exclusions"

# Known Elasticsearch cluster settings and their defaults (what include_defaults shows).
DEFAULTS: dict[str, str] = {
    "action.auto_create_index": "true",
    "action.destructive_requires_name": "true",
    "cluster.blocks.read_only": "false",
    "cluster.blocks.read_only_allow_delete": "false",
    "cluster.info.update.interval": "30s",
    "cluster.max_shards_per_node": "1000",
    MAX_VOTING_EXCLUSIONS: "10",
    "cluster.routing.allocation.disk.threshold_enabled": "true",
    "cluster.routing.allocation.disk.watermark.flood_stage": "95%",
    "cluster.routing.allocation.disk.watermark.high": "90%",
    "cluster.routing.allocation.disk.watermark.low": "85%",
    "cluster.routing.allocation.enable": "all",
    "cluster.routing.rebalance.enable": "all",
    "data_streams.lifecycle.poll_interval": "5m",
    "indices.recovery.max_bytes_per_sec": "40mb",
    "search.allow_expensive_queries": "true",
    "search.default_search_timeout": "-1",
    "search.max_buckets": "65536",
}


def _int_at_least(low: int) -> Callable[[str, str], str]:
    def parse(name: str, text: str) -> str:
        try:
            value = int(text)
        except ValueError:
            raise IllegalArgument(f"Failed to parse value [{text}] for setting [{name}]") from None
        if value < low:
            raise IllegalArgument(
                f"Failed to parse value [{text}] for setting [{name}] must be >= {low}"
            )
        return str(value)

    return parse


def _time_value(name: str, text: str) -> str:
    if parse_time_value(text, name) <= 0:
        raise IllegalArgument(f"failed to parse value [{text}] for setting [{name}], must be > 0")
    return text


# The settings this node acts on, with their parsers.
HONOURED: dict[str, Callable[[str, str], str]] = {
    MAX_VOTING_EXCLUSIONS: _int_at_least(1),
    "data_streams.lifecycle.poll_interval": _time_value,
}


@dataclass(frozen=True)
class Update:
    """A checked ``PUT _cluster/settings``: values to set (None: reset) per scope."""

    persistent: dict[str, str | None]
    transient: dict[str, str | None]


def parse_update(body: Any) -> Update:
    """Check a ``PUT _cluster/settings`` body; 400 naming what is wrong."""
    if not isinstance(body, Mapping):
        raise XContentParseError("request body is required")
    for key in body:
        if key not in ("persistent", "transient"):
            raise XContentParseError(f"[cluster_update_settings_request] unknown field [{key}]")
    scopes = {scope: _scope(scope, body.get(scope)) for scope in ("persistent", "transient")}
    if not scopes["persistent"] and not scopes["transient"]:
        raise ActionRequestValidation("Validation Failed: 1: no settings to update;")
    return Update(scopes["persistent"], scopes["transient"])


def _scope(scope: str, value: Any) -> dict[str, str | None]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise XContentParseError(
            f"[cluster_update_settings_request] failed to parse field [{scope}]"
        )
    out: dict[str, str | None] = {}
    for name, raw in _flatten(value, ""):
        if name not in DEFAULTS:
            raise IllegalArgument(f"{scope} setting [{name}], not recognized")
        if raw is None:
            out[name] = None
            continue
        parse = HONOURED.get(name)
        if parse is None:
            raise IllegalArgument(
                f"{scope} setting [{name}] is not supported by this node (it may only be reset "
                "to its default with null)"
            )
        out[name] = parse(name, _text(raw))
    return out


def _flatten(body: Mapping[str, Any], prefix: str) -> Iterable[tuple[str, Any]]:
    for key, value in body.items():
        if isinstance(value, Mapping):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        raise IllegalArgument("list values are not supported for cluster settings")
    return str(value)


def apply(current: Mapping[str, str], changes: Mapping[str, str | None]) -> dict[str, str]:
    """`current` with `changes` applied (None removes a setting)."""
    out = dict(current)
    for name, value in changes.items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return out


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``a.b: v`` as ``{"a": {"b": v}}`` (the shape without ``flat_settings``)."""
    out: dict[str, Any] = {}
    for name in sorted(flat):
        node = out
        *parents, leaf = name.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = flat[name]
    return out


# -- storage ---------------------------------------------------------------------------------


def load_persistent(conn: Connection) -> dict[str, str]:
    """The persistent settings stored in the catalog."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (KEY,)).fetchone()
    return dict(json.loads(row[0])) if row else {}


def save_persistent(conn: Connection, values: Mapping[str, str]) -> None:
    """Store the persistent settings (none: the row is removed)."""
    if not values:
        conn.execute("DELETE FROM meta WHERE key = ?", (KEY,))
        return
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
        (KEY, json.dumps(dict(values), separators=(",", ":"), sort_keys=True)),
    )


def load_exclusions(conn: Connection) -> list[dict[str, str]]:
    """The voting configuration exclusions (``node_id``, ``node_name``), oldest first."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (EXCLUSIONS_KEY,)).fetchone()
    return list(json.loads(row[0])) if row else []


def save_exclusions(conn: Connection, exclusions: list[dict[str, str]]) -> None:
    """Store the voting configuration exclusions (none: the row is removed)."""
    if not exclusions:
        conn.execute("DELETE FROM meta WHERE key = ?", (EXCLUSIONS_KEY,))
        return
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
        (EXCLUSIONS_KEY, json.dumps(exclusions, separators=(",", ":"))),
    )


class Transient:
    """Transient settings: held by the process, lost on restart."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, str] = {}

    def get(self) -> dict[str, str]:
        """A copy of the current transient settings."""
        with self._lock:
            return dict(self._values)

    def update(self, changes: Mapping[str, str | None]) -> dict[str, str]:
        """Apply `changes`; the settings after."""
        with self._lock:
            self._values = apply(self._values, changes)
            return dict(self._values)


def effective(persistent: Mapping[str, str], transient: Mapping[str, str], name: str) -> str:
    """A setting's value: transient over persistent over the default."""
    return transient.get(name, persistent.get(name, DEFAULTS[name]))

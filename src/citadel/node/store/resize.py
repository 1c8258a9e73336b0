"""``_clone``, ``_shrink`` and ``_split``: a new index with the source's settings, mappings and
documents, under Elasticsearch's rules.

The source must be write-blocked (``index.blocks.write``), open, and not the target; the
request may carry ``settings`` (``null`` removes a copied one) and ``aliases``, never
``mappings``; templates do not apply. Shard counts are checked as Elasticsearch checks them
(clone: equal; shrink: the source's a multiple of the target's, default 1; split: the
target's a multiple of the source's, required), though every index is one shard on this node.
The target records ``index.resize.source.name``/``uuid`` and keeps the source's slot layout,
so the caller can copy the source's committed tantivy files as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from citadel.kit.clock import Clock
from citadel.node.errors import EsError, IllegalArgument
from citadel.node.store import aliases as al
from citadel.node.store import indices
from citadel.node.store import mapping as mp
from citadel.node.store.indices import Connection, IndexRecord

_NOT_COPIED = frozenset(
    {
        "index.number_of_shards",
        "index.number_of_routing_shards",
        "index.resize.source.name",
        "index.resize.source.uuid",
    }
)
_BODY_KEYS = frozenset({"settings", "aliases", "mappings"})


class ResizeType(StrEnum):
    """How the shard count may change."""

    CLONE = "clone"
    SHRINK = "shrink"
    SPLIT = "split"


class IllegalState(EsError):
    status = 400
    type = "illegal_state_exception"


@dataclass(frozen=True)
class Resized:
    """The new index and the index whose files it takes."""

    source: IndexRecord
    target: IndexRecord


def resize(
    conn: Connection, clock: Clock, kind: ResizeType, source_name: str, target: str, body: Any
) -> Resized:
    """Create `target` from `source_name` in the catalog (the caller copies the files)."""
    request = _request(body)
    source = indices.require(conn, source_name)
    if source.name == target:
        raise IllegalArgument(f"target index [{target}] must not be the source index")
    if str(source.settings.get("index.blocks.write", "false")) != "true":
        raise IllegalState(
            f'index {source.name} must be read-only to resize index. use "index.blocks.write=true"'
        )
    mp.validate_index_name(target)
    asked = indices.normalize_settings(request.get("settings"))
    removed = _nulls(request.get("settings"))
    source_shards = _shards(source.settings.get("index.number_of_shards", "1"))
    target_shards = _target_shards(kind, source_shards, asked)
    settings = {
        k: v
        for k, v in source.settings.items()
        if k not in _NOT_COPIED and k not in removed and k not in asked
    }
    settings |= asked
    settings["index.number_of_shards"] = str(target_shards)
    settings["index.resize.source.name"] = source.name
    settings["index.resize.source.uuid"] = source.uuid
    record = indices.insert(conn, clock, target, settings, source.mappings, layout=source.layout)
    aliases = request.get("aliases") or {}
    if not isinstance(aliases, Mapping):
        raise IllegalArgument("[aliases] must be an object")
    for alias, spec in aliases.items():
        al.add(conn, record, al.validate_name(alias), al.definition(alias, spec))
    if record.aliases:
        al.check_write_flags(conn, record)
        indices.save_meta(conn, record)
    return Resized(source, record)


def _request(body: Any) -> Mapping[str, Any]:
    if body is None:
        return {}
    if not isinstance(body, Mapping):
        raise IllegalArgument("request body must be an object")
    unknown = sorted(set(body) - _BODY_KEYS)
    if unknown:
        raise IllegalArgument(f"unknown key [{unknown[0]}] for a resize request")
    if body.get("mappings"):
        raise IllegalArgument(
            "mappings are not allowed when resizing indices, all mappings are copied from the "
            "source index"
        )
    return body


def _nulls(settings: Any) -> set[str]:
    """The settings a request sets to ``null`` (removed from the copy)."""
    out: set[str] = set()

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, Mapping):
                walk(value, f"{prefix}{key}.")
            elif value is None:
                name = f"{prefix}{key}"
                out.add(name if name.startswith("index.") else f"index.{name}")

    if isinstance(settings, Mapping):
        walk(settings, "")
    return out


def _shards(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 1


def _target_shards(kind: ResizeType, source: int, asked: Mapping[str, Any]) -> int:
    given = asked.get("index.number_of_shards")
    if kind is ResizeType.SPLIT and given is None:
        raise IllegalArgument("index.number_of_shards is required for split operations")
    if given is None:
        return source if kind is ResizeType.CLONE else 1
    target = _shards(given)
    if kind is ResizeType.CLONE and target != source:
        raise IllegalArgument(
            f"the number of target shards ({target}) must be the same as the number of source "
            f"shards ({source})"
        )
    if kind is ResizeType.SHRINK:
        if target > source:
            raise IllegalArgument(
                f"the number of target shards [{target}] must be less that the number of source "
                f"shards [{source}]"
            )
        if source % target:
            raise IllegalArgument(
                f"the number of source shards [{source}] must be a multiple of [{target}]"
            )
    if kind is ResizeType.SPLIT:
        if target < source:
            raise IllegalArgument(
                f"the number of source shards [{source}] must be less that the number of target "
                f"shards [{target}]"
            )
        if target % source:
            raise IllegalArgument(
                f"the number of source shards [{source}] must be a factor of [{target}]"
            )
    return target

"""Sorting hits: the ``sort`` option parsed (pure). `citadel.node.search.service` sorts.

Documents without a value sort last unless ``missing`` says ``_first`` or gives a value;
sorting on a text field is refused as Elasticsearch does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from citadel.node.errors import IllegalArgument, ParsingError

SCORE = "_score"
DOC = "_doc"
SHARD_DOC = "_shard_doc"  # a point in time's tiebreaker: (index position << 48) | doc
_MODES = {"min": "MIN", "max": "MAX", "sum": "SUM", "avg": "AVG"}
_KEYS = frozenset({"order", "missing", "mode", "unmapped_type", "format", "numeric_type"})


@dataclass(frozen=True)
class SortKey:
    """One ``sort`` entry: a field (or ``_score``, ``_doc``), direction, missing, mode."""

    field: str
    descending: bool = False
    missing: Any = "_last"
    mode: str | None = None
    unmapped_type: str | None = None


def parse_sort(value: Any) -> tuple[SortKey, ...]:
    """The ``sort`` of a search body: a name, ``{name: order}``, ``{name: {...}}`` or a list."""
    items = value if isinstance(value, list) else [value]
    return tuple(_key(item) for item in items)


def parse_sort_param(text: str) -> tuple[SortKey, ...]:
    """The ``sort`` URL parameter: ``field``, ``field:desc``, comma-separated."""
    keys = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, _, order = part.rpartition(":") if ":" in part else (part, "", "")
        keys.append(_key({name: order} if order else name))
    return tuple(keys)


def _key(item: Any) -> SortKey:
    if isinstance(item, str):
        return SortKey(item, descending=item == SCORE)
    if not isinstance(item, Mapping) or len(item) != 1:
        raise ParsingError("[sort] malformed: expected a field name or {field: order}")
    name, spec = next(iter(item.items()))
    if isinstance(spec, str):
        return SortKey(name, descending=_order(spec))
    if not isinstance(spec, Mapping):
        raise ParsingError(f"[sort] malformed for field [{name}]")
    for key in spec:
        if key not in _KEYS:
            raise ParsingError(f"[field_sort] unknown field [{key}]")
    mode = spec.get("mode")
    if mode is not None and mode not in _MODES:
        raise IllegalArgument(f"Unknown SortMode [{mode}]")
    descending = _order(spec["order"]) if "order" in spec else name == SCORE
    missing = spec.get("missing", "_last")
    if missing is None or isinstance(missing, Mapping | list):
        raise ParsingError(f"[sort] malformed [missing] for field [{name}]")
    return SortKey(name, descending, missing, mode, spec.get("unmapped_type"))


def _order(text: Any) -> bool:
    if not isinstance(text, str) or text.lower() not in ("asc", "desc"):
        raise IllegalArgument(f"Unknown SortOrder [{text}]")
    return text.lower() == "desc"

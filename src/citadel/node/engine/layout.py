"""Which slot each mapped field occupies, and the tantivy schema of a slot layout. Pure.

A `Layout` is what an index stores next to its mappings: how many slots of each kind its
tantivy schema has (`capacity`) and which field path holds which slot (`slots`). `assign`
gives new fields the next free slot of their kind; it never moves a field. When a kind is
full, `assign` answers with a grown capacity and the caller rebuilds the tantivy index.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from citadel.node.engine.fields import FieldRef, SlotKind
from citadel.node.store import mapping as mp

DEFAULT_CAPACITY: dict[SlotKind, int] = {
    SlotKind.TEXT_STANDARD: 32,
    SlotKind.TEXT_ENGLISH: 8,
    SlotKind.TEXT_WHITESPACE: 4,
    SlotKind.TEXT_SIMPLE: 4,
    SlotKind.KEYWORD: 64,
    SlotKind.LONG: 32,
    SlotKind.DOUBLE: 16,
    SlotKind.DATE: 16,
    SlotKind.BOOLEAN: 8,
    SlotKind.IP: 4,
}

TEXT_ANALYZERS: dict[str, SlotKind] = {
    "standard": SlotKind.TEXT_STANDARD,
    "default": SlotKind.TEXT_STANDARD,
    "english": SlotKind.TEXT_ENGLISH,
    "whitespace": SlotKind.TEXT_WHITESPACE,
    "simple": SlotKind.TEXT_SIMPLE,
}
"""Analyzers a text field may name; ``keyword`` makes the field a keyword slot."""

_TYPE_KINDS: dict[str, SlotKind] = {
    "keyword": SlotKind.KEYWORD,
    "constant_keyword": SlotKind.KEYWORD,
    "wildcard": SlotKind.KEYWORD,
    "long": SlotKind.LONG,
    "integer": SlotKind.LONG,
    "short": SlotKind.LONG,
    "byte": SlotKind.LONG,
    "double": SlotKind.DOUBLE,
    "float": SlotKind.DOUBLE,
    "half_float": SlotKind.DOUBLE,
    "scaled_float": SlotKind.DOUBLE,
    "date": SlotKind.DATE,
    "boolean": SlotKind.BOOLEAN,
    "ip": SlotKind.IP,
}


def kind_of(es_type: str, definition: Mapping[str, Any]) -> SlotKind | None:
    """The slot kind of a leaf field (None for objects)."""
    if es_type in ("text", "match_only_text"):
        analyzer = str(definition.get("analyzer", "standard"))
        if analyzer == "keyword":
            return SlotKind.KEYWORD
        return TEXT_ANALYZERS.get(analyzer, SlotKind.TEXT_STANDARD)
    return _TYPE_KINDS.get(es_type)


def search_kind(es_type: str, definition: Mapping[str, Any]) -> SlotKind | None:
    """The kind whose analyzer parses queries on this field (``search_analyzer``)."""
    if es_type in ("text", "match_only_text") and "search_analyzer" in definition:
        analyzer = str(definition["search_analyzer"])
        if analyzer == "keyword":
            return SlotKind.KEYWORD
        return TEXT_ANALYZERS.get(analyzer, SlotKind.TEXT_STANDARD)
    return kind_of(es_type, definition)


@dataclass
class Layout:
    """Slot capacity per kind and the slot of every mapped leaf field."""

    capacity: dict[SlotKind, int] = field(default_factory=lambda: dict(DEFAULT_CAPACITY))
    slots: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"capacity": {str(k): v for k, v in self.capacity.items()}, "slots": self.slots}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any] | None) -> Layout:
        if not raw:
            return cls()
        capacity = {SlotKind(k): int(v) for k, v in raw.get("capacity", {}).items()}
        return cls({**DEFAULT_CAPACITY, **capacity}, dict(raw.get("slots", {})))


@dataclass(frozen=True)
class Assignment:
    """The result of `assign`: the new layout and whether the schema must grow."""

    layout: Layout
    grown: bool


def assign(layout: Layout, mappings: Mapping[str, Any]) -> Assignment:
    """Give every leaf field of `mappings` without a slot the next free slot of its kind."""
    used: dict[SlotKind, set[int]] = {}
    for slot in layout.slots.values():
        kind, number = split_slot(slot)
        used.setdefault(kind, set()).add(number)
    slots = dict(layout.slots)
    capacity = dict(layout.capacity)
    grown = False
    for ref in _leaves(mappings):
        if ref.path in slots:
            continue
        taken = used.setdefault(ref.kind, set())
        number = next(n for n in range(len(taken) + 1) if n not in taken)
        if number >= capacity[ref.kind]:
            capacity[ref.kind] *= 2
            grown = True
        taken.add(number)
        slots[ref.path] = f"{ref.kind.value}{number}"
    if slots == layout.slots:
        return Assignment(layout, False)
    return Assignment(Layout(capacity, slots), grown)


def split_slot(slot: str) -> tuple[SlotKind, int]:
    """``kw12`` → (KEYWORD, 12)."""
    digits = len(slot) - len(slot.rstrip("0123456789"))
    return SlotKind(slot[:-digits]), int(slot[-digits:])


@dataclass(frozen=True)
class FieldTable:
    """Every leaf field of one index with its slot: what queries and aggregations look up."""

    fields: Mapping[str, FieldRef]
    objects: frozenset[str]

    def get(self, path: str) -> FieldRef | None:
        return self.fields.get(path)

    def is_object(self, path: str) -> bool:
        return path in self.objects


def field_table(mappings: Mapping[str, Any], layout: Layout) -> FieldTable:
    """The fields of `mappings` with the slots `layout` gave them."""
    out: dict[str, FieldRef] = {}
    for ref in _leaves(mappings):
        out[ref.path] = FieldRef(
            path=ref.path,
            es_type=ref.es_type,
            slot=layout.slots.get(ref.path),
            kind=ref.kind,
            searchable=ref.searchable,
            aggregatable=ref.aggregatable,
            format=ref.format,
        )
    objects = frozenset(f.path for f in mp.fields_of(mappings).values() if f.is_object)
    return FieldTable(out, objects)


def _leaves(mappings: Mapping[str, Any]) -> list[FieldRef]:
    out = []
    for f in mp.fields_of(mappings).values():
        if f.is_object:
            continue
        kind = kind_of(f.type, f.definition)
        if kind is None:
            continue
        searchable = f.definition.get("index", True) is not False
        doc_values = f.definition.get("doc_values", True) is not False
        out.append(
            FieldRef(
                path=f.path,
                es_type=f.type,
                slot=None,
                kind=kind,
                searchable=searchable,
                aggregatable=doc_values and not kind.is_text,
                format=f.definition.get("format"),
            )
        )
    return out

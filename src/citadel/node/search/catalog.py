"""What a search knows of an index: its id, name, field kinds and FTS5 tables.

Read-only queries over ``indices`` and ``text_fields`` (see `citadel.node.store.schema`).
Mappings are Elasticsearch's ``{"properties": {...}}``; object fields may be nested
(``properties`` inside a property) or already flattened (``"author.name"``), and multi-fields
(``"fields": {"keyword": {...}}``) become ``<field>.<name>``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import sqlcipher3.dbapi2 as sqlcipher


class FieldKind(StrEnum):
    """How a field is stored: FTS5 tokens, or `doc_values.kw` / `doc_values.num`."""

    TEXT = "text"
    KEYWORD = "keyword"
    INTEGER = "integer"
    FLOAT = "float"
    DATE = "date"
    BOOLEAN = "boolean"

    @property
    def column(self) -> str:
        """The `doc_values` column holding this kind's values."""
        return "kw" if self is FieldKind.KEYWORD else "num"


_KINDS: dict[str, FieldKind] = {
    "text": FieldKind.TEXT,
    "match_only_text": FieldKind.TEXT,
    "keyword": FieldKind.KEYWORD,
    "constant_keyword": FieldKind.KEYWORD,
    "wildcard": FieldKind.KEYWORD,
    "long": FieldKind.INTEGER,
    "integer": FieldKind.INTEGER,
    "short": FieldKind.INTEGER,
    "byte": FieldKind.INTEGER,
    "unsigned_long": FieldKind.INTEGER,
    "double": FieldKind.FLOAT,
    "float": FieldKind.FLOAT,
    "half_float": FieldKind.FLOAT,
    "scaled_float": FieldKind.FLOAT,
    "date": FieldKind.DATE,
    "date_nanos": FieldKind.DATE,
    "boolean": FieldKind.BOOLEAN,
}


@dataclass(frozen=True)
class Field:
    """One mapped field: its flattened name, kind and (for dates) format."""

    name: str
    kind: FieldKind
    format: str | None = None


@dataclass(frozen=True)
class IndexFields:
    """One index as a query sees it."""

    id: int
    name: str
    fields: Mapping[str, Field] = field(default_factory=dict)
    fts: Mapping[str, str] = field(default_factory=dict)

    def get(self, name: str) -> Field | None:
        """The mapped field `name`, or None."""
        return self.fields.get(name)

    def fts_table(self, name: str) -> str | None:
        """The FTS5 table of a text field (None until a document gave it a value)."""
        return self.fts.get(name)

    def is_object(self, name: str) -> bool:
        """Whether `name` is an object whose sub-fields are mapped."""
        prefix = name + "."
        return any(f.startswith(prefix) for f in self.fields)


def load(conn: sqlcipher.Connection, names: Iterable[str]) -> list[IndexFields]:
    """The named indices (in the order given; names that do not exist are skipped)."""
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return []
    rows = conn.execute(
        "SELECT id, name, mappings FROM indices WHERE name IN (SELECT value FROM json_each(?))",
        (json.dumps(wanted),),
    ).fetchall()
    by_name = {row[1]: row for row in rows}
    ids = [row[0] for row in rows]
    tables: dict[int, dict[str, str]] = {i: {} for i in ids}
    for index_id, name, table in conn.execute(
        "SELECT index_id, field, fts_table FROM text_fields "
        "WHERE index_id IN (SELECT value FROM json_each(?))",
        (json.dumps(ids),),
    ):
        tables[index_id][name] = table
    out = []
    for name in wanted:
        row = by_name.get(name)
        if row is None:
            continue
        out.append(IndexFields(row[0], row[1], parse_mappings(row[2]), tables[row[0]]))
    return out


def parse_mappings(raw: str | Mapping[str, Any] | None) -> dict[str, Field]:
    """Field name → Field, from an index's mappings JSON."""
    mappings = json.loads(raw) if isinstance(raw, str) else (raw or {})
    out: dict[str, Field] = {}
    if isinstance(mappings, Mapping):
        _walk(mappings.get("properties") or {}, "", out)
    return out


def _walk(properties: Mapping[str, Any], prefix: str, out: dict[str, Field]) -> None:
    if not isinstance(properties, Mapping):
        return
    for name, spec in properties.items():
        if not isinstance(spec, Mapping):
            continue
        path = prefix + name
        if isinstance(spec.get("properties"), Mapping):
            _walk(spec["properties"], path + ".", out)
            continue
        kind = _KINDS.get(str(spec.get("type", "")))
        if kind is not None:
            out[path] = Field(path, kind, spec.get("format") if kind is FieldKind.DATE else None)
        for sub, sub_spec in (spec.get("fields") or {}).items():
            sub_kind = (
                _KINDS.get(str(sub_spec.get("type", ""))) if isinstance(sub_spec, Mapping) else None
            )
            if sub_kind is not None:
                out[f"{path}.{sub}"] = Field(
                    f"{path}.{sub}",
                    sub_kind,
                    sub_spec.get("format") if sub_kind is FieldKind.DATE else None,
                )

"""Sorting hits: the ``sort`` option parsed, turned into ORDER BY terms, values formatted.

A field sort reads ``doc_values`` (``kw`` for keyword fields, ``num`` for numbers, dates and
booleans) with one correlated subquery per key, taking the smallest value of a multi-valued
field for ascending order and the largest for descending (Elasticsearch's default ``mode``).
Documents without a value sort last unless ``missing`` says ``_first`` or gives a value. Ties
are broken by index order (``_doc``). Sorting on a text field is refused as Elasticsearch does.
"""

# ruff: noqa: S608
# ORDER BY terms are fixed fragments; field names and values are bound parameters.

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from citadel.node.errors import IllegalArgument, ParsingError
from citadel.node.search.catalog import FieldKind, IndexFields
from citadel.node.search.compiler import Sql
from citadel.node.search.date_math import resolve_date
from citadel.node.search.errors import QueryShardError

SCORE = "_score"
DOC = "_doc"
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


@dataclass(frozen=True)
class SortColumn:
    """One ORDER BY term: its SQL (over the alias ``hits``) and how to print its values."""

    key: SortKey
    sql: Sql
    kind: FieldKind | None  # None for _score and _doc

    def order_by(self, alias: str) -> str:
        """The ORDER BY term over the selected column `alias`."""
        direction = "DESC" if self.key.descending else "ASC"
        if self.kind is None:
            return f"{alias} {direction}"
        nulls = "FIRST" if self.key.missing == "_first" else "LAST"
        return f"{alias} {direction} NULLS {nulls}"

    def value(self, raw: Any) -> Any:
        """A sort value as Elasticsearch prints it (dates as epoch milliseconds)."""
        if raw is None:
            return None
        if self.kind in (FieldKind.INTEGER, FieldKind.DATE, FieldKind.BOOLEAN):
            return int(raw)
        if self.kind is FieldKind.FLOAT or self.key.field == SCORE:
            return float(raw)
        return raw


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


def sort_columns(
    keys: Sequence[SortKey], indices: Sequence[IndexFields], *, now: datetime
) -> list[SortColumn]:
    """ORDER BY columns for `keys` over the relation aliased ``hits``."""
    columns = []
    for key in keys:
        if key.field == SCORE:
            columns.append(SortColumn(key, Sql("hits.score"), None))
        elif key.field == DOC:
            columns.append(SortColumn(key, Sql("hits.doc"), None))
        else:
            columns.append(_field_column(key, indices, now))
    return columns


def _field_column(key: SortKey, indices: Sequence[IndexFields], now: datetime) -> SortColumn:
    kinds = {f.kind for f in (index.get(key.field) for index in indices) if f is not None}
    if FieldKind.TEXT in kinds:
        index = next(
            i.name for i in indices if (f := i.get(key.field)) and f.kind is FieldKind.TEXT
        )
        raise IllegalArgument(
            f"Fielddata is disabled on [{key.field}] in [{index}]. Text fields are not optimised "
            "for operations that require per-document field data like aggregations and sorting, "
            "so these operations are disabled by default. Please use a keyword field instead. "
            f"Alternatively, set fielddata=true on [{key.field}] in order to load field data by "
            "uninverting the inverted index. Note that this can use significant memory."
        )
    columns = {k.column for k in kinds}
    if not kinds:
        if key.unmapped_type is None:
            raise QueryShardError(f"No mapping found for [{key.field}] in order to sort on")
        return SortColumn(key, Sql("NULL"), FieldKind.KEYWORD)
    if len(columns) > 1:
        raise IllegalArgument(
            f"Can't sort on field [{key.field}]; the field has incompatible sort types in "
            "different indices"
        )
    kind = FieldKind.FLOAT if FieldKind.FLOAT in kinds else min(kinds)
    aggregate = _MODES[key.mode] if key.mode else ("MAX" if key.descending else "MIN")
    column = kind.column
    sql = Sql(
        f"(SELECT {aggregate}({column}) FROM doc_values WHERE doc_rowid = hits.doc AND field = ?)",
        (key.field,),
    )
    if key.missing not in ("_first", "_last"):
        sql = Sql(f"COALESCE({sql.text}, ?)", (*sql.params, _missing(key, kind, now)))
    return SortColumn(key, sql, kind)


def _missing(key: SortKey, kind: FieldKind, now: datetime) -> Any:
    value = key.missing
    if kind is FieldKind.KEYWORD:
        return "true" if value is True else "false" if value is False else str(value)
    if kind is FieldKind.DATE:
        return resolve_date(value, now=now)
    if kind is FieldKind.BOOLEAN:
        return 1 if value in (True, "true") else 0
    try:
        return float(value)
    except (TypeError, ValueError):
        raise QueryShardError(f"[missing] value [{value}] is not a number") from None

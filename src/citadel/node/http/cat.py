"""``_cat`` tables rendered as Elasticsearch's ``RestTable`` renders them. Pure: no I/O.

A table is its columns (name, aliases, description, alignment, shown by default or not) and
rows of typed cells: `ByteSize` and `Duration` render by the ``bytes`` and ``time``
parameters, everything else by its text; ``None`` is an empty cell (``null`` in JSON). Rows
sort on typed values (sizes by bytes, not by their text).

The request parameters every ``_cat`` endpoint takes:

- ``v``: a header line; ``help``: the columns with their aliases and descriptions (text);
- ``h``: columns by name or alias (an alias is shown under that alias, as in Elasticsearch),
  ``*`` wildcards over names and aliases; an unknown name is a 400 (Elasticsearch drops it);
- ``s``: ``col[:asc|:desc],...`` by name or alias; an unknown one is a 400;
- ``format``: ``text`` (default) or ``json`` (a list of objects, every value a string);
  anything else is a 400 (Elasticsearch falls back to text, the edge refuses YAML/CBOR/Smile);
- ``bytes`` (``b``, ``kb``...``pb``) and ``time`` (``d``...``nanos``): whole numbers in that
  unit instead of the short human form; an unknown unit is a 400;
- ``ts``: ``false`` drops the ``epoch`` and ``timestamp`` columns;
- ``local`` and ``master_timeout``: accepted; one node is always its own master.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from citadel.node.errors import IllegalArgument

TEXT = "text/plain; charset=UTF-8"
COMMON_PARAMS = frozenset(
    {"format", "h", "help", "s", "v", "local", "master_timeout", "ts", "error_trace"}
)
UNITS = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3, "tb": 1024**4, "pb": 1024**5}
_UNIT_PARAM = {
    **{u: u for u in UNITS},
    "k": "kb",
    "m": "mb",
    "g": "gb",
    "t": "tb",
    "p": "pb",
}
_NANOS = {
    "d": 86_400_000_000_000,
    "h": 3_600_000_000_000,
    "m": 60_000_000_000,
    "s": 1_000_000_000,
    "ms": 1_000_000,
    "micros": 1_000,
    "nanos": 1,
}
_TIMESTAMP_HEADERS = frozenset({"epoch", "timestamp", "t", "time", "ts", "hms", "hhmmss"})


@dataclass(frozen=True, order=True)
class ByteSize:
    """A size in bytes; renders as ``5.4kb`` or, with ``bytes=kb``, as whole kilobytes."""

    bytes: int


@dataclass(frozen=True, order=True)
class Duration:
    """A span of time in milliseconds; renders as ``1.2s`` or, with ``time=ms``, as ``1200``."""

    millis: float


@dataclass(frozen=True)
class Column:
    """One column: its name, aliases, what ``help`` says, right-aligned (numbers) or not."""

    name: str
    aliases: tuple[str, ...] = ()
    desc: str = "not available"
    right: bool = False
    default: bool = True


@dataclass(frozen=True)
class Display:
    """A column chosen for output, and the header it is shown under (its name or an alias)."""

    column: Column
    header: str


@dataclass(frozen=True)
class Units:
    """How sizes and times render (None: Elasticsearch's short human form)."""

    bytes: str | None = None
    time: str | None = None


@dataclass(frozen=True)
class Rendered:
    """A ``_cat`` answer: a JSON list, or text with its content type."""

    body: Any
    text: bool


def num(name: str, *aliases: str, desc: str = "not available", default: bool = True) -> Column:
    """A right-aligned (numeric) column."""
    return Column(name, aliases, desc, right=True, default=default)


def col(name: str, *aliases: str, desc: str = "not available", default: bool = True) -> Column:
    """A left-aligned column."""
    return Column(name, aliases, desc, default=default)


def check_params(query: Mapping[str, str], path: str, extra: Iterable[str] = ()) -> None:
    """Elasticsearch's 400 for a query parameter this ``_cat`` API does not know."""
    known = COMMON_PARAMS | set(extra)
    unknown = sorted(p for p in query if p not in known)
    if unknown:
        raise IllegalArgument(
            f"request [{path}] contains unrecognized parameter: [{','.join(unknown)}]"
        )


def units(query: Mapping[str, str]) -> Units:
    """The ``bytes`` and ``time`` parameters, checked."""
    size = query.get("bytes")
    if size is not None and size not in _UNIT_PARAM:
        raise IllegalArgument(f"failed to parse [bytes] with value [{size}]")
    time = query.get("time")
    if time is not None and time not in _NANOS:
        raise IllegalArgument(f"failed to parse [time] with value [{time}]")
    return Units(_UNIT_PARAM.get(size) if size else None, time)


def render(
    columns: Sequence[Column], rows: Iterable[Mapping[str, Any]], query: Mapping[str, str]
) -> Rendered:
    """The answer to one ``_cat`` request over `rows` (cells keyed by column name)."""
    if _flag(query, "help"):
        return Rendered(help_text(columns), text=True)
    fmt = (query.get("format") or "text").lower()
    if fmt not in ("text", "txt", "json"):
        raise IllegalArgument(f"unsupported format [{query['format']}]: _cat writes text or json")
    shown = display(columns, query.get("h"), timestamps=_flag(query, "ts", default=True))
    ordered = sort_rows(columns, list(rows), query.get("s"))
    unit = units(query)
    cells = [[format_cell(row.get(d.column.name), unit) for d in shown] for row in ordered]
    if fmt == "json":
        return Rendered(
            [dict(zip((d.header for d in shown), r, strict=True)) for r in cells], False
        )
    return Rendered(text_table(shown, cells, headers=_flag(query, "v")), text=True)


def display(
    columns: Sequence[Column], spec: str | None, *, timestamps: bool = True
) -> list[Display]:
    """The columns ``h`` asks for (names, aliases, ``*`` wildcards); the default ones without it."""
    if not spec:
        chosen = [Display(c, c.name) for c in columns if c.default]
    else:
        chosen = []
        for wanted in (p.strip() for p in spec.split(",") if p.strip()):
            chosen.extend(_lookup(columns, wanted))
    if timestamps:
        return chosen
    return [d for d in chosen if d.header not in _TIMESTAMP_HEADERS]


def _lookup(columns: Sequence[Column], wanted: str) -> list[Display]:
    if "*" in wanted:
        pattern = re.compile(".*".join(re.escape(p) for p in wanted.split("*")), re.DOTALL)
        return [
            Display(c, c.name)
            for c in columns
            if pattern.fullmatch(c.name) or any(pattern.fullmatch(a) for a in c.aliases)
        ]
    for column in columns:
        if column.name == wanted:
            return [Display(column, wanted)]
    for column in columns:
        if wanted in column.aliases:
            return [Display(column, wanted)]
    raise IllegalArgument(f"header [{wanted}] not found")


def sort_rows(
    columns: Sequence[Column], rows: list[Mapping[str, Any]], spec: str | None
) -> list[Mapping[str, Any]]:
    """Rows ordered by ``s=col[:asc|:desc],...`` (stable; empty cells last)."""
    if not spec:
        return rows
    keys: list[tuple[str, bool]] = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        name, descending = part, False
        if part.endswith(":desc"):
            name, descending = part[: -len(":desc")], True
        elif part.endswith(":asc"):
            name = part[: -len(":asc")]
        column = next((c for c in columns if name == c.name or name in c.aliases), None)
        if column is None:
            raise IllegalArgument(f"Unable to sort by unknown sort key `{name}`")
        keys.append((column.name, descending))
    for name, descending in reversed(keys):
        present = [r for r in rows if r.get(name) is not None]
        missing = [r for r in rows if r.get(name) is None]
        present.sort(key=_column_key(name), reverse=descending)
        rows = present + missing
    return rows


def _column_key(name: str) -> Callable[[Mapping[str, Any]], Any]:
    return lambda row: _sort_key(row[name])


def _sort_key(value: Any) -> Any:
    if isinstance(value, bool):
        return (1, str(value).lower())
    if isinstance(value, int | float):
        return (0, value)
    if isinstance(value, ByteSize):
        return (0, value.bytes)
    if isinstance(value, Duration):
        return (0, value.millis)
    return (1, str(value))


def format_cell(value: Any, unit: Units = Units()) -> str | None:
    """One cell as Elasticsearch prints it (None for an empty cell)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, ByteSize):
        if unit.bytes is None:
            return human_bytes(value.bytes)
        return str(value.bytes // UNITS[unit.bytes])
    if isinstance(value, Duration):
        if unit.time is None:
            return human_duration(value.millis)
        return str(int(value.millis * 1_000_000) // _NANOS[unit.time])
    return str(value)


def text_table(
    shown: Sequence[Display], cells: Sequence[Sequence[str | None]], *, headers: bool
) -> str:
    """Columns padded to their widest cell, numbers right-aligned; the last column unpadded."""
    lines: list[Sequence[str | None]] = ([[d.header for d in shown]] if headers else []) + list(
        cells
    )
    if not lines:
        return ""
    if not shown:
        return "\n" * len(lines)
    widths = [max(len(line[i] or "") for line in lines) for i in range(len(shown))]
    out = []
    for line in lines:
        parts = []
        for i, display_ in enumerate(shown):
            text = line[i] or ""
            last = i == len(shown) - 1
            if display_.column.right and len(text) < widths[i]:
                parts.append(text.rjust(widths[i]))
            else:
                parts.append(text if last else text.ljust(widths[i]))
        out.append(" ".join(parts) + "\n")
    return "".join(out)


def help_text(columns: Sequence[Column]) -> str:
    """``help``: every column with its aliases and description, in three padded columns."""
    aliases = [",".join(c.aliases) for c in columns]
    widths = (
        max((len(c.name) for c in columns), default=0),
        max((len(a) for a in aliases), default=0),
        max((len(c.desc) for c in columns), default=0),
    )
    return "".join(
        f"{c.name.ljust(widths[0])} | {a.ljust(widths[1])} | {c.desc.ljust(widths[2])}\n"
        for c, a in zip(columns, aliases, strict=True)
    )


def human_bytes(size: int) -> str:
    """Elasticsearch's short byte sizes: ``225b``, ``5.4kb``, ``1.2mb``."""
    for unit in ("pb", "tb", "gb", "mb", "kb"):
        scale = UNITS[unit]
        if size >= scale:
            return _one_decimal(size / scale) + unit
    return f"{size}b"


def human_duration(millis: float) -> str:
    """Elasticsearch's short times: ``150ms``, ``1.2s``, ``5m``, ``2d``."""
    nanos = millis * 1_000_000
    for unit in ("d", "h", "m", "s", "ms", "micros"):
        if nanos >= _NANOS[unit]:
            return _one_decimal(nanos / _NANOS[unit]) + unit
    return f"{int(nanos)}nanos"


def _one_decimal(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _flag(query: Mapping[str, str], name: str, default: bool = False) -> bool:
    value = query.get(name)
    if value is None:
        return default
    if value in ("", "true"):
        return True
    if value == "false":
        return False
    raise IllegalArgument(f"Failed to parse value [{value}] as only [true] or [false] are allowed.")

"""``fields``, ``docvalue_fields`` and ``stored_fields`` of a hit, read from its ``_source``.

Values come from walking the source against the index's mappings (the same walk indexing
does), so they are what the field holds: numbers as numbers, booleans as booleans, dates in
the field's format (or the one asked), keywords normalized. ``fields`` keeps the source's order;
``docvalue_fields`` sorts as doc values do (keywords also deduplicated) and refuses text fields.
Only mapped fields are returned (``include_unmapped`` is refused). Only hits that ask pay.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from citadel.node.engine.agg_dates import format_date
from citadel.node.engine.fields import FieldRef, SlotKind
from citadel.node.errors import IllegalArgument, ParsingError, XContentParseError
from citadel.node.store import mapping as mp
from citadel.node.store.dates import format_millis


@dataclass(frozen=True)
class FieldSpec:
    """One entry of ``fields``/``docvalue_fields``: a name or ``*`` pattern, a format."""

    pattern: str
    format: str | None = None


def parse_field_specs(key: str, value: Any) -> tuple[FieldSpec, ...]:
    """The entries of ``fields`` or ``docvalue_fields`` (names or ``{field, format}``)."""
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if isinstance(item, str):
            out.append(FieldSpec(item))
            continue
        if not isinstance(item, Mapping):
            raise XContentParseError(f"[search] failed to parse field [{key}]")
        for name in item:
            if name == "include_unmapped":
                if item[name] not in (False, "false"):
                    raise IllegalArgument(f"[{key}] [include_unmapped] is not supported")
            elif name not in ("field", "format"):
                raise ParsingError(f"[{key}] unknown field [{name}]")
        pattern = item.get("field")
        fmt = item.get("format")
        if not isinstance(pattern, str) or (fmt is not None and not isinstance(fmt, str)):
            raise XContentParseError(f"[search] failed to parse field [{key}]")
        out.append(FieldSpec(pattern, None if fmt == "use_field_mapping" else fmt))
    return tuple(out)


def matching(
    specs: Sequence[FieldSpec], fields: Mapping[str, FieldRef]
) -> list[tuple[str, str | None]]:
    """The mapped field names the specs name, each with its format, in the specs' order."""
    out: dict[str, str | None] = {}
    for spec in specs:
        if "*" in spec.pattern:
            regex = re.compile(".*".join(re.escape(p) for p in spec.pattern.split("*")))
            names = sorted(n for n in fields if regex.fullmatch(n))
        else:
            names = [spec.pattern] if spec.pattern in fields else []
        for name in names:
            out.setdefault(name, spec.format)
    return list(out.items())


def check_docvalue_fields(
    specs: Sequence[FieldSpec], fields: Mapping[str, FieldRef], index: str
) -> None:
    """Refuse ``docvalue_fields`` on text fields (no doc values), as Elasticsearch does."""
    for name, fmt in matching(specs, fields):
        ref = fields[name]
        if ref.kind.is_text:
            raise IllegalArgument(
                f"Fielddata is disabled on [{name}] in [{index}]. Text fields are not optimised "
                "for operations that require per-document field data like aggregations and "
                "sorting, so these operations are disabled by default. Please use a keyword "
                "field instead."
            )
        if fmt is not None and ref.kind is not SlotKind.DATE:
            raise IllegalArgument(
                f"[format] on the field [{name}] of type [{ref.es_type}] is not supported"
            )


def field_values(
    wanted: Sequence[tuple[str, str | None]],
    fields: Mapping[str, FieldRef],
    mappings: Mapping[str, Any],
    source: Any,
    doc_id: str,
    *,
    doc_values: bool,
) -> dict[str, list[Any]]:
    """``{name: [values]}`` of one document for the wanted fields; absent when it has none."""
    if not wanted or not isinstance(source, Mapping):
        return {}
    try:
        indexed = mp.index_document(mappings, source, doc_id)
    except Exception:  # a document the mappings no longer accept shows no fields
        return {}
    raw: dict[str, list[Any]] = {}
    for path, texts in indexed.texts.items():
        raw.setdefault(path, []).extend(texts)
    for path, kw, num in indexed.values:
        raw.setdefault(path, []).append((kw, num))
    out: dict[str, list[Any]] = {}
    for name, fmt in wanted:
        ref = fields[name]
        values = raw.get(name)
        if not values:
            continue
        shown = [_shown(ref, v, fmt) for v in values]
        shown = [v for v in shown if v is not None]
        if doc_values:
            shown = (
                sorted(set(shown)) if ref.kind in (SlotKind.KEYWORD, SlotKind.IP) else sorted(shown)
            )
        if shown:
            out[name] = shown
    return out


def _shown(ref: FieldRef, value: Any, fmt: str | None) -> Any:
    if ref.kind.is_text:
        return value if isinstance(value, str) else value[0]
    kw, num = value
    kind = ref.kind
    if kind in (SlotKind.KEYWORD, SlotKind.IP):
        return kw if kw is not None else (None if num is None else str(num))
    if num is None:
        return None
    if kind is SlotKind.LONG:
        return int(num)
    if kind is SlotKind.DOUBLE:
        return float(num)
    if kind is SlotKind.BOOLEAN:
        return bool(num)
    if kind is SlotKind.DATE:
        millis = int(num)
        name = fmt or ref.format
        return format_date(millis, name) if name else format_millis(millis)
    return num

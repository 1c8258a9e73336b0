"""``_field_caps``: the capabilities of fields across indices, merged as Elasticsearch does. Pure.

Each index contributes its mapped fields (objects and multi-fields included) and the metadata
fields every Elasticsearch index has. A field whose type differs between indices gets one entry
per type, each listing its ``indices``; ``non_searchable_indices``/``non_aggregatable_indices``
name the indices that disagree. Options: ``fields`` (wildcards), ``types``, ``filters``
(``+metadata``, ``-metadata``, ``-nested``, ``-multifield``, ``-parent``), ``include_unmapped``;
``include_empty_fields=false`` and ``index_filter`` are decided by the caller, which knows the
documents (it passes the non-empty fields and the surviving indices).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from citadel.node.errors import IllegalArgument
from citadel.node.store import mapping as mp

# name -> (searchable, aggregatable), as Elasticsearch 8 reports its metadata fields
METADATA_FIELDS: Mapping[str, tuple[bool, bool]] = {
    "_id": (True, False),
    "_index": (True, True),
    "_source": (False, False),
    "_seq_no": (True, True),
    "_version": (False, True),
    "_routing": (True, False),
    "_ignored": (True, True),
    "_field_names": (True, False),
    "_doc_count": (False, False),
    "_feature": (False, False),
    "_tier": (True, False),
}
_FILTERS = frozenset({"+metadata", "-metadata", "-nested", "-multifield", "-parent"})
_DOC_VALUE_TYPES = mp.NUMERIC_TYPES | {"keyword", "date", "boolean", "ip"}


@dataclass(frozen=True)
class Capability:
    """One field of one index."""

    type: str
    searchable: bool
    aggregatable: bool
    metadata: bool = False
    meta: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Options:
    """The request's field selection."""

    fields: tuple[str, ...]
    types: frozenset[str] = frozenset()
    filters: frozenset[str] = frozenset()
    include_unmapped: bool = False


def parse_options(query: Mapping[str, str], body: Any) -> Options:
    """The options of a ``_field_caps`` request; a 400 names what is missing or refused."""
    if body is not None and not isinstance(body, Mapping):
        raise IllegalArgument("request body must be an object")
    body = body or {}
    unknown = sorted(set(body) - {"fields", "index_filter", "runtime_mappings"})
    if unknown:
        raise IllegalArgument(f"unknown field [{unknown[0]}] in the _field_caps request body")
    if body.get("runtime_mappings"):
        raise IllegalArgument("[runtime_mappings] are not supported by this node")
    raw = body.get("fields") if body.get("fields") is not None else query.get("fields")
    if isinstance(raw, str):
        raw = raw.split(",")
    fields = tuple(str(f).strip() for f in (raw or []) if str(f).strip())
    if not fields:
        raise IllegalArgument("specified fields can't be null or empty")
    filters = frozenset(f.strip() for f in query.get("filters", "").split(",") if f.strip())
    bad = sorted(filters - _FILTERS)
    if bad:
        raise IllegalArgument(f"unknown field caps filter [{bad[0]}]")
    types = frozenset(t.strip() for t in query.get("types", "").split(",") if t.strip())
    unmapped = query.get("include_unmapped", "false") in ("", "true")
    return Options(fields, types, filters, unmapped)


def index_fields(mappings: Mapping[str, Any]) -> dict[str, Capability]:
    """The capabilities of every field of one index, metadata fields included."""
    out = {
        name: Capability(name, searchable, aggregatable, metadata=True)
        for name, (searchable, aggregatable) in METADATA_FIELDS.items()
    }
    for path, found in mp.fields_of(mappings).items():
        out[path] = _capability(found.type, found.definition)
    return out


def _capability(kind: str, definition: Mapping[str, Any]) -> Capability:
    if kind in mp.OBJECT_TYPES:
        return Capability("object", False, False)
    searchable = definition.get("index", True) not in (False, "false")
    if kind == "text":
        aggregatable = definition.get("fielddata", False) in (True, "true")
    else:
        aggregatable = kind in _DOC_VALUE_TYPES and definition.get("doc_values", True) not in (
            False,
            "false",
        )
    meta = definition.get("meta")
    return Capability(
        kind, searchable, aggregatable, meta=meta if isinstance(meta, Mapping) else None
    )


def _multi_fields(mappings: Mapping[str, Any]) -> set[str]:
    out: set[str] = set()

    def walk(props: Mapping[str, Any], prefix: str) -> None:
        for name, definition in props.items():
            if not isinstance(definition, Mapping):
                continue
            walk(definition.get("properties", {}), f"{prefix}{name}.")
            out.update(f"{prefix}{name}.{sub}" for sub in definition.get("fields", {}))

    walk(mappings.get("properties", {}), "")
    return out


def _wanted(options: Options) -> re.Pattern[str]:
    parts = ["|".join(".*".join(map(re.escape, f.split("*"))) for f in options.fields)]
    return re.compile(f"(?:{parts[0]})")


def select(
    mappings: Mapping[str, Any], options: Options, non_empty: set[str] | None = None
) -> dict[str, Capability]:
    """The fields of one index the request asks for (`non_empty`: only those, and metadata)."""
    wanted = _wanted(options)
    multi = _multi_fields(mappings)
    out = {}
    for path, cap in index_fields(mappings).items():
        if not wanted.fullmatch(path):
            continue
        if "+metadata" in options.filters and not cap.metadata:
            continue
        if "-metadata" in options.filters and cap.metadata:
            continue
        if "-multifield" in options.filters and path in multi:
            continue
        if "-parent" in options.filters and cap.type == "object":
            continue
        if options.types and cap.type not in options.types:
            continue
        if non_empty is not None and not cap.metadata and not _has_values(path, cap, non_empty):
            continue
        out[path] = cap
    return out


def _has_values(path: str, cap: Capability, non_empty: set[str]) -> bool:
    if cap.type == "object":
        return any(name.startswith(path + ".") for name in non_empty)
    return path in non_empty


def merge(per_index: Sequence[tuple[str, Mapping[str, Capability]]], options: Options) -> dict:
    """The response body: `per_index` is each index's selected fields, in index order."""
    names = [name for name, _ in per_index]
    fields: dict[str, dict[str, Any]] = {}
    every = sorted({path for _, caps in per_index for path in caps})
    for path in every:
        by_type: dict[str, list[tuple[str, Capability]]] = {}
        missing = []
        for name, caps in per_index:
            cap = caps.get(path)
            if cap is None:
                missing.append(name)
            else:
                by_type.setdefault(cap.type, []).append((name, cap))
        if missing and options.include_unmapped:
            by_type["unmapped"] = [(n, Capability("unmapped", False, False)) for n in missing]
        listed = len(by_type) > 1
        fields[path] = {kind: _entry(kind, found, listed) for kind, found in by_type.items()}
    return {"indices": names, "fields": fields}


def _entry(kind: str, found: list[tuple[str, Capability]], listed: bool) -> dict[str, Any]:
    first = found[0][1]
    out: dict[str, Any] = {
        "type": kind,
        "metadata_field": first.metadata,
        "searchable": all(c.searchable for _, c in found),
        "aggregatable": all(c.aggregatable for _, c in found),
    }
    if listed:
        out["indices"] = [n for n, _ in found]
    if not out["searchable"] and any(c.searchable for _, c in found):
        out["non_searchable_indices"] = [n for n, c in found if not c.searchable]
    if not out["aggregatable"] and any(c.aggregatable for _, c in found):
        out["non_aggregatable_indices"] = [n for n, c in found if not c.aggregatable]
    meta = _merged_meta(c.meta for _, c in found)
    if meta:
        out["meta"] = meta
    return out


def _merged_meta(metas: Iterable[Mapping[str, str] | None]) -> dict[str, list[str]]:
    out: dict[str, set[str]] = {}
    for meta in metas:
        for key, value in (meta or {}).items():
            out.setdefault(str(key), set()).add(str(value))
    return {k: sorted(v) for k, v in sorted(out.items())}

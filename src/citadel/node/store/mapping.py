"""Index names, mappings and what a document contributes to the index. Pure: no I/O.

Mappings are kept in Elasticsearch's own shape (``{"properties": {...}}``, objects as
``{"properties": ...}`` without a type), so ``GET _mapping`` returns what was stored. A
document is walked against them once: unmapped fields are mapped dynamically the way
Elasticsearch does it, and every value becomes an `Indexed` entry for the store:

* keyword fields: ``kw`` = the text (values longer than ``ignore_above`` are not indexed);
* numeric fields: ``num`` = the number; date fields: ``num`` = epoch milliseconds;
* boolean fields: ``kw`` = ``"true"``/``"false"`` and ``num`` = 1/0;
* text fields: the text goes to the field's full-text table, and one entry with neither
  ``kw`` nor ``num`` marks that the document has the field (for ``exists``).

Field names are flattened with dots (``user.name``); multi-fields are ``title.keyword``.
"""

from __future__ import annotations

import copy
import ipaddress
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from citadel.node.errors import (
    DocumentParsing,
    IllegalArgument,
    InvalidIndexName,
    MapperParsing,
)
from citadel.node.store.dates import (
    DEFAULT_FORMAT,
    DateFormatError,
    check_format,
    is_dynamic_date,
    parse_date,
)

# -- index names -----------------------------------------------------------------------------

_FORBIDDEN_CHARS = ' "*,/<>?\\|'
MAX_INDEX_NAME_BYTES = 255


def validate_index_name(name: str) -> str:
    """`name` when Elasticsearch would accept it as a new index name; else InvalidIndexName."""
    problem = index_name_problem(name)
    if problem:
        raise InvalidIndexName(
            f"Invalid index name [{name}], {problem}", index_uuid="_na_", index=name
        )
    return name


def index_name_problem(name: str) -> str | None:
    """Why `name` is not a valid index name, or None."""
    if not name:
        return "must not be empty"
    if name != name.lower():
        return "must be lowercase"
    if any(c in _FORBIDDEN_CHARS for c in name):
        listed = ",".join(f"'{c}'" for c in sorted(_FORBIDDEN_CHARS))
        return f"must not contain the following characters [{listed}]"
    if "#" in name:
        return "must not contain '#'"
    if ":" in name:
        return "must not contain ':'"
    if name[0] in "_-+":
        return "must not start with '_', '-', or '+'"
    if name in (".", ".."):
        return "must not be '.' or '..'"
    size = len(name.encode())
    if size > MAX_INDEX_NAME_BYTES:
        return f"index name is too long, ({size} > {MAX_INDEX_NAME_BYTES})"
    return None


# -- field types -----------------------------------------------------------------------------

OBJECT_TYPES = frozenset({"object"})
INTEGER_RANGES = {
    "long": (-(2**63), 2**63 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "short": (-(2**15), 2**15 - 1),
    "byte": (-(2**7), 2**7 - 1),
}
FLOAT_TYPES = frozenset({"double", "float", "half_float", "scaled_float"})
NUMERIC_TYPES = frozenset(INTEGER_RANGES) | FLOAT_TYPES
LEAF_TYPES = frozenset({"text", "keyword", "date", "boolean", "ip"}) | NUMERIC_TYPES
FIELD_TYPES = LEAF_TYPES | OBJECT_TYPES
UNSUPPORTED_TYPES = frozenset(
    {
        "nested",
        "flattened",
        "join",
        "percolator",
        "geo_point",
        "geo_shape",
        "point",
        "shape",
        "dense_vector",
        "sparse_vector",
        "rank_feature",
        "rank_features",
        "semantic_text",
        "search_as_you_type",
        "completion",
        "annotated_text",
        "token_count",
        "murmur3",
        "histogram",
        "aggregate_metric_double",
        "alias",
        "binary",
        "integer_range",
        "float_range",
        "long_range",
        "double_range",
        "date_range",
        "ip_range",
        "date_nanos",
        "unsigned_long",
        "version",
        "wildcard",
        "constant_keyword",
        "match_only_text",
        "counted_keyword",
        "passthrough",
    }
)
"""Elasticsearch field types this node refuses by name (a 400 rather than a look-alike)."""
NORMALIZERS = frozenset({"lowercase"})
DATA_STREAM_TIMESTAMP = "_data_stream_timestamp"

_COMMON = frozenset({"type", "fields", "index", "doc_values", "store", "meta", "copy_to", "boost"})
_NUMERIC = frozenset({"coerce", "ignore_malformed", "null_value", "time_series_metric"})
_PARAMS: dict[str, frozenset[str]] = {
    "text": frozenset(
        {
            "analyzer",
            "search_analyzer",
            "search_quote_analyzer",
            "norms",
            "index_options",
            "index_phrases",
            "index_prefixes",
            "fielddata",
            "fielddata_frequency_filter",
            "eager_global_ordinals",
            "position_increment_gap",
            "term_vector",
            "similarity",
        }
    ),
    "keyword": frozenset(
        {
            "ignore_above",
            "normalizer",
            "norms",
            "null_value",
            "eager_global_ordinals",
            "index_options",
            "similarity",
            "split_queries_on_whitespace",
            "time_series_dimension",
            "script",
            "on_script_error",
        }
    ),
    "date": frozenset({"format", "locale", "ignore_malformed", "null_value", "print_format"}),
    "boolean": frozenset({"null_value", "ignore_malformed"}),
    "ip": frozenset(
        {"null_value", "ignore_malformed", "time_series_dimension", "script", "on_script_error"}
    ),
    "scaled_float": _NUMERIC | {"scaling_factor"},
    **{t: _NUMERIC for t in INTEGER_RANGES},
    **{t: _NUMERIC for t in ("double", "float", "half_float")},
}
_OBJECT_PARAMS = frozenset({"type", "properties", "dynamic", "enabled", "subobjects"})
_ROOT_PARAMS = frozenset(
    {
        "properties",
        "dynamic",
        "_source",
        "_meta",
        "_routing",
        "date_detection",
        "numeric_detection",
        "dynamic_date_formats",
        "dynamic_templates",
        "runtime",
        "enabled",
        "subobjects",
        "_data_stream_timestamp",
    }
)
_UPDATABLE = frozenset(
    {"ignore_above", "meta", "search_analyzer", "search_quote_analyzer", "fielddata", "boost"}
    | {"eager_global_ordinals", "ignore_malformed", "copy_to", "fielddata_frequency_filter"}
)
_DYNAMIC = {"true": "true", "false": "false", "strict": "strict", "runtime": "runtime"}
METADATA_FIELDS = frozenset(
    {
        "_id",
        "_index",
        "_source",
        "_routing",
        "_version",
        "_seq_no",
        "_primary_term",
        "_field_names",
        "_ignored",
        "_doc_count",
        "_tier",
        "_data_stream_timestamp",
        "_feature",
        "_nested_path",
    }
)
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
DEFAULT_TOTAL_FIELDS = 1000
DEFAULT_DEPTH = 20


@dataclass(frozen=True)
class Field:
    """One mapped field under its flattened name."""

    path: str
    type: str
    definition: Mapping[str, Any]

    @property
    def is_object(self) -> bool:
        return self.type in OBJECT_TYPES


def field_type(definition: Mapping[str, Any]) -> str:
    """The type of a field definition (objects may omit theirs)."""
    return str(definition.get("type") or "object")


def canonical(mappings: Mapping[str, Any]) -> dict[str, Any]:
    """`mappings` with properties and multi-fields sorted by name, as Elasticsearch shows them."""

    def fields(props: Mapping[str, Any]) -> dict[str, Any]:
        return {name: field_def(props[name]) for name in sorted(props)}

    def field_def(definition: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(definition)
        if "properties" in out:
            out["properties"] = fields(out["properties"])
        if "fields" in out:
            out["fields"] = fields(out["fields"])
        return out

    return field_def(mappings)


def fields_of(mappings: Mapping[str, Any]) -> dict[str, Field]:
    """Every mapped field (objects and multi-fields included) by flattened name."""
    out: dict[str, Field] = {}

    def walk(props: Mapping[str, Any], prefix: str) -> None:
        for name, definition in props.items():
            path = prefix + name
            kind = field_type(definition)
            out[path] = Field(path, kind, definition)
            if kind in OBJECT_TYPES:
                walk(definition.get("properties", {}), path + ".")
            for sub, sub_def in definition.get("fields", {}).items():
                out[f"{path}.{sub}"] = Field(f"{path}.{sub}", field_type(sub_def), sub_def)

    walk(mappings.get("properties", {}), "")
    return out


def text_fields(mappings: Mapping[str, Any]) -> list[str]:
    """Flattened names of every ``text`` field, multi-fields included."""
    return [f.path for f in fields_of(mappings).values() if f.type == "text"]


# -- validating mappings ---------------------------------------------------------------------


def normalize_mappings(body: Any) -> dict[str, Any]:
    """Validate a ``mappings`` object and return it in stored form; MapperParsing on errors."""
    if body is None:
        return {}
    if not isinstance(body, Mapping):
        raise MapperParsing("Failed to parse mapping: mappings must be an object")
    unknown = [k for k in body if k not in _ROOT_PARAMS]
    if unknown:
        shown = ", ".join(f"{k} : {_java(body[k])}" for k in unknown)
        raise MapperParsing(
            f"Failed to parse mapping: Root mapping definition has unsupported parameters:  "
            f"[{shown}]"
        )
    out: dict[str, Any] = {}
    for key, value in body.items():
        if key == "properties":
            out[key] = _properties(value, "", 1)
        elif key == "dynamic":
            out[key] = _dynamic(value, "_doc")
        elif key in ("date_detection", "numeric_detection"):
            out[key] = _boolean_param(value, key, "_doc")
        elif key == "dynamic_date_formats":
            out[key] = _date_formats(value)
        elif key == DATA_STREAM_TIMESTAMP:
            if not isinstance(value, Mapping) or set(value) - {"enabled"}:
                raise MapperParsing(f"Failed to parse mapping: [{key}] takes only [enabled]")
            out[key] = {"enabled": _boolean_param(value.get("enabled", False), "enabled", key)}
        else:
            out[key] = copy.deepcopy(value)
    return out


def _properties(value: Any, prefix: str, depth: int) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        where = prefix.rstrip(".") or "_doc"
        raise MapperParsing(f"Failed to parse mapping: [properties] must be an object on [{where}]")
    out: dict[str, Any] = {}
    for name, definition in value.items():
        segments = _segments(name, MapperParsing)
        # "a.b": {...} in properties means object a with field b
        nested: Any = definition
        for segment in reversed(segments[1:]):
            nested = {"properties": {segment: nested}}
        head = segments[0]
        normalized = _field(head, nested, prefix + head, depth)
        if head in out:
            normalized = _merge_field(prefix + head, out[head], normalized)
        out[head] = normalized
    return out


def _field(name: str, definition: Any, path: str, depth: int) -> dict[str, Any]:
    if not isinstance(definition, Mapping):
        raise MapperParsing(
            f"Failed to parse mapping: Expected map for property [{name}] on field [{path}] "
            f"but got a {type(definition).__name__}"
        )
    kind = definition.get("type", "object" if "properties" in definition else None)
    if kind is None:
        kind = "object"
    if isinstance(kind, str) and kind in UNSUPPORTED_TYPES:
        raise MapperParsing(
            f"Failed to parse mapping: field type [{kind}] (field [{path}]) is not supported "
            "by this node"
        )
    if not isinstance(kind, str) or kind not in FIELD_TYPES:
        raise MapperParsing(
            f"Failed to parse mapping: No handler for type [{kind}] declared on field [{name}]"
        )
    if kind in OBJECT_TYPES:
        return _object(definition, kind, path, depth)
    allowed = _COMMON | _PARAMS[kind]
    for key in definition:
        if key not in allowed:
            raise MapperParsing(
                f"Failed to parse mapping: unknown parameter [{key}] on mapper [{path}] "
                f"of type [{kind}]"
            )
    out = copy.deepcopy(dict(definition))
    _check_params(out, kind, path)
    if "fields" in out:
        out["fields"] = _multi_fields(out["fields"], path, depth)
    return out


def _object(definition: Mapping[str, Any], kind: str, path: str, depth: int) -> dict[str, Any]:
    for key in definition:
        if key not in _OBJECT_PARAMS:
            raise MapperParsing(
                f"Failed to parse mapping: unknown parameter [{key}] on mapper [{path}] "
                f"of type [{kind}]"
            )
    out: dict[str, Any] = {}
    if "dynamic" in definition:
        out["dynamic"] = _dynamic(definition["dynamic"], path)
    if "enabled" in definition:
        out["enabled"] = _boolean_param(definition["enabled"], "enabled", path)
    if "subobjects" in definition:
        out["subobjects"] = _boolean_param(definition["subobjects"], "subobjects", path)
    out["properties"] = _properties(definition.get("properties", {}), path + ".", depth + 1)
    return out


def _multi_fields(value: Any, path: str, depth: int) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise MapperParsing(f"Failed to parse mapping: [fields] must be an object on [{path}]")
    out = {}
    for sub, definition in value.items():
        _segments(sub, MapperParsing)
        if "." in sub:
            raise MapperParsing(f"Failed to parse mapping: Field name [{sub}] cannot contain '.'")
        normalized = _field(sub, definition, f"{path}.{sub}", depth)
        if field_type(normalized) in OBJECT_TYPES:
            raise MapperParsing(
                f"Failed to parse mapping: Type [{field_type(normalized)}] cannot be used in "
                f"multi field [{path}.{sub}]"
            )
        if "fields" in normalized:
            raise MapperParsing(
                f"Failed to parse mapping: multi-field [{path}.{sub}] cannot have multi-fields"
            )
        out[sub] = normalized
    return out


def _check_params(out: dict[str, Any], kind: str, path: str) -> None:
    if "ignore_above" in out:
        value = out["ignore_above"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise MapperParsing(
                f"Failed to parse mapping: [ignore_above] must be a non-negative integer "
                f"on [{path}]"
            )
    if kind == "keyword" and out.get("normalizer", "lowercase") not in NORMALIZERS:
        raise MapperParsing(
            f"Failed to parse mapping: normalizer [{out['normalizer']}] not found for "
            f"field [{path}]"
        )
    if kind == "date" and "format" in out:
        if not isinstance(out["format"], str):
            raise MapperParsing(f"Failed to parse mapping: [format] must be a string on [{path}]")
        try:
            check_format(out["format"])
        except DateFormatError as exc:
            raise MapperParsing(
                f"Failed to parse mapping: Error parsing [format] on field [{path}]: {exc}"
            ) from None
    if kind == "scaled_float":
        factor = out.get("scaling_factor")
        if factor is None:
            raise MapperParsing("Failed to parse mapping: Field [scaling_factor] is required")
        if isinstance(factor, bool) or not isinstance(factor, int | float) or factor <= 0:
            raise MapperParsing(
                f"Failed to parse mapping: [scaling_factor] must be a positive number on [{path}]"
            )
    for name in ("coerce", "ignore_malformed", "index", "doc_values", "store"):
        if name in out:
            out[name] = _boolean_param(out[name], name, path)
    if "copy_to" in out:
        targets = out["copy_to"] if isinstance(out["copy_to"], list) else [out["copy_to"]]
        if not all(isinstance(t, str) and t for t in targets):
            raise MapperParsing(f"Failed to parse mapping: [copy_to] must name fields on [{path}]")
    if out.get("null_value") is not None:
        try:
            _convert(kind, out, out["null_value"])
        except _BadValue as exc:
            raise MapperParsing(
                f"Failed to parse mapping: Error parsing [null_value] on field [{path}]: "
                f"{exc.reason}"
            ) from None


def _dynamic(value: Any, path: str) -> str:
    key = str(value).lower() if isinstance(value, bool | str) else None
    if key not in _DYNAMIC:
        raise MapperParsing(
            f"Failed to parse mapping: Could not convert [dynamic] to boolean on [{path}]: "
            f"[{value}]"
        )
    return _DYNAMIC[key]


def _boolean_param(value: Any, name: str, path: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise MapperParsing(
        f"Failed to parse mapping: Failed to parse value [{value}] as only [true] or [false] "
        f"are allowed for [{name}] on [{path}]"
    )


def _date_formats(value: Any) -> list[str]:
    formats = value if isinstance(value, list) else [value]
    for fmt in formats:
        if not isinstance(fmt, str):
            raise MapperParsing("Failed to parse mapping: [dynamic_date_formats] must be strings")
        try:
            check_format(fmt)
        except DateFormatError as exc:
            raise MapperParsing(f"Failed to parse mapping: {exc}") from None
    return list(formats)


def _segments(name: Any, error: type[MapperParsing] | type[DocumentParsing]) -> list[str]:
    if not isinstance(name, str) or not name:
        raise error("field name cannot be an empty string")
    if not name.strip():
        raise error(f"field name cannot contain only whitespace: ['{name}']")
    segments = name.split(".")
    if any(not s for s in segments):
        if not name.strip("."):
            raise error(f"field name cannot contain only dots: [{name}]")
        raise error(
            f"object field starting or ending with a [.] makes object resolution ambiguous: "
            f"[{name}]"
        )
    return segments


# -- merging mappings ------------------------------------------------------------------------


def merge_mappings(current: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """`current` with `update` added (both in stored form); IllegalArgument on conflicts."""
    out = copy.deepcopy(dict(current))
    for key, value in update.items():
        if key == "properties":
            out["properties"] = _merge_properties(out.get("properties", {}), value, "")
        else:
            out[key] = copy.deepcopy(value)
    return out


def _merge_properties(
    current: Mapping[str, Any], update: Mapping[str, Any], prefix: str
) -> dict[str, Any]:
    out = dict(current)
    for name, definition in update.items():
        path = prefix + name
        out[name] = (
            _merge_field(path, current[name], definition)
            if name in current
            else copy.deepcopy(definition)
        )
    return out


def _merge_field(path: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    old_type, new_type = field_type(old), field_type(new)
    old_object, new_object = old_type in OBJECT_TYPES, new_type in OBJECT_TYPES
    if old_object != new_object:
        raise IllegalArgument(f"can't merge a non object mapping [{path}] with an object mapping")
    if old_type != new_type:
        if old_object:
            raise IllegalArgument(
                f"can't merge a non-nested mapping [{path}] with a nested mapping"
            )
        raise IllegalArgument(
            f"mapper [{path}] cannot be changed from type [{old_type}] to [{new_type}]"
        )
    if old_object:
        if "enabled" in new and new["enabled"] != old.get("enabled", True):
            raise IllegalArgument(
                f"the [enabled] parameter can't be updated for the object mapping [{path}]"
            )
        out = {**copy.deepcopy(dict(old)), **{k: v for k, v in new.items() if k != "properties"}}
        out["properties"] = _merge_properties(
            old.get("properties", {}), new.get("properties", {}), path + "."
        )
        return out
    out = copy.deepcopy(dict(old))
    for key, value in new.items():
        if key == "fields":
            out["fields"] = _merge_properties(old.get("fields", {}), value, path + ".")
        elif key in old and old[key] != value and key not in _UPDATABLE:
            raise IllegalArgument(
                f"Mapper for [{path}] conflicts with existing mapper:\n\t"
                f"Cannot update parameter [{key}] from [{_java(old[key])}] to [{_java(value)}]"
            )
        elif key not in old and key not in _UPDATABLE and key != "type":
            raise IllegalArgument(
                f"Mapper for [{path}] conflicts with existing mapper:\n\t"
                f"Cannot update parameter [{key}] from [default] to [{_java(value)}]"
            )
        else:
            out[key] = copy.deepcopy(value)
    return out


# -- documents -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """Guards against mapping explosion (``index.mapping.*.limit`` settings)."""

    total_fields: int = DEFAULT_TOTAL_FIELDS
    depth: int = DEFAULT_DEPTH


@dataclass
class Indexed:
    """What one document contributes to the index."""

    mappings: dict[str, Any]
    """The mappings after dynamic updates (the same object when nothing was added)."""
    mappings_changed: bool
    values: list[tuple[str, str | None, float | None]] = field(default_factory=list)
    """(field, kw, num) rows for ``doc_values``."""
    texts: dict[str, list[str]] = field(default_factory=dict)
    """Text field → its values, for the full-text tables."""


def index_document(
    mappings: Mapping[str, Any],
    source: Any,
    doc_id: str,
    limits: Limits | None = None,
) -> Indexed:
    """Walk `source` against `mappings`: dynamic mapping plus the rows to store.

    Raises DocumentParsing (400) for a value the mapping refuses, a strict-mapping violation,
    or a mapping explosion. `mappings` is never modified.
    """
    if not isinstance(source, Mapping):
        raise DocumentParsing("failed to parse, document is empty or not an object")
    limits = limits or Limits()
    try:  # most documents add no field: walk the mappings as they are
        walker = _Walker(mappings, doc_id, limits, frozen=True)
        walker.root(source)
    except _NeedsCopy:
        walker = _Walker(copy.deepcopy(dict(mappings)), doc_id, limits, frozen=False)
        walker.root(source)
    if mappings.get(DATA_STREAM_TIMESTAMP, {}).get("enabled"):
        _check_timestamp(walker.values)
    if walker.changed:
        total = len(fields_of(walker.mappings))
        if total > limits.total_fields:
            raise DocumentParsing(
                f"Limit of total fields [{limits.total_fields}] has been exceeded while adding "
                f"new fields [{total - len(fields_of(mappings))}]"
            )
        return Indexed(walker.mappings, True, walker.values, walker.texts)
    return Indexed(dict(mappings), False, walker.values, walker.texts)


def _check_timestamp(values: list[tuple[str, str | None, float | None]]) -> None:
    """A data stream's documents carry exactly one ``@timestamp`` (Elasticsearch's rule)."""
    stamps = [v for v in values if v[0] == "@timestamp"]
    if not stamps:
        reason = "data stream timestamp field [@timestamp] is missing"
    elif len(stamps) > 1:
        reason = "data stream timestamp field [@timestamp] encountered multiple values"
    else:
        return
    raise DocumentParsing(
        f"[1:1] failed to parse: {reason}",
        caused_by={"type": "illegal_argument_exception", "reason": reason},
    )


class _NeedsCopy(Exception):
    """A read-only walk found a field to add: walk again over a copy of the mappings."""


class _BadValue(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Walker:
    """One pass over a document; adds fields only to its own copy of the mappings."""

    def __init__(
        self, mappings: Mapping[str, Any], doc_id: str, limits: Limits, *, frozen: bool
    ) -> None:
        self.mappings: Any = mappings
        self.frozen = frozen
        self.doc_id = doc_id
        self.limits = limits
        self.changed = False
        self.copying = False
        self.values: list[tuple[str, str | None, float | None]] = []
        self.texts: dict[str, list[str]] = {}

    def root(self, source: Mapping[str, Any]) -> None:
        for key in source:
            if key in METADATA_FIELDS:
                raise DocumentParsing(
                    f"Field [{key}] is a metadata field and cannot be added inside a document. "
                    f"Use the index API request parameters."
                )
        self.object(self._root_properties(), source, "", self._root_dynamic(), 1)

    def _root_properties(self) -> dict[str, Any]:
        if "properties" in self.mappings:
            return self.mappings["properties"]
        if self.frozen:  # adding to this stand-in raises _NeedsCopy first
            return {}
        return self.mappings.setdefault("properties", {})

    def _mutating(self) -> None:
        if self.frozen:
            raise _NeedsCopy
        self.changed = True

    def _root_dynamic(self) -> str:
        return str(self.mappings.get("dynamic", "true"))

    def object(
        self, props: dict[str, Any], obj: Mapping[str, Any], prefix: str, dynamic: str, depth: int
    ) -> None:
        if depth > self.limits.depth:
            raise DocumentParsing(
                f"Limit of mapping depth [{self.limits.depth}] has been exceeded due to object "
                f"field [{prefix.rstrip('.')}]"
            )
        for key, value in obj.items():
            if key and "." not in key and not key.isspace():
                self.value(props, key, value, prefix + key, dynamic, depth)
                continue
            segments = _segments(key, DocumentParsing)
            here, path, level, mode = props, prefix, depth, dynamic
            for segment in segments[:-1]:  # "a.b": 1 is {"a": {"b": 1}}
                path += segment
                child = self._object_mapping(here, segment, path, mode, prefix + key)
                if child is None:
                    break
                if child.get("enabled", True) is False:
                    break
                mode = str(child.get("dynamic", mode))
                here, path, level = child["properties"], path + ".", level + 1
            else:
                self.value(here, segments[-1], value, path + segments[-1], mode, level)

    def _object_mapping(
        self, props: dict[str, Any], name: str, path: str, dynamic: str, full: str = ""
    ) -> dict[str, Any] | None:
        """The object mapping at `name`, created dynamically when allowed; None to skip."""
        existing = props.get(name)
        if existing is not None:
            if field_type(existing) not in OBJECT_TYPES:
                raise DocumentParsing(
                    f"Could not dynamically add mapping for field [{full or path}]. Existing "
                    f"mapping for [{path}] must be of type object but found "
                    f"[{field_type(existing)}]."
                )
            if "properties" not in existing:
                if self.frozen:
                    return {**existing, "properties": {}}
                existing["properties"] = {}
            return existing
        if not self._may_add(path, dynamic):
            return None
        self._mutating()
        props[name] = {"properties": {}}
        return props[name]

    def _may_add(self, path: str, dynamic: str) -> bool:
        if dynamic == "strict":
            parent, _, leaf = path.rpartition(".")
            raise DocumentParsing(
                f"mapping set to strict, dynamic introduction of [{leaf}] within "
                f"[{parent or '_doc'}] is not allowed",
                caused_by={"type": "strict_dynamic_mapping_exception"},
            )
        return dynamic == "true"

    def value(
        self, props: dict[str, Any], name: str, value: Any, path: str, dynamic: str, depth: int
    ) -> None:
        if isinstance(value, list):
            for item in value:
                self.value(props, name, item, path, dynamic, depth)
            return
        existing = props.get(name)
        if isinstance(value, dict):
            if existing is not None and field_type(existing) not in OBJECT_TYPES:
                self.leaf(path, field_type(existing), existing, value)
                return
            child = self._object_mapping(props, name, path, dynamic)
            if child is None or child.get("enabled", True) is False:
                return
            mode = str(child.get("dynamic", dynamic))
            self.object(child["properties"], value, path + ".", mode, depth + 1)
            return
        if existing is None:
            if value is None or not self._may_add(path, dynamic):
                return
            self._mutating()
            existing = self._infer(value)
            props[name] = existing
        elif field_type(existing) in OBJECT_TYPES:
            if value is None:
                return
            raise DocumentParsing(
                f"object mapping for [{path}] tried to parse field [{name}] as object, "
                f"but found a concrete value"
            )
        self.leaf(path, existing.get("type") or "object", existing, value)

    def leaf(self, path: str, kind: str, definition: Mapping[str, Any], value: Any) -> None:
        if value is None:
            value = definition.get("null_value")
            if value is None:
                return
        try:
            kw, num, text = _convert(kind, definition, value)
        except _BadValue as exc:
            if definition.get("ignore_malformed") is True:
                return
            raise DocumentParsing(
                f"failed to parse field [{path}] of type [{kind}] in document "
                f"with id '{self.doc_id}'. Preview of field's value: '{_preview(value)}'",
                caused_by={"type": "illegal_argument_exception", "reason": exc.reason},
            ) from None
        if text is not None:
            texts = self.texts.get(path)
            if texts is None:
                self.values.append((path, None, None))
                self.texts[path] = [text]
            else:
                texts.append(text)
        elif kw is not None or num is not None:
            self.values.append((path, kw, num))
        multi = definition.get("fields")
        if multi:
            for sub, sub_def in multi.items():
                self.leaf(f"{path}.{sub}", sub_def.get("type") or "object", sub_def, value)
        targets = definition.get("copy_to") or []
        if targets and not self.copying:  # Elasticsearch does not chain copy_to
            self.copying = True
            try:
                for target in [targets] if isinstance(targets, str) else targets:
                    self.copy_to(target, value)
            finally:
                self.copying = False

    def copy_to(self, target: str, value: Any) -> None:
        """Index `value` again under `target` (a copy_to destination)."""
        props, mode = self._root_properties(), self._root_dynamic()
        segments = _segments(target, DocumentParsing)
        path = ""
        for segment in segments[:-1]:
            path += segment
            child = self._object_mapping(props, segment, path, mode, target)
            if child is None:
                return
            mode = str(child.get("dynamic", mode))
            props, path = child["properties"], path + "."
        self.value(props, segments[-1], value, path + segments[-1], mode, 1)

    def _infer(self, value: Any) -> dict[str, Any]:
        """Elasticsearch's dynamic field mapping for a concrete JSON value."""
        if isinstance(value, bool):
            return {"type": "boolean"}
        if isinstance(value, int):
            return {"type": "long"}
        if isinstance(value, float):
            return {"type": "float"}
        text = str(value)
        if self.mappings.get("date_detection", True):
            formats = self.mappings.get("dynamic_date_formats")
            fmt = _detect_date(text, formats)
            if fmt == DEFAULT_FORMAT:
                return {"type": "date"}
            if fmt is not None:
                return {"type": "date", "format": fmt}
        if self.mappings.get("numeric_detection", False):
            number = _number(text)
            if number is not None:
                return {"type": "long"} if isinstance(number, int) else {"type": "float"}
        return {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}}


def _detect_date(text: str, formats: list[str] | None) -> str | None:
    if formats is None:
        return is_dynamic_date(text)
    for fmt in formats:
        try:
            parse_date(text, fmt)
        except DateFormatError:
            continue
        return fmt
    return None


def _convert(
    kind: str, definition: Mapping[str, Any], value: Any
) -> tuple[str | None, float | None, str | None]:
    """(kw, num, text) for one value of a field; _BadValue when the type refuses it."""
    if isinstance(value, str):
        if kind == "text":
            return None, None, value
        if kind == "keyword":
            limit = definition.get("ignore_above")
            if limit is not None and len(value) > limit:
                return None, None, None
            return _normalized(definition, value), None, None
    elif isinstance(value, dict | list):
        raise _BadValue(f"Can't get text on a {'START_OBJECT' if value else 'START_ARRAY'}")
    if kind == "text":
        return None, None, _as_text(value)
    if kind == "keyword":
        text = _as_text(value)
        limit = definition.get("ignore_above")
        if limit is not None and len(text) > limit:
            return None, None, None
        return _normalized(definition, text), None, None
    if kind == "ip":
        return _ip(value), None, None
    if kind == "boolean":
        flag = _boolean(value)
        return ("true" if flag else "false"), (1.0 if flag else 0.0), None
    if kind == "date":
        try:
            return None, float(parse_date(value, definition.get("format"))), None
        except DateFormatError as exc:
            raise _BadValue(str(exc)) from None
    return None, _numeric(kind, definition, value), None


def _normalized(definition: Mapping[str, Any], text: str) -> str:
    """A keyword after its normalizer (``lowercase`` is the one this node has)."""
    return text.lower() if definition.get("normalizer") == "lowercase" else text


def _ip(value: Any) -> str:
    """The canonical text of an IPv4 or IPv6 address; _BadValue otherwise."""
    if not isinstance(value, str):
        raise _BadValue(f"'{_as_text(value)}' is not an IP string literal.")
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise _BadValue(f"'{value}' is not an IP string literal.") from None


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return repr(value)
    return str(value)


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false", ""):
        return value == "true"
    raise _BadValue(f"Failed to parse value [{value}] as only [true] or [false] are allowed.")


def _numeric(kind: str, definition: Mapping[str, Any], value: Any) -> float:
    coerce = definition.get("coerce", True)
    if isinstance(value, bool):
        raise _BadValue(f"Current token ({'VALUE_TRUE' if value else 'VALUE_FALSE'}) not numeric")
    if isinstance(value, str):
        if not coerce:
            raise _BadValue(f"[{kind}] does not accept strings when coerce is false")
        number = _number(value.strip())
        if number is None:
            raise _BadValue(f'For input string: "{value}"')
        value = number
    if not isinstance(value, int | float):
        raise _BadValue(f"[{kind}] cannot hold [{value}]")
    if isinstance(value, float) and not math.isfinite(value):
        raise _BadValue(f"[{kind}] supports only finite values, but got [{value}]")
    if kind in INTEGER_RANGES:
        if isinstance(value, float):
            if not coerce and not value.is_integer():
                raise _BadValue(f"Value [{value}] has a decimal part")
            value = math.trunc(value)
        low, high = INTEGER_RANGES[kind]
        if not low <= value <= high:
            raise _BadValue(f"Value [{value}] is out of range for {_article(kind)}")
        return float(value)
    number = float(value)
    if kind == "float" and abs(number) > 3.4028234663852886e38:
        raise _BadValue(f"[float] supports only finite values, but got [{value}]")
    if kind == "half_float" and abs(number) > 65504:
        raise _BadValue(f"[half_float] supports only finite values, but got [{value}]")
    if kind == "scaled_float":
        factor = float(definition["scaling_factor"])
        return round(number * factor) / factor
    return number


def _number(text: str) -> int | float | None:
    if not _NUMBER.match(text):
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _article(kind: str) -> str:
    return f"an {kind}" if kind == "integer" else f"a {kind}"


def _preview(value: Any) -> str:
    text = _java(value) if isinstance(value, dict | list) else _as_text(value)
    return text if len(text) <= 20 else text[:20] + "..."


def _java(value: Any) -> str:
    """How Elasticsearch prints a parameter value in its messages."""
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}={_java(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_java(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)

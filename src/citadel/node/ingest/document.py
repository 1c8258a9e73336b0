"""The document a pipeline works on, with Elasticsearch's field paths. Pure.

A path is dotted (``a.b.c``); a list element is addressed by its position (``tags.0``). The
prefixes ``_source.`` and ``_ingest.`` name the source and the ingest metadata explicitly; the
metadata fields (``_index``, ``_id``, ``_routing``, ``_version``, ``_version_type``,
``_if_seq_no``, ``_if_primary_term``) are top-level names, as in Elasticsearch's ``ctx``.
Error messages are Elasticsearch's, Java type names included.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from citadel.node.ingest.errors import FieldError

METADATA = (
    "_index",
    "_id",
    "_routing",
    "_version",
    "_version_type",
    "_if_seq_no",
    "_if_primary_term",
)
_MISSING = object()


def java_type(value: Any) -> str:
    """The Java class Elasticsearch would name for `value` in an error message."""
    if isinstance(value, bool):
        return "java.lang.Boolean"
    if isinstance(value, int):
        return "java.lang.Integer" if -(2**31) <= value < 2**31 else "java.lang.Long"
    if isinstance(value, float):
        return "java.lang.Double"
    if isinstance(value, str):
        return "java.lang.String"
    if isinstance(value, list):
        return "java.util.ArrayList"
    if isinstance(value, Mapping):
        return "java.util.HashMap"
    return "null" if value is None else type(value).__name__


@dataclass
class IngestDocument:
    """A document in a pipeline: its source, metadata and ingest metadata."""

    source: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)
    ingest: dict[str, Any] = field(default_factory=dict)

    def copy(self) -> IngestDocument:
        """A deep copy (a snapshot for verbose simulation and ``on_failure``)."""
        return IngestDocument(
            copy.deepcopy(self.source), dict(self.metadata), copy.deepcopy(self.ingest)
        )

    # -- paths -----------------------------------------------------------------------------

    def _root(self, path: str) -> tuple[dict[str, Any], list[str]]:
        if not isinstance(path, str) or not path:
            raise FieldError("path cannot be null nor empty")
        if path in METADATA:
            return self.metadata, [path]
        if path == "_source":
            raise FieldError("path [_source] is not valid")
        if path.startswith("_source."):
            return self.source, path[len("_source.") :].split(".")
        if path == "_ingest" or path.startswith("_ingest."):
            parts = path.split(".")[1:]
            if not parts:
                raise FieldError("path [_ingest] is not valid")
            return self.ingest, parts
        return self.source, path.split(".")

    def get(self, path: str, *, default: Any = _MISSING) -> Any:
        """The value at `path`; a field error when absent unless `default` is given."""
        container, parts = self._root(path)
        current: Any = container
        for part in parts:
            current = _child(current, part, path, missing=_MISSING)
            if current is _MISSING:
                if default is not _MISSING:
                    return default
                raise FieldError(f"field [{part}] not present as part of path [{path}]")
        return current

    def has(self, path: str) -> bool:
        """Whether `path` holds a value (null included)."""
        try:
            return self.get(path, default=_MISSING) is not _MISSING
        except FieldError:
            return False

    def set(self, path: str, value: Any) -> None:
        """Put `value` at `path`, creating the objects on the way."""
        container, parts = self._root(path)
        current: Any = container
        for part in parts[:-1]:
            if isinstance(current, dict):
                nxt = current.get(part)
                if nxt is None:
                    nxt = current[part] = {}
                current = nxt
            elif isinstance(current, list):
                current = current[_position(current, part, path)]
            else:
                raise FieldError(
                    f"cannot set [{part}] with parent object of type [{java_type(current)}] "
                    f"as part of path [{path}]"
                )
        last = parts[-1]
        if isinstance(current, dict):
            current[last] = value
        elif isinstance(current, list):
            current[_position(current, last, path)] = value
        else:
            raise FieldError(
                f"cannot set [{last}] with parent object of type [{java_type(current)}] "
                f"as part of path [{path}]"
            )

    def remove(self, path: str) -> None:
        """Remove the field at `path`; a field error when absent."""
        container, parts = self._root(path)
        current: Any = container
        for part in parts[:-1]:
            current = _child(current, part, path, missing=_MISSING)
            if current is _MISSING:
                raise FieldError(f"field [{part}] not present as part of path [{path}]")
        last = parts[-1]
        if isinstance(current, dict):
            if last not in current:
                raise FieldError(f"field [{last}] not present as part of path [{path}]")
            del current[last]
        elif isinstance(current, list):
            del current[_position(current, last, path)]
        else:
            raise FieldError(
                f"cannot remove [{last}] from object of type [{java_type(current)}] as part "
                f"of path [{path}]"
            )

    def append(self, path: str, values: list[Any], *, allow_duplicates: bool = True) -> None:
        """Append `values` to the field at `path`, turning a single value into a list."""
        existing = self.get(path, default=_MISSING)
        if existing is _MISSING:
            out: list[Any] = []
        elif isinstance(existing, list):
            out = existing
        else:
            out = [existing]
        for value in values:
            if allow_duplicates or value not in out:
                out.append(value)
        self.set(path, out)

    def context(self) -> dict[str, Any]:
        """The document as templates see it: source, metadata and ``_ingest`` together."""
        return {**self.source, **self.metadata, "_ingest": self.ingest, "_source": self.source}


def _child(current: Any, part: str, path: str, *, missing: Any) -> Any:
    if isinstance(current, Mapping):
        return current.get(part, missing)
    if isinstance(current, list):
        return current[_position(current, part, path)]
    if current is None:
        return missing
    raise FieldError(
        f"cannot resolve [{part}] from object of type [{java_type(current)}] as part of path "
        f"[{path}]"
    )


def _position(items: list[Any], part: str, path: str) -> int:
    try:
        index = int(part)
    except ValueError:
        raise FieldError(
            f"[{part}] is not an integer, cannot be used as an index as part of path [{path}]"
        ) from None
    if not 0 <= index < len(items):
        raise FieldError(
            f"[{index}] is out of bounds for array with length [{len(items)}] as part of "
            f"path [{path}]"
        )
    return index

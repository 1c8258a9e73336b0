"""``_source`` filtering: which parts of a stored document a response carries. Pure.

Patterns match flattened paths (``user.name``) with ``*`` wildcards; naming an object takes
everything under it. Excludes win over includes, as in Elasticsearch.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from citadel.node.errors import IllegalArgument, ParsingError


@dataclass(frozen=True)
class SourceFilter:
    """Whether to return ``_source`` at all, and which paths."""

    fetch: bool = True
    includes: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()

    @property
    def is_everything(self) -> bool:
        return self.fetch and not self.includes and not self.excludes


EVERYTHING = SourceFilter()


def from_query(
    source: str | None, includes: str | None = None, excludes: str | None = None
) -> SourceFilter:
    """The filter named by ``_source``, ``_source_includes`` and ``_source_excludes``."""
    fetch, inc = True, ()
    if source is not None:
        lowered = source.strip().lower()
        if lowered in ("false", "0", "no", "off"):
            fetch = False
        elif lowered not in ("", "true", "1", "yes", "on"):
            inc = _split(source)
    if includes:
        inc = _split(includes)
        fetch = True
    exc = _split(excludes) if excludes else ()
    return SourceFilter(fetch, tuple(inc), tuple(exc))


def from_body(value: Any) -> SourceFilter:
    """The filter of a JSON ``_source`` value: bool, pattern, patterns or includes/excludes."""
    if value is None or value is True:
        return EVERYTHING
    if value is False:
        return SourceFilter(fetch=False)
    if isinstance(value, str):
        return SourceFilter(includes=(value,))
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return SourceFilter(includes=tuple(value))
    if isinstance(value, Mapping):
        unknown = set(value) - {"includes", "excludes", "include", "exclude"}
        if unknown:
            raise ParsingError(f"Unknown key for a START_ARRAY in [{sorted(unknown)[0]}].")
        inc = _patterns(value.get("includes", value.get("include")))
        exc = _patterns(value.get("excludes", value.get("exclude")))
        return SourceFilter(True, inc, exc)
    raise ParsingError(
        "Expected one of [TRUE, FALSE, VALUE_STRING, START_ARRAY, START_OBJECT] for [_source]"
    )


def apply(spec: SourceFilter, source: Mapping[str, Any]) -> dict[str, Any] | None:
    """The filtered source; None when the filter asks for no source."""
    if not spec.fetch:
        return None
    if spec.is_everything:
        return dict(source)
    return _object(spec, source, "", included=not spec.includes)


def _object(
    spec: SourceFilter, obj: Mapping[str, Any], prefix: str, *, included: bool
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in obj.items():
        path = prefix + key
        if _matches(spec.excludes, path):
            continue
        here = included or _matches(spec.includes, path)
        kept = _value(spec, value, path, included=here)
        if kept is not _DROP:
            out[key] = kept
    return out


_DROP = object()


def _value(spec: SourceFilter, value: Any, path: str, *, included: bool) -> Any:
    if isinstance(value, Mapping):
        inner = _object(spec, value, path + ".", included=included)
        return inner if inner or included else _DROP
    if isinstance(value, list):
        items = [_value(spec, v, path, included=included) for v in value]
        kept = [v for v in items if v is not _DROP]
        return kept if kept or included else _DROP
    return value if included else _DROP


def _matches(patterns: tuple[str, ...], path: str) -> bool:
    return any(fnmatch.fnmatchcase(path, p) for p in patterns)


def _split(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip())


def _patterns(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise IllegalArgument("[_source] includes and excludes must be strings or arrays of strings")

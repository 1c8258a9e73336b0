"""``_source`` filtering: which parts of a stored document a response carries. Pure.

One filter serves get, mget, update and search. Paths are dotted (``author.name``); patterns
may use ``*``, which matches any characters, dots included (no other character is special). A
value is kept when includes are empty or an include matches its path or the path of an object
around it, and no exclude does: excludes win, as in Elasticsearch. Objects that filtering
leaves empty are dropped, unless an include named the object itself. Arrays keep their order;
objects inside them are filtered with the array's path.

URL parameters follow Elasticsearch: ``_source`` is a boolean or a list of includes,
``_source_includes`` replaces that list, ``_source=false`` fetches nothing whatever else is
given.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from citadel.node.errors import ParsingError
from citadel.node.xcontent import token_of


@dataclass(frozen=True)
class SourceFilter:
    """Whether to return ``_source``, and which paths of it."""

    fetch: bool = True
    includes: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()

    @property
    def is_everything(self) -> bool:
        """Whether the whole source is returned unchanged."""
        return self.fetch and not self.includes and not self.excludes

    def apply(self, source: Mapping[str, Any]) -> dict[str, Any] | None:
        """The part of `source` this filter keeps; None when it fetches no source."""
        if not self.fetch:
            return None
        if self.is_everything:
            return dict(source)
        return _filter_object(source, "", self.includes, self.excludes, included=not self.includes)


FETCH_ALL = SourceFilter()
FETCH_NONE = SourceFilter(fetch=False)


def apply(spec: SourceFilter, source: Mapping[str, Any]) -> dict[str, Any] | None:
    """`spec` applied to `source`: the function form of :meth:`SourceFilter.apply`."""
    return spec.apply(source)


def parse_source(value: Any) -> SourceFilter:
    """A JSON ``_source`` value: a boolean, a pattern, patterns or includes/excludes."""
    if isinstance(value, bool):
        return FETCH_ALL if value else FETCH_NONE
    if isinstance(value, str):
        return SourceFilter(includes=(value,))
    if isinstance(value, list):
        return SourceFilter(includes=_patterns("_source", value))
    if isinstance(value, Mapping):
        includes: tuple[str, ...] = ()
        excludes: tuple[str, ...] = ()
        for key, patterns in value.items():
            if key in ("includes", "include"):
                includes = _patterns(key, patterns)
            elif key in ("excludes", "exclude"):
                excludes = _patterns(key, patterns)
            else:
                raise ParsingError(f"Unknown key for a {token_of(patterns)} in [{key}].")
        return SourceFilter(includes=includes, excludes=excludes)
    raise ParsingError(
        f"Expected one of [VALUE_BOOLEAN, VALUE_STRING, START_ARRAY, START_OBJECT] but found "
        f"[{token_of(value)}]"
    )


def parse_source_params(params: Mapping[str, str]) -> SourceFilter | None:
    """``_source``, ``_source_includes``, ``_source_excludes`` URL parameters (None if absent)."""
    raw = params.get("_source")
    includes = _split(params.get("_source_includes") or params.get("_source_include"))
    excludes = _split(params.get("_source_excludes") or params.get("_source_exclude"))
    if raw is None and not includes and not excludes:
        return None
    if raw is not None:
        flag = raw.strip().lower()
        if flag in ("false", "0", "no", "off"):
            return FETCH_NONE
        if flag not in ("true", "1", "yes", "on", "") and not includes:
            includes = _split(raw)
    return SourceFilter(includes=includes, excludes=excludes)


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(p.strip() for p in (text or "").split(",") if p.strip())


def _patterns(key: str, value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(p, str) for p in items):
        raise ParsingError(f"[_source] [{key}] must be a string or an array of strings")
    return tuple(items)


@cache
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(p) for p in pattern.split("*")))


def _matches(path: str, patterns: tuple[str, ...]) -> bool:
    return any(_regex(p).fullmatch(path) for p in patterns)


def _filter_object(
    obj: Mapping[str, Any],
    prefix: str,
    includes: tuple[str, ...],
    excludes: tuple[str, ...],
    *,
    included: bool,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in obj.items():
        path = prefix + key
        if excludes and _matches(path, excludes):
            continue
        here = included or _matches(path, includes)
        kept = _filter_value(value, path, includes, excludes, included=here)
        if kept is not _DROP:
            out[key] = kept
    return out


class _Drop:
    pass


_DROP: Any = _Drop()


def _filter_value(
    value: Any,
    path: str,
    includes: tuple[str, ...],
    excludes: tuple[str, ...],
    *,
    included: bool,
) -> Any:
    if isinstance(value, Mapping):
        inner = _filter_object(value, path + ".", includes, excludes, included=included)
        return inner if inner or included else _DROP
    if isinstance(value, list):
        items = []
        for item in value:
            kept = _filter_value(item, path, includes, excludes, included=included)
            if kept is not _DROP:
                items.append(kept)
        return items if items or included else _DROP
    return value if included else _DROP

"""Index expressions: which concrete indices a name, list or wildcard means. Pure.

An expression is a comma list of names, ``*`` wildcards, ``_all`` and ``-x`` exclusions; each
name is an index, an alias (every index it points to, through its filter) or a data stream
(its backing indices). Wildcards match all three kinds, skip hidden ones (``index.hidden``,
hidden aliases and streams, names starting with a dot) unless asked or the pattern starts with
a dot, and skip closed indices unless asked. A write through a name goes to one index:
`write_index` applies Elasticsearch's rules for aliases and data streams.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from citadel.node.errors import EsError, IllegalArgument, IndexNotFound

ALL = "_all"


class IndexClosed(EsError):
    """A closed index named in a read or a write."""

    type = "index_closed_exception"
    status = 400

    def __init__(self, index: str, uuid: str = "_na_") -> None:
        super().__init__("closed", index_uuid=uuid, index=index)


@dataclass(frozen=True)
class IndexFacts:
    """What resolution needs to know of one index."""

    uuid: str = "_na_"
    hidden: bool = False
    closed: bool = False


@dataclass(frozen=True)
class AliasLink:
    """One alias → index link: its filter, routing and write flag."""

    filter: Mapping[str, Any] | None = None
    is_write_index: bool | None = None
    is_hidden: bool = False


@dataclass(frozen=True)
class StreamFacts:
    """A data stream's backing indices, oldest first (the last one takes writes)."""

    indices: tuple[str, ...]
    hidden: bool = False


@dataclass(frozen=True)
class Catalog:
    """Indices, aliases and data streams by name: everything an expression can name."""

    indices: Mapping[str, IndexFacts] = field(default_factory=dict)
    aliases: Mapping[str, Mapping[str, AliasLink]] = field(default_factory=dict)
    streams: Mapping[str, StreamFacts] = field(default_factory=dict)

    @classmethod
    def of_names(cls, names: Iterable[str]) -> Catalog:
        """A catalog of plain open indices (no aliases, no data streams)."""
        return cls({n: IndexFacts() for n in names})

    def kind(self, name: str) -> str | None:
        """``index``, ``alias``, ``data_stream`` or None."""
        if name in self.indices:
            return "index"
        if name in self.aliases:
            return "alias"
        if name in self.streams:
            return "data_stream"
        return None


@dataclass(frozen=True)
class Targets:
    """The indices an expression names for a caller, or the explicit names it may not read.

    filters: for an index reached only through filtered aliases, the query (a query DSL
    object) its documents must match; absent when any path to it is unfiltered.
    """

    names: tuple[str, ...]
    denied: tuple[str, ...] = ()
    filters: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def is_pattern(expression: str) -> bool:
    """Whether an expression may name more than one index."""
    return any(p.strip() in (ALL, "*") or "*" in p for p in expression.split(","))


def resolve(
    expression: str | None,
    catalog: Catalog,
    allowed: Callable[[str], bool],
    *,
    deny_explicit: bool = True,
    ignore_unavailable: bool = False,
    allow_no_indices: bool = True,
    expand_hidden: bool = False,
    expand_closed: bool = False,
    closed_ok: bool = False,
) -> Targets:
    """Concrete index names for an expression (see the module docstring).

    Wildcards expand only to names `allowed` accepts (as Elasticsearch expands only to
    authorized names). With `deny_explicit`, a name given explicitly that `allowed` refuses
    is `denied` (the caller answers 403 whether it exists or not). A concrete name that does
    not exist, or a wildcard matching nothing when not `allow_no_indices`, is a 404; an
    explicitly named closed index is index_closed_exception unless `closed_ok`.
    `ignore_unavailable` skips denied, missing and closed names alike.
    """
    parts = [p.strip() for p in (expression or ALL).split(",") if p.strip()] or [ALL]
    chosen: dict[str, list[Mapping[str, Any]] | None] = {}
    denied: list[str] = []
    missing: str | None = None

    def add(name: str, filters: list[Mapping[str, Any]] | None) -> None:
        if name in chosen and chosen[name] is None:
            return
        if filters is None:
            chosen[name] = None
        else:
            chosen[name] = [*(chosen.get(name) or []), *filters]

    for i, part in enumerate(parts):
        if part.startswith("-") and i > 0:
            pattern = _wildcard(part[1:])
            for name in [n for n in chosen if pattern.fullmatch(n)]:
                del chosen[name]
            continue
        if is_pattern(part):
            matched = _expand(part, catalog, allowed, expand_hidden, expand_closed)
            if not matched and not allow_no_indices:
                missing = missing or part
            for name, filters in matched:
                add(name, filters)
            continue
        if deny_explicit and not allowed(part):
            if not ignore_unavailable:
                denied.append(part)
            continue
        found = _explicit(part, catalog)
        if found is None:
            if not ignore_unavailable:
                missing = missing or part
            continue
        for name, filters in found:
            facts = catalog.indices.get(name, IndexFacts())
            if facts.closed and not closed_ok:
                if ignore_unavailable:
                    continue
                raise IndexClosed(name, facts.uuid)
            add(name, filters)
    if denied:
        return Targets((), tuple(denied))
    if missing is not None:
        raise IndexNotFound(missing)
    if not chosen and not allow_no_indices:
        raise IndexNotFound(expression or ALL)
    combined = {n: _combined(f) for n, f in chosen.items() if f}
    return Targets(tuple(chosen), (), combined)


def _explicit(
    name: str, catalog: Catalog
) -> list[tuple[str, list[Mapping[str, Any]] | None]] | None:
    if name in catalog.indices:
        return [(name, None)]
    if name in catalog.aliases:
        return [(index, _filters(link)) for index, link in sorted(catalog.aliases[name].items())]
    if name in catalog.streams:
        return [(index, None) for index in catalog.streams[name].indices]
    return None


def _expand(
    part: str, catalog: Catalog, allowed: Callable[[str], bool], hidden: bool, closed: bool
) -> list[tuple[str, list[Mapping[str, Any]] | None]]:
    pattern = _wildcard("*" if part == ALL else part)
    hidden_ok = hidden or part.startswith(".")
    out: list[tuple[str, list[Mapping[str, Any]] | None]] = []
    for name, facts in sorted(catalog.indices.items()):
        if not pattern.fullmatch(name) or not allowed(name):
            continue
        if (facts.hidden or name.startswith(".")) and not hidden_ok:
            continue
        if facts.closed and not closed:
            continue
        out.append((name, None))
    for alias, links in sorted(catalog.aliases.items()):
        if not pattern.fullmatch(alias) or not allowed(alias):
            continue
        if any(link.is_hidden for link in links.values()) and not hidden_ok:
            continue
        for index, link in sorted(links.items()):
            if catalog.indices.get(index, IndexFacts()).closed and not closed:
                continue
            out.append((index, _filters(link)))
    for stream, stream_facts in sorted(catalog.streams.items()):
        if not pattern.fullmatch(stream) or not allowed(stream):
            continue
        if (stream_facts.hidden or stream.startswith(".")) and not hidden_ok:
            continue
        out.extend((index, None) for index in stream_facts.indices)
    return out


def _filters(link: AliasLink) -> list[Mapping[str, Any]] | None:
    return None if link.filter is None else [link.filter]


def _combined(filters: list[Mapping[str, Any]]) -> Mapping[str, Any]:
    unique = [f for i, f in enumerate(filters) if f not in filters[:i]]
    if len(unique) == 1:
        return unique[0]
    return {"bool": {"should": unique, "minimum_should_match": 1}}


def _wildcard(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(p) for p in pattern.split("*")))


# -- single-index operations -----------------------------------------------------------------


def write_index(name: str, catalog: Catalog) -> str | None:
    """The index a write through `name` goes to (None: no such name, auto-create it)."""
    if name in catalog.indices:
        return name
    if name in catalog.aliases:
        links = catalog.aliases[name]
        writers = [i for i, link in links.items() if link.is_write_index]
        if writers:
            return writers[0]
        if len(links) == 1:
            (index, link), *_ = links.items()
            if link.is_write_index is not False:
                return index
        raise IllegalArgument(
            f"no write index is defined for alias [{name}]. The write index may be explicitly "
            "disabled using is_write_index=false or the alias points to multiple indices "
            "without one being designated as a write index"
        )
    if name in catalog.streams:
        return catalog.streams[name].indices[-1]
    return None


def single_index(name: str, catalog: Catalog) -> str | None:
    """The one index a read by id through `name` reads (None: no such name)."""
    if name in catalog.indices:
        return name
    if name in catalog.aliases:
        links = catalog.aliases[name]
        if len(links) > 1:
            listed = ", ".join(sorted(links))
            raise IllegalArgument(
                f"alias [{name}] has more than one index associated with it [{listed}], can't "
                "execute a single index op"
            )
        return next(iter(links))
    if name in catalog.streams:
        raise IllegalArgument(
            f"The provided expression [{name}] matches a data stream, specify the "
            "corresponding concrete indices instead."
        )
    return None

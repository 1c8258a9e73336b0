"""``filter_path``: Elasticsearch's response filtering, with its semantics. Pure.

The parameter is a comma-separated list of paths; a path starting with ``-`` excludes, the
others include. Paths are dotted (``hits.hits._id``; ``\\.`` is a literal dot in a name) and
compile into one tree, as ``FilterPath.compile`` builds it: a name ends a path (a *final*
node), ``*`` inside a segment is a glob (any run of characters), and a ``**`` segment matches
one or more levels of nesting. A shorter path wins: ``a,a.b`` is ``a``.

Filtering mirrors ``FilterPathBasedFilter`` over Jackson's filtering generator:

- includes keep what a final path matches, whole; under a path that has not ended yet, scalars
  are dropped and objects and arrays (each array element in turn) are filtered further;
  containers left empty are dropped.
- excludes drop what a final path matches and keep everything else; a container emptied by
  the exclusion is dropped, one that was empty to begin with stays.
- includes apply first, then excludes; the top-level object always stays (``{}`` when nothing
  matched).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

_DROP = object()


@dataclass(frozen=True)
class PathNode:
    """One segment of the compiled tree (the root's pattern is empty)."""

    pattern: str
    final: bool
    terms: dict[str, PathNode] = field(default_factory=dict)
    wildcards: tuple[PathNode, ...] = ()
    glob: re.Pattern[str] | None = None

    @property
    def double_wildcard(self) -> bool:
        return self.pattern == "**"

    def matches(self, name: str, next_nodes: list[PathNode]) -> bool:
        """True when `name` ends a path here; partial matches are appended to `next_nodes`."""
        term = self.terms.get(name)
        if term is not None:
            if term.final:
                return True
            next_nodes.append(term)
        for node in self.wildcards:
            assert node.glob is not None
            if node.glob.fullmatch(name):
                if node.final:
                    return True
                next_nodes.append(node)
        if self.double_wildcard:
            next_nodes.append(self)
        return False


@dataclass(frozen=True)
class FilterPaths:
    """The parsed ``filter_path``: an include tree and an exclude tree (either may be None)."""

    includes: PathNode | None
    excludes: PathNode | None

    def apply(self, value: Any) -> Any:
        """`value` filtered as Elasticsearch filters a response body."""
        if self.includes is not None:
            value = _filter_root(value, self.includes, inclusive=True)
        if self.excludes is not None:
            value = _filter_root(value, self.excludes, inclusive=False)
        return value


def parse_filter_path(raw: str | None) -> FilterPaths | None:
    """The ``filter_path`` parameter compiled, or None when it names no path."""
    if raw is None:
        return None
    tokens = {token.strip() for token in raw.split(",")} - {""}
    includes = compile_paths(t for t in tokens if not t.startswith("-"))
    excludes = compile_paths(t[1:] for t in tokens if t.startswith("-"))
    if includes is None and excludes is None:
        return None
    return FilterPaths(includes, excludes)


def compile_paths(paths: Iterable[str]) -> PathNode | None:
    """Paths compiled into one tree, as ``FilterPath.compile`` does; None for no path."""
    root: dict[str, Any] = {"final": False, "children": {}}
    inserted = False
    for path in paths:
        path = path.strip()
        if path:
            _insert(path, root)
            inserted = True
    return _build("", root) if inserted else None


def _insert(path: str, node: dict[str, Any]) -> None:
    split, escaped, i = -1, False, 0
    while i < len(path):
        if path[i] == ".":
            split = i
            break
        if path[i] == "\\" and i + 1 < len(path) and path[i + 1] == ".":
            i += 1
            escaped = True
        i += 1
    if split > 0:
        name = _unescape(path[:split]) if escaped else path[:split]
        child = node["children"].setdefault(name, {"final": False, "children": {}})
        if not child["final"]:
            _insert(path[split + 1 :], child)
    else:
        name = _unescape(path) if escaped else path
        node["children"][name] = {"final": True, "children": {}}


def _unescape(name: str) -> str:
    # Elasticsearch's replaceAll("\\\\.", "."): a backslash and the character after it
    return re.sub(r"\\.", ".", name, flags=re.DOTALL)


def _build(pattern: str, node: dict[str, Any]) -> PathNode:
    terms: dict[str, PathNode] = {}
    wildcards: list[PathNode] = []
    for name, child in node["children"].items():
        built = _build(name, child)
        if "*" in name:
            wildcards.append(built)
        else:
            terms[name] = built
    glob = _glob(pattern) if "*" in pattern else None
    return PathNode(pattern, node["final"], terms, tuple(wildcards), glob)


def _glob(pattern: str) -> re.Pattern[str]:
    """Elasticsearch's ``Glob.globMatch``: ``*`` is any run of characters, nothing else special."""
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


def _filter_root(value: Any, root: PathNode, *, inclusive: bool) -> Any:
    if isinstance(value, dict):
        kept = _filter_object(value, [root], inclusive)
        return {} if kept is _DROP else kept
    if isinstance(value, list):
        kept = _filter_array(value, [root], inclusive)
        return [] if kept is _DROP else kept
    return value


def _filter_value(value: Any, nodes: list[PathNode], inclusive: bool) -> Any:
    if isinstance(value, dict):
        return _filter_object(value, nodes, inclusive)
    if isinstance(value, list):
        return _filter_array(value, nodes, inclusive)
    return _DROP if inclusive else value  # a scalar under a path that has not ended


def _filter_object(obj: dict[str, Any], nodes: list[PathNode], inclusive: bool) -> Any:
    out: dict[str, Any] = {}
    for name, value in obj.items():
        matched, next_nodes = _evaluate(name, nodes)
        if matched:
            if not inclusive:
                continue
            out[name] = value
        elif not next_nodes:
            if inclusive:
                continue
            out[name] = value
        else:
            kept = _filter_value(value, next_nodes, inclusive)
            if kept is not _DROP:
                out[name] = kept
    return out if out or _keep_empty(obj, inclusive) else _DROP


def _filter_array(items: list[Any], nodes: list[PathNode], inclusive: bool) -> Any:
    out = [kept for item in items if (kept := _filter_value(item, nodes, inclusive)) is not _DROP]
    return out if out or _keep_empty(items, inclusive) else _DROP


def _keep_empty(original: dict[str, Any] | list[Any], inclusive: bool) -> bool:
    """``includeEmptyObject``/``includeEmptyArray``: only an exclusion keeps what was empty."""
    return not inclusive and not original


def _evaluate(name: str, nodes: list[PathNode]) -> tuple[bool, list[PathNode]]:
    next_nodes: list[PathNode] = []
    for node in nodes:
        if node.matches(name, next_nodes):
            return True, []
    return False, next_nodes

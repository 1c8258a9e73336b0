"""Grok: named patterns expanded into one Python regular expression. Pure.

``%{NAME}`` inserts a pattern, ``%{NAME:field}`` captures it into `field`, ``%{NAME:field:int}``
(``int``, ``long``, ``float``, ``double``, ``boolean``) converts the capture; ``(?<field>...)``
captures inline as in Oniguruma. A field captured by several groups takes the first one that
matched, as Elasticsearch's legacy (non-ECS) grok does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from citadel.node.ingest.grok_patterns import PATTERNS

_REFERENCE = re.compile(r"%\{(\w+)(?::([^:}]+))?(?::(\w+))?\}")
_INLINE = re.compile(r"\(\?<([A-Za-z_@][^>]*)>")
_TYPES = ("int", "long", "float", "double", "boolean")
MAX_DEPTH = 64


class GrokError(ValueError):
    """A pattern that does not compile (the message names it)."""


@dataclass(frozen=True)
class Capture:
    """One named group of a compiled grok expression."""

    group: str
    field: str
    type: str | None


@dataclass(frozen=True)
class Grok:
    """A compiled grok expression."""

    regex: re.Pattern[str]
    captures: tuple[Capture, ...]

    def match(self, text: str) -> dict[str, Any] | None:
        """The captured fields when `text` matches (anywhere, like ``find``), else None."""
        found = self.regex.search(text)
        if found is None:
            return None
        out: dict[str, Any] = {}
        for capture in self.captures:
            value = found.group(capture.group)
            if value is None or capture.field in out:
                continue
            out[capture.field] = _convert(value, capture.type)
        return out


def compile_grok(pattern: str, definitions: Mapping[str, str] | None = None) -> Grok:
    """Compile `pattern` against the library plus `definitions`; GrokError when invalid."""
    library = {**PATTERNS, **(definitions or {})}
    captures: list[Capture] = []

    def expand(text: str, depth: int) -> str:
        if depth > MAX_DEPTH:
            raise GrokError(f"circular reference in pattern [{pattern}]")

        def inline(m: re.Match[str]) -> str:
            group = f"g{len(captures)}"
            captures.append(Capture(group, m.group(1), None))
            return f"(?P<{group}>"

        text = _INLINE.sub(inline, text)

        def reference(m: re.Match[str]) -> str:
            name, field, kind = m.group(1), m.group(2), m.group(3)
            if name not in library:
                raise GrokError(f"Unable to find pattern [{name}] in Grok's pattern dictionary")
            if kind is not None and kind not in _TYPES:
                raise GrokError(f"unsupported grok type [{kind}] in [{m.group(0)}]")
            body = expand(library[name], depth + 1)
            if field is None:
                return f"(?:{body})"
            group = f"g{len(captures)}"
            captures.append(Capture(group, field, kind))
            return f"(?P<{group}>{body})"

        return _REFERENCE.sub(reference, text)

    expanded = expand(pattern, 0)
    try:
        regex = re.compile(expanded)
    except re.error as exc:
        raise GrokError(f"invalid pattern [{pattern}]: {exc}") from None
    return Grok(regex, tuple(captures))


def _convert(value: str, kind: str | None) -> Any:
    try:
        if kind in ("int", "long"):
            return int(value)
        if kind in ("float", "double"):
            return float(value)
    except ValueError:
        return value
    if kind == "boolean":
        return value.lower() == "true"
    return value

"""Mustache templates in processor settings: field substitution only. Pure.

``{{field}}`` and ``{{{field}}}`` put the value at a document path (``_source.``, ``_ingest.``
and metadata paths included) into the text, unescaped as Elasticsearch's ingest templates
render (``text/plain``); a missing field renders as nothing. Sections, inverted sections,
partials, comments and delimiter changes are refused with a 400 naming the template.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from citadel.node.ingest.document import IngestDocument
from citadel.node.ingest.errors import ConfigError, FieldError

_TAG = re.compile(r"\{\{\{\s*([^{}]*?)\s*\}\}\}|\{\{\s*([^{}]*?)\s*\}\}")
_NAME = re.compile(r"[A-Za-z0-9_@][A-Za-z0-9_@\-]*(\.[A-Za-z0-9_@][A-Za-z0-9_@\-]*)*")


@dataclass(frozen=True)
class Template:
    """A compiled template: literal text and field paths, alternating."""

    parts: tuple[str | tuple[str], ...]

    @property
    def is_literal(self) -> bool:
        return all(isinstance(p, str) for p in self.parts)

    def render(self, doc: IngestDocument) -> str:
        """The text with every field substituted."""
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            else:
                out.append(java_string(_lookup(doc, part[0])))
        return "".join(out)


def compile_template(text: str, *, processor_type: str, property_name: str) -> Template:
    """Compile `text`; a ``parse_exception`` for mustache beyond field substitution."""
    parts: list[str | tuple[str]] = []
    position = 0
    for match in _TAG.finditer(text):
        name = match.group(1) if match.group(1) is not None else match.group(2)
        if not _NAME.fullmatch(name):
            raise ConfigError(
                f"template [{text}] is not supported: only field substitutions such as "
                "{{field}} are (no sections, partials, comments or lambdas)",
                processor_type=processor_type,
                property_name=property_name,
            )
        parts.append(text[position : match.start()])
        parts.append((name,))
        position = match.end()
    rest = text[position:]
    if "{{" in rest:
        raise ConfigError(
            f"template [{text}] is not supported: only field substitutions such as {{{{field}}}} "
            "are",
            processor_type=processor_type,
            property_name=property_name,
        )
    parts.append(rest)
    return Template(tuple(p for p in parts if p != ""))


def compile_value(value: Any, *, processor_type: str, property_name: str) -> Any:
    """A setting's value with every string in it compiled to a `Template`."""
    if isinstance(value, str):
        return compile_template(value, processor_type=processor_type, property_name=property_name)
    if isinstance(value, list):
        return [
            compile_value(v, processor_type=processor_type, property_name=property_name)
            for v in value
        ]
    if isinstance(value, Mapping):
        return {
            k: compile_value(v, processor_type=processor_type, property_name=property_name)
            for k, v in value.items()
        }
    return value


def render_value(value: Any, doc: IngestDocument) -> Any:
    """A compiled value rendered against `doc` (templates become strings)."""
    if isinstance(value, Template):
        return value.render(doc)
    if isinstance(value, list):
        return [render_value(v, doc) for v in value]
    if isinstance(value, dict):
        return {k: render_value(v, doc) for k, v in value.items()}
    return value


def _lookup(doc: IngestDocument, name: str) -> Any:
    try:
        return doc.get(name, default=None)
    except FieldError:
        return None


def java_string(value: Any) -> str:
    """How Java's ``toString`` prints a JSON value (what mustache puts in the text)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if value != int(value) or abs(value) >= 1e7 else f"{value:.1f}"
    if isinstance(value, list):
        return "[" + ", ".join(_inner(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}={_inner(v)}" for k, v in value.items()) + "}"
    return str(value)


def _inner(value: Any) -> str:
    return "null" if value is None else java_string(value)

"""A stored script's body, read as Elasticsearch reads ``PUT _scripts/{id}``. Pure.

The body is ``{"script": {"lang", "source", "options"}}``. As in Elasticsearch, other keys
inside ``script`` (a ``params`` object, say) are accepted and not kept; an object ``source``
(a search template written as JSON) is stored as its JSON text with the ``content_type``
option ``application/json``; the only option is ``content_type``. A ``mustache`` source is
compiled before it is stored; a ``painless`` source is stored as written (this node runs no
Painless, so it is not checked). Other languages are refused, as Elasticsearch refuses a
language it has no engine for.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from citadel.node.errors import ActionRequestValidation, IllegalArgument, ParsingError
from citadel.node.scripts.contexts import CONTEXT_NAMES, TEMPLATE_CONTEXTS
from citadel.node.scripts.mustache import compile_template

MUSTACHE = "mustache"
PAINLESS = "painless"
LANGUAGES = (MUSTACHE, PAINLESS)
MAX_SOURCE_BYTES = 65_535  # script.max_size_in_bytes
CONTENT_TYPE = "content_type"
JSON_MEDIA_TYPE = "application/json"


@dataclass(frozen=True)
class StoredScript:
    """One stored script as kept and answered by ``GET _scripts/{id}``."""

    lang: str
    source: str
    options: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The ``script`` object of ``GET _scripts/{id}``."""
        return {"lang": self.lang, "source": self.source, "options": dict(self.options)}


def check_id(script_id: str) -> None:
    """Elasticsearch's rules for a stored script's id."""
    if not script_id:
        raise ActionRequestValidation("Validation Failed: 1: id is missing;")
    if "#" in script_id:
        raise ActionRequestValidation(
            "Validation Failed: 1: id cannot contain '#' for stored script;"
        )


def parse_stored_script(script_id: str, body: Any, context: str | None) -> StoredScript:
    """The script of a ``PUT _scripts/{id}[/{context}]`` body, checked."""
    check_id(script_id)
    if context is not None and context not in CONTEXT_NAMES:
        raise IllegalArgument(f"Unknown context [{context}]")
    if not isinstance(body, Mapping):
        raise ParsingError("unexpected token [START_ARRAY], expected [{]")
    if not body:
        raise IllegalArgument("must specify lang for stored script")
    for key in body:
        if key != "script":
            raise ParsingError(f"unexpected field [{key}], expected [script]")
    script = body["script"]
    if not isinstance(script, Mapping):
        raise ParsingError("unexpected token [VALUE_STRING], expected [{, <source>]")
    lang = script.get("lang")
    if lang is None:
        raise IllegalArgument("must specify lang for stored script")
    if not isinstance(lang, str) or not lang:
        raise IllegalArgument("lang cannot be empty")
    options = _options(script.get("options", {}))
    source = script.get("source")
    if isinstance(source, Mapping):
        source = json.dumps(source, separators=(",", ":"), ensure_ascii=False)
        options[CONTENT_TYPE] = JSON_MEDIA_TYPE
    if source is None:
        raise IllegalArgument("must specify source for stored script")
    if not isinstance(source, str):
        raise ParsingError("[script] source must be a string or an object")
    if not source:
        raise IllegalArgument("source cannot be empty")
    size = len(source.encode())
    if size > MAX_SOURCE_BYTES:
        raise IllegalArgument(
            f"exceeded max allowed stored script size in bytes [{MAX_SOURCE_BYTES}] with size "
            f"[{size}] for script [{script_id}]"
        )
    if lang not in LANGUAGES:
        raise IllegalArgument(f"unable to put stored script with unsupported lang [{lang}]")
    if lang == MUSTACHE:
        if context is not None and context not in TEMPLATE_CONTEXTS:
            raise IllegalArgument(
                f"mustache engine does not know how to handle context [{context}]"
            )
        compile_template(source)
    return StoredScript(lang, source, options)


def _options(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ParsingError("[options] must be an object")
    options = {str(k): str(v) for k, v in value.items()}
    if len(options) > 1 or (options and CONTENT_TYPE not in options):
        shown = ", ".join(f"{k}={v}" for k, v in options.items())
        raise IllegalArgument(f"illegal compiler options [{{{shown}}}] specified")
    return options

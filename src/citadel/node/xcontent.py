"""JSON as Elasticsearch's XContent layer sees it. Pure.

`parse_json` refuses what Elasticsearch's parser refuses (NaN and Infinity, nesting deeper
than `MAX_DEPTH`, lone surrogates) as 400 ``x_content_parse_exception``s; `token_of` names a
parsed value by the parser token Elasticsearch's error messages quote (``START_OBJECT``,
``VALUE_STRING``, ...).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from citadel.node.errors import XContentParseError

MAX_DEPTH = 64


def parse_json(raw: bytes | str) -> Any:
    """Parse JSON, refusing NaN and Infinity, deep nesting and lone surrogates as 400s."""
    try:
        value = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise XContentParseError(f"failed to parse JSON: {exc}") from None
    except RecursionError:  # nesting deeper than the interpreter's stack allows
        raise XContentParseError(f"the JSON is nested deeper than {MAX_DEPTH} levels") from None
    if _depth(value) > MAX_DEPTH:
        raise XContentParseError(f"the JSON is nested deeper than {MAX_DEPTH} levels")
    escaped = (
        _SURROGATE_ESCAPE.search(raw)
        if isinstance(raw, str)
        else _SURROGATE_ESCAPE_BYTES.search(raw)
    )
    if escaped:  # rare: only then look for a lone surrogate
        _refuse_lone_surrogates(value)
    return value


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]")


def _refuse_constant(name: str) -> Any:
    """NaN and Infinity are not JSON (Python would accept them, and then emit them)."""
    raise ValueError(f"non-standard token [{name}]")


def _refuse_lone_surrogates(value: Any) -> None:
    """A lone ``\\ud800`` escape decodes to text that cannot be stored or sent as UTF-8."""
    stack = [value]
    while stack:
        node = stack.pop()
        try:
            if isinstance(node, str):
                node.encode()
            elif isinstance(node, dict):
                for key in node:
                    key.encode()
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
        except UnicodeEncodeError:
            raise XContentParseError(
                "failed to parse JSON: invalid surrogate in a string"
            ) from None


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d)
        if d > MAX_DEPTH:
            return d
        if isinstance(node, dict):
            stack.extend((v, d + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, d + 1) for v in node)
    return deepest


def token_of(value: Any) -> str:
    """The parser token a JSON value starts with, as Elasticsearch's errors name it."""
    if isinstance(value, Mapping):
        return "START_OBJECT"
    if isinstance(value, list):
        return "START_ARRAY"
    if isinstance(value, bool):
        return "VALUE_BOOLEAN"
    if isinstance(value, int | float):
        return "VALUE_NUMBER"
    return "VALUE_NULL" if value is None else "VALUE_STRING"

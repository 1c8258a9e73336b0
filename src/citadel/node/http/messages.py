"""Requests and responses as the node's handlers see them."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from citadel.node.errors import XContentParseError

JSON = "application/json"
MAX_DEPTH = 64


@dataclass
class NodeRequest:
    """One HTTP request: path parameters already extracted by the router."""

    method: str
    path: str
    params: dict[str, str]
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    identity: Any = None  # a security.realm.Identity once authenticated

    def json(self, *, required: bool = False) -> Any:
        """The body parsed as JSON (None when empty and not required)."""
        if not self.body.strip():
            if required:
                raise XContentParseError("request body is required")
            return None
        return parse_json(self.body)

    def flag(self, name: str, default: bool = False) -> bool:
        """A boolean query parameter (``?pretty``, ``?pretty=true``)."""
        value = self.query.get(name)
        if value is None:
            return default
        return value in ("", "true", "1")


def parse_json(raw: bytes | str) -> Any:
    """Parse JSON, refusing deep nesting and duplicate-key ambiguity as 400s."""
    try:
        value = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise XContentParseError(f"failed to parse JSON: {exc}") from None
    except RecursionError:  # nesting deeper than the interpreter's stack allows
        raise XContentParseError(f"the JSON is nested deeper than {MAX_DEPTH} levels") from None
    if _depth(value) > MAX_DEPTH:
        raise XContentParseError(f"the JSON is nested deeper than {MAX_DEPTH} levels")
    escapes = _SURROGATE_ESCAPE if isinstance(raw, str) else _SURROGATE_ESCAPE_BYTES
    if escapes.search(raw):  # rare: only then look for a lone surrogate
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


@dataclass
class NodeResponse:
    """What a handler returns; `body` is JSON-serialisable, or text for ``_cat``."""

    status: int = 200
    body: Any = None
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body, separators=(",", ":"), ensure_ascii=False).encode()

"""Requests and responses as the node's handlers see them."""

from __future__ import annotations

import json
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
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise XContentParseError(f"failed to parse JSON: {exc}") from None
    if _depth(value) > MAX_DEPTH:
        raise XContentParseError(f"the JSON is nested deeper than {MAX_DEPTH} levels")
    return value


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

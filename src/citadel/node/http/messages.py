"""Requests and responses as the node's handlers see them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from citadel.node.errors import XContentParseError
from citadel.node.xcontent import parse_json

JSON = "application/json"


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

"""The route table: method + path pattern → handler and the privilege it needs.

Patterns use ``{name}`` segments; a segment starting with ``_`` in the pattern is literal, and
a ``{name}`` never matches a segment that starts with ``_`` unless the route says so, so
``/{index}/_doc/{id}`` and ``/_security/user/{name}`` never shadow each other.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

from citadel.node.errors import EsError, UnsupportedMethod
from citadel.node.http.messages import NodeRequest, NodeResponse

Handler = Callable[[NodeRequest], NodeResponse]


@dataclass(frozen=True)
class Need:
    """What a route needs before its handler runs.

    kind: ``none`` (anonymous allowed), ``authenticated``, ``cluster`` (a cluster privilege),
    ``index`` (an index privilege on the indices named by path parameter `param`).
    Handlers that touch several indices (``_bulk``, ``_mget``) ask for ``authenticated`` and
    check each item themselves.
    """

    kind: str
    privilege: str | None = None
    param: str | None = None


NONE = Need("none")
AUTHENTICATED = Need("authenticated")


def cluster(privilege: str) -> Need:
    return Need("cluster", privilege)


def index(privilege: str, param: str = "index") -> Need:
    return Need("index", privilege, param)


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str
    regex: re.Pattern[str]
    handler: Handler
    need: Need


class NoRoute(EsError):
    type = "no_handler_found_exception"
    status = 400


class Router:
    """Matches requests to routes."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, pattern: str, handler: Handler, need: Need) -> None:
        """Register `handler` for `method` on `pattern`."""
        self.routes.append(Route(method, pattern, _compile(pattern), handler, need))

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        """The route and its path parameters; ES-style errors when nothing matches."""
        allowed = []
        for route in self.routes:
            m = route.regex.match(path)
            if not m:
                continue
            if route.method == method or (method == "HEAD" and route.method == "GET"):
                return route, {k: unquote(v) for k, v in m.groupdict().items()}
            allowed.append(route.method)
        if allowed:
            raise UnsupportedMethod(
                f"Incorrect HTTP method for uri [{path}] and method [{method}], "
                f"allowed: [{', '.join(sorted(set(allowed)))}]"
            )
        raise NoRoute(f"no handler found for uri [{path}] and method [{method}]")


def _compile(pattern: str) -> re.Pattern[str]:
    parts = []
    for segment in pattern.strip("/").split("/"):
        if segment.startswith("{") and segment.endswith("}"):
            parts.append(f"(?P<{segment[1:-1]}>[^/_][^/]*)")
        else:
            parts.append(re.escape(segment))
    return re.compile("^/" + "/".join(parts) + "/?$" if parts != [""] else "^/$")

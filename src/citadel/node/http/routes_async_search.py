"""``POST [/{index}]/_async_search``, ``GET|DELETE /_async_search/{id}``,
``GET /_async_search/status/{id}``.

A submitted search runs on the node's task workers (`citadel.node.tasks`) with the caller's
identity, exactly as ``_search`` would run it; the submit waits ``wait_for_completion_timeout``
(default 1s) for it. A finished search's response is kept until ``keep_alive`` (default 5d) if
``keep_on_completion`` is true or it outlived the wait; entries are bounded
(`citadel.node.search.async_search`). Only the submitting caller reads a result; the status
also answers ``monitor``, deleting also ``cancel_task``. A search cannot be stopped midway:
deleting a running one forgets it and its result is dropped when it finishes. Waits on this
node are capped at `MAX_WAIT_S`; ``scroll`` and ``pit`` are a 400.
"""

from __future__ import annotations

from typing import Any

from citadel.node.errors import EsError, IllegalArgument
from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.router import AUTHENTICATED, Router
from citadel.node.http.routes_search import SearchRoutes
from citadel.node.search.async_search import (
    DEFAULT_KEEP_ALIVE_S,
    MIN_KEEP_ALIVE_S,
    AsyncSearch,
)
from citadel.node.search.request import parse_search
from citadel.node.search.time_values import parse_time_value
from citadel.node.services import NodeServices

MAX_WAIT_S = 30.0
DEFAULT_WAIT_S = 1.0
_SUBMIT_ONLY = ("wait_for_completion_timeout", "keep_on_completion", "keep_alive")
_ACCEPTED = ("batched_reduce_size", "ccs_minimize_roundtrips")  # one shard, no remote clusters
_GET_PARAMS = frozenset({"wait_for_completion_timeout", "keep_alive"})


def register(router: Router, services: NodeServices) -> None:
    """Add the async search routes to `router`."""
    routes = AsyncSearchRoutes(services)
    for prefix in ("", "/{index}"):
        router.add("POST", f"{prefix}/_async_search", routes.submit, AUTHENTICATED)
    router.add("GET", "/_async_search/status/{id}", routes.status, AUTHENTICATED)
    router.add("GET", "/_async_search/{id}", routes.get, AUTHENTICATED)
    router.add("DELETE", "/_async_search/{id}", routes.delete, AUTHENTICATED)


class AsyncSearchRoutes:
    """Handlers over the search routes, the task workers and the kept async searches."""

    def __init__(self, services: NodeServices) -> None:
        self.services = services
        self.searches = services.async_searches
        self.search_routes = SearchRoutes(services)

    def _now_ms(self) -> int:
        return int(self.services.clock.now().timestamp() * 1000)

    def submit(self, request: NodeRequest) -> NodeResponse:
        """Start a search; answer its result if it ends within the wait, else its id."""
        query = dict(request.query)
        wait_s = _seconds(query.pop("wait_for_completion_timeout", None), DEFAULT_WAIT_S, "wait")
        keep = _flag(query.pop("keep_on_completion", None), "keep_on_completion")
        keep_alive_s = _keep_alive(query.pop("keep_alive", None))
        for name in _ACCEPTED:
            query.pop(name, None)
        if "scroll" in query:
            raise IllegalArgument("[scroll] is not supported by _async_search")
        body = request.json()
        if isinstance(body, dict) and "pit" in body:
            raise IllegalArgument("[pit] in _async_search is not supported by this node")
        parse_search(body, query, path=request.path)  # bad requests fail now, not in the task
        search = NodeRequest(
            method="POST",
            path=request.path,
            params=dict(request.params),
            query=query,
            headers=request.headers,
            body=request.body,
            identity=request.identity,
        )
        entry = self.searches.create(_owner(request), self._now_ms(), keep_alive_s)
        task = self.services.tasks.register(
            "indices:data/read/search", f"async search [{entry.id}]", cancellable=False
        )
        try:
            self.services.tasks.submit(task, lambda t: self._run(entry, search))
        except EsError:
            self.searches.delete(entry)
            raise
        entry.done.wait(min(wait_s, MAX_WAIT_S))
        if entry.running or keep:
            return NodeResponse(status=entry.status, body=entry.body())
        self.searches.delete(entry)
        return NodeResponse(status=entry.status, body=entry.body(with_id=False))

    def _run(self, entry: AsyncSearch, search: NodeRequest) -> dict[str, Any]:
        try:
            response = self.search_routes.search(search).body
        except EsError as exc:
            entry.finish(None, exc, self._now_ms())
            raise
        except Exception:  # a bug: report it on the entry; the task worker records it
            entry.finish(None, EsError("internal error"), self._now_ms())
            raise
        entry.finish(response, None, self._now_ms())
        return {"async_search": entry.id}

    def get(self, request: NodeRequest) -> NodeResponse:
        """The kept (or still running) search, for its owner."""
        _known(request, _GET_PARAMS)
        now = self._now_ms()
        entry = self.searches.get(request.params["id"], _owner(request), now)
        if "keep_alive" in request.query:
            self.searches.extend(entry, _keep_alive(request.query["keep_alive"]), now)
        wait = request.query.get("wait_for_completion_timeout")
        if wait is not None:
            entry.done.wait(min(_seconds(wait, 0.0, "wait_for_completion_timeout"), MAX_WAIT_S))
        return NodeResponse(status=entry.status, body=entry.body())

    def status(self, request: NodeRequest) -> NodeResponse:
        """Whether the search still runs, and how it ended."""
        _known(request, frozenset({"keep_alive"}))
        now = self._now_ms()
        entry = self.searches.get(request.params["id"], self._reader(request, "monitor"), now)
        if "keep_alive" in request.query:
            self.searches.extend(entry, _keep_alive(request.query["keep_alive"]), now)
        return NodeResponse(body=entry.status_body())

    def delete(self, request: NodeRequest) -> NodeResponse:
        """Forget the search (a running one finishes unseen)."""
        _known(request, frozenset())
        owner = self._reader(request, "cancel_task")
        entry = self.searches.get(request.params["id"], owner, self._now_ms())
        self.searches.delete(entry)
        return NodeResponse(body={"acknowledged": True})

    def _reader(self, request: NodeRequest, privilege: str) -> str | None:
        """The owner an entry must have, or None when `privilege` lets the caller see any."""
        if request.identity.allows_cluster(privilege):
            return None
        return _owner(request)


def _owner(request: NodeRequest) -> str:
    identity = request.identity
    return f"{identity.realm}/{identity.username}/{identity.api_key_id or ''}"


def _seconds(value: str | None, default: float, name: str) -> float:
    if value is None:
        return default
    return parse_time_value(value, name)


def _keep_alive(value: str | None) -> float:
    if value is None:
        return DEFAULT_KEEP_ALIVE_S
    seconds = parse_time_value(value, "keep_alive")
    if seconds < MIN_KEEP_ALIVE_S:
        raise IllegalArgument(
            f"Validation Failed: 1: [keep_alive] must be greater or equals than 1 second, "
            f"got:{value};"
        )
    return seconds


def _flag(value: str | None, name: str) -> bool:
    if value in (None, "false"):
        return False
    if value in ("", "true"):
        return True
    raise IllegalArgument(
        f"Failed to parse value [{value}] as only [true] or [false] are allowed (parameter "
        f"[{name}])."
    )


def _known(request: NodeRequest, known: frozenset[str]) -> None:
    unknown = sorted(p for p in request.query if p not in known)
    if unknown:
        raise IllegalArgument(
            f"request [{request.path}] contains unrecognized parameter: [{','.join(unknown)}]"
        )

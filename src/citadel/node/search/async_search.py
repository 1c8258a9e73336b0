"""Async searches: the searches ``_async_search`` started and the results they keep.

An entry is owned by the caller who submitted it (user, realm and API key), holds its search
until it finishes, then its response or error until ``keep_alive`` runs out. At most
`MAX_SEARCHES` entries exist at once (running or kept): expired ones are dropped first, a
submission beyond that is a 429. Elasticsearch keeps them in the ``.async-search`` index; here a
restart forgets them. Ids are 32 random URL-safe characters: knowing one is not enough to read
it, the owner must match too.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from citadel.node.errors import EsError, ResourceNotFound
from citadel.node.ids import path_safe_id

MAX_SEARCHES = 1_000
DEFAULT_KEEP_ALIVE_S = 5 * 24 * 3600.0
MIN_KEEP_ALIVE_S = 1.0


class TooManyAsyncSearches(EsError):
    type = "es_rejected_execution_exception"
    status = 429


@dataclass
class AsyncSearch:
    """One submitted search and, once finished, its outcome."""

    id: str
    owner: str
    start_ms: int
    expiration_ms: int
    done: threading.Event = field(default_factory=threading.Event)
    completion_ms: int | None = None
    response: dict[str, Any] | None = None
    error: EsError | None = None

    @property
    def running(self) -> bool:
        return not self.done.is_set()

    def finish(self, response: dict[str, Any] | None, error: EsError | None, now_ms: int) -> None:
        """Record the outcome (called once, by the worker that ran the search)."""
        self.response, self.error, self.completion_ms = response, error, now_ms
        self.done.set()

    def body(self, *, with_id: bool = True) -> dict[str, Any]:
        """Elasticsearch's async search response."""
        out: dict[str, Any] = {"id": self.id} if with_id else {}
        out["is_partial"] = self.running or self.error is not None
        out["is_running"] = self.running
        out["start_time_in_millis"] = self.start_ms
        out["expiration_time_in_millis"] = self.expiration_ms
        if self.completion_ms is not None:
            out["completion_time_in_millis"] = self.completion_ms
        if self.response is not None:
            out["response"] = self.response
        elif self.running:
            out["response"] = _partial()
        if self.error is not None:
            out["error"] = self.error.body()["error"]
        return out

    def status_body(self) -> dict[str, Any]:
        """Elasticsearch's async search status."""
        out: dict[str, Any] = {
            "id": self.id,
            "is_running": self.running,
            "is_partial": self.running or self.error is not None,
            "start_time_in_millis": self.start_ms,
            "expiration_time_in_millis": self.expiration_ms,
        }
        if self.completion_ms is not None:
            out["completion_time_in_millis"] = self.completion_ms
        shards = (self.response or {}).get("_shards")
        out["_shards"] = shards or {"total": 0, "successful": 0, "skipped": 0, "failed": 0}
        if not self.running:
            out["completion_status"] = self.error.status if self.error is not None else 200
        return out

    @property
    def status(self) -> int:
        """The HTTP status of the answer: the error's once one failed it."""
        return self.error.status if self.error is not None and not self.running else 200


class AsyncSearches:
    """The node's async searches, bounded, each readable by its owner only."""

    def __init__(self, limit: int = MAX_SEARCHES) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._entries: dict[str, AsyncSearch] = {}

    def create(self, owner: str, now_ms: int, keep_alive_s: float) -> AsyncSearch:
        """A new running entry; 429 when `limit` entries are alive."""
        entry = AsyncSearch(path_safe_id(), owner, now_ms, now_ms + int(keep_alive_s * 1000))
        with self._lock:
            self._drop_expired(now_ms)
            if len(self._entries) >= self.limit:
                raise TooManyAsyncSearches(
                    f"this node keeps at most {self.limit} async searches; delete some or wait "
                    "for their keep_alive to run out"
                )
            self._entries[entry.id] = entry
        return entry

    def get(self, search_id: str, owner: str | None, now_ms: int) -> AsyncSearch:
        """The entry `search_id` if alive and owned by `owner` (None: anyone); else 404."""
        with self._lock:
            self._drop_expired(now_ms)
            entry = self._entries.get(search_id)
        if entry is None or (owner is not None and entry.owner != owner):
            raise ResourceNotFound(search_id)
        return entry

    def extend(self, entry: AsyncSearch, keep_alive_s: float, now_ms: int) -> None:
        """Keep `entry` until `keep_alive_s` from now (never shortened below its current end)."""
        entry.expiration_ms = max(entry.expiration_ms, now_ms + int(keep_alive_s * 1000))

    def delete(self, entry: AsyncSearch) -> None:
        """Forget `entry` (a running search finishes unseen)."""
        with self._lock:
            self._entries.pop(entry.id, None)

    def clear(self) -> int:
        """Forget every entry (``_features/_reset``); how many there were."""
        with self._lock:
            count = len(self._entries)
            self._entries.clear()
        return count

    def _drop_expired(self, now_ms: int) -> None:
        for key in [k for k, e in self._entries.items() if e.expiration_ms <= now_ms]:
            del self._entries[key]


def _partial() -> dict[str, Any]:
    return {
        "took": 0,
        "timed_out": False,
        "terminated_early": False,
        "num_reduce_phases": 0,
        "_shards": {"total": 0, "successful": 0, "skipped": 0, "failed": 0},
        "hits": {"total": {"value": 0, "relation": "gte"}, "max_score": None, "hits": []},
    }

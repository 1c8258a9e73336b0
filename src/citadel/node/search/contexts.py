"""Scroll and point-in-time contexts: each searched index's searcher pinned at one moment.

A tantivy `Searcher` stays valid, and sees the same documents, after later refreshes, so a
context holds the searchers of the moment it opened and every page or search through it sees
that moment. Contexts are bounded: at most `MAX_SCROLLS` scrolls and `MAX_PITS` points in time
open at once (a further open is a 429), each ``keep_alive`` at most `MAX_KEEP_ALIVE_S`
(``search.max_keep_alive``, 24 h; more is a 400); an expired context is freed before any
open or look-up. A context answers only the caller who opened it (anyone else gets the 404 of
an unknown id). Ids are 192 random bits, base64url.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import tantivy

from citadel.node.errors import EsError, IllegalArgument
from citadel.node.ids import path_safe_id
from citadel.node.store.indices import IndexRecord

MAX_SCROLLS = 500  # search.max_open_scroll_context
MAX_PITS = 300  # search.max_open_pit_context
MAX_KEEP_ALIVE_S = 24 * 3600.0


class ContextKind(StrEnum):
    """What a reader context serves."""

    SCROLL = "scroll"
    PIT = "point-in-time"


class SearchContextMissing(EsError):
    """An id that names no open context (never opened, expired, freed, or not the caller's)."""

    type = "search_context_missing_exception"
    status = 404


class TooManyContexts(EsError):
    """Every context of a kind is taken."""

    type = "es_rejected_execution_exception"
    status = 429


@dataclass
class ReaderContext:
    """One open context: the indices and their searchers at opening, and (a scroll) where it
    stands."""

    id: str
    kind: ContextKind
    owner: str
    records: list[IndexRecord]
    searchers: dict[str, tantivy.Searcher]
    keep_alive_s: float
    expires: datetime
    request: Any = None  # a scroll's SearchRequest
    position: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class Contexts:
    """The node's open scroll and point-in-time contexts."""

    def __init__(self, *, max_scrolls: int = MAX_SCROLLS, max_pits: int = MAX_PITS) -> None:
        self._open: dict[str, ReaderContext] = {}
        self._limits = {ContextKind.SCROLL: max_scrolls, ContextKind.PIT: max_pits}
        self._lock = threading.Lock()

    def open(
        self,
        kind: ContextKind,
        *,
        owner: str,
        records: Sequence[IndexRecord],
        searchers: dict[str, tantivy.Searcher],
        keep_alive_s: float,
        now: datetime,
        request: Any = None,
    ) -> ReaderContext:
        """A new context; 429 when `kind` has no room, 400 for a keep-alive over the cap."""
        check_keep_alive(keep_alive_s)
        context = ReaderContext(
            id=_new_id(),
            kind=kind,
            owner=owner,
            records=list(records),
            searchers=searchers,
            keep_alive_s=keep_alive_s,
            expires=now + timedelta(seconds=keep_alive_s),
            request=request,
        )
        with self._lock:
            self._expire(now)
            taken = sum(1 for c in self._open.values() if c.kind is kind)
            limit = self._limits[kind]
            if taken >= limit:
                setting = (
                    "search.max_open_scroll_context"
                    if kind is ContextKind.SCROLL
                    else "search.max_open_pit_context"
                )
                raise TooManyContexts(
                    f"Trying to create too many {kind.value} contexts. Must be less than or "
                    f"equal to: [{limit}]. This limit can be set by changing the [{setting}] "
                    "setting."
                )
            self._open[context.id] = context
        return context

    def get(
        self, kind: ContextKind, context_id: str, *, owner: str, now: datetime
    ) -> ReaderContext:
        """The open context `context_id` of `owner`; 404 otherwise."""
        with self._lock:
            self._expire(now)
            context = self._open.get(context_id)
        if context is None or context.kind is not kind or context.owner != owner:
            raise SearchContextMissing(f"No search context found for id [{context_id}]")
        return context

    def keep(self, context: ReaderContext, keep_alive_s: float | None, now: datetime) -> None:
        """Extend `context` by `keep_alive_s` (None: by the keep-alive it was opened with)."""
        if keep_alive_s is not None:
            check_keep_alive(keep_alive_s)
            context.keep_alive_s = keep_alive_s
        context.expires = now + timedelta(seconds=context.keep_alive_s)

    def close(self, kind: ContextKind, ids: Iterable[str], *, owner: str, now: datetime) -> int:
        """Free the contexts `ids` of `owner`; how many were open."""
        freed = 0
        with self._lock:
            self._expire(now)
            for context_id in ids:
                context = self._open.get(context_id)
                if context is not None and context.kind is kind and context.owner == owner:
                    del self._open[context_id]
                    freed += 1
        return freed

    def close_all(self, kind: ContextKind, *, owner: str, now: datetime) -> int:
        """Free every context of `kind` that `owner` holds."""
        with self._lock:
            self._expire(now)
            ids = [c.id for c in self._open.values() if c.kind is kind and c.owner == owner]
            for context_id in ids:
                del self._open[context_id]
        return len(ids)

    def count(self, kind: ContextKind) -> int:
        """How many contexts of `kind` are open (expired ones included until the next call)."""
        return sum(1 for c in self._open.values() if c.kind is kind)

    def _expire(self, now: datetime) -> None:
        stale = [k for k, c in self._open.items() if c.expires <= now]
        for key in stale:
            del self._open[key]


def check_keep_alive(seconds: float) -> None:
    """Refuse a keep-alive over ``search.max_keep_alive``."""
    if seconds > MAX_KEEP_ALIVE_S:
        raise IllegalArgument(
            f"Keep alive for request ({_time_text(seconds)}) is too large. It must be less "
            f"than ({_time_text(MAX_KEEP_ALIVE_S)}). This limit can be set by changing the "
            "[search.max_keep_alive] cluster level setting."
        )


def _time_text(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds * 1000)}ms"


def _new_id() -> str:
    return path_safe_id()

"""Ingest counters: documents through pipelines on the write path, per pipeline and in total.

Counted in this process since it started (a node is one process), as Elasticsearch counts per
node since start: ``count``, ``time_in_millis``, ``current`` (running now), ``failed``.
Simulations are not counted. One lock held for a few additions per pipeline run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

MAX_PIPELINES = 10_000  # pipelines tracked by name (more are counted in the total only)


@dataclass
class Counter:
    """One pipeline's (or the total's) counters."""

    count: int = 0
    time_ns: int = 0
    current: int = 0
    failed: int = 0

    def body(self) -> dict[str, int]:
        return {
            "count": self.count,
            "time_in_millis": self.time_ns // 1_000_000,
            "current": self.current,
            "failed": self.failed,
        }


class IngestStats:
    """The counters of every pipeline run on the write path."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total = Counter()
        self.pipelines: dict[str, Counter] = {}

    @contextmanager
    def running(self, pipeline: str, *, first: bool) -> Iterator[None]:
        """Count one run of `pipeline` (`first`: the document's first pipeline, for the total)."""
        counters = self._counters(pipeline, first)
        started = time.monotonic_ns()
        with self._lock:
            for c in counters:
                c.current += 1
        failed = False
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            spent = time.monotonic_ns() - started
            with self._lock:
                for c in counters:
                    c.current -= 1
                    c.count += 1
                    c.time_ns += spent
                    c.failed += int(failed)

    def _counters(self, pipeline: str, first: bool) -> list[Counter]:
        with self._lock:
            own = self.pipelines.get(pipeline)
            if own is None and len(self.pipelines) < MAX_PIPELINES:
                own = self.pipelines[pipeline] = Counter()
        return [c for c in (own, self.total if first else None) if c is not None]

    def body(self) -> dict[str, Any]:
        """Elasticsearch's ``ingest`` statistics section."""
        with self._lock:
            return {
                "total": self.total.body(),
                "pipelines": {name: c.body() for name, c in sorted(self.pipelines.items())},
            }


STATS = IngestStats()

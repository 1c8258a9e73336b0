"""The data stream lifecycle loop: deletes backing indices past their stream's retention.

One daemon thread per node, started by `citadel.node.main.assemble`. Every
``data_streams.lifecycle.poll_interval`` (cluster setting, persistent; default 5 minutes) it
runs `citadel.node.store.lifecycle.remove_expired` in one catalog transaction and drops the
deleted indices' shards after the commit. It never rolls a stream over and never touches a
write index. It stops when `stopped` says so (the engine closing).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import structlog

from citadel.kit.clock import Clock
from citadel.node.engine.engine import Engine
from citadel.node.search.time_values import parse_time_value
from citadel.node.store import cluster_settings as cs
from citadel.node.store import lifecycle
from citadel.node.store.connection import Store

POLL_INTERVAL = "data_streams.lifecycle.poll_interval"
TICK_S = 1.0
log = structlog.get_logger(__name__)


class LifecycleLoop:
    """Runs `run_once` every poll interval until `stopped()`."""

    def __init__(
        self, store: Store, engine: Engine, clock: Clock, stopped: Callable[[], bool]
    ) -> None:
        self.store = store
        self.engine = engine
        self.clock = clock
        self.stopped = stopped
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the loop in a daemon thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="dsl-retention", daemon=True)
            self._thread.start()

    def interval_s(self) -> float:
        """The poll interval now (the persistent cluster setting, or its default)."""
        with self.store.read() as conn:
            persistent = cs.load_persistent(conn)
        return parse_time_value(cs.effective(persistent, {}, POLL_INTERVAL), POLL_INTERVAL)

    def run_once(self) -> list[str]:
        """Delete every expired backing index now; the names deleted."""
        now_ms = int(self.clock.now().timestamp() * 1000)
        with self.store.write() as conn:
            dropped = lifecycle.remove_expired(conn, now_ms)
        for record in dropped:
            self.engine.drop(record.uuid)
            log.info("data_stream.lifecycle.deleted", index=record.name)
        return [r.name for r in dropped]

    def _loop(self) -> None:
        waited = 0.0
        stop = threading.Event()
        while not self.stopped():
            stop.wait(TICK_S)
            waited += TICK_S
            try:
                if waited >= self.interval_s():
                    waited = 0.0
                    self.run_once()
            except Exception:  # a failed pass is retried next interval, never kills the node
                if self.stopped():
                    return
                log.exception("data_stream.lifecycle.failed")
                waited = 0.0

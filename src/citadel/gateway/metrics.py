"""The gateway's Prometheus metrics: plain counters per worker, merged at scrape time.

Per request the data path only adds to one list of numbers its own event loop owns, a
`WorkerStats` cell per (deployment, status, filter verdict), which a connection keeps at hand
while its requests keep landing in the same one: no lock, no prometheus-client object, no
label lookup. A scrape asks every
worker for a snapshot of its counters — worker 0 (the parent, which serves ``/metrics``) on
its own loop, each forked worker over the socket pair it was given before the fork — and
`GatewayCollector` sums them into metric families. So the figures are correct across
workers, and a worker that does not answer within `ASK_TIMEOUT_S` is left out of that scrape
(``citadel_gateway_workers_scraped`` says how many answered).

Labels are bounded: a deployment id (or ``none`` when no deployment was named), an HTTP
status code, a filter verdict, one of the gateway's own answer codes (`RejectCode`), a
connection side, a project wake's outcome (`wake.WakeOutcome`). Names, types and labels are
listed in docs/operations.md ("Metrics", "Gateway").

The channel: the parent writes an 8-byte ask number; the worker answers with the same number,
a 4-byte length and the snapshot as JSON. Answers to an ask that timed out are skipped by
number, so a slow worker never shifts the next scrape's answers.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import socket
import struct
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import structlog
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

log = structlog.get_logger("citadel.gateway.metrics")

NO_DEPLOYMENT = "none"
LATENCY_BUCKETS_S = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
ASK_TIMEOUT_S = 2.0
_ASK = struct.Struct("!Q")
_ANSWER = struct.Struct("!QI")

Snapshot = dict[str, Any]
CellKey = tuple[str, int, str]

# A cell: requests, bytes received, bytes sent, then the upstream latency histogram of the
# forwarded ones (a count per bucket of LATENCY_BUCKETS_S, one above them all, the sum).
REQUESTS, RECEIVED, SENT, LATENCY = 0, 1, 2, 3
_CELL_SIZE = LATENCY + len(LATENCY_BUCKETS_S) + 2
bucket_of = bisect.bisect_left  # bucket_of(LATENCY_BUCKETS_S, seconds): its bucket's index
# How long waking a stopped project took (`wake`): a count per bucket, one above, the sum.
WAKE_BUCKETS_S = (0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0)


class WorkerStats:
    """One worker's counters, touched only by its event loop's thread."""

    __slots__ = (
        "answers",
        "cells",
        "client_connections",
        "held_now",
        "held_requests",
        "upstream_connections",
        "wake_seconds",
        "wakes",
    )

    def __init__(self) -> None:
        self.cells: dict[CellKey, list[float]] = {}  # (deployment, status, verdict) -> cell
        self.answers: dict[str, int] = {}  # the gateway's own answer code -> answers
        self.client_connections = 0
        self.upstream_connections = 0
        self.wakes: dict[str, int] = {}  # wake outcome -> wakes of a stopped project
        self.wake_seconds = [0.0] * (len(WAKE_BUCKETS_S) + 2)  # buckets, above, sum
        self.held_requests = 0  # requests held for a waking project, ever
        self.held_now = 0

    def wake(self, outcome: str, seconds: float) -> None:
        """One wake of a stopped project ended with `outcome` after `seconds`."""
        self.wakes[outcome] = self.wakes.get(outcome, 0) + 1
        self.wake_seconds[bucket_of(WAKE_BUCKETS_S, seconds)] += 1
        self.wake_seconds[-1] += seconds

    def cell(self, deployment: str, status: int, verdict: str) -> list[float]:
        """The cell requests of this deployment, status and filter verdict (``""``: none)
        are counted in; a connection keeps it while its requests land there."""
        key = (deployment, status, verdict)
        cell = self.cells.get(key)
        if cell is None:
            cell = self.cells[key] = [0] * _CELL_SIZE
        return cell

    def answer(self, code: str) -> None:
        """One of the gateway's own answers (a `RejectCode` value)."""
        answers = self.answers
        answers[code] = answers.get(code, 0) + 1

    def snapshot(self) -> Snapshot:
        """A copy of every counter, JSON-ready; take it on the loop that owns them."""
        return {
            "cells": [[*key, *cell] for key, cell in self.cells.items()],
            "answers": dict(self.answers),
            "client_connections": self.client_connections,
            "upstream_connections": self.upstream_connections,
            "wakes": dict(self.wakes),
            "wake_seconds": list(self.wake_seconds),
            "held_requests": self.held_requests,
            "held_now": self.held_now,
        }


# --- between workers ---------------------------------------------------------------------
async def answer_asks(channel: socket.socket, stats: WorkerStats) -> None:
    """In a forked worker: answer each of the parent's asks with a snapshot, until the
    parent's end closes."""
    loop = asyncio.get_running_loop()
    channel.setblocking(False)
    pending = b""
    while True:
        data = await loop.sock_recv(channel, 4096)
        if not data:
            return
        pending += data
        while len(pending) >= _ASK.size:
            (number,) = _ASK.unpack_from(pending)
            pending = pending[_ASK.size :]
            body = json.dumps(stats.snapshot(), separators=(",", ":")).encode()
            await loop.sock_sendall(channel, _ANSWER.pack(number, len(body)) + body)


class WorkerChannel:
    """The parent's end of one forked worker's channel: `ask` for its snapshot."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.number = 0

    def ask(self, timeout_s: float = ASK_TIMEOUT_S) -> Snapshot | None:
        """The worker's snapshot, or None when it does not answer in time (or is gone)."""
        self.number += 1
        self.sock.settimeout(timeout_s)
        try:
            self.sock.sendall(_ASK.pack(self.number))
            while True:
                number, length = _ANSWER.unpack(self._read(_ANSWER.size))
                body = self._read(length)
                if number == self.number:
                    snapshot: Snapshot = json.loads(body)
                    return snapshot
        except (OSError, ValueError, struct.error):
            return None

    def _read(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            part = self.sock.recv(size - len(data))
            if not part:
                raise ConnectionError("the worker closed its channel")
            data += part
        return data


class WorkerSnapshots:
    """Every worker's snapshot, for a scrape: worker 0's own (taken on its loop) and the
    forked workers' (asked over their channels, one scrape at a time)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        stats: WorkerStats,
        channels: Iterable[socket.socket] = (),
    ) -> None:
        self.loop = loop
        self.stats = stats
        self.channels = [WorkerChannel(sock) for sock in channels]
        self._lock = threading.Lock()

    def __call__(self) -> list[Snapshot]:
        snapshots: list[Snapshot] = []
        with self._lock:
            own = self._own()
            if own is not None:
                snapshots.append(own)
            for channel in self.channels:
                snapshot = channel.ask()
                if snapshot is not None:
                    snapshots.append(snapshot)
        return snapshots

    def _own(self) -> Snapshot | None:
        async def take() -> Snapshot:
            return self.stats.snapshot()

        try:
            return asyncio.run_coroutine_threadsafe(take(), self.loop).result(ASK_TIMEOUT_S)
        except (FutureTimeout, RuntimeError):
            return None


# --- exposition --------------------------------------------------------------------------
class GatewayCollector(Collector):
    """The gateway's metric families, summed over the snapshots `source` returns."""

    def __init__(self, source: Callable[[], list[Snapshot]]) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        snapshots = self.source()
        requests = CounterMetricFamily(
            "citadel_gateway_requests",
            "Requests answered, by deployment and HTTP status (the node's or the gateway's).",
            labels=["deployment", "status"],
        )
        received = CounterMetricFamily(
            "citadel_gateway_received_bytes",
            "Bytes received from clients (request heads and bodies), by deployment and status.",
            labels=["deployment", "status"],
        )
        sent = CounterMetricFamily(
            "citadel_gateway_sent_bytes",
            "Bytes sent to clients (response heads and bodies), by deployment and status.",
            labels=["deployment", "status"],
        )
        totals: dict[tuple[str, str], list[float]] = {}
        verdicts: dict[str, float] = {}
        latency: dict[str, list[float]] = {}
        for snapshot in snapshots:
            for deployment, status, verdict, *cell in snapshot["cells"]:
                _add(totals.setdefault((deployment, str(status)), [0] * LATENCY), cell)
                if verdict:
                    verdicts[verdict] = verdicts.get(verdict, 0) + cell[REQUESTS]
                _add(latency.setdefault(deployment, [0] * (_CELL_SIZE - LATENCY)), cell[LATENCY:])
        for labels, (count, bytes_in, bytes_out) in sorted(totals.items()):
            requests.add_metric(list(labels), count)
            received.add_metric(list(labels), bytes_in)
            sent.add_metric(list(labels), bytes_out)
        yield requests
        yield received
        yield sent
        decisions = CounterMetricFamily(
            "citadel_gateway_filter_decisions",
            "Traffic-filter verdicts on requests that named a deployment, by verdict.",
            labels=["reason"],
        )
        for verdict, count in sorted(verdicts.items()):
            decisions.add_metric([verdict], count)
        yield decisions
        answers = CounterMetricFamily(
            "citadel_gateway_answers",
            "The gateway's own answers (refusals, limits, upstream failures), by code.",
            labels=["code"],
        )
        answered: dict[str, int] = {}
        for snapshot in snapshots:
            for code, count in snapshot["answers"].items():
                answered[code] = answered.get(code, 0) + count
        for code, count in sorted(answered.items()):
            answers.add_metric([code], count)
        yield answers
        yield self._latency(latency)
        connections = GaugeMetricFamily(
            "citadel_gateway_open_connections",
            "Open connections: from clients, and to nodes (busy or idle).",
            labels=["side"],
        )
        connections.add_metric(["client"], sum(s["client_connections"] for s in snapshots))
        connections.add_metric(["upstream"], sum(s["upstream_connections"] for s in snapshots))
        yield connections
        yield from self._projects(snapshots)
        yield GaugeMetricFamily(
            "citadel_gateway_workers_scraped",
            "Worker processes whose counters this scrape includes.",
            value=len(snapshots),
        )

    @staticmethod
    def _projects(snapshots: list[Snapshot]) -> Iterator[Metric]:
        """Serverless projects' wakes and the requests held for them."""
        wakes = CounterMetricFamily(
            "citadel_gateway_project_wakes",
            "Wakes of stopped serverless projects, by outcome (ready, timed_out, failed, "
            "wont_run).",
            labels=["outcome"],
        )
        outcomes: dict[str, int] = {}
        seconds = [0.0] * (len(WAKE_BUCKETS_S) + 2)
        for snapshot in snapshots:
            for outcome, count in snapshot.get("wakes", {}).items():
                outcomes[outcome] = outcomes.get(outcome, 0) + count
            _add(seconds, snapshot.get("wake_seconds", []))
        for outcome, count in sorted(outcomes.items()):
            wakes.add_metric([outcome], count)
        yield wakes
        duration = HistogramMetricFamily(
            "citadel_gateway_project_wake_seconds",
            "Time from the first request held for a stopped project to its node accepting "
            "connections (or the wake ending otherwise).",
        )
        cumulative, buckets = 0.0, []
        for bound, count in zip((*WAKE_BUCKETS_S, float("inf")), seconds[:-1], strict=True):
            cumulative += count
            buckets.append((_bound(bound), cumulative))
        duration.add_metric([], buckets, seconds[-1])
        yield duration
        yield CounterMetricFamily(
            "citadel_gateway_held_requests",
            "Requests held while their stopped project was woken.",
            value=sum(s.get("held_requests", 0) for s in snapshots),
        )
        yield GaugeMetricFamily(
            "citadel_gateway_held_requests_now",
            "Requests held now, waiting for a project to wake.",
            value=sum(s.get("held_now", 0) for s in snapshots),
        )

    @staticmethod
    def _latency(merged: dict[str, list[float]]) -> HistogramMetricFamily:
        family = HistogramMetricFamily(
            "citadel_gateway_upstream_latency_seconds",
            "Time from forwarding a request to its node's response head, by deployment.",
            labels=["deployment"],
        )
        for deployment, cells in sorted(merged.items()):
            counts, total = cells[:-1], cells[-1]
            if not any(counts):
                continue  # nothing forwarded to it (every request answered by the gateway)
            cumulative, buckets = 0.0, []
            for bound, count in zip((*LATENCY_BUCKETS_S, float("inf")), counts, strict=True):
                cumulative += count
                buckets.append((_bound(bound), cumulative))
            family.add_metric([deployment], buckets, total)
        return family


def _add(into: list[float], values: list[float]) -> None:
    for i, value in enumerate(values[: len(into)]):
        into[i] += value


def _bound(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)

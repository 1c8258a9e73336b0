"""The node's Prometheus series, answered at ``GET /_citadel/metrics`` to its allocator alone.

The allocator hands the node a random token at each start (``--metrics-token-fd``, a pipe read
once, as the elastic password is handed); the route answers only a request whose
``X-Citadel-Metrics-Token`` header carries it (compared in constant time). Any other request
(no token given at start, no header, a wrong one) gets exactly the answer of a path the node
does not have, so a client reaching the node through the gateway cannot tell the route exists.
The allocator adds each node's series to its own endpoint with a ``deployment_id`` label
(docs/operations.md, "Metrics").

Series: request counts and latency histograms of the document and search operations (by
`operation`, a closed set), documents written, and read at scrape time the documents, open
indices, translog and disk figures.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from citadel.node.engine.engine import Engine
from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.router import NONE, Handler, NoRoute, Route, Router

METRICS_PATH = "/_citadel/metrics"
TOKEN_HEADER = "x-citadel-metrics-token"  # noqa: S105 - a header name
OPERATIONS = ("index", "bulk", "get", "delete", "search")
"""The `operation` label's values."""


def operation_of(method: str, pattern: str) -> str | None:
    """The operation a route performs, for the `operation` label; None for any other route."""
    literals = [s for s in pattern.strip("/").split("/") if s.startswith("_")]
    if not literals:
        return None
    head = literals[0]
    if head == "_doc":
        return {"GET": "get", "HEAD": "get", "DELETE": "delete"}.get(method, "index")
    if head in ("_create", "_update"):
        return "index"
    if head == "_bulk":
        return "bulk"
    if head in ("_mget", "_source"):
        return "get"
    if head in ("_search", "_msearch", "_count") and method in ("GET", "POST"):
        return "search"
    return None


class NodeMetrics:
    """The node's registry: operation counters and histograms, and a collector reading the
    engine and the data directory at scrape time."""

    def __init__(self, engine: Engine, data_dir: Path, token: str | None) -> None:
        self.registry = CollectorRegistry()
        self._token = token
        self.operations = Counter(
            "citadel_node_operations",
            "Document and search requests handled, by operation and outcome (ok below 400).",
            ["operation", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "citadel_node_operation_duration_seconds",
            "Time to handle a document or search request, by operation.",
            ["operation"],
            registry=self.registry,
        )
        self.documents_written = Counter(
            "citadel_node_documents_written",
            "Documents indexed, created or updated (a bulk request counts each item).",
            registry=self.registry,
        )
        for name in OPERATIONS:
            self.latency.labels(name)
            for outcome in ("ok", "error"):
                self.operations.labels(name, outcome)
        self.registry.register(_StoreCollector(engine, data_dir))

    def instrument(self, router: Router) -> None:
        """Time and count every document and search route of `router`, and add the metrics
        route."""
        router.routes = [self._timed(route) for route in router.routes]
        router.add("GET", METRICS_PATH, self._answer, NONE)

    def _timed(self, route: Route) -> Route:
        name = operation_of(route.method, route.pattern)
        if name is None:
            return route
        handler = route.handler
        ok, error = self.operations.labels(name, "ok"), self.operations.labels(name, "error")
        latency = self.latency.labels(name)
        written = self.documents_written

        def timed(request: NodeRequest) -> NodeResponse:
            started = time.perf_counter()
            try:
                response = handler(request)
            except BaseException:
                error.inc()
                raise
            finally:
                latency.observe(time.perf_counter() - started)
            (ok if response.status < 400 else error).inc()
            written.inc(_documents_written(name, response))
            return response

        typed: Handler = timed
        return replace(route, handler=typed)

    def _answer(self, request: NodeRequest) -> NodeResponse:
        given = request.headers.get(TOKEN_HEADER, "")
        if self._token is None or not hmac.compare_digest(given.encode(), self._token.encode()):
            # exactly what the router answers for a path it does not have
            raise NoRoute(f"no handler found for uri [{request.path}] and method [GET]")
        body = generate_latest(self.registry).decode()
        return NodeResponse(200, body, content_type=CONTENT_TYPE_LATEST)


def _documents_written(operation: str, response: NodeResponse) -> int:
    if response.status >= 300:
        return 0
    if operation == "index":
        return 1
    if operation == "bulk" and isinstance(response.body, dict):
        items = response.body.get("items") or []
        return sum(
            1
            for item in items
            for action, result in item.items()
            if action != "delete" and isinstance(result, dict) and result.get("status", 500) < 300
        )
    return 0


class _StoreCollector(Collector):
    """Documents, indices, translog and disk, read from the engine and the disk per scrape."""

    def __init__(self, engine: Engine, data_dir: Path) -> None:
        self._engine = engine
        self._data_dir = data_dir

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        shards = self._engine.open_shards()
        docs = translog_bytes = translog_ops = 0
        for shard in shards:
            try:
                docs += shard.doc_count()
                translog_bytes += _tree_bytes(shard.translog.directory)
                translog_ops += shard.translog.appended
            except Exception:  # noqa: S112 - an index dropped while we read: skipped
                continue
        yield _gauge("citadel_node_indices_open", "Indices whose shard is open.", len(shards))
        yield _gauge(
            "citadel_node_documents",
            "Searchable documents in the open indices (as of their last refresh).",
            docs,
        )
        yield _gauge(
            "citadel_node_translog_bytes",
            "Bytes of the open indices' translogs (writes not yet held by a commit).",
            translog_bytes,
        )
        ops = CounterMetricFamily(
            "citadel_node_translog_operations",
            "Operations appended to the translogs since the node started.",
        )
        ops.add_metric([], translog_ops)
        yield ops
        yield _gauge(
            "citadel_node_data_bytes",
            "Bytes of every file in the node's data directory.",
            _tree_bytes(self._data_dir),
        )
        try:
            fs = os.statvfs(self._data_dir)
        except OSError:
            return
        yield _gauge(
            "citadel_node_filesystem_size_bytes",
            "Size of the filesystem holding the data directory.",
            fs.f_blocks * fs.f_frsize,
        )
        yield _gauge(
            "citadel_node_filesystem_free_bytes",
            "Bytes available to the node on that filesystem.",
            fs.f_bavail * fs.f_frsize,
        )


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _tree_bytes(root: Path) -> int:
    total = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                continue
    return total

"""``_nodes`` APIs of the one node: info, stats, usage, hot threads, secure settings, metering.

Sections the node has no figures for (a JVM, a transport layer, HTTP connection counts,
breakers, scripts) are left out of ``_all``; asking for one by name is a 400 naming it.
``_nodes/usage`` reports the node's lifetime but does not count REST actions or aggregations.
Node filters accept ``_all``, ``_local``, ``_master``, ``*``, the node's id and its name; any
other filter selects no node, as in Elasticsearch.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from citadel.node import local_node
from citadel.node.errors import IllegalArgument
from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.router import Handler, Router, cluster
from citadel.node.http.routes_cat import THREAD_POOLS
from citadel.node.http.routes_cluster import check_params, parse_seconds
from citadel.node.services import NodeServices
from citadel.node.shard_stats import shard_stats
from citadel.node.store import indices

MONITOR = cluster("monitor")
MANAGE = cluster("manage")
TEXT = "text/plain; charset=UTF-8"
INFO_METRICS = ("settings", "os", "process", "thread_pool", "plugins")
INFO_ABSENT = (
    "jvm",
    "transport",
    "http",
    "ingest",
    "aggregations",
    "indices",
    "remote_cluster_server",
)
STATS_METRICS = ("indices", "os", "process", "fs")
STATS_ABSENT = (
    "jvm",
    "thread_pool",
    "transport",
    "http",
    "breaker",
    "script",
    "discovery",
    "ingest",
    "adaptive_selection",
    "script_cache",
    "indexing_pressure",
    "repositories",
    "allocations",
)
MAX_INTERVAL_S = 5.0
MAX_THREADS = 100


def register(router: Router, services: NodeServices) -> None:
    """Add this area's routes to `router`."""
    area = NodesRoutes(services)
    for path in (
        "/_nodes/stats",
        "/_nodes/stats/{metric}",
        "/_nodes/stats/{metric}/{index_metric}",
        "/_nodes/{node_id}/stats",
        "/_nodes/{node_id}/stats/{metric}",
        "/_nodes/{node_id}/stats/{metric}/{index_metric}",
    ):
        router.add("GET", path, area.stats, MONITOR)
    for path in ("/_nodes/usage", "/_nodes/usage/{metric}", "/_nodes/{node_id}/usage"):
        router.add("GET", path, area.usage, MONITOR)
    for path in ("/_nodes/hot_threads", "/_nodes/{node_id}/hot_threads"):
        router.add("GET", path, area.hot_threads, MONITOR)
    for path in ("/_nodes/reload_secure_settings", "/_nodes/{node_id}/reload_secure_settings"):
        router.add("POST", path, area.reload_secure_settings, MANAGE)
    router.add("GET", "/_nodes/{node_id}/_repositories_metering", area.metering, MONITOR)
    router.add(
        "DELETE",
        "/_nodes/{node_id}/_repositories_metering/{max_archive_version}",
        area.clear_metering,
        MANAGE,
    )
    for selector in ("_all", "_local", "_master"):  # selectors a `{node_id}` segment cannot be
        prefix = f"/_nodes/{selector}"
        for suffix, handler in (
            ("/stats", area.stats),
            ("/stats/{metric}", area.stats),
            ("/stats/{metric}/{index_metric}", area.stats),
            ("/usage", area.usage),
            ("/hot_threads", area.hot_threads),
            ("", area.info),
            ("/{metric}", area.info),
        ):
            router.add("GET", prefix + suffix, _selecting(selector, handler), MONITOR)
    for path in ("/_nodes", "/_nodes/{target}", "/_nodes/{node_id}/{metric}"):
        router.add("GET", path, area.info, MONITOR)  # after the literal paths above


def _selecting(selector: str, handler: Handler) -> Handler:
    """`handler` with the node filter a literal path segment gave."""

    def handle(request: NodeRequest) -> NodeResponse:
        request.params["node_id"] = selector
        return handler(request)

    return handle


def _metrics(spec: str | None, have: Iterable[str], absent: Iterable[str]) -> tuple[str, ...]:
    """The sections asked for (all the node has without a spec); 400 for one it lacks."""
    have = tuple(have)
    if spec is None or spec == "_all":
        return have
    out = []
    for metric in (m.strip() for m in spec.split(",") if m.strip()):
        if metric == "_all":
            return have
        if metric in absent:
            raise IllegalArgument(
                f"metric [{metric}] is not supported: this node has no such figures"
            )
        if metric not in have:
            raise IllegalArgument(f"request contains unrecognized metric: [{metric}]")
        out.append(metric)
    return tuple(out)


class NodesRoutes:
    """The ``_nodes`` handlers over the node's services."""

    def __init__(self, services: NodeServices) -> None:
        self.services = services

    @property
    def node(self) -> local_node.LocalNode:
        return local_node.of(self.services.info, self.services.clock)

    def _selected(self, selector: str | None) -> bool:
        if selector is None:
            return True
        node = self.node
        parts = {p.strip() for p in selector.split(",")}
        return bool(parts & {"_all", "_local", "_master", "*", node.id, node.name, "master:true"})

    def _envelope(self, nodes: dict[str, Any]) -> dict[str, Any]:
        return {
            "_nodes": {"total": len(nodes), "successful": len(nodes), "failed": 0},
            "cluster_name": self.services.info.cluster_name,
            "nodes": nodes,
        }

    def _now_ms(self) -> int:
        return int(self.services.clock.now().timestamp() * 1000)

    def _identity(self) -> dict[str, Any]:
        node = self.node
        return {
            "name": node.name,
            "host": node.host,
            "ip": node.ip,
            "roles": list(local_node.ROLES),
            "attributes": dict(local_node.ATTRIBUTES),
        }

    # -- info --------------------------------------------------------------------------------

    def info(self, request: NodeRequest) -> NodeResponse:
        """``_nodes[/{node_id}][/{metric}]``."""
        check_params(request, {"flat_settings", "timeout", "master_timeout"})
        target = request.params.get("target")
        selector, spec = request.params.get("node_id"), request.params.get("metric")
        if target is not None:
            known = set(INFO_METRICS) | set(INFO_ABSENT) | {"_all"}
            if all(p.strip() in known for p in target.split(",")):
                spec = target
            else:
                selector = target
        metrics = _metrics(spec, INFO_METRICS, INFO_ABSENT)
        if not self._selected(selector):
            return NodeResponse(body=self._envelope({}))
        node = self.node
        host = local_node.host_facts(self.services.engine.root)
        entry: dict[str, Any] = {
            **self._identity(),
            "version": node.version,
            "build_flavor": "default",
            "build_type": "citadel",
            "build_hash": "citadel",
        }
        sections = {
            "settings": lambda: {
                "cluster": {"name": self.services.info.cluster_name},
                "node": {"name": node.name},
            },
            "os": lambda: {
                "name": host.os_name,
                "arch": host.arch,
                "version": host.os_version,
                "available_processors": host.cpus,
                "allocated_processors": host.cpus,
            },
            "process": lambda: {"id": os.getpid(), "mlockall": False},
            "thread_pool": lambda: {
                name: {"type": kind, "size": size, "queue_size": -1}
                for name, kind, size in THREAD_POOLS
            },
            "plugins": lambda: [],
        }
        for metric in metrics:
            entry[metric] = sections[metric]()
        if "plugins" in metrics:
            entry["modules"] = []
        return NodeResponse(body=self._envelope({node.id: entry}))

    # -- stats -------------------------------------------------------------------------------

    def stats(self, request: NodeRequest) -> NodeResponse:
        """``_nodes/stats``: documents, store and segments; CPU, memory, descriptors, disk."""
        check_params(
            request,
            {
                "timeout",
                "level",
                "groups",
                "types",
                "fields",
                "completion_fields",
                "fielddata_fields",
                "include_segment_file_sizes",
                "include_unloaded_segments",
            },
        )
        for unsupported in ("groups", "types", "fields", "completion_fields", "fielddata_fields"):
            if request.query.get(unsupported) is not None:
                raise IllegalArgument(f"[{unsupported}] is not supported by this node")
        level = request.query.get("level", "node")
        if level not in ("node", "indices", "shards"):
            raise IllegalArgument(
                f"level parameter must be one of [node] or [indices] or [shards] but was [{level}]"
            )
        metrics = _metrics(request.params.get("metric"), STATS_METRICS, STATS_ABSENT)
        index_metric = request.params.get("index_metric")
        if index_metric is not None and index_metric not in ("_all", "docs", "store", "segments"):
            raise IllegalArgument(f"index metric [{index_metric}] is not supported by this node")
        if not self._selected(request.params.get("node_id")):
            return NodeResponse(body=self._envelope({}))
        node = self.node
        now = self._now_ms()
        host = local_node.host_facts(self.services.engine.root)
        entry: dict[str, Any] = {"timestamp": now, **self._identity()}
        if "indices" in metrics:
            entry["indices"] = self._index_stats(index_metric)
        if "os" in metrics:
            load = host.load
            total, free = host.mem_total or 0, host.mem_free or 0
            entry["os"] = {
                "timestamp": now,
                "cpu": {
                    "percent": host.cpu_percent or 0,
                    **(
                        {"load_average": {"1m": load[0], "5m": load[1], "15m": load[2]}}
                        if load
                        else {}
                    ),
                },
                "mem": {
                    "total_in_bytes": total,
                    "free_in_bytes": free,
                    "used_in_bytes": total - free,
                    "free_percent": round(100 * free / total) if total else 0,
                    "used_percent": round(100 * (total - free) / total) if total else 0,
                },
            }
        if "process" in metrics:
            entry["process"] = {
                "timestamp": now,
                "open_file_descriptors": host.open_fds or 0,
                "max_file_descriptors": host.max_fds or 0,
                "mem": {"resident_in_bytes": host.rss or 0},
            }
        if "fs" in metrics:
            entry["fs"] = {
                "timestamp": now,
                "total": {
                    "total_in_bytes": host.disk_total,
                    "free_in_bytes": host.disk_free,
                    "available_in_bytes": host.disk_free,
                },
            }
        return NodeResponse(body=self._envelope({node.id: entry}))

    def _index_stats(self, index_metric: str | None) -> dict[str, Any]:
        with self.services.store.read() as conn:
            records = indices.resolve(conn, None, expand_hidden=True)
        stats = [s for r in records if (s := shard_stats(self.services.engine, r)) is not None]
        size = sum(s.bytes for s in stats)
        sections = {
            "docs": {"count": sum(s.docs for s in stats), "deleted": sum(s.deleted for s in stats)},
            "store": {
                "size_in_bytes": size,
                "total_data_set_size_in_bytes": size,
                "reserved_in_bytes": 0,
            },
            "segments": {"count": sum(len(s.segments) for s in stats)},
        }
        if index_metric in (None, "_all"):
            return sections
        return {index_metric: sections[index_metric]}

    # -- usage, hot threads ------------------------------------------------------------------

    def usage(self, request: NodeRequest) -> NodeResponse:
        """When the node started (it counts no REST actions or aggregations)."""
        check_params(request, {"timeout"})
        metric = request.params.get("metric")
        if metric not in (None, "_all"):
            raise IllegalArgument(f"metric [{metric}] is not supported: this node counts no usage")
        if not self._selected(request.params.get("node_id")):
            return NodeResponse(body=self._envelope({}))
        node = self.node
        entry = {"timestamp": self._now_ms(), "since": node.started_ms}
        return NodeResponse(body=self._envelope({node.id: entry}))

    def hot_threads(self, request: NodeRequest) -> NodeResponse:
        """The busiest threads over an interval (CPU time from /proc), with their stacks."""
        check_params(
            request,
            {"threads", "interval", "snapshots", "ignore_idle_threads", "type", "timeout", "sort"},
        )
        kind = request.query.get("type", "cpu")
        if kind != "cpu":
            raise IllegalArgument(f"type [{kind}] is not supported: this node samples cpu only")
        threads = _int_param(request, "threads", 3, 1, MAX_THREADS)
        interval = parse_seconds(request.query.get("interval"), "interval", 0.5)
        interval = min(interval, MAX_INTERVAL_S)
        ignore_idle = request.flag("ignore_idle_threads", default=True)
        node = self.node
        if not self._selected(request.params.get("node_id")):
            return NodeResponse(body="", content_type=TEXT)
        before = _thread_cpu()
        time.sleep(interval)
        after = _thread_cpu()
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        lines = [
            f"::: {{{node.name}}}{{{node.id}}}{{{node.ephemeral_id}}}{{{node.host}}}"
            f"{{{node.ip}}}{{{local_node.ROLE_LETTERS}}}",
            f"   Hot threads at {stamp}, interval={_millis(interval)}, busiestThreads={threads}, "
            f"ignoreIdleThreads={'true' if ignore_idle else 'false'}:",
            "",
        ]
        frames = sys._current_frames()
        by_native = {t.native_id: t for t in threading.enumerate()}
        busy = sorted(((after[tid] - before.get(tid, 0), tid) for tid in after), reverse=True)[
            :threads
        ]
        for ticks, tid in busy:
            thread = by_native.get(tid)
            if ignore_idle and ticks <= 0:
                continue
            percent = 100.0 * ticks / (os.sysconf("SC_CLK_TCK") * interval) if interval else 0.0
            name = thread.name if thread is not None else f"native-{tid}"
            lines.append(
                f"   {percent:.1f}% [cpu={percent:.1f}%, other=0.0%] "
                f"({_millis(ticks / os.sysconf('SC_CLK_TCK'))} out of {_millis(interval)}) "
                f"cpu usage by thread '{name}'"
            )
            frame = frames.get(thread.ident) if thread is not None and thread.ident else None
            if frame is not None:
                for summary in reversed(traceback.extract_stack(frame)[-10:]):
                    lines.append(
                        f"     {summary.name}({Path(summary.filename).name}:{summary.lineno})"
                    )
            lines.append("")
        return NodeResponse(body="\n".join(lines) + "\n", content_type=TEXT)

    # -- secure settings, metering -----------------------------------------------------------

    def reload_secure_settings(self, request: NodeRequest) -> NodeResponse:
        """The node has no keystore: nothing to reload."""
        check_params(request, {"timeout"})
        body = request.json() or {}
        if not isinstance(body, dict) or set(body) - {"secure_settings_password"}:
            raise IllegalArgument("the body may only hold [secure_settings_password]")
        if body.get("secure_settings_password"):
            raise IllegalArgument(
                "this node has no keystore, so no [secure_settings_password] can open it"
            )
        if not self._selected(request.params.get("node_id")):
            return NodeResponse(body=self._envelope({}))
        node = self.node
        return NodeResponse(body=self._envelope({node.id: {"name": node.name}}))

    def metering(self, request: NodeRequest) -> NodeResponse:
        """No snapshot repositories, so nothing metered."""
        check_params(request, set())
        return NodeResponse(body=self._metering_body(request.params.get("node_id")))

    def clear_metering(self, request: NodeRequest) -> NodeResponse:
        """Nothing archived to clear."""
        check_params(request, set())
        version = request.params.get("max_archive_version", "")
        if not version.isdigit():
            raise IllegalArgument(f"[max_archive_version] must be a number, got [{version}]")
        return NodeResponse(body=self._metering_body(request.params.get("node_id")))

    def _metering_body(self, selector: str | None) -> dict[str, Any]:
        node = self.node
        nodes: dict[str, list[Any]] = {node.id: []} if self._selected(selector) else {}
        return self._envelope(nodes)


def _int_param(request: NodeRequest, name: str, default: int, low: int, high: int) -> int:
    text = request.query.get(name)
    if text is None:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise IllegalArgument(f"[{name}] must be a number from {low} to {high}, got [{text}]")
    return int(text)


def _millis(seconds: float) -> str:
    millis = seconds * 1000
    return f"{millis:.1f}ms".replace(".0ms", "ms")


def _thread_cpu() -> dict[int, int]:
    """CPU ticks (user + system) of each of this process's threads, by native id."""
    out: dict[int, int] = {}
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        out[int(tid)] = int(fields[11]) + int(fields[12])
    return out

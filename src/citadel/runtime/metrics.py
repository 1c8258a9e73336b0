"""The allocator's Prometheus series, read from its state at scrape time, and its nodes'.

`AllocatorCollector` reads the allocator when Prometheus scrapes (nothing is counted twice or
kept in step by hand): deployments by the observed state last reported, node restarts, key
checks by outcome, deployments locked by their key, whether the control plane answered, the
security audit events shipped and dropped (`citadel.runtime.audit_shipping`). It
then asks every running node for its series (``GET /_citadel/metrics`` on the node's socket,
mTLS with the allocator's certificate and the node's per-start token, all nodes at once, each
within `NODE_TIMEOUT_S`) and adds them with a ``deployment_id`` label. A node that does not
answer in time is left out of that scrape and ``citadel_allocator_node_metrics_up`` says so.
Only series named ``citadel_node_*`` are taken from a node, and at most `NODE_MAX_BYTES`.
"""

from __future__ import annotations

import ssl
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from citadel.contract.messages import ObservedState
from citadel.runtime.allocator import Allocator
from citadel.runtime.audit_shipping import AuditShipper
from citadel.runtime.node_socket import get_from_node

NODE_TIMEOUT_S = 2.0
NODE_MAX_BYTES = 4 * 1024 * 1024
NODE_METRICS_PATH = "/_citadel/metrics"
NODE_PREFIX = "citadel_node_"
KEY_CHECK_OUTCOMES = ("ok", "refused", "unreachable")
"""The `outcome` label of key checks: the key answered, was refused or gone (the deployment
locks), or its manager did not answer."""
_PARALLEL = 8


class AllocatorCollector(Collector):
    """Every allocator and node series, read when scraped."""

    def __init__(
        self,
        allocator: Allocator,
        *,
        node_timeout_s: float = NODE_TIMEOUT_S,
        audit_shipper: AuditShipper | None = None,
    ) -> None:
        self._allocator = allocator
        self._timeout = node_timeout_s
        self._shipper = audit_shipper

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        a = self._allocator
        states = Counter(a.observed_states().values())
        deployments = GaugeMetricFamily(
            "citadel_allocator_deployments",
            "Deployments on this allocator by the state it last reported.",
            labels=["state"],
        )
        for state in ObservedState:
            deployments.add_metric([state.value], states.get(state, 0))
        yield deployments
        restarts = CounterMetricFamily(
            "citadel_allocator_node_restarts",
            "Starts of a node after it exited or failed to start, by deployment.",
            labels=["deployment_id"],
        )
        for dep_id, count in sorted(a.restarts.items()):
            restarts.add_metric([dep_id], count)
        yield restarts
        checks = CounterMetricFamily(
            "citadel_allocator_key_checks",
            "Checks of deployments' keys, by outcome.",
            labels=["outcome"],
        )
        for outcome in KEY_CHECK_OUTCOMES:
            checks.add_metric([outcome], a.key_checks.get(outcome, 0))
        yield checks
        yield GaugeMetricFamily(
            "citadel_allocator_deployments_locked",
            "Deployments stopped because their key was refused or is gone.",
            value=len(a.locked_deployments()),
        )
        yield GaugeMetricFamily(
            "citadel_allocator_control_plane_reachable",
            "1 when the last poll of the control plane was answered, else 0.",
            value=1 if a.control_plane_reachable else 0,
        )
        if self._shipper is not None:
            yield from self._audit(self._shipper)
        yield from self._nodes(a)

    def _audit(self, shipper: AuditShipper) -> Iterator[Metric]:
        shipped = CounterMetricFamily(
            "citadel_allocator_audit_events_shipped",
            "Security audit events posted to the control plane, by deployment.",
            labels=["deployment_id"],
        )
        for dep_id, count in sorted(shipper.shipped.items()):
            shipped.add_metric([dep_id], count)
        yield shipped
        dropped = CounterMetricFamily(
            "citadel_allocator_audit_events_dropped",
            "Security audit events lost before the control plane (a node's full buffer, or an "
            "event over the size bound), by deployment.",
            labels=["deployment_id"],
        )
        for dep_id, count in sorted(shipper.dropped.items()):
            dropped.add_metric([dep_id], count)
        yield dropped

    def _nodes(self, a: Allocator) -> Iterator[Metric]:
        targets = a.metrics_targets()
        up = GaugeMetricFamily(
            "citadel_allocator_node_metrics_up",
            "1 when a running node answered this scrape with its series, 0 when it did not "
            "(its series are then left out).",
            labels=["deployment_id"],
        )
        answers: list[str | None] = []
        if targets:
            context = a.probe_context
            with ThreadPoolExecutor(max_workers=min(_PARALLEL, len(targets))) as pool:
                answers = list(
                    pool.map(
                        lambda t: fetch_node_metrics(
                            t.socket, context, t.server_name, t.token, self._timeout
                        ),
                        targets,
                    )
                )
        merged: dict[str, Metric] = {}
        for target, text in zip(targets, answers, strict=True):
            families = _parse(text)
            up.add_metric([target.deployment_id], 0 if families is None else 1)
            for family in families or []:
                into = merged.setdefault(
                    family.name, Metric(family.name, family.documentation, family.type)
                )
                into.samples += [
                    Sample(s.name, {**s.labels, "deployment_id": target.deployment_id}, s.value)
                    for s in family.samples
                ]
        yield up
        yield from merged.values()


def _parse(text: str | None) -> list[Metric] | None:
    """The node's own families (not the ``_created`` timestamps), or None if unreadable."""
    if text is None:
        return None
    try:
        families = list(text_string_to_metric_families(text))
    except ValueError:
        return None
    return [
        f for f in families if f.name.startswith(NODE_PREFIX) and not f.name.endswith("_created")
    ]


def fetch_node_metrics(
    socket_path: Path, context: ssl.SSLContext, server_name: str, token: str, timeout: float
) -> str | None:
    """The node's exposition text, or None when it does not answer 200 within `timeout`."""
    body = get_from_node(
        socket_path,
        context,
        server_name,
        token,
        NODE_METRICS_PATH,
        timeout=timeout,
        max_bytes=NODE_MAX_BYTES,
    )
    if body is None:
        return None
    return body.decode("utf-8", errors="replace")

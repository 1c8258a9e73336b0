"""Shipping the nodes' security audit events to the control plane (issue 18, item 6).

Every `INTERVAL_S` (2 s), on its own thread so a slow node or control plane never holds up
the reconcile loop, the shipper asks each running node for its waiting events (``GET
/_citadel/audit?after=<seq>`` on the node's socket, mTLS with the allocator's certificate and
the node's per-start metrics token, as the metrics are read; `citadel.node.security.audit`)
and posts them to ``POST /internal/v1/deployments/{id}/security-events`` in posts of at most
`MAX_SECURITY_EVENTS` events and `MAX_SECURITY_POST_BYTES` of JSON.

Delivery is at least once: the cursor (the last sequence number posted) moves only after a
post succeeded, and the node forgets events only when asked after them, so a failed post is
tried again with the same events 2 s later (the node keeps at most its buffer meanwhile and
counts what it has to drop). A cursor belongs to one node start (its token): a restarted node
numbers from 1 again, and events still in a stopped node's memory are lost with it. An event
too large for the contract (over `MAX_SECURITY_EVENT_BYTES`) is not posted and counts as
dropped; the node's own dropped count is posted as it grows.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citadel.contract.client import ControlPlane, ControlPlaneUnavailable
from citadel.contract.messages import (
    MAX_SECURITY_EVENT_BYTES,
    MAX_SECURITY_EVENTS,
    MAX_SECURITY_POST_BYTES,
    SecurityEvents,
    security_event_size,
)
from citadel.log import get_logger
from citadel.runtime.allocator import Allocator, MetricsTarget
from citadel.runtime.node_socket import get_from_node

log = get_logger(__name__)

INTERVAL_S = 2.0
NODE_TIMEOUT_S = 2.0
NODE_MAX_BYTES = 16 * 1024 * 1024  # a node answers about 4 MiB at most
NODE_AUDIT_PATH = "/_citadel/audit"


@dataclass
class Cursor:
    """Where shipping stands with one node start."""

    token: str
    after: int = 0  # the last sequence number posted
    dropped_seen: int = 0  # the node's dropped count as last posted


class AuditShipper:
    """Drains every running node's audit buffer into the control plane."""

    def __init__(
        self,
        allocator: Allocator,
        control_plane: ControlPlane,
        *,
        interval_s: float = INTERVAL_S,
        node_timeout_s: float = NODE_TIMEOUT_S,
        fetch: Callable[..., dict[str, Any] | None] | None = None,
    ) -> None:
        self.allocator = allocator
        self.control_plane = control_plane
        self.interval_s = interval_s
        self.node_timeout_s = node_timeout_s
        self._fetch = fetch or fetch_node_audit
        self._cursors: dict[str, Cursor] = {}
        self._failing: set[str] = set()  # deployments whose last post failed (logged once)
        # read by the metrics collector from its thread; only incremented here
        self.shipped: Counter[str] = Counter()  # events posted, by deployment
        self.dropped: Counter[str] = Counter()  # events the nodes (or we) dropped, by deployment

    def run(self, stop: threading.Event) -> None:
        """Ship every `interval_s` until `stop` is set, then once more."""
        while not stop.wait(self.interval_s):
            self.ship_once()
        self.ship_once()

    def start(self, stop: threading.Event) -> threading.Thread:
        """`run` on a daemon thread of its own."""
        thread = threading.Thread(target=self.run, args=(stop,), name="audit-shipper", daemon=True)
        thread.start()
        return thread

    def ship_once(self) -> None:
        """One pass over the running nodes."""
        targets = self.allocator.metrics_targets()
        running = {t.deployment_id for t in targets}
        for dep_id in list(self._cursors):
            if dep_id not in running:
                del self._cursors[dep_id]
        for target in targets:
            try:
                self._ship(target)
            except Exception as exc:  # a bug must not stop shipping for the other nodes
                log.error(
                    "allocator.audit_shipping_failed",
                    deployment_id=target.deployment_id,
                    error_type=type(exc).__name__,
                    exc_info=exc,
                )

    def _ship(self, target: MetricsTarget) -> None:
        dep_id = target.deployment_id
        cursor = self._cursors.get(dep_id)
        if cursor is None or cursor.token != target.token:
            cursor = self._cursors[dep_id] = Cursor(target.token)
        answer = self._fetch(
            target.socket,
            self.allocator.probe_context,
            target.server_name,
            target.token,
            cursor.after,
            self.node_timeout_s,
        )
        if answer is None:
            return
        node_dropped = int(answer.get("dropped") or 0)
        events, too_large = [], 0
        for event in answer.get("events") or []:
            seq = int(event.pop("seq", 0))
            if security_event_size(event) > MAX_SECURITY_EVENT_BYTES:
                too_large += 1
                continue
            events.append((seq, event))
        lost = max(0, node_dropped - cursor.dropped_seen) + too_large
        last = int(answer.get("next") or cursor.after)
        for batch in batches([e for _, e in events]):
            upto = events[len(batch) - 1][0] if batch else last
            if not self._post(dep_id, SecurityEvents(events=tuple(batch), dropped=lost)):
                return
            events = events[len(batch) :]
            cursor.after = max(cursor.after, upto)
            cursor.dropped_seen = node_dropped
            self.shipped[dep_id] += len(batch)
            self.dropped[dep_id] += lost
            lost = 0
        if lost:
            if not self._post(dep_id, SecurityEvents(events=(), dropped=lost)):
                return
            cursor.dropped_seen = node_dropped
            self.dropped[dep_id] += lost
        cursor.after = max(cursor.after, last)

    def _post(self, dep_id: str, events: SecurityEvents) -> bool:
        try:
            self.control_plane.send_security_events(dep_id, events)
        except ControlPlaneUnavailable as exc:
            if dep_id not in self._failing:
                log.warning("allocator.audit_post_failed", deployment_id=dep_id, error=str(exc))
            self._failing.add(dep_id)
            return False
        self._failing.discard(dep_id)
        return True


def batches(events: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """`events` in posts of at most `MAX_SECURITY_EVENTS` and about `MAX_SECURITY_POST_BYTES`
    (each event is at most `MAX_SECURITY_EVENT_BYTES`, so a post stays well under the control
    plane's body limit)."""
    batch: list[dict[str, Any]] = []
    size = 0
    for event in events:
        cost = security_event_size(event) + 1
        if batch and (len(batch) >= MAX_SECURITY_EVENTS or size + cost > MAX_SECURITY_POST_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(event)
        size += cost
    if batch:
        yield batch


def fetch_node_audit(
    socket_path: Path,
    context: ssl.SSLContext,
    server_name: str,
    token: str,
    after: int,
    timeout: float,
) -> dict[str, Any] | None:
    """The node's waiting events after `after` (``{"events", "dropped", "next"}``), or None
    when it does not answer 200 with such an object within `timeout`."""
    body = get_from_node(
        socket_path,
        context,
        server_name,
        token,
        f"{NODE_AUDIT_PATH}?after={int(after)}",
        timeout=timeout,
        max_bytes=NODE_MAX_BYTES,
    )
    if body is None:
        return None
    try:
        answer = json.loads(body)
    except ValueError:
        return None
    if not isinstance(answer, dict) or not isinstance(answer.get("events"), list):
        return None
    return answer

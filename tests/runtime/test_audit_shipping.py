"""Shipping the nodes' security audit events: a REAL sandboxed node on a REAL volume records
them (its audit settings from the allocator's security file), the allocator's shipper drains
it over the node's socket and posts them to the stand-in control plane; events made while the
control plane is down arrive once it is back."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from citadel.contract.client import ControlPlane
from citadel.contract.messages import (
    MAX_SECURITY_EVENTS,
    MAX_SECURITY_POST_BYTES,
    AuditSettings,
    NodeSecurity,
    security_event_size,
    to_json,
)
from citadel.kit.ids import new_id
from citadel.runtime.audit_shipping import AuditShipper, batches
from citadel.runtime.metrics import AllocatorCollector
from citadel.runtime.sandbox import BubblewrapSandbox
from tests.runtime.conftest import sandbox_uid
from tests.runtime.test_allocator import PASSWORD, Running, allocating, wait_until

AUDIT = NodeSecurity(audit=AuditSettings(enabled=True, include=("_all",)))


@pytest.fixture
def running(sandbox: BubblewrapSandbox, volumes_here: None, short_dir: Path) -> Iterator[Running]:
    with allocating(sandbox, short_dir) as found:
        yield found


@pytest.fixture
def shipper(running: Running) -> Iterator[AuditShipper]:
    control_plane = ControlPlane(running.plane.url, running.plane.component("allocator"))
    found = AuditShipper(running.allocator, control_plane, interval_s=0.2)
    stop = threading.Event()
    thread = found.start(stop)
    try:
        yield found
    finally:
        stop.set()
        thread.join(timeout=30)
        control_plane.close()


def start_audited(running: Running) -> str:
    dep_id = new_id()
    running.plane.allocate(dep_id, sandbox_uid(), password=PASSWORD)
    running.plane.allocations[dep_id]["security"] = to_json(AUDIT)
    running.plane.version += 1
    wait_until(lambda: (running.plane.last_report(dep_id) or {}).get("observed_state") == "running")
    return dep_id


def shipped(running: Running, dep_id: str) -> list[dict]:
    return [e for d, post in running.plane.security_events if d == dep_id for e in post["events"]]


def failed_sign_ins(running: Running, dep_id: str, user: str) -> list[dict]:
    return [
        e
        for e in shipped(running, dep_id)
        if e["event.action"] == "authentication_failed" and e.get("user.name") == user
    ]


def test_a_nodes_events_reach_the_control_plane(running: Running, shipper: AuditShipper):
    dep_id = start_audited(running)
    with running.node(dep_id) as node:
        assert node.get("/", auth=("mallory", "guess-1")).status_code == 401
        assert node.put("/logs-1").status_code == 200

    wait_until(lambda: failed_sign_ins(running, dep_id, "mallory"), timeout=20)
    wait_until(
        lambda: any(
            e["event.action"] == "access_granted" and e.get("indices") == ["logs-1"]
            for e in shipped(running, dep_id)
        ),
        timeout=20,
    )
    events = shipped(running, dep_id)
    assert all("seq" not in e for e in events)
    assert "guess-1" not in repr(events)
    granted = [e for e in events if e["event.action"] == "access_granted"]
    assert {e["user.name"] for e in granted} == {"elastic"}
    collector = AllocatorCollector(running.allocator, audit_shipper=shipper)
    metrics = {m.name: m for m in collector.collect()}
    samples = metrics["citadel_allocator_audit_events_shipped"].samples
    assert any(s.labels == {"deployment_id": dep_id} and s.value >= 2 for s in samples)


def test_events_made_while_the_control_plane_is_down_arrive_when_it_is_back(
    running: Running, shipper: AuditShipper
):
    dep_id = start_audited(running)
    running.plane.up = False
    with running.node(dep_id) as node:
        for i in range(3):
            assert node.get("/", auth=(f"offline-{i}", "x")).status_code == 401
    threading.Event().wait(1.0)  # a few failed posts
    assert not any(failed_sign_ins(running, dep_id, f"offline-{i}") for i in range(3))

    running.plane.up = True
    for i in range(3):
        wait_until(lambda i=i: failed_sign_ins(running, dep_id, f"offline-{i}"), timeout=20)


# -- pure ----------------------------------------------------------------------------------------


def test_batches_stay_within_the_contracts_bounds():
    small = [{"event.action": "access_granted", "n": i} for i in range(MAX_SECURITY_EVENTS + 10)]
    counts = [len(b) for b in batches(small)]
    assert counts == [MAX_SECURITY_EVENTS, 10]

    large = [{"event.action": "access_granted", "pad": "x" * 10_000} for _ in range(200)]
    posts = list(batches(large))
    assert sum(len(p) for p in posts) == 200
    for post in posts:
        assert sum(security_event_size(e) + 1 for e in post) <= MAX_SECURITY_POST_BYTES

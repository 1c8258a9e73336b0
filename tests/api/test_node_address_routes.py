"""Nodes reachable across hosts (ADR 31), the control plane's side: an allocator reports the
port its node listens on (`StatusReport.node_port`), and the gateways' routes name
``<allocator address>:<port>`` (`RouteEntry.node_address`) for a deployment placed on an
allocator that has an address; otherwise the node's unix socket alone, as on one machine."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from citadel.allocators.models import Allocator
from citadel.contract.messages import ComponentKind
from citadel.deployments.models import Deployment
from tests.fixtures.builders import make_deployment
from tests.fixtures.internal import as_component

V1 = "/internal/v1"


@pytest.fixture
def internal(services) -> Iterator[TestClient]:
    with as_component(services, ComponentKind.ALLOCATOR) as c:
        yield c


@pytest.fixture
def gateway(services) -> Iterator[TestClient]:
    with as_component(services, ComponentKind.GATEWAY) as c:
        yield c


def _allocator(services, allocator_id: str, address: str) -> None:
    with services.db.write() as session:
        now = services.clock.now()
        session.add(
            Allocator(
                id=allocator_id,
                address=address,
                zone="zone-a",
                capacity_mb=8192,
                registered_at=now,
                last_seen_at=now,
            )
        )


def _place(services, dep: str, allocator_id: str) -> None:
    with services.db.write() as session:
        row = session.get(Deployment, dep)
        assert row is not None
        row.allocator_id = allocator_id


def _report(internal: TestClient, dep: str, node_port: int | None) -> httpx.Response:
    body = {"observed_state": "running", "healthy": True, "node_port": node_port}
    answer = internal.post(f"{V1}/deployments/{dep}/status", json=body)
    assert answer.status_code == 200, answer.text
    return answer


def _route(gateway: TestClient, dep: str) -> dict:
    body = gateway.get(f"{V1}/routes").json()
    (route,) = [r for r in body["deployments"] if r["id"] == dep]
    return route


def test_a_node_on_an_allocator_with_an_address_is_routed_to_that_address_and_its_port(
    internal, gateway, services, org
):
    dep = make_deployment(services, org)
    _allocator(services, "host-b", "10.20.0.12")
    _place(services, dep, "host-b")

    _report(internal, dep, 20007)

    route = _route(gateway, dep)
    assert route["node_address"] == "10.20.0.12:20007"
    assert route["node_socket"].endswith(f"deployments/{dep}/run/node.sock")


def test_an_ipv6_allocator_address_is_bracketed(internal, gateway, services, org):
    dep = make_deployment(services, org)
    _allocator(services, "host-v6", "fd00:20::12")
    _place(services, dep, "host-v6")

    _report(internal, dep, 20008)

    assert _route(gateway, dep)["node_address"] == "[fd00:20::12]:20008"


def test_a_node_without_a_listener_is_routed_to_its_socket_alone(internal, gateway, services, org):
    dep = make_deployment(services, org)
    _allocator(services, "host-b", "10.20.0.12")
    _place(services, dep, "host-b")

    _report(internal, dep, None)

    assert _route(gateway, dep)["node_address"] == ""


def test_a_port_without_a_known_allocator_is_not_an_address(internal, gateway, services, org):
    unplaced = make_deployment(services, org)
    _report(internal, unplaced, 20009)
    gone = make_deployment(services, org, name="elsewhere")
    _place(services, gone, "no-such-allocator")
    _report(internal, gone, 20010)

    assert _route(gateway, unplaced)["node_address"] == ""
    assert _route(gateway, gone)["node_address"] == ""


def test_a_new_port_is_a_new_routes_version_and_a_stopped_listener_clears_the_address(
    internal, gateway, services, org
):
    dep = make_deployment(services, org)
    _allocator(services, "host-b", "10.20.0.12")
    _place(services, dep, "host-b")
    _report(internal, dep, 20007)
    first = gateway.get(f"{V1}/routes")

    _report(internal, dep, 20011)  # the node came back on another port
    moved = gateway.get(f"{V1}/routes", headers={"If-None-Match": first.headers["etag"]})
    _report(internal, dep, None)  # its node stopped: no listener
    cleared = gateway.get(f"{V1}/routes", headers={"If-None-Match": moved.headers["etag"]})

    assert moved.status_code == 200
    assert moved.json()["version"] > first.json()["version"]
    assert _in(moved, dep)["node_address"] == "10.20.0.12:20011"
    assert cleared.status_code == 200
    assert _in(cleared, dep)["node_address"] == ""


def test_the_same_port_reported_again_changes_nothing(internal, gateway, services, org):
    dep = make_deployment(services, org)
    _allocator(services, "host-b", "10.20.0.12")
    _place(services, dep, "host-b")
    _report(internal, dep, 20007)
    first = gateway.get(f"{V1}/routes")

    _report(internal, dep, 20007)

    again = gateway.get(f"{V1}/routes", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304


def _in(answer: httpx.Response, dep: str) -> dict:
    (route,) = [r for r in answer.json()["deployments"] if r["id"] == dep]
    return route

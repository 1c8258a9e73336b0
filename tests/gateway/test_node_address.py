"""A gateway fleet in front of a node on another host (ADR 31): routes that name the node's
``node_address``, two gateways serving the same deployment at once.

The node is a real `citadel node` on a unix socket (mTLS, client certificates from the
platform CA); the allocator's real `NodeListeners` puts it on 127.0.0.1:<port>, as an
allocator host's advertise address would. The snapshot's `node_socket` names nothing, so
every answer below came over TCP. Two real gateways follow the same snapshot, as several
gateways follow the control plane's.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from citadel.gateway.node_reach import node_accepts, split_node_address
from citadel.gateway.proxy import Limits
from citadel.gateway.routing import Route
from citadel.gateway.snapshot import load_snapshot, parse_snapshot, save_snapshot
from citadel.runtime.node_listener import NodeListeners, PortRange
from tests.gateway.conftest import PASSWORD
from tests.gateway.harness import Pki, RunningGateway, write_snapshot
from tests.gateway.test_project_wake import (
    PROJECT_ID,
    InternalApi,
    _gateway,
    _project,
    internal_api,  # noqa: F401 - the fixture: a control plane that starts the woken node
)
from tests.gateway.test_project_wake import _client as _wake_client
from tests.node.official_clients import find_official_client
from tests.node.process import RunningNode, start_node

NODE_ID = "9" * 32
HOST = f"{NODE_ID}.local.citadel.localhost"
NOWHERE = "/nonexistent/node.sock"
FLEET_CLIENT = Path(__file__).with_name("fleet_client.py")
_versions = itertools.count(1)


class Fleet:
    """Two gateways over one snapshot file, a node reached at an address."""

    def __init__(self, path: Path, gateways: list[RunningGateway], address: str) -> None:
        self.path, self.gateways, self.address = path, gateways, address

    def publish(self, *, address: str | None = None, rulesets: dict | None = None) -> None:
        """A new snapshot (the node at `address`, filtered by `rulesets`), served by both."""
        version = next(_versions)
        entry = {
            "id": NODE_ID,
            "alias": "fleet",
            "region": "local",
            "state": "running",
            "node_socket": NOWHERE,
            "node_address": self.address if address is None else address,
            "rulesets": sorted(rulesets or {}),
        }
        write_snapshot(self.path, [entry], version=version, rulesets=rulesets or {})
        for gateway in self.gateways:
            gateway.wait_for_version(version)


@pytest.fixture(scope="module")
def remote_node(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[RunningNode]:
    data_dir = tmp_path_factory.mktemp("remote") / NODE_ID
    running = start_node(
        data_dir, pki.node_tls, elastic_password=PASSWORD, mode="unix", client_ca=True
    )
    yield running
    running.stop()


@pytest.fixture(scope="module")
def listeners(remote_node: RunningNode) -> Iterator[NodeListeners]:
    low = random.randrange(30000, 60000)
    found = NodeListeners("127.0.0.1", PortRange(low, low + 19))
    assert remote_node.unix_socket is not None
    found.sync({NODE_ID: remote_node.unix_socket})
    yield found
    found.close()


@pytest.fixture(scope="module")
def fleet(
    tmp_path_factory: pytest.TempPathFactory, pki: Pki, listeners: NodeListeners
) -> Iterator[Fleet]:
    path = tmp_path_factory.mktemp("fleet") / "snapshot.json"
    address = f"127.0.0.1:{listeners.port(NODE_ID)}"
    write_snapshot(path, [], version=next(_versions))
    limits = Limits(header_timeout_s=2.0, body_timeout_s=2.0, upstream_timeout_s=20.0)
    gateways = [RunningGateway(pki, path, limits), RunningGateway(pki, path, limits)]
    found = Fleet(path, gateways, address)
    found.publish()
    yield found
    for gateway in gateways:
        gateway.stop()


def wait_until(check: Callable[[], bool], *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {check}")
        time.sleep(0.02)


def _client(gateway: RunningGateway, pki: Pki, *, source: str = "127.0.0.1") -> httpx.Client:
    return httpx.Client(
        base_url=f"https://127.0.0.1:{gateway.port}",
        transport=httpx.HTTPTransport(
            verify=ssl.create_default_context(cafile=str(pki.node_tls.ca)), local_address=source
        ),
        auth=("elastic", PASSWORD),
        headers={"Host": HOST},
        timeout=20,
    )


def _get(gateway: RunningGateway, pki: Pki, path: str, *, source: str = "127.0.0.1"):
    with _client(gateway, pki, source=source) as client:
        return client.get(path, extensions={"sni_hostname": "localhost"})


def test_a_request_reaches_the_node_at_its_address(fleet: Fleet, pki: Pki) -> None:
    for gateway in fleet.gateways:
        answer = _get(gateway, pki, "/")
        assert answer.status_code == 200, answer.text
        assert answer.json()["tagline"] == "You Know, for Search"


def test_upstream_connections_to_an_address_are_pooled_by_it(fleet: Fleet, pki: Pki) -> None:
    gateway = fleet.gateways[0]
    gateway.call(gateway.gateway.close_idle)

    def pooled() -> int:
        return gateway.call(lambda: len(gateway.gateway.idle.get(fleet.address, ())))

    for _ in range(3):  # each on a client connection of its own, once the last one's is back
        assert _get(gateway, pki, "/_cluster/health").status_code == 200
        wait_until(lambda: pooled() == 1, timeout=5)
    assert gateway.call(lambda: len(gateway.gateway.upstreams.get(fleet.address, ()))) == 1


def test_the_official_client_sees_the_same_documents_through_either_gateway(
    fleet: Fleet, pki: Pki
) -> None:
    official = find_official_client("9.x")
    a, b = (f"https://localhost:{g.port}" for g in fleet.gateways)
    ran = official.run(FLEET_CLIENT, a, b, str(pki.node_tls.ca), NODE_ID, PASSWORD, timeout=120)
    assert ran.returncode == 0, ran.stderr[-3000:]
    seen = json.loads(ran.stdout)
    expected_ids = [f"a{i}" for i in range(50)] + ["b0"]
    for name in ("a", "b"):
        assert seen[name]["count"] == 51
        assert seen[name]["ids"] == expected_ids
        assert seen[name]["b0"] == {"via": "b", "n": 50}
    assert seen["a"]["cluster"] == seen["b"]["cluster"]


def test_traffic_filters_apply_on_every_gateway(fleet: Fleet, pki: Pki) -> None:
    only_2 = {"only-2": {"type": "ip", "sources": ["127.0.0.2/32"]}}
    fleet.publish(rulesets=only_2)
    try:
        for gateway in fleet.gateways:
            assert _get(gateway, pki, "/", source="127.0.0.2").status_code == 200
            refused = _get(gateway, pki, "/", source="127.0.0.3")
            assert refused.status_code == 403
            assert refused.json()["error"]["type"] == "traffic_filter.blocked"
    finally:
        fleet.publish()


def test_each_gateway_reports_what_it_saw_for_the_control_plane_to_merge(
    fleet: Fleet, pki: Pki
) -> None:
    fleet.publish(rulesets={"only-2": {"type": "ip", "sources": ["127.0.0.2/32"]}})
    try:
        for gateway in fleet.gateways:
            gateway.call(gateway.gateway.denied.take)  # what earlier tests left
            assert _get(gateway, pki, "/", source="127.0.0.2").status_code == 200
            assert _get(gateway, pki, "/", source="127.0.0.3").status_code == 403
        for gateway in fleet.gateways:  # each posts its own; the control plane keeps both
            taken, _ = gateway.call(gateway.gateway.denied.take)
            assert [(d, e["origin.address"]) for d, e in taken] == [(NODE_ID, "127.0.0.3")]
            seen = gateway.call(gateway.gateway.clients.snapshot)
            assert {"deployment_id": NODE_ID, "client_ip": "127.0.0.2"}.items() <= next(
                c for c in seen if c["client_ip"] == "127.0.0.2"
            ).items()
    finally:
        fleet.publish()


def test_an_address_nobody_listens_on_is_a_502(fleet: Fleet, pki: Pki) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # free once the block ends
    fleet.publish(address=f"127.0.0.1:{closed}")
    try:
        for gateway in fleet.gateways:
            answer = _get(gateway, pki, "/")
            assert answer.status_code == 502
            assert answer.json()["error"]["type"] == "upstream.unavailable"
    finally:
        fleet.publish()


def test_a_node_at_an_address_accepts_while_its_listener_is_open(
    fleet: Fleet, listeners: NodeListeners
) -> None:
    route = Route(NODE_ID, None, "local", "stopped", NOWHERE, node_address=fleet.address)
    assert asyncio.run(node_accepts(route))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    elsewhere = Route(
        NODE_ID, None, "local", "stopped", NOWHERE, node_address=f"127.0.0.1:{closed}"
    )
    assert not asyncio.run(node_accepts(elsewhere))
    on_socket = Route(NODE_ID, None, "local", "stopped", NOWHERE)
    assert not asyncio.run(node_accepts(on_socket))


@pytest.mark.parametrize(
    ("address", "parts"),
    [("10.0.0.5:20001", ("10.0.0.5", 20001)), ("[fd00::5]:20001", ("fd00::5", 20001))],
)
def test_a_node_address_is_host_and_port(address: str, parts: tuple[str, int]) -> None:
    assert split_node_address(address) == parts


@pytest.mark.parametrize("address", ["10.0.0.5", "10.0.0.5:", ":20001", "fd00::5:1", "h:70000"])
def test_a_node_address_that_is_not_one_is_refused(address: str) -> None:
    with pytest.raises(ValueError, match="node address"):
        split_node_address(address)


def test_a_project_woken_on_another_host_is_found_at_its_new_address(
    pki: Pki,
    tmp_path: Path,
    internal_api: InternalApi,  # noqa: F811 (the fixture)
) -> None:
    """The snapshot knows no address for the sleeping project; the wake starts its node
    elsewhere, its allocator's listener opens once the node answers and the next snapshot
    names the address: the held request is forwarded there."""
    data_dir = tmp_path / "p"
    internal_api.data_dir = data_dir
    node_socket = data_dir.parent / f"{data_dir.name}.sock"  # where start_node listens
    low = random.randrange(30000, 60000)
    elsewhere = NodeListeners("127.0.0.1", PortRange(low, low + 19))
    asleep = _project(Path(NOWHERE))
    gateway = _gateway(pki, tmp_path, internal_api, [asleep], wake_timeout_s=30)
    snapshot = tmp_path / "gateway" / "snapshot.json"

    def allocator_elsewhere() -> None:
        wait_until(lambda: bool(internal_api.nodes), timeout=30)
        wait_until(lambda: _accepts(node_socket), timeout=30)
        elsewhere.sync({PROJECT_ID: node_socket})
        awake = {
            **asleep,
            "state": "running",
            "node_address": f"127.0.0.1:{elsewhere.port(PROJECT_ID)}",
        }
        write_snapshot(snapshot, [awake], version=2, rulesets={})

    mover = threading.Thread(target=allocator_elsewhere, daemon=True)
    mover.start()
    try:
        with _wake_client(pki, gateway) as client:
            response = client.get("/")
        assert response.status_code == 200, response.text
        assert "version" in response.json()
        assert internal_api.wakes == [PROJECT_ID]
        stats = gateway.call(lambda: gateway.gateway.stats.snapshot())
        assert stats["wakes"] == {"ready": 1}
    finally:
        mover.join(timeout=60)
        gateway.stop()
        elsewhere.close()


def _accepts(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def test_the_persisted_snapshot_keeps_each_nodes_address(tmp_path: Path) -> None:
    entry = {
        "id": NODE_ID,
        "region": "local",
        "state": "running",
        "node_socket": NOWHERE,
        "node_address": "10.20.0.12:20007",
    }
    served = parse_snapshot({"version": 3, "domain": "citadel.localhost", "deployments": [entry]})
    save_snapshot(tmp_path / "snapshot.json", served)
    loaded = load_snapshot(tmp_path / "snapshot.json")
    assert loaded is not None
    route = loaded.by_id(NODE_ID)
    assert route is not None
    assert route.node_address == "10.20.0.12:20007"
    assert route.upstream == "10.20.0.12:20007"

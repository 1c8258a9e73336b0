"""Nodes reachable across hosts (ADR 31): the allocator with node ports listens on its address
for each running node and splices to the node's socket. REAL sandboxed nodes on REAL encrypted
volumes behind the stand-in control plane (standin.py); TLS end to end, the node's own."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from citadel.contract.client import ControlPlane
from citadel.kit.ids import new_id
from citadel.runtime.allocator import Allocator, node_hostname
from citadel.runtime.node_listener import NodeListeners, NodePortsError, PortRange
from citadel.runtime.sandbox import BubblewrapSandbox
from tests.node.process import make_tls
from tests.runtime.conftest import sandbox_uid
from tests.runtime.standin import stand_in
from tests.runtime.test_allocator import PASSWORD, Running, _show_node_logs, wait_until

ADDRESS = "127.0.0.1"
CITADEL = str(Path(sys.executable).parent / "citadel")


def _ports() -> PortRange:
    """Twenty ports somewhere high: tests running beside each other rarely share them (and a
    taken one is skipped)."""
    low = random.randrange(30000, 60000)
    return PortRange(low, low + 19)


@contextmanager
def allocating_with_ports(sandbox: BubblewrapSandbox, short_dir: Path) -> Iterator[Running]:
    """`tests.runtime.test_allocator.allocating`, with node listeners on 127.0.0.1."""
    plane = stand_in(short_dir)
    tls = plane.component("allocator")
    control_plane = ControlPlane(plane.url, tls)
    allocator = Allocator(
        data_dir=short_dir,
        control_plane=control_plane,
        key_provider=plane.provider,
        sandbox=sandbox,
        client_tls=tls,
        node_listeners=NodeListeners(ADDRESS, _ports()),
    )
    stop = threading.Event()
    thread = threading.Thread(target=allocator.run, args=(stop,), kwargs={"interval": 0.1})
    thread.start()
    try:
        yield Running(plane, allocator, short_dir)
    finally:
        stop.set()
        thread.join(timeout=60)
        control_plane.close()
        plane.stop()
        _show_node_logs(short_dir)


@pytest.fixture
def running(sandbox: BubblewrapSandbox, volumes_here: None, short_dir: Path) -> Iterator[Running]:
    with allocating_with_ports(sandbox, short_dir) as found:
        yield found


def _report(running: Running, dep_id: str) -> dict:
    return running.plane.last_report(dep_id) or {}


def _start(running: Running, *, state: str = "running") -> str:
    dep_id = new_id()
    running.plane.allocate(dep_id, sandbox_uid(), state=state, password=PASSWORD)
    wait_until(lambda: _report(running, dep_id).get("observed_state") == state, timeout=60)
    return dep_id


def _over_tcp(port: int, dep_id: str, context: ssl.SSLContext) -> httpx.Client:
    """A client of the node at 127.0.0.1:`port`, verifying the node's name (SNI)."""
    return httpx.Client(
        base_url=f"https://{ADDRESS}:{port}",
        transport=httpx.HTTPTransport(verify=context),
        headers={"Host": node_hostname(dep_id)},
        auth=("elastic", PASSWORD),
        timeout=30,
    )


def _get(client: httpx.Client, dep_id: str, path: str) -> httpx.Response:
    return client.get(path, extensions={"sni_hostname": node_hostname(dep_id)})


def _refused(port: int) -> bool:
    try:
        with socket.create_connection((ADDRESS, port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


def test_a_gateway_certificate_reaches_the_node_over_tcp_on_its_reported_port(
    running: Running,
) -> None:
    dep_id = _start(running)
    port = _report(running, dep_id)["node_port"]
    assert port == running.allocator.node_listeners.port(dep_id)  # type: ignore[union-attr]
    gateway = running.plane.component("gateway").client_context()
    with _over_tcp(port, dep_id, gateway) as client:
        assert _get(client, dep_id, "/").json()["tagline"] == "You Know, for Search"
        put = client.put(
            "/books/_doc/1?refresh=true",
            json={"title": "across hosts"},
            extensions={"sni_hostname": node_hostname(dep_id)},
        )
        assert put.status_code == 201, put.text
    with running.node(dep_id) as on_socket:  # the same node, on its unix socket
        assert on_socket.get("/books/_doc/1").json()["_source"] == {"title": "across hosts"}


def test_the_node_refuses_a_client_without_a_platform_component_certificate(
    running: Running, tmp_path: Path
) -> None:
    dep_id = _start(running)
    port = _report(running, dep_id)["node_port"]
    ca = str(running.plane.component("gateway").ca_file)
    no_certificate = ssl.create_default_context(cafile=ca)
    other_ca = make_tls(tmp_path / "elsewhere")  # a client certificate of another CA
    foreign = ssl.create_default_context(cafile=ca)
    foreign.load_cert_chain(str(other_ca.client_cert), str(other_ca.client_key))
    tls = running.dirs(dep_id).tls  # the node's own server certificate: not a client's
    node_certificate = ssl.create_default_context(cafile=ca)
    node_certificate.load_cert_chain(str(tls / "node.crt"), str(tls / "node.key"))
    for context in (no_certificate, foreign, node_certificate):
        with (
            pytest.raises((httpx.TransportError, ssl.SSLError)),
            _over_tcp(port, dep_id, context) as client,
        ):
            _get(client, dep_id, "/")


def test_the_listener_closes_when_the_node_stops_and_comes_back_on_the_same_port(
    running: Running,
) -> None:
    dep_id = _start(running)
    port = _report(running, dep_id)["node_port"]
    gateway = running.plane.component("gateway").client_context()
    running.plane.set_state(dep_id, "stopped")
    wait_until(lambda: _report(running, dep_id).get("observed_state") == "stopped")
    assert _report(running, dep_id)["node_port"] is None
    assert _refused(port)
    running.plane.set_state(dep_id, "running")
    wait_until(lambda: _report(running, dep_id).get("observed_state") == "running", timeout=60)
    assert _report(running, dep_id)["node_port"] == port
    with _over_tcp(port, dep_id, gateway) as client:
        assert _get(client, dep_id, "/").status_code == 200


def test_a_node_killed_and_restarted_keeps_its_port(running: Running) -> None:
    dep_id = _start(running)
    port = _report(running, dep_id)["node_port"]
    pid = running.allocator.node_pid(dep_id)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: running.allocator.node_pid(dep_id) not in (None, pid), timeout=60)
    wait_until(lambda: _report(running, dep_id).get("observed_state") == "running", timeout=60)
    assert _report(running, dep_id)["node_port"] == port
    with _over_tcp(port, dep_id, running.plane.component("gateway").client_context()) as client:
        assert _get(client, dep_id, "/").status_code == 200


def test_nothing_listens_for_a_stopped_deployment(running: Running) -> None:
    dep_id = _start(running, state="stopped")
    assert _report(running, dep_id)["node_port"] is None
    listeners = running.allocator.node_listeners
    assert listeners is not None
    assert listeners.ports_by_deployment() == {}


# -- the forwarder alone, in front of a plain unix-socket echo server -------------------------


class _Echo:
    """A unix socket that echoes what it receives (stands in for a node's socket)."""

    def __init__(self, path: Path) -> None:
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(16)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(4096):
                conn.sendall(data)

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def echo(short_dir: Path) -> Iterator[Path]:
    path = short_dir / "echo.sock"
    server = _Echo(path)
    yield path
    server.close()


def _connected(port: int) -> socket.socket:
    conn = socket.create_connection((ADDRESS, port), timeout=5)
    conn.sendall(b"ping")
    return conn


def _closed_by_peer(conn: socket.socket) -> bool:
    try:
        return conn.recv(16) == b""
    except ConnectionResetError:
        return True


def test_a_node_past_its_connection_cap_gets_no_more(echo: Path) -> None:
    listeners = NodeListeners(ADDRESS, _ports(), max_connections=2)
    try:
        listeners.sync({"d" * 32: echo})
        port = listeners.port("d" * 32)
        assert port is not None
        first, second = _connected(port), _connected(port)
        assert first.recv(4) == b"ping"
        assert second.recv(4) == b"ping"
        with _connected(port) as third:
            assert _closed_by_peer(third)
        first.close()
        wait_until(lambda: listeners.open_connections("d" * 32) == 1)
        with _connected(port) as fourth:
            assert fourth.recv(4) == b"ping"
        second.close()
    finally:
        listeners.close()


def test_a_closed_listener_ends_its_open_connections(echo: Path) -> None:
    listeners = NodeListeners(ADDRESS, _ports())
    try:
        listeners.sync({"d" * 32: echo})
        port = listeners.port("d" * 32)
        assert port is not None
        with _connected(port) as conn:
            assert conn.recv(4) == b"ping"
            listeners.sync({})
            assert _closed_by_peer(conn)
        assert _refused(port)
        assert listeners.port("d" * 32) is None
    finally:
        listeners.close()


def test_an_idle_connection_is_closed(echo: Path) -> None:
    listeners = NodeListeners(ADDRESS, _ports(), idle_timeout_s=0.3)
    try:
        listeners.sync({"d" * 32: echo})
        port = listeners.port("d" * 32)
        assert port is not None
        with _connected(port) as conn:
            assert conn.recv(4) == b"ping"
            started = time.monotonic()
            assert _closed_by_peer(conn)
            assert 0.2 < time.monotonic() - started < 3
    finally:
        listeners.close()


def test_a_deployment_prefers_the_port_its_id_hashes_to_and_takes_the_next_when_taken(
    echo: Path,
) -> None:
    ports = _ports()
    dep_id = "e" * 32
    preferred = ports.preferred(dep_id)
    with socket.socket() as squatter:
        squatter.bind((ADDRESS, preferred))
        squatter.listen(1)
        listeners = NodeListeners(ADDRESS, ports)
        try:
            listeners.sync({dep_id: echo})
            assert listeners.port(dep_id) not in (None, preferred)
        finally:
            listeners.close()
    listeners = NodeListeners(ADDRESS, ports)
    try:
        listeners.sync({dep_id: echo})
        assert listeners.port(dep_id) == preferred
    finally:
        listeners.close()


@pytest.mark.parametrize("text", ["", "20000-", "b-c", "0-10", "20-10", "65535-65536"])
def test_a_port_range_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(NodePortsError):
        PortRange.parse(text)


def test_a_port_range_parses_low_high_and_a_single_port() -> None:
    assert PortRange.parse("20000-20999") == PortRange(20000, 20999)
    assert len(PortRange.parse("20000")) == 1


def test_closing_stops_the_listeners_thread() -> None:
    listeners = NodeListeners(ADDRESS, _ports())
    listeners.close()
    assert not any(t.name == "node-listeners" and t.is_alive() for t in threading.enumerate())


def test_the_allocator_command_with_node_ports_serves_its_nodes_on_the_advertise_address(
    sandbox: BubblewrapSandbox, volumes_here: None, short_dir: Path
) -> None:
    plane = stand_in(short_dir)
    (short_dir / "run").mkdir(mode=0o700)
    endpoints = {"internal_url": plane.url, "ca_file": str(short_dir / "pki" / "ca.crt")}
    (short_dir / "run" / "endpoints.json").write_text(json.dumps(endpoints))
    dep_id = new_id()
    plane.allocate(dep_id, sandbox_uid(), password=PASSWORD)
    ports = _ports()
    argv = [CITADEL, "allocator", "--data-dir", str(short_dir), "--interval", "0.1"]
    argv += ["--advertise-address", ADDRESS, "--node-ports", f"{ports.low}-{ports.high}"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: (plane.last_report(dep_id) or {}).get("observed_state") == "running")
        port = (plane.last_report(dep_id) or {})["node_port"]
        assert ports.low <= port <= ports.high
        gateway = plane.component("gateway").client_context()
        with _over_tcp(port, dep_id, gateway) as client:
            assert _get(client, dep_id, "/").json()["tagline"] == "You Know, for Search"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert _refused(port)
    finally:
        if proc.poll() is None:
            proc.kill()
        plane.stop()

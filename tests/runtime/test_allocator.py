"""The allocator against a stand-in control plane (see standin.py), running REAL sandboxed
nodes: isolation read from /proc, restart after kill -9 with the data intact, stop, delete."""

from __future__ import annotations

import os
import signal
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from citadel.kit.ids import new_id
from citadel.runtime.allocator import Allocator, deployment_directory, node_hostname
from citadel.runtime.control_plane import ControlPlane
from citadel.runtime.reconcile import ProcessState
from citadel.runtime.sandbox import BubblewrapSandbox
from tests.runtime.conftest import sandbox_uid
from tests.runtime.standin import StandInControlPlane, stand_in

PASSWORD = "elastic-test-password-1"


@dataclass
class Running:
    plane: StandInControlPlane
    allocator: Allocator
    data_dir: Path

    def node(self, dep_id: str) -> httpx.Client:
        """A client of the node's unix socket, with a gateway certificate (mTLS)."""
        tls = self.plane.component("gateway")
        sock = deployment_directory(self.data_dir, dep_id) / "node.sock"
        ctx = tls.client_context()
        return httpx.Client(
            base_url=f"https://{node_hostname(dep_id)}",
            transport=httpx.HTTPTransport(uds=str(sock), verify=ctx),
            verify=ctx,
            auth=("elastic", PASSWORD),
            timeout=30,
        )


def wait_until(check: Callable[[], object], timeout: float = 30.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {check}")


@pytest.fixture
def running(sandbox: BubblewrapSandbox, short_dir: Path) -> Iterator[Running]:
    plane = stand_in(short_dir)
    tls = plane.component("allocator")
    control_plane = ControlPlane(plane.url, tls)
    allocator = Allocator(
        data_dir=short_dir,
        control_plane=control_plane,
        key_provider=plane.provider,
        sandbox=sandbox,
        client_tls=tls,
    )
    stop = threading.Event()
    # The loop's thread starts the sandboxes; --die-with-parent ties them to it.
    thread = threading.Thread(target=allocator.run, args=(stop,), kwargs={"interval": 0.1})
    thread.start()
    try:
        yield Running(plane, allocator, short_dir)
    finally:
        stop.set()
        thread.join(timeout=60)
        control_plane.close()
        plane.stop()


def start_deployment(running: Running) -> tuple[str, int]:
    dep_id, uid = new_id(), sandbox_uid()
    running.plane.allocate(dep_id, uid, password=PASSWORD)
    wait_until(lambda: (running.plane.last_report(dep_id) or {}).get("observed_state") == "running")
    return dep_id, uid


def proc_status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in lines)}


def test_node_runs_unprivileged_under_seccomp_in_its_own_network(running: Running) -> None:
    dep_id, uid = start_deployment(running)
    pid = running.allocator.node_pid(dep_id)
    assert pid is not None
    status = proc_status(pid)
    assert status["Uid"].split() == [str(uid)] * 4
    assert status["NoNewPrivs"] == "1"
    assert status["Seccomp"] == "2"
    assert status["CapEff"] == "0000000000000000"
    assert os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net")
    assert os.readlink(f"/proc/{pid}/ns/pid") != os.readlink("/proc/self/ns/pid")
    assert os.readlink(f"/proc/{pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
    assert "citadel.node" in Path(f"/proc/{pid}/cmdline").read_text()


def test_deployment_directory_is_the_nodes_alone(running: Running) -> None:
    dep_id, uid = start_deployment(running)
    directory = deployment_directory(running.data_dir, dep_id)
    st = directory.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (uid, uid, 0o700)
    key = (directory / "tls" / "node.key").stat()
    assert (key.st_uid, key.st_mode & 0o777) == (uid, 0o600)
    db = (directory / "node.db").stat()
    assert db.st_uid == uid
    assert not (directory / "node.db").read_bytes().startswith(b"SQLite format 3")


def test_node_serves_tls_on_its_socket_with_the_elastic_password(running: Running) -> None:
    dep_id, _ = start_deployment(running)
    with running.node(dep_id) as client:
        assert client.get("/").json()["tagline"] == "You Know, for Search"
    report = running.plane.last_report(dep_id)
    assert report == {
        "observed_state": "running",
        "healthy": True,
        "detail": "",
        "elastic_password_applied": True,
    }


def test_node_refuses_clients_without_a_platform_certificate(running: Running) -> None:
    dep_id, _ = start_deployment(running)
    sock = deployment_directory(running.data_dir, dep_id) / "node.sock"
    ctx = ssl.create_default_context(cafile=str(running.plane.component("gateway").ca_file))
    with (
        pytest.raises((httpx.TransportError, ssl.SSLError)),
        httpx.Client(transport=httpx.HTTPTransport(uds=str(sock), verify=ctx)) as client,
    ):
        client.get(f"https://{node_hostname(dep_id)}/", auth=("elastic", PASSWORD))


def test_kill_9_restarts_the_node_and_acknowledged_documents_survive(running: Running) -> None:
    dep_id, _ = start_deployment(running)
    with running.node(dep_id) as client:
        for i in range(20):
            r = client.put(f"/books/_doc/{i}", json={"title": f"book {i}"})
            assert r.status_code in (200, 201), r.text
    first = running.allocator.node_pid(dep_id)
    assert first is not None
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: running.plane.last_report(dep_id)["observed_state"] == "restarting")
    wait_until(lambda: running.plane.last_report(dep_id)["observed_state"] == "running")
    second = running.allocator.node_pid(dep_id)
    assert second not in (None, first)
    with running.node(dep_id) as client:
        assert client.get("/books/_count").json()["count"] == 20
        assert client.get("/books/_doc/7").json()["_source"] == {"title": "book 7"}


def test_stopped_deployment_stops_its_node_and_keeps_its_data(running: Running) -> None:
    dep_id, _ = start_deployment(running)
    pid = running.allocator.node_pid(dep_id)
    running.plane.set_state(dep_id, "stopped")
    wait_until(lambda: running.plane.last_report(dep_id)["observed_state"] == "stopped")
    assert not Path(f"/proc/{pid}").exists()
    assert (deployment_directory(running.data_dir, dep_id) / "node.db").exists()
    running.plane.set_state(dep_id, "running")
    wait_until(lambda: running.plane.last_report(dep_id)["observed_state"] == "running")


def test_deleted_deployment_loses_its_directory(running: Running) -> None:
    dep_id, _ = start_deployment(running)
    running.plane.set_state(dep_id, "deleted")
    wait_until(lambda: running.plane.last_report(dep_id)["observed_state"] == "deleted")
    assert not deployment_directory(running.data_dir, dep_id).exists()
    assert running.allocator.state(dep_id) is ProcessState.ABSENT


def test_nodes_keep_running_while_the_control_plane_is_down(running: Running) -> None:
    dep_id, _ = start_deployment(running)
    pid = running.allocator.node_pid(dep_id)
    running.plane.up = False
    time.sleep(0.5)
    assert running.allocator.node_pid(dep_id) == pid
    with running.node(dep_id) as client:
        assert client.get("/_cluster/health").status_code == 200
    running.plane.up = True


def test_a_data_key_that_does_not_unwrap_locks_the_deployment(running: Running) -> None:
    """A wrapped key that does not belong to the deployment never starts a node: the
    deployment is locked with the reason, as it is when the key itself is revoked."""
    dep_id = new_id()
    running.plane.allocate(dep_id, sandbox_uid(), password=PASSWORD)
    other = new_id()
    running.plane.allocations[dep_id]["wrapped_data_key"] = running.plane.allocations.get(
        other, {}
    ).get("wrapped_data_key") or _wrapped_for(running.plane, other)
    running.plane.version += 1
    report = wait_until(
        lambda: (
            (running.plane.last_report(dep_id) or {}).get("observed_state") == "locked"
            and running.plane.last_report(dep_id)
        )
    )
    assert report["healthy"] is False
    assert report["detail"].startswith("wrong_context")
    assert running.allocator.node_pid(dep_id) is None


def _wrapped_for(plane: StandInControlPlane, dep_id: str) -> str:
    import base64

    wrapped = plane.provider.wrap(os.urandom(32), context=f"deployment:{dep_id}".encode())
    return base64.b64encode(wrapped).decode()


def test_a_crashing_node_is_restarted_with_growing_delays(running: Running) -> None:
    dep_id, _ = start_deployment(running)
    running.plane.set_state(dep_id, "stopped")
    wait_until(lambda: running.plane.last_report(dep_id)["observed_state"] == "stopped")
    # Another data key for the same deployment: the node refuses it and exits with 3.
    running.plane.allocations[dep_id]["wrapped_data_key"] = _wrapped_for(running.plane, dep_id)
    running.plane.set_state(dep_id, "running")
    report = wait_until(
        lambda: (
            running.plane.last_report(dep_id)["observed_state"] == "restarting"
            and running.plane.last_report(dep_id)
        )
    )
    assert report["detail"] == "node exited with status 3"
    time.sleep(3.0)
    # 0.5 + 1 + 2 s of backoff leave room for at most four attempts in about three seconds.
    assert 2 <= running.allocator.failures(dep_id) <= 4
    assert running.plane.last_report(dep_id)["healthy"] is False

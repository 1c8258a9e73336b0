"""The allocator against a stand-in control plane (see standin.py), running REAL sandboxed
nodes on REAL encrypted volumes (gocryptfs): isolation read from /proc, restart after kill -9
with the data intact, stop, lock and unlock, delete, the upgrade of a plaintext directory."""

from __future__ import annotations

import os
import signal
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from citadel.contract.client import ControlPlane
from citadel.contract.messages import data_key_context
from citadel.kit.deployment_dirs import DeploymentDirs
from citadel.kit.ids import new_id
from citadel.runtime import volume
from citadel.runtime.allocator import Allocator, node_hostname
from citadel.runtime.reconcile import ProcessState
from citadel.runtime.sandbox import BubblewrapSandbox
from tests.runtime.conftest import gocryptfs_serving, sandbox_uid
from tests.runtime.standin import StandInControlPlane, stand_in

PASSWORD = "elastic-test-password-1"


@dataclass
class Running:
    plane: StandInControlPlane
    allocator: Allocator
    data_dir: Path

    def dirs(self, dep_id: str) -> DeploymentDirs:
        return DeploymentDirs.of(self.data_dir, dep_id)

    def node(self, dep_id: str) -> httpx.Client:
        """A client of the node's unix socket, with a gateway certificate (mTLS)."""
        tls = self.plane.component("gateway")
        sock = self.dirs(dep_id).socket
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
def running(sandbox: BubblewrapSandbox, volumes_here: None, short_dir: Path) -> Iterator[Running]:
    with allocating(sandbox, short_dir) as found:
        yield found


@contextmanager
def allocating(sandbox: BubblewrapSandbox, short_dir: Path) -> Iterator[Running]:
    """An allocator with `sandbox` over a stand-in control plane, running its loop until the
    block ends; the nodes' logs are printed at the end (shown only for a failed test)."""
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
        _show_node_logs(short_dir)


def _show_node_logs(data_dir: Path) -> None:
    """Print each node's and volume's log (pytest shows them only for a failed test): a
    node's 500 says "internal error" to the client and the why only here, in a directory the
    test removes."""
    for log_file in sorted((data_dir / "logs" / "deployments").glob("*.log")):
        print(f"--- node log {log_file.name} ---\n{log_file.read_text(errors='replace')[-20000:]}")
    for log_file in sorted((data_dir / "logs" / "volumes").glob("*.log")):
        text = log_file.read_text(errors="replace")[-8000:]
        print(f"--- gocryptfs log {log_file.name} ---\n{text}")


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


def owner_and_mode(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_uid, st.st_gid, st.st_mode & 0o777


def test_deployment_directory_holds_a_mounted_volume_and_the_nodes_run_directory(
    running: Running,
) -> None:
    dep_id, uid = start_deployment(running)
    dirs = running.dirs(dep_id)
    assert sorted(p.name for p in dirs.root.iterdir()) == ["data", "run", "volume"]
    assert owner_and_mode(dirs.root) == (0, 0, 0o700)
    assert owner_and_mode(dirs.volume) == (uid, uid, 0o700)
    assert (dirs.volume / "gocryptfs.conf").exists()
    assert volume.is_mounted(dirs.data)
    assert owner_and_mode(dirs.data) == (uid, uid, 0o700)
    assert owner_and_mode(dirs.run) == (uid, uid, 0o700)
    assert owner_and_mode(dirs.tls / "node.key")[::2] == (uid, 0o600)
    assert dirs.socket.is_socket()
    assert (dirs.data / "node.db").stat().st_uid == uid  # the node's files, in the volume
    assert not [p for p in dirs.volume.rglob("*") if p.name.startswith("node")]


def test_the_node_sees_its_volume_at_data_and_its_socket_outside_it(running: Running) -> None:
    dep_id, _ = start_deployment(running)
    pid = running.allocator.node_pid(dep_id)
    mounts = Path(f"/proc/{pid}/mountinfo").read_text()
    assert volume.mount_points(mounts, volume.FSTYPE) == {Path("/data")}
    assert Path("/run/citadel") in volume.mount_points(mounts)
    assert "--unix-socket\0/run/citadel/node.sock" in Path(f"/proc/{pid}/cmdline").read_text()


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
        "node_port": None,  # no node listener: the node is reached on its socket only
        "snapshots": None,  # no snapshot repository on this platform
        "restored_from": None,
    }


def test_node_refuses_clients_without_a_platform_certificate(running: Running) -> None:
    dep_id, _ = start_deployment(running)
    sock = running.dirs(dep_id).socket
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


def test_stopped_deployment_stops_its_node_closes_its_volume_and_keeps_its_data(
    running: Running,
) -> None:
    dep_id, _ = start_deployment(running)
    index_books(running, dep_id, 5)
    pid = running.allocator.node_pid(dep_id)
    dirs = running.dirs(dep_id)
    running.plane.set_state(dep_id, "stopped")
    wait_until(lambda: running.plane.last_report(dep_id)["observed_state"] == "stopped")
    assert not Path(f"/proc/{pid}").exists()
    wait_until(lambda: not volume.is_mounted(dirs.data))
    assert list(dirs.data.iterdir()) == []
    wait_until(lambda: not gocryptfs_serving(dirs.volume))
    running.plane.set_state(dep_id, "running")
    wait_until(lambda: running.plane.last_report(dep_id)["observed_state"] == "running")
    with running.node(dep_id) as client:
        assert client.get("/books/_count").json()["count"] == 5


def test_deleted_deployment_loses_its_volume_and_directory(running: Running) -> None:
    dep_id, _ = start_deployment(running)
    dirs = running.dirs(dep_id)
    running.plane.set_state(dep_id, "stopped")
    wait_until(lambda: running.plane.last_report(dep_id)["observed_state"] == "stopped")
    running.plane.set_state(dep_id, "deleted")
    wait_until(lambda: running.plane.last_report(dep_id)["observed_state"] == "deleted")
    assert not dirs.root.exists()
    assert not volume.is_mounted(dirs.data)
    assert gocryptfs_serving(dirs.volume) == []
    assert running.allocator.state(dep_id) is ProcessState.ABSENT


def test_a_running_deployment_deleted_at_once_is_unmounted_before_removal(
    running: Running,
) -> None:
    dep_id, _ = start_deployment(running)
    dirs = running.dirs(dep_id)
    running.plane.set_state(dep_id, "deleted")
    wait_until(lambda: running.plane.last_report(dep_id)["observed_state"] == "deleted")
    assert not dirs.root.exists()
    assert gocryptfs_serving(dirs.volume) == []


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

    wrapped = plane.provider.wrap(os.urandom(32), context=data_key_context(dep_id))
    return base64.b64encode(wrapped).decode()


def test_a_crashing_node_is_restarted_and_stays_unhealthy(running: Running) -> None:
    """A node that exits at every start is started again and again (the backoff between
    attempts is `restart_delay`'s, tested in test_reconcile), reported restarting and unhealthy."""
    dep_id, _ = start_deployment(running)
    running.plane.set_state(dep_id, "stopped")
    wait_until(lambda: running.plane.last_report(dep_id)["observed_state"] == "stopped")
    # A node key that is not a key: the node cannot load it and exits at every start.
    (running.dirs(dep_id).tls / "node.key").write_bytes(b"not a key\n")
    running.plane.set_state(dep_id, "running")
    report = wait_until(
        lambda: (
            running.plane.last_report(dep_id)["observed_state"] == "restarting"
            and running.plane.last_report(dep_id)
        )
    )
    assert report["detail"].startswith("node exited with status ")
    wait_until(lambda: running.allocator.failures(dep_id) >= 3)
    last = running.plane.last_report(dep_id)
    assert last["observed_state"] == "restarting"
    assert last["healthy"] is False


def test_another_data_key_is_refused_by_the_volume_and_changes_nothing(
    running: Running,
) -> None:
    dep_id, _ = start_deployment(running)
    dirs = running.dirs(dep_id)
    running.plane.set_state(dep_id, "stopped")
    wait_until(lambda: not volume.is_mounted(dirs.data))
    before = files_and_bytes(dirs.volume)
    original = running.plane.allocations[dep_id]["wrapped_data_key"]
    # Another data key for the same deployment (it unwraps): the volume refuses it.
    running.plane.allocations[dep_id]["wrapped_data_key"] = _wrapped_for(running.plane, dep_id)
    running.plane.set_state(dep_id, "running")
    report = wait_until(
        lambda: (
            running.plane.last_report(dep_id)["observed_state"] == "failed"
            and running.plane.last_report(dep_id)
        )
    )
    assert report["detail"] == "could not start: the data key does not open the deployment's volume"
    assert running.allocator.node_pid(dep_id) is None
    assert not volume.is_mounted(dirs.data)
    assert files_and_bytes(dirs.volume) == before
    running.plane.allocations[dep_id]["wrapped_data_key"] = original
    running.plane.version += 1
    wait_until(lambda: running.plane.last_report(dep_id)["observed_state"] == "running")


# -- what is on disk: ciphertext only once the volume is closed --------------------------------

MARKER = "quokka-marker-5e0f"


def index_books(running: Running, dep_id: str, n: int) -> None:
    with running.node(dep_id) as client:
        for i in range(n):
            r = client.put(f"/books/_doc/{i}?refresh=true", json={"title": f"book {i} {MARKER}"})
            assert r.status_code in (200, 201), r.text


def files_and_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def assert_no_marker_under(root: Path) -> None:
    needle = MARKER.encode()
    for path in root.rglob("*"):
        assert MARKER not in path.name, path
        if path.is_file():
            assert needle not in path.read_bytes(), f"plaintext in {path}"


def test_after_kill_9_and_a_stop_no_plaintext_is_left_under_the_deployment(
    running: Running,
) -> None:
    dep_id, _ = start_deployment(running)
    dirs = running.dirs(dep_id)
    index_books(running, dep_id, 20)
    (dirs.data / f"{MARKER}.txt").write_text(f"a plaintext file {MARKER}")
    first = running.allocator.node_pid(dep_id)
    assert first is not None
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: running.plane.last_report(dep_id)["observed_state"] == "restarting")
    wait_until(lambda: running.plane.last_report(dep_id)["observed_state"] == "running")
    assert (dirs.data / f"{MARKER}.txt").read_text() == f"a plaintext file {MARKER}"
    with running.node(dep_id) as client:
        assert client.get("/books/_count").json()["count"] == 20
    running.plane.set_state(dep_id, "stopped")
    wait_until(lambda: not volume.is_mounted(dirs.data))
    assert_no_marker_under(dirs.root)
    assert files_and_bytes(dirs.volume)  # the ciphertext is all there is


def test_a_locked_deployment_closes_its_volume_and_unlocks_with_its_documents(
    running: Running,
) -> None:
    running.allocator.key_check_interval_s = 0.3
    dep_id, _ = start_deployment(running)
    dirs = running.dirs(dep_id)
    index_books(running, dep_id, 20)
    original = running.plane.allocations[dep_id]["wrapped_data_key"]
    running.plane.allocations[dep_id]["wrapped_data_key"] = _wrapped_for(running.plane, new_id())
    running.plane.version += 1  # the key no longer unwraps for this deployment: locked
    wait_until(lambda: running.plane.last_report(dep_id)["observed_state"] == "locked")
    wait_until(lambda: not volume.is_mounted(dirs.data))
    wait_until(lambda: not gocryptfs_serving(dirs.volume))  # the key went with it
    assert running.allocator.node_pid(dep_id) is None
    assert_no_marker_under(dirs.root)
    running.plane.allocations[dep_id]["wrapped_data_key"] = original
    running.plane.version += 1
    wait_until(lambda: running.plane.last_report(dep_id)["observed_state"] == "running")
    assert volume.is_mounted(dirs.data)
    with running.node(dep_id) as client:
        assert client.get("/books/_count").json()["count"] == 20
        hits = client.post("/books/_search", json={"query": {"match": {"title": MARKER}}})
        assert hits.json()["hits"]["total"]["value"] == 20


def test_a_plaintext_directory_of_the_previous_release_moves_into_a_new_volume(
    running: Running,
) -> None:
    """Make the previous release's layout from a real node's files (node.db and its
    companions, tls/, a stale node.sock, all directly in the deployment directory, owned by
    the uid), then start: the files end up inside the encrypted volume, the documents serve."""
    dep_id, uid = start_deployment(running)
    index_books(running, dep_id, 12)
    dirs = running.dirs(dep_id)
    running.plane.set_state(dep_id, "stopped")
    wait_until(lambda: not volume.is_mounted(dirs.data))
    _rewrite_as_previous_release(running, dep_id, uid)
    names = sorted(p.name for p in dirs.root.iterdir())
    assert "node.db" in names
    assert "volume" not in names

    running.plane.set_state(dep_id, "running")
    wait_until(lambda: running.plane.last_report(dep_id)["observed_state"] == "running")
    assert sorted(p.name for p in dirs.root.iterdir()) == ["data", "run", "volume"]
    assert owner_and_mode(dirs.root) == (0, 0, 0o700)
    assert (dirs.data / "node.db").exists()
    assert (dirs.tls / "node.key").exists()
    with running.node(dep_id) as client:
        assert client.get("/books/_count").json()["count"] == 12
    running.plane.set_state(dep_id, "stopped")
    wait_until(lambda: not volume.is_mounted(dirs.data))
    assert_no_marker_under(dirs.root)
    assert not [p for p in dirs.root.rglob("*") if p.name.startswith("node.db")]


def _rewrite_as_previous_release(running: Running, dep_id: str, uid: int) -> None:
    """The deployment directory as the release before encrypted volumes left it."""
    import base64
    import shutil

    dirs = running.dirs(dep_id)
    wrapped = base64.b64decode(running.plane.allocations[dep_id]["wrapped_data_key"])
    key = running.plane.provider.unwrap(wrapped, context=data_key_context(dep_id))
    # Opened beside the deployment, not at data/: the running allocator closes any volume it
    # finds open at data/ of a deployment that should not run, and would close this one.
    peek = dirs.root.parent / f"{dep_id}.peek"
    vol = volume.Volume(dirs.volume, peek, uid, uid)
    volume.open_volume(vol, key)
    saved = dirs.root.parent / f"{dep_id}.files"
    shutil.copytree(peek, saved)
    volume.unmount(peek)
    peek.rmdir()
    shutil.copytree(dirs.tls, saved / "tls")
    shutil.rmtree(dirs.root)
    saved.rename(dirs.root)
    (dirs.root / "node.sock").write_bytes(b"")  # a socket file left behind
    for path in [dirs.root, *dirs.root.rglob("*")]:
        os.chown(path, uid, uid)
    dirs.root.chmod(0o700)

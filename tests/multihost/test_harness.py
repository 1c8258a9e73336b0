"""The namespace hosts themselves: what a host reaches, what it sees, that sandboxes and
encrypted volumes work inside one, and that nothing of a run is left on the machine."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.multihost.harness import STATE_DIR, Network, Postgres

pytestmark = pytest.mark.multihost
PY = sys.executable
CONNECT = (
    "import socket,sys\n"
    "s=socket.socket(); s.settimeout(2)\n"
    "print(s.connect_ex((sys.argv[1], int(sys.argv[2]))))\n"
)


def _connect(host, address: str, port: int) -> int:
    """errno of a TCP connect from `host` (0: connected, 111: refused, 101: unreachable)."""
    done = host.run([PY, "-c", CONNECT, address, str(port)])
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


def test_hosts_reach_each_other_and_the_bridge_and_nothing_else(net: Network):
    a, b = net.add_host("a"), net.add_host("b")
    listener = b.start("listener", [PY, "-m", "http.server", "-b", b.address, "8080"])
    try:
        for _ in range(50):
            if _connect(a, b.address, 8080) == 0:
                break
        assert _connect(a, b.address, 8080) == 0
        assert _connect(a, net.gateway_address, 1) == 111  # the bridge answers (refused)
        assert _connect(a, "127.0.0.1", 8080) == 111  # a's loopback is its own
        assert _connect(a, "192.0.2.2", 1) == 101  # no route off the run's /24
        assert _connect(a, "1.1.1.1", 443) == 101
    finally:
        listener.stop()


def test_a_host_sees_its_own_disk_and_no_other(net: Network):
    a, b = net.add_host("a"), net.add_host("b")
    (a.disk / "mine").write_text("a")
    (b.disk / "theirs").write_text("b")
    (net.root / "shared" / "both").write_text("s")
    done = a.run(["sh", "-c", f"ls {net.root}/hosts {a.root} {net.root}/disks {net.root}/shared"])
    assert done.returncode == 0, done.stderr
    listing = done.stdout.split()
    assert {"mine", "both"} <= set(listing)
    assert not {"theirs", "b"} & set(listing)


def test_a_sandbox_with_its_own_network_runs_inside_a_host_on_an_encrypted_volume(net: Network):
    if shutil.which("bwrap") is None or shutil.which("gocryptfs") is None:
        pytest.skip("bubblewrap or gocryptfs is not installed")
    a = net.add_host("a")
    (a.disk / "cipher").mkdir()
    (a.disk / "plain").mkdir()
    (a.disk / "pw").write_text("0" * 64 + "\n")
    init = a.run(["gocryptfs", "-init", "-q", "-passfile", f"{a.root}/pw", f"{a.root}/cipher"])
    assert init.returncode == 0, init.stderr
    inside = (
        "import socket; "
        "print(open('/data/secret').read().strip(), *dict(socket.if_nameindex()).values())"
    )
    script = (
        "gocryptfs -q -passfile pw cipher plain && echo volume-text > plain/secret"
        " && bwrap --ro-bind /usr /usr --symlink usr/lib /lib --symlink usr/lib64 /lib64"
        " --symlink usr/bin /bin --proc /proc --dev /dev --bind plain /data --unshare-all"
        ' --die-with-parent python3 -c "$0"'
        f" && grep -c ' {a.root}/plain .* fuse.gocryptfs ' /proc/self/mountinfo"
        " && ls /sys/fs/cgroup/pids >/dev/null"
    )
    done = a.run(["sh", "-c", script, inside])
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split()
    assert lines[:2] == ["volume-text", "lo"]  # the sandbox: its own network, lo only
    assert lines[2] == "1"  # the volume is mounted in the host's process
    assert a.pids(), "the gocryptfs daemon lives on in the host's cgroup"
    assert not (a.disk / "plain" / "secret").exists()  # the machine sees the mount point only
    assert b"volume-text" not in b"".join(p.read_bytes() for p in a.disk.rglob("cipher/*"))
    a.kill_all()
    assert not a.pids()


def test_postgres_on_the_bridge_is_reachable_from_every_host(net: Network, postgres: Postgres):
    a = net.add_host("a")
    url = postgres.create_database("reach")
    probe = (
        "import sqlalchemy as sa, sys; "
        "print(sa.create_engine(sys.argv[1]).connect().scalar(sa.text('select 41+1')))"
    )
    done = a.run([PY, "-c", probe, url])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "42"
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert conn.scalar(sa.text("select 1")) == 1
    engine.dispose()


def test_closing_removes_every_namespace_link_cgroup_and_file_even_with_processes_running():
    net = Network.create()
    try:
        a, b = net.add_host("a"), net.add_host("b")
        for host in (a, b):
            host.start("sleeper", ["sh", "-c", "sleep 300 & sleep 300"])
        for _ in range(200):
            if len(a.pids()) == len(b.pids()) == 3:
                break
            time.sleep(0.05)
        net.remove_host("b")  # a lost host: its processes and namespace are gone at once
        assert not b.pids()
        assert b.namespace not in _namespaces()
        assert a.namespace in _namespaces()
        cgroups = [*a.cgroups]
        pids = a.pids()
        assert len(pids) == 3
    finally:
        net.close()
    assert not any(n.startswith(net.run) for n in _namespaces())
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert net.run not in links
    assert not any(c.exists() for c in cgroups)
    assert not net.root.exists()
    assert not (STATE_DIR / f"{net.run}.json").exists()
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid)


def test_a_run_whose_process_died_is_swept_by_the_next(tmp_path: Path):
    net = Network.create()
    a = net.add_host("a")
    launched = a.start("sleepers", ["sh", "-c", "sleep 300 & sleep 300"])
    for _ in range(200):
        if len(a.pids()) == 3:
            break
        time.sleep(0.05)
    launched.kill()  # its parent is gone too: as if the test had been killed
    sleepers = a.pids()
    assert len(sleepers) == 2
    state = json.loads((STATE_DIR / f"{net.run}.json").read_text())
    state["owner"] = 2**22 + 7  # no such process: as if the test had been killed
    (STATE_DIR / f"{net.run}.json").write_text(json.dumps(state))
    Network.create().close()  # a new run sweeps the stale one first
    assert not any(n.startswith(net.run) for n in _namespaces())
    assert not net.root.exists()
    assert not any(Path(f"/proc/{pid}").exists() and not _zombie(pid) for pid in sleepers)


def _namespaces() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True

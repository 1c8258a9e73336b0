"""Several hosts on one machine, made of Linux network namespaces, for the multi-host tests.

One run (named ``cit<6 hex>``) builds, and removes at the end even when a test fails:

- a bridge ``cit…`` in the machine's own network namespace, holding the run's first address
  ``10.X.Y.1/24`` (a private /24 chosen per run, one no route of the machine overlaps), so the
  processes of the machine itself (PostgreSQL, the test) reach the hosts;
- per host a network namespace ``cit…-<name>`` with a veth pair: one end on the bridge, the
  other ``eth0`` inside with the host's address ``10.X.Y.<n>/24``, and ``lo`` up. No default
  route: a host reaches loopback, the other hosts and the bridge address, nothing else;
- per host its own disk, ``<root>/disks/<name>``. A process started in a host sees it as
  ``<root>/hosts/<name>`` and sees neither the other hosts' disks nor the list of them (a tmpfs
  over ``<root>/hosts`` and ``<root>/disks`` in the process's own mount namespace): hosts share
  the network and ``<root>/shared`` (a snapshot repository, say), no other file, so a unix
  socket of one host is out of reach of the others, as across machines;
- per host a cgroup in the memory and pids hierarchies, under this process's own: every
  process started in the host and everything it forks (gocryptfs daemons, sandboxed nodes) is
  in it, so `Host.kill_all` finds them all, and a "lost host" is one call.

Processes enter a host with ``nsenter --net`` and ``unshare --mount``, not ``ip netns exec``:
the latter remounts ``/sys`` in its mount namespace and so hides ``/sys/fs/cgroup``, which the
allocator needs for its deployments' cgroups. Bubblewrap sandboxes (with their own network
namespace) and gocryptfs (FUSE) work inside; a FUSE mount made in a host's process is visible
to that process and its children only, never on the machine (tests/multihost/test_harness.py).

Each run writes what it made to ``/tmp/citadel-multihost/<run>.json``; a later run removes the
leftovers of a run whose process is gone (killed before its own teardown).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

STATE_DIR = Path("/tmp/citadel-multihost")
FIRST_HOST = 10  # host n gets 10.X.Y.(FIRST_HOST + n)
CONTROLLERS = ("memory", "pids")

# Run in the host's own mount and UTS namespaces before the command: join the host's cgroups,
# take the host's name as host name, hide the other hosts' disks, show its own at
# <root>/hosts/<name>, optionally a hosts file of its own (a path in that view).
_VIEW = r"""
set -e
root=$1; name=$2; procs=$3; hosts=$4; shift 4
for f in $procs; do echo $$ > "$f"; done
hostname "$name"
mount -t tmpfs -o mode=0755,size=1m citadel-hosts "$root/hosts"
mkdir "$root/hosts/$name"
mount --bind "$root/disks/$name" "$root/hosts/$name"
mount -t tmpfs -o mode=0700,size=1m citadel-disks "$root/disks"
if [ -n "$hosts" ]; then mount --bind "$hosts" /etc/hosts; fi
cd "$root/hosts/$name"
exec "$@"
"""


class Unavailable(Exception):
    """This machine cannot make the hosts; the message says why (the tests skip with it)."""


def why_unavailable() -> str | None:
    """Why network-namespace hosts cannot be made here, or None when they can (checked by
    making, and removing, one namespace)."""
    if os.geteuid() != 0:
        return "not root (network namespaces, bridges and mounts need root)"
    for tool in ("ip", "nsenter", "unshare", "mount"):
        if shutil.which(tool) is None:
            return f"`{tool}` is missing"
    probe = f"citprobe-{secrets.token_hex(3)}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"cannot make a network namespace: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    for controller in CONTROLLERS:
        if _own_cgroup(controller) is None:
            return f"no cgroup v1 {controller} hierarchy to track the hosts' processes in"
    return None


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")


def _own_cgroup(controller: str) -> Path | None:
    """This process's cgroup directory in the v1 hierarchy of `controller`."""
    mount = Path("/sys/fs/cgroup") / controller
    if not (mount / "cgroup.procs").exists():
        return None
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return mount / path.lstrip("/")
    return None


def _free_subnet() -> ipaddress.IPv4Network:
    """A 10.X.Y.0/24 that no address or route of the machine overlaps."""
    taken = []
    for args in (["-4", "route", "show", "table", "all"], ["-4", "-o", "addr", "show"]):
        out = subprocess.run(["ip", *args], capture_output=True, text=True).stdout
        for word in out.split():
            with contextlib.suppress(ValueError):
                if "/" in word or word.count(".") == 3:
                    taken.append(ipaddress.ip_network(word, strict=False))
    for _ in range(200):
        net = ipaddress.ip_network(f"10.{random.randint(16, 250)}.{random.randint(0, 255)}.0/24")
        if not any(net.overlaps(other) for other in taken):
            return net
    raise Unavailable("no free 10.X.Y.0/24 on this machine")


@dataclass
class HostProcess:
    """A process started in a host, its log (stdout and stderr) on the machine's side."""

    host: Host
    name: str
    argv: list[str]
    popen: subprocess.Popen[bytes]
    log_path: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log(self, tail: int = 6000) -> str:
        """The end of the process's output."""
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def stop(self, timeout: float = 20) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; the exit status."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)
        return self.popen.returncode

    def kill(self) -> None:
        """SIGKILL, as a crash (its children are not told)."""
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(timeout=10)


@dataclass
class Host:
    """One namespace host: its address, its disk and the processes started in it."""

    network: Network
    name: str
    index: int
    address: str
    namespace: str
    cgroups: list[Path]
    processes: list[HostProcess] = field(default_factory=list)
    removed: bool = False

    @property
    def disk(self) -> Path:
        """The host's disk as the machine (and the test) sees it."""
        return self.network.root / "disks" / self.name

    @property
    def root(self) -> Path:
        """The host's disk as processes in the host see it: pass these paths to them."""
        return self.network.root / "hosts" / self.name

    def outside(self, inside: Path | str) -> Path:
        """Where a path of the host's view (under `root`) lies on the machine."""
        return self.disk / Path(inside).relative_to(self.root)

    def command(self, argv: Sequence[str], *, hosts_file: Path | None = None) -> list[str]:
        """`argv` wrapped to run in this host: its network, its view of the files, its
        cgroups."""
        procs = " ".join(str(cg / "cgroup.procs") for cg in self.cgroups)
        return [
            "nsenter",
            f"--net=/run/netns/{self.namespace}",
            "unshare",
            "--mount",
            "--uts",
            "--propagation",
            "slave",
            "sh",
            "-c",
            _VIEW,
            "host-view",
            str(self.network.root),
            self.name,
            procs,
            str(hosts_file or ""),
            *argv,
        ]

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        hosts_file: Path | None = None,
    ) -> HostProcess:
        """Start `argv` in the host; its output goes to ``<disk>/logs/<name>.log``."""
        if self.removed:
            raise RuntimeError(f"host {self.name} was removed")
        logs = self.disk / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log_path = logs / f"{name}.log"
        with log_path.open("ab") as log:
            popen = subprocess.Popen(
                self.command(argv, hosts_file=hosts_file),
                env={**os.environ, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process = HostProcess(self, name, list(argv), popen, log_path)
        self.processes.append(process)
        return process

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        hosts_file: Path | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """Run `argv` in the host to its end; its output captured as text."""
        return subprocess.run(
            self.command(argv, hosts_file=hosts_file),
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def pids(self) -> set[int]:
        """Every live process of the host (its cgroups and their children)."""
        return _cgroup_pids(self.cgroups)

    def kill_all(self) -> None:
        """SIGKILL every process of the host (FUSE daemons and sandboxed nodes included)."""
        for process in self.processes:  # first: one may not have joined the cgroups yet
            with contextlib.suppress(ProcessLookupError):
                process.popen.kill()
        _kill_cgroups(self.cgroups)
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.popen.wait(timeout=5)


class Network:
    """The bridge, the hosts and their files; `close` removes everything it made."""

    def __init__(self, root: Path, run: str, subnet: ipaddress.IPv4Network) -> None:
        self.root = root
        self.run = run
        self.subnet = subnet
        self.bridge = run
        self.gateway_address = str(subnet.network_address + 1)  # the bridge's, for the machine
        self.hosts: dict[str, Host] = {}
        self._state: dict = {
            "owner": os.getpid(),
            "root": str(root),
            "bridge": self.bridge,
            "namespaces": [],
            "cgroups": [],
            "postgres": None,
        }
        self._cgroup_parents = []
        for controller in CONTROLLERS:
            own = _own_cgroup(controller)
            assert own is not None
            self._cgroup_parents.append(own / run)

    @classmethod
    def create(cls) -> Network:
        """A bridge with the run's first address; raises `Unavailable` if hosts cannot be
        made here."""
        reason = why_unavailable()
        if reason is not None:
            raise Unavailable(reason)
        sweep_stale()
        run = f"cit{secrets.token_hex(3)}"
        root = Path(tempfile.mkdtemp(prefix=f"{run}-", dir="/tmp"))
        root.chmod(0o755)
        for part in ("hosts", "disks", "shared"):
            (root / part).mkdir()
        network = cls(root, run, _free_subnet())
        network._save()
        try:
            for parent in network._cgroup_parents:
                parent.mkdir()
                network._state["cgroups"].append(str(parent))
            network._save()
            _ip("link", "add", network.bridge, "type", "bridge")
            _ip("addr", "add", f"{network.gateway_address}/24", "dev", network.bridge)
            _ip("link", "set", network.bridge, "up")
        except BaseException:
            network.close()
            raise
        return network

    def _save(self) -> None:
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        (STATE_DIR / f"{self.run}.json").write_text(json.dumps(self._state))

    def add_host(self, name: str) -> Host:
        """A new host: namespace, veth pair on the bridge, address, lo up, disk, cgroups."""
        if name in self.hosts or not name.isalnum() or len(name) > 8:
            raise ValueError("a host name is a new alphanumeric word of at most 8 characters")
        index = len(self.hosts)
        address = str(self.subnet.network_address + FIRST_HOST + index)
        namespace = f"{self.run}-{name}"
        veth = f"{self.run}v{index}"
        self._state["namespaces"].append(namespace)
        self._save()
        _ip("netns", "add", namespace)
        _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", namespace)
        _ip("link", "set", veth, "master", self.bridge, "up")
        _ip("-n", namespace, "addr", "add", f"{address}/24", "dev", "eth0")
        _ip("-n", namespace, "link", "set", "eth0", "up")
        _ip("-n", namespace, "link", "set", "lo", "up")
        cgroups = []
        for parent in self._cgroup_parents:
            cgroup = parent / name
            cgroup.mkdir()
            cgroups.append(cgroup)
        (self.root / "disks" / name).mkdir(mode=0o755)
        host = Host(self, name, index, address, namespace, cgroups)
        self.hosts[name] = host
        return host

    def remove_host(self, name: str) -> None:
        """The host is lost: every process in it killed, its namespace (and so its link)
        deleted. Its disk stays on the machine, as a dead machine's disk would."""
        host = self.hosts[name]
        host.kill_all()
        subprocess.run(["ip", "netns", "del", host.namespace], capture_output=True)
        host.removed = True

    def note_postgres(self, directory: Path) -> None:
        self._state["postgres"] = str(directory)
        self._save()

    def close(self) -> None:
        """Remove every namespace, link, cgroup and file of the run (kills what runs)."""
        for host in self.hosts.values():
            host.kill_all()  # and reap what this process started, so no zombie holds a cgroup
        _teardown(self._state)


def _cgroup_pids(cgroups: Sequence[Path]) -> set[int]:
    pids: set[int] = set()
    for cgroup in cgroups:
        if not cgroup.exists():
            continue
        for procs in cgroup.rglob("cgroup.procs"):
            with contextlib.suppress(OSError, ValueError):
                pids.update(int(p) for p in procs.read_text().split())
    return pids


def _living(pids: set[int]) -> set[int]:
    """Those of `pids` not dead already (a zombie waits for its parent, not for a signal)."""
    alive = set()
    for pid in pids:
        with contextlib.suppress(OSError, IndexError):
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                alive.add(pid)
    return alive


def _kill_cgroups(cgroups: Sequence[Path], *, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while (pids := _living(_cgroup_pids(cgroups))) and time.monotonic() < deadline:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def _remove_cgroup_tree(cgroup: Path) -> None:
    if not cgroup.exists():
        return
    for child in sorted((p for p in cgroup.rglob("*") if p.is_dir()), reverse=True):
        with contextlib.suppress(OSError):
            child.rmdir()
    for _ in range(50):
        try:
            cgroup.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.1)  # the last killed processes are still leaving it


def _teardown(state: dict) -> None:
    """Undo a run from its state file (this run's, or a stale one's)."""
    cgroups = [Path(c) for c in state.get("cgroups", [])]
    _kill_cgroups(cgroups)
    for cgroup in cgroups:
        _remove_cgroup_tree(cgroup)
    for namespace in state.get("namespaces", []):
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True)
    subprocess.run(["ip", "link", "del", state["bridge"]], capture_output=True)
    if state.get("postgres"):
        stop_postgres(Path(state["postgres"]))
    root = Path(state["root"])
    # The hosts' FUSE mounts lived in their processes' mount namespaces, gone with them: what
    # is left under root is ciphertext and empty mount points.
    shutil.rmtree(root, ignore_errors=True)
    (STATE_DIR / f"{root.name.split('-')[0]}.json").unlink(missing_ok=True)


def sweep_stale() -> None:
    """Remove what runs whose process died before their teardown left behind."""
    if not STATE_DIR.exists():
        return
    for path in STATE_DIR.glob("cit*.json"):
        try:
            state = json.loads(path.read_text())
            os.kill(state["owner"], 0)
            continue  # its owner still runs
        except ProcessLookupError:
            pass
        except (OSError, ValueError, KeyError):
            continue
        _teardown(state)
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def network() -> Iterator[Network]:
    """A `Network` removed at the end, whatever happens in between (SIGTERM included)."""
    made = Network.create()
    previous = signal.getsignal(signal.SIGTERM)

    def _terminated(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    if previous in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _terminated)
    try:
        yield made
    finally:
        made.close()
        if previous in (signal.SIG_DFL, None):
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


# PostgreSQL on the bridge address -------------------------------------------------------------

PG_PORT = 5432  # the address is the run's own, so the usual port is free on it


def _pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


def _as_postgres(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


@dataclass(frozen=True)
class Postgres:
    """A private PostgreSQL listening on the bridge address: every host reaches it."""

    directory: Path
    address: str
    port: int = PG_PORT

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@{self.address}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new empty database; its URL."""
        import sqlalchemy as sa

        admin = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        admin.dispose()
        return self.url(name)


def start_postgres(net: Network) -> Postgres:
    """initdb and start a PostgreSQL on the run's bridge address (trusting the run's /24
    only); stopped by the network's `close`. Raises `Unavailable` without PostgreSQL."""
    pg_bin = _pg_bin()
    if pg_bin is None:
        raise Unavailable("PostgreSQL is not installed (make test installs it)")
    directory = Path(tempfile.mkdtemp(prefix=f"{net.run}-pg-", dir="/tmp"))
    net.note_postgres(directory)
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    subprocess.run(
        _as_postgres(
            [
                str(pg_bin / "initdb"),
                "-D",
                f"{directory}/data",
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
            ]
        ),
        check=True,
        capture_output=True,
    )
    with (directory / "data" / "pg_hba.conf").open("a") as hba:
        hba.write(f"host all all {net.subnet} trust\n")
    options = (
        f"-p {PG_PORT} -k {directory} -c listen_addresses={net.gateway_address} "
        "-c fsync=off -c max_connections=200"
    )
    subprocess.run(
        _as_postgres(
            [
                str(pg_bin / "pg_ctl"),
                "-D",
                f"{directory}/data",
                "-l",
                f"{directory}/log",
                "-w",
                "-o",
                options,
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    return Postgres(directory, net.gateway_address)


def stop_postgres(directory: Path) -> None:
    pg_bin = _pg_bin()
    if pg_bin is not None and (directory / "data").exists():
        subprocess.run(
            _as_postgres(
                [str(pg_bin / "pg_ctl"), "-D", f"{directory}/data", "-m", "immediate", "stop"]
            ),
            capture_output=True,
        )
    shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":  # `python -m tests.multihost.harness sweep`: remove stale runs
    if sys.argv[1:] == ["sweep"]:
        sweep_stale()

"""The one node of the cluster as the cluster and nodes APIs describe it.

A node's id is derived from the cluster uuid (stable for the data directory's life, 22
URL-safe base64 characters as Elasticsearch's); its ephemeral id is new each process. Roles
are ``data`` and ``master``: the node holds every shard and is always its own elected master
(no ingest pipelines, no machine learning, no transforms). It has no transport layer, so no
transport address and no node-to-node ports are reported.

Host facts (memory, load, disk, descriptors) are read from ``/proc`` and the filesystem when
asked; there is no JVM, so heap figures are absent rather than invented.
"""

from __future__ import annotations

import base64
import hashlib
import os
import platform
import resource
import secrets
import shutil
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

from citadel.kit.clock import Clock
from citadel.node.services import NodeInfo

ROLES = ("data", "master")
ROLE_LETTERS = "dm"
IP = "127.0.0.1"
ATTRIBUTES = {"xpack.installed": "true"}


def node_id(cluster_uuid: str) -> str:
    """The node's id: 22 URL-safe base64 characters derived from the cluster uuid."""
    digest = hashlib.sha256(b"citadel-node:" + cluster_uuid.encode()).digest()
    text = base64.urlsafe_b64encode(digest).decode()[:22]
    return text if text[0] not in "-_" else "N" + text[1:]  # a path segment, never `_x`


@dataclass(frozen=True)
class LocalNode:
    """Who the node is, and since when (epoch milliseconds) this process has served."""

    id: str
    ephemeral_id: str
    name: str
    host: str
    ip: str
    started_ms: int
    version: str


def describe(info: NodeInfo, started_ms: int) -> LocalNode:
    """The node as this process introduces it (a fresh ephemeral id)."""
    return LocalNode(
        id=node_id(info.cluster_uuid),
        ephemeral_id=base64.urlsafe_b64encode(secrets.token_bytes(16)).decode()[:22],
        name=info.node_name,
        host=IP,
        ip=IP,
        started_ms=started_ms,
        version=info.version,
    )


_KNOWN: dict[tuple[str, str], LocalNode] = {}
_KNOWN_LOCK = threading.Lock()


def of(info: NodeInfo, clock: Clock) -> LocalNode:
    """This process's `LocalNode` for `info` (described once, so every API shows the same)."""
    key = (info.cluster_uuid, info.node_name)
    with _KNOWN_LOCK:
        if key not in _KNOWN:
            _KNOWN[key] = describe(info, int(clock.now().timestamp() * 1000))
        return _KNOWN[key]


@dataclass(frozen=True)
class HostFacts:
    """What the operating system says about the machine and this process."""

    cpus: int
    cpu_percent: int | None
    load: tuple[float, float, float] | None
    mem_total: int | None
    mem_free: int | None
    rss: int | None
    open_fds: int | None
    max_fds: int | None
    disk_total: int
    disk_free: int
    os_name: str
    os_version: str
    arch: str
    hostname: str

    @property
    def mem_used(self) -> int | None:
        """Bytes of memory in use (total minus available)."""
        if self.mem_total is None or self.mem_free is None:
            return None
        return self.mem_total - self.mem_free

    @property
    def mem_percent(self) -> int | None:
        """Percent of memory in use."""
        used = self.mem_used
        if used is None or not self.mem_total:
            return None
        return round(100 * used / self.mem_total)

    @property
    def disk_used(self) -> int:
        """Bytes used on the data directory's filesystem."""
        return self.disk_total - self.disk_free

    @property
    def disk_percent(self) -> int | None:
        """Percent of the data directory's filesystem in use."""
        if not self.disk_total:
            return None
        return round(100 * self.disk_used / self.disk_total)


class CpuSampler:
    """Machine CPU use since the previous sample (since boot for the first), from /proc/stat."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = _cpu_times()

    def percent(self) -> int | None:
        """Percent of CPU time not idle since the last call."""
        now = _cpu_times()
        with self._lock:
            last, self._last = self._last, now
        if now is None:
            return None
        busy, total = now
        if last is not None and total > last[1]:
            busy, total = busy - last[0], total - last[1]
        return round(100 * busy / total) if total else 0


def _cpu_times() -> tuple[int, int] | None:
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except (OSError, IndexError):
        return None
    values = [int(v) for v in fields]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


def host_facts(data_dir: Path, cpu: CpuSampler | None = None) -> HostFacts:
    """Read the machine's and this process's figures now."""
    meminfo = _meminfo()
    try:
        load: tuple[float, float, float] | None = os.getloadavg()
    except OSError:
        load = None
    try:
        open_fds: int | None = len(os.listdir("/proc/self/fd"))
    except OSError:
        open_fds = None
    disk = shutil.disk_usage(data_dir)
    return HostFacts(
        cpus=os.cpu_count() or 1,
        cpu_percent=(cpu or CPU).percent(),
        load=load,
        mem_total=meminfo.get("MemTotal"),
        mem_free=meminfo.get("MemAvailable"),
        rss=_rss(),
        open_fds=open_fds,
        max_fds=resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        disk_total=disk.total,
        disk_free=disk.free,
        os_name=platform.system(),
        os_version=platform.release(),
        arch=platform.machine(),
        hostname=socket.gethostname(),
    )


def _meminfo() -> dict[str, int]:
    out = {}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            name, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                out[name] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    except OSError:
        pass
    return out


def _rss() -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


CPU = CpuSampler()

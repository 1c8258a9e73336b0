"""A deployment's size enforced by the kernel: one cgroup per deployment (ADR 20).

Under the allocator's own cgroup the allocator makes a parent, ``citadel``, and in it one
child per deployment, named by the deployment id. The child's limits come from the
deployment's size (`resources_for`):

    memory   the size in MiB, as bytes, swap included: v2 ``memory.max`` with
             ``memory.swap.max`` 0 and ``memory.oom.group`` 1; v1 ``memory.limit_in_bytes``
             and ``memory.memsw.limit_in_bytes`` both at that value
    pids     512 per started GiB of size, at most 4096 (``pids.max``: processes and threads)
    cpu      a serverless project's CPU share (`Resources.cpu_millis`, thousandths of a CPU)
             as a CFS quota over a 100 ms period: v2 ``cpu.max`` "<quota> 100000", v1
             ``cpu.cfs_quota_us``; only where the ``cpu`` controller is offered (`Cgroups.cpu`):
             without it the quota is skipped (the sandbox logs it) and nothing else changes

The sandbox moves the process that will exec ``prlimit`` → ``bwrap`` → the node into the
child before it execs (`enter_command`), so the node and everything it forks are charged to
it from their first instruction. A node past its memory is killed by the kernel's OOM killer
inside its own cgroup — no other deployment is touched — and the allocator restarts it as any
crash; `oom_kills` tells why it ended.

Both hierarchies are supported, found from ``/proc/self/mountinfo`` and ``/proc/self/cgroup``:
the unified one (cgroup v2) when it offers the ``memory`` and ``pids`` controllers, else the
v1 ``memory`` and ``pids`` hierarchies. `discover` raises `CgroupsUnavailable` saying why when
neither is usable; the allocator then falls back to rlimits (see `sandbox.Limits`). The ``cpu``
controller is optional: used when offered (and delegated) beside memory and pids, never a reason
to refuse cgroups.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import signal
import time
from dataclasses import dataclass
from pathlib import Path

MIB = 1024 * 1024
PIDS_PER_GIB = 512
PIDS_CEILING = 4096
PARENT = "citadel"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_CONTROLLERS = ("memory", "pids")
_OPTIONAL = ("cpu",)  # a project's CPU quota; machines without it still get memory and pids
CPU_PERIOD_US = 100_000


class CgroupsUnavailable(RuntimeError):
    """This machine offers no cgroup hierarchy the allocator can use; the message says why."""


@dataclass(frozen=True)
class Resources:
    """What one deployment's node may use."""

    memory_bytes: int
    pids: int
    cpu_millis: int | None = None  # a CFS quota in thousandths of a CPU; None: no quota


def resources_for(size_mb: int, cpu_millis: int | None = None) -> Resources:
    """The limits of a deployment of `size_mb` MiB (the control plane's ``size``), with a CPU
    quota of `cpu_millis` thousandths of a CPU when given (a serverless project's)."""
    if size_mb <= 0:
        raise ValueError("a deployment's size is a positive number of MiB")
    if cpu_millis is not None and cpu_millis <= 0:
        raise ValueError("a CPU quota is a positive number of thousandths of a CPU")
    gib_started = -(-size_mb // 1024)
    return Resources(size_mb * MIB, min(PIDS_CEILING, PIDS_PER_GIB * gib_started), cpu_millis)


def cpu_quota_us(cpu_millis: int) -> int:
    """The CFS quota, in microseconds per `CPU_PERIOD_US`, of `cpu_millis` thousandths of a CPU
    (at least 1 ms, the kernel's minimum)."""
    return max(1_000, cpu_millis * CPU_PERIOD_US // 1_000)


@dataclass(frozen=True)
class Cgroups:
    """The Citadel parent cgroup(s) of this machine: one directory (v2) or one per controller
    (v1), each holding one child per deployment."""

    version: int
    parents: dict[str, Path]  # v2: {"unified": dir}; v1: {"memory": dir, "pids": dir[, "cpu"]}
    cpu: bool = False  # whether the cpu controller is delegated (a project's CPU quota)

    @classmethod
    def discover(
        cls,
        parent: str = PARENT,
        *,
        mountinfo: Path = Path("/proc/self/mountinfo"),
        own: Path = Path("/proc/self/cgroup"),
    ) -> Cgroups:
        """The hierarchy to use, with `parent` made under this process's own cgroup(s)."""
        if not _NAME.match(parent):
            raise ValueError(f"not a cgroup name: {parent!r}")
        try:
            mounts = _cgroup_mounts(mountinfo.read_text())
            paths = _own_paths(own.read_text())
        except OSError as exc:
            raise CgroupsUnavailable(f"cannot read {mountinfo} or {own}: {exc}") from exc
        unified = mounts.get("unified")
        why_not_v2 = "no cgroup2 hierarchy is mounted"
        if unified is not None and "" in paths:
            here = unified / paths[""].lstrip("/")
            offered = _read(here / "cgroup.controllers").split()
            if all(c in offered for c in _CONTROLLERS):
                directory, cpu = _v2_parent(here, parent, cpu="cpu" in offered)
                return cls(2, {"unified": directory}, cpu=cpu)
            why_not_v2 = f"cgroup v2 at {here} does not offer {' and '.join(_CONTROLLERS)}"
        missing = [c for c in _CONTROLLERS if c not in mounts or c not in paths]
        if missing:
            raise CgroupsUnavailable(
                f"{why_not_v2}, and no cgroup v1 hierarchy for {', '.join(missing)}"
            )
        parents = {}
        for controller in _CONTROLLERS:
            directory = mounts[controller] / paths[controller].lstrip("/") / parent
            try:
                directory.mkdir(exist_ok=True)
            except OSError as exc:
                raise CgroupsUnavailable(f"cannot create {directory}: {exc}") from exc
            parents[controller] = directory
        cpu = False
        if "cpu" in mounts and "cpu" in paths:
            directory = mounts["cpu"] / paths["cpu"].lstrip("/") / parent
            try:
                directory.mkdir(exist_ok=True)
            except OSError:
                pass  # no quota on this machine; memory and pids still hold
            else:
                parents["cpu"], cpu = directory, True
        return cls(1, parents, cpu=cpu)

    # -- one deployment ----------------------------------------------------------------------

    def directories(self, name: str) -> list[Path]:
        """The deployment's cgroup directories (one per hierarchy)."""
        if not _NAME.match(name):
            raise ValueError(f"not a cgroup name: {name!r}")
        return [p / name for p in self.parents.values()]

    def prepare(self, name: str, resources: Resources) -> list[Path]:
        """A fresh cgroup for the deployment with its limits set (a previous run's cgroup,
        and anything left in it, is removed first); returns the ``cgroup.procs`` files the
        node's process must be written to."""
        self.remove(name)
        procs = []
        for directory in self.directories(name):
            directory.mkdir()
            procs.append(directory / "cgroup.procs")
        if self.version == 2:
            unified = self.directories(name)[0]
            _write(unified / "memory.max", resources.memory_bytes)
            _write_if_present(unified / "memory.swap.max", 0)
            _write(unified / "memory.oom.group", 1)
            _write(unified / "pids.max", resources.pids)
        else:
            memory = self.parents["memory"] / name
            _write(memory / "memory.limit_in_bytes", resources.memory_bytes)
            _write_if_present(memory / "memory.memsw.limit_in_bytes", resources.memory_bytes)
            _write(self.parents["pids"] / name / "pids.max", resources.pids)
        return procs

    def limit_cpu(self, name: str, cpu_millis: int) -> bool:
        """Hold the deployment's cgroup to `cpu_millis` thousandths of a CPU from now on (a
        node starts unthrottled, ADR 29); False when this machine has no cpu controller."""
        if not self.cpu:
            return False
        if self.version == 2:
            unified = self.directories(name)[0]
            _write(unified / "cpu.max", f"{cpu_quota_us(cpu_millis)} {CPU_PERIOD_US}")
        else:
            cpu = self.parents["cpu"] / name
            _write(cpu / "cpu.cfs_period_us", CPU_PERIOD_US)
            _write(cpu / "cpu.cfs_quota_us", cpu_quota_us(cpu_millis))
        return True

    def pids(self, name: str) -> set[int]:
        """Every process in the deployment's cgroup."""
        found: set[int] = set()
        for directory in self.directories(name):
            found.update(int(p) for p in _read(directory / "cgroup.procs").split())
        return found

    def oom_kills(self, name: str) -> int:
        """How many times the kernel killed a process of the deployment for its memory."""
        if self.version == 2:
            events = _read(self.directories(name)[0] / "memory.events")
        else:
            events = _read(self.parents["memory"] / name / "memory.oom_control")
        for line in events.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def limits(self, name: str) -> Resources | None:
        """The limits the kernel holds for the deployment (None without its cgroup); the CPU
        quota in thousandths of a CPU, None when there is none."""
        quota: int | None = None
        if self.version == 2:
            unified = self.directories(name)[0]
            memory, pids = _read(unified / "memory.max"), _read(unified / "pids.max")
            if self.cpu:
                held, _, period = _read(unified / "cpu.max").partition(" ")
                if held.isdigit() and period.isdigit():
                    quota = int(held) * 1_000 // int(period)
        else:
            memory = _read(self.parents["memory"] / name / "memory.limit_in_bytes")
            pids = _read(self.parents["pids"] / name / "pids.max")
            if self.cpu:
                cpu = self.parents["cpu"] / name
                held, period = _read(cpu / "cpu.cfs_quota_us"), _read(cpu / "cpu.cfs_period_us")
                if held.isdigit() and period.isdigit():  # "-1": no quota
                    quota = int(held) * 1_000 // int(period)
        if not memory or not pids:
            return None
        return Resources(int(memory), int(pids), quota)

    def remove(self, name: str) -> None:
        """Kill whatever is left in the deployment's cgroup and remove it."""
        for directory in self.directories(name):
            if not directory.exists():
                continue
            for _ in range(100):
                left = [int(p) for p in _read(directory / "cgroup.procs").split()]
                for pid in left:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY:
                        raise
                    time.sleep(0.05)  # a killed process leaves its cgroup when reaped
            else:
                raise OSError(errno.EBUSY, f"{directory} still holds processes")

    def release(self) -> None:
        """Remove the Citadel parent(s) once no deployment cgroup is left in them."""
        for directory in self.parents.values():
            with contextlib.suppress(OSError):
                directory.rmdir()


def enter_command(procs: list[Path], argv: list[str]) -> list[str]:
    """`argv` run by a shell that first writes its own pid into each ``cgroup.procs``, then
    execs it: the program starts inside the cgroup, with no code run in the forked child."""
    script = "".join(f'echo $$ > "${i + 1}" && ' for i in range(len(procs))) + "shift "
    script += f'{len(procs)} && exec "$@"'
    return ["/bin/sh", "-c", script, "citadel-cgroup-enter", *map(str, procs), *argv]


def _v2_parent(here: Path, parent: str, *, cpu: bool) -> tuple[Path, bool]:
    """The Citadel parent under cgroup v2 directory `here`, its controllers enabled, and
    whether ``cpu`` is among them (tried when `here` offers it; a refusal only leaves it out).

    The v2 rule "no processes in a cgroup that delegates controllers" is met by moving this
    process into a leaf ``<here>/allocator`` when `here` is not the root and holds processes.
    """
    directory = here / parent
    try:
        directory.mkdir(exist_ok=True)
        enable = " ".join(f"+{c}" for c in _CONTROLLERS)
        try:
            _write(here / "cgroup.subtree_control", enable)
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                raise
            leaf = here / "allocator"
            leaf.mkdir(exist_ok=True)
            _write(leaf / "cgroup.procs", os.getpid())
            _write(here / "cgroup.subtree_control", enable)
        _write(directory / "cgroup.subtree_control", enable)
    except OSError as exc:
        raise CgroupsUnavailable(f"cannot delegate memory and pids under {here}: {exc}") from exc
    if cpu:
        try:
            _write(here / "cgroup.subtree_control", "+cpu")
            _write(directory / "cgroup.subtree_control", "+cpu")
        except OSError:
            cpu = False  # e.g. a realtime process outside: no quota, the rest holds
    return directory, cpu


def _cgroup_mounts(mountinfo: str) -> dict[str, Path]:
    """Mount points by controller ("unified" for cgroup2), from /proc/self/mountinfo."""
    mounts: dict[str, Path] = {}
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        root, point = fields[3], Path(fields[4].replace("\\040", " "))
        if root != "/":  # a bind mount of a sub-tree: our paths are not relative to it
            continue
        if tail[0] == "cgroup2":
            mounts.setdefault("unified", point)
        elif tail[0] == "cgroup":
            for option in tail[2].split(","):
                if option in _CONTROLLERS or option in _OPTIONAL:
                    mounts.setdefault(option, point)
    return mounts


def _own_paths(proc_cgroup: str) -> dict[str, str]:
    """This process's cgroup path by controller ("" for the unified hierarchy)."""
    paths: dict[str, str] = {}
    for line in proc_cgroup.splitlines():
        if line.count(":") < 2:
            continue
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    return paths


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""


def _write(path: Path, value: object) -> None:
    with open(path, "w") as f:
        f.write(f"{value}\n")


def _write_if_present(path: Path, value: object) -> None:
    if path.exists():
        _write(path, value)

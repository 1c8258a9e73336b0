"""Running one program isolated: the `Sandbox` interface and its bubblewrap implementation.

`BubblewrapSandbox` runs the program with privileged bubblewrap (the allocator is root and the
Python runtime lives under ``/root``, which an unprivileged bwrap could not bind: "Pattern B" of
the machine notes), then drops to the deployment's own uid with ``setpriv`` inside::

    prlimit --nofile=N:N --nproc=N:N --core=0:0 --fsize=N:N [--as=N:N] --
    bwrap --ro-bind /usr /usr --symlink usr/lib /lib --symlink usr/lib64 /lib64
          --symlink usr/bin /bin --symlink usr/sbin /sbin --ro-bind /etc /etc
          --dev /dev --proc /proc --perms 1777 --tmpfs /tmp
          --perms 0755 --dir <each parent of a runtime path>
          --ro-bind <python install> <same> --ro-bind <venv> <same> --ro-bind <source> <same>
          --bind <data dir> /data [--perms 0755 --dir <parent> --bind <dir> <target> ...]
          --chdir /data
          --unshare-pid --unshare-net --unshare-ipc --unshare-uts --unshare-cgroup
          --die-with-parent --new-session --clearenv --setenv PATH /usr/bin ...
          --hostname <name> --seccomp <fd>
          setpriv --reuid UID --regid UID --clear-groups --inh-caps=-all --bounding-set=-all
                  --no-new-privs -- <program ...>

The seccomp filter (`seccomp_filter`) is compiled with pyseccomp and handed to bwrap on a
pipe; bwrap installs it just before it executes ``setpriv``, which only needs setresuid,
setgroups, capset and prctl, none of which the filter denies. So the filter is loaded by
bwrap, not in-process. Processes in the sandbox see only ``lo``, a read-only root, a private
``/tmp`` and their own directory at ``/data``; the parent's descriptors listed in
``pass_fds`` (the data key, the password) are inherited through bwrap and setpriv.

``--die-with-parent`` ties the sandbox to the thread that started it: start sandboxes from
a long-lived thread (the allocator's loop), or they are killed when that thread ends.

A spec's `Resources` (from the deployment's size) are enforced by the deployment's own cgroup
when the sandbox has `Cgroups` (ADR 20): the command above is run by a shell that first moves
itself into that cgroup, then execs it (`cgroups.enter_command`). Without cgroups they fall
back to rlimits: ``--data`` (private writable memory, which leaves the engine's mapped index
files out) at twice the size, and ``--nproc`` at the size's pids.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

from citadel.log import get_logger
from citadel.runtime.cgroups import Cgroups, CgroupsUnavailable, Resources, enter_command

log = get_logger(__name__)

SANDBOX_DATA = Path("/data")
SANDBOX_RUN = Path("/run/citadel")  # the node's socket and TLS files (outside its data volume)

# Syscalls that answer EPERM inside a sandbox.
DENIED_SYSCALLS = (
    "ptrace",
    "mount",
    "umount2",
    "unshare",
    "setns",
    "bpf",
    "keyctl",
    "add_key",
    "request_key",
    "perf_event_open",
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "process_vm_readv",
    "process_vm_writev",
    "personality",
    "userfaultfd",
    "open_by_handle_at",
    "swapon",
    "swapoff",
    "reboot",
    "pivot_root",
    "chroot",
)
DENIED_SOCKET_FAMILIES = (socket.AF_PACKET, socket.AF_NETLINK)
# clone() with any of these flags makes a namespace; unshare is denied, so is this way round.
_CLONE_NAMESPACE_FLAGS = (
    0x10000000,  # CLONE_NEWUSER
    0x00020000,  # CLONE_NEWNS
    0x40000000,  # CLONE_NEWNET
    0x20000000,  # CLONE_NEWPID
    0x08000000,  # CLONE_NEWIPC
    0x04000000,  # CLONE_NEWUTS
    0x02000000,  # CLONE_NEWCGROUP
)


@dataclass(frozen=True)
class Limits:
    """Resource limits (soft = hard) applied to everything in the sandbox."""

    open_files: int = 4096
    processes: int = 512
    file_size_bytes: int = 64 * 1024**3
    address_space_bytes: int | None = None
    data_bytes: int | None = None


@dataclass(frozen=True)
class Bind:
    """A host directory the program may write, seen at `target` inside the sandbox."""

    source: Path
    target: Path


@dataclass(frozen=True)
class SandboxSpec:
    """What to run and with what: the program sees `directory` at ``/data``, and `binds`."""

    name: str
    uid: int
    directory: Path
    argv: tuple[str, ...]
    pass_fds: tuple[int, ...] = ()
    binds: tuple[Bind, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    limits: Limits = Limits()
    log_file: Path | None = None
    resources: Resources | None = None  # from the deployment's size: its cgroup's limits


class SandboxHandle(Protocol):
    """A started sandbox; only its sandbox knows what is inside."""

    name: str


class Sandbox(Protocol):
    """Starts and stops isolated programs (bubblewrap here; a Kubernetes pod elsewhere)."""

    def start(self, spec: SandboxSpec) -> SandboxHandle: ...

    def stop(self, handle: SandboxHandle, *, timeout: float = 10.0) -> None: ...

    def is_alive(self, handle: SandboxHandle) -> bool: ...

    def exit_status(self, handle: SandboxHandle) -> int | None: ...

    def pid(self, handle: SandboxHandle) -> int | None: ...

    def exit_reason(self, handle: SandboxHandle) -> str | None: ...

    def settle(self, handle: SandboxHandle) -> None:
        """The program is up: apply what only a running program is held to (a project's CPU
        quota: a node starts unthrottled, ADR 29)."""


class SandboxUnavailable(RuntimeError):
    """The host lacks what the sandbox needs (bwrap, setpriv, prlimit, libseccomp)."""


def seccomp_filter() -> object:
    """The seccomp filter of every sandbox: default allow, EPERM for the dangerous calls."""
    import pyseccomp as seccomp

    f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    for name in DENIED_SYSCALLS:
        f.add_rule(seccomp.ERRNO(errno.EPERM), name)
    for family in DENIED_SOCKET_FAMILIES:
        f.add_rule(seccomp.ERRNO(errno.EPERM), "socket", seccomp.Arg(0, seccomp.EQ, family))
    for flag in _CLONE_NAMESPACE_FLAGS:
        f.add_rule(
            seccomp.ERRNO(errno.EPERM), "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag)
        )
    # clone3 passes its flags in memory a filter cannot read: make libc fall back to clone.
    f.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    return f


def _seccomp_pipe() -> int:
    """A pipe's read end carrying the compiled filter (BPF), for ``bwrap --seccomp``."""
    r, w = os.pipe()
    with os.fdopen(w, "wb") as out:
        seccomp_filter().export_bpf(out)  # type: ignore[attr-defined]
    return r


def runtime_paths() -> list[Path]:
    """Directories the sandboxed Python needs read-only: its install, the venv, the source."""
    import citadel

    package_root = Path(citadel.__file__).resolve().parent.parent
    paths = {Path(sys.base_prefix), Path(sys.prefix), package_root}
    system = (Path("/usr"), Path("/etc"))
    kept: list[Path] = []
    for path in sorted(p.resolve() for p in paths):
        if any(path == s or s in path.parents for s in system):
            continue
        if any(k == path or k in path.parents for k in kept):
            continue
        kept.append(path)
    return kept


@dataclass
class BubblewrapHandle:
    """A bwrap process; the program runs two levels below it (bwrap's pid-1 reaper, then it)."""

    name: str
    process: subprocess.Popen[bytes]
    started_at: float
    _pid: int | None = None
    _log: IO[bytes] | None = None
    cgroup: str | None = None  # the deployment's cgroup, while it has one
    out_of_memory: bool = False
    cpu_millis: int | None = None  # the CPU quota `settle` applies once the program is up


def deployment_sandbox() -> BubblewrapSandbox:
    """The allocator's sandbox: deployment sizes enforced by cgroups when this machine has
    them; else by the rlimit fallback, which the allocator says loudly at start (ADR 20)."""
    try:
        cgroups = Cgroups.discover()
    except (CgroupsUnavailable, OSError) as exc:
        log.warning(
            "allocator.cgroups_unavailable",
            reason=str(exc),
            fallback="rlimits: data at twice the size, nproc at its pids; no OOM kill",
        )
        return BubblewrapSandbox()
    parents = [str(p) for p in cgroups.parents.values()]
    log.info("allocator.cgroups", version=cgroups.version, parents=parents, cpu=cgroups.cpu)
    return BubblewrapSandbox(cgroups=cgroups)


class BubblewrapSandbox:
    """Privileged bubblewrap + setpriv + a seccomp filter loaded by bwrap + rlimits."""

    def __init__(
        self,
        *,
        runtime: list[Path] | None = None,
        hostname: str = "node",
        cgroups: Cgroups | None = None,
    ) -> None:
        self.runtime = runtime if runtime is not None else runtime_paths()
        self.hostname = hostname
        self.cgroups = cgroups

    @staticmethod
    def available() -> str | None:
        """None when this host can run sandboxes, else why not."""
        for tool in ("bwrap", "setpriv", "prlimit"):
            if shutil.which(tool) is None:
                return f"{tool} is not installed"
        if os.geteuid() != 0:
            return "privileged bubblewrap needs root"
        try:
            import pyseccomp  # noqa: F401
        except (ImportError, OSError) as exc:
            return f"pyseccomp/libseccomp unavailable: {exc}"
        return None

    def command(self, spec: SandboxSpec, seccomp_fd: int) -> list[str]:
        """The full command line (prlimit, bwrap, setpriv, the program)."""
        lim = self.limits_of(spec)
        cmd = [
            "prlimit",
            f"--nofile={lim.open_files}:{lim.open_files}",
            f"--nproc={lim.processes}:{lim.processes}",
            "--core=0:0",
            f"--fsize={lim.file_size_bytes}:{lim.file_size_bytes}",
        ]
        if lim.address_space_bytes is not None:
            cmd.append(f"--as={lim.address_space_bytes}:{lim.address_space_bytes}")
        if lim.data_bytes is not None:
            cmd.append(f"--data={lim.data_bytes}:{lim.data_bytes}")
        cmd += ["--", "bwrap"]
        cmd += ["--ro-bind", "/usr", "/usr"]
        for link, target in (("/lib", "usr/lib"), ("/lib64", "usr/lib64"), ("/bin", "usr/bin")):
            cmd += ["--symlink", target, link]
        cmd += ["--symlink", "usr/sbin", "/sbin", "--ro-bind", "/etc", "/etc"]
        cmd += ["--dev", "/dev", "--proc", "/proc", "--perms", "1777", "--tmpfs", "/tmp"]  # noqa: S108
        made: set[Path] = {Path("/")}
        for path in self.runtime:
            for parent in reversed(path.parents):
                if parent not in made:
                    cmd += ["--perms", "0755", "--dir", str(parent)]
                    made.add(parent)
            cmd += ["--ro-bind", str(path), str(path)]
            made.add(path)
        cmd += ["--bind", str(spec.directory), str(SANDBOX_DATA)]
        made.add(SANDBOX_DATA)
        for bind in spec.binds:
            for parent in reversed(bind.target.parents):
                if parent not in made:
                    cmd += ["--perms", "0755", "--dir", str(parent)]
                    made.add(parent)
            cmd += ["--bind", str(bind.source), str(bind.target)]
            made.add(bind.target)
        cmd += ["--chdir", str(SANDBOX_DATA)]
        cmd += ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts"]
        cmd += ["--unshare-cgroup", "--die-with-parent", "--new-session", "--clearenv"]
        env = {"PATH": "/usr/bin:/bin", "HOME": str(SANDBOX_DATA), "LANG": "C.UTF-8"}
        env.update(spec.env)
        for key, value in env.items():
            cmd += ["--setenv", key, value]
        cmd += ["--hostname", self.hostname, "--seccomp", str(seccomp_fd)]
        cmd += ["setpriv", f"--reuid={spec.uid}", f"--regid={spec.uid}", "--clear-groups"]
        cmd += ["--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
        cmd += list(spec.argv)
        return cmd

    def limits_of(self, spec: SandboxSpec) -> Limits:
        """The rlimits of `spec`: its own, or, for resources no cgroup enforces, the fallback
        (``--data`` at twice the memory, ``--nproc`` at the pids)."""
        res = spec.resources
        if res is None or self.cgroups is not None:
            return spec.limits
        return dataclasses.replace(spec.limits, data_bytes=2 * res.memory_bytes, processes=res.pids)

    def start(self, spec: SandboxSpec) -> BubblewrapHandle:
        """Start `spec.argv` in a fresh sandbox; returns at once (readiness is the caller's)."""
        if spec.uid <= 0:
            raise ValueError("a sandbox never runs as root")
        self._note_skipped_cpu_quota(spec)
        cgroup, procs = None, []
        if self.cgroups is not None and spec.resources is not None:
            cgroup = spec.name
            procs = self.cgroups.prepare(cgroup, spec.resources)  # OSError: no sandbox started
        seccomp_fd = _seccomp_pipe()
        command = self.command(spec, seccomp_fd)
        if procs:
            command = enter_command(procs, command)
        log = open(spec.log_file, "ab") if spec.log_file else None  # noqa: SIM115
        try:
            process = subprocess.Popen(
                command,
                pass_fds=(seccomp_fd, *spec.pass_fds),
                stdin=subprocess.DEVNULL,
                stdout=log or subprocess.DEVNULL,
                stderr=log or subprocess.DEVNULL,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            )
        finally:
            os.close(seccomp_fd)
        cpu = spec.resources.cpu_millis if cgroup and spec.resources else None
        return BubblewrapHandle(
            spec.name, process, time.monotonic(), _log=log, cgroup=cgroup, cpu_millis=cpu
        )

    def settle(self, handle: SandboxHandle) -> None:
        """Apply a project's CPU quota now that its node answers: it starts unthrottled, so
        a cold start is not slowed by the share it will serve with (ADR 29)."""
        assert isinstance(handle, BubblewrapHandle)
        if handle.cgroup is None or handle.cpu_millis is None or self.cgroups is None:
            return
        try:
            self.cgroups.limit_cpu(handle.cgroup, handle.cpu_millis)
        except OSError as exc:  # the node is up; it runs on without the quota, said loudly
            log.warning("allocator.cpu_quota_failed", deployment_id=handle.name, error=str(exc))

    def _note_skipped_cpu_quota(self, spec: SandboxSpec) -> None:
        """Log that a spec's CPU quota is not applied: this machine's cgroups do not delegate
        the cpu controller (or there are none). The node still starts, without the quota."""
        if spec.resources is None or spec.resources.cpu_millis is None:
            return
        if self.cgroups is not None and self.cgroups.cpu:
            return
        log.info(
            "allocator.cpu_quota_skipped",
            deployment_id=spec.name,
            cpu_millis=spec.resources.cpu_millis,
            reason="no cgroups" if self.cgroups is None else "cpu controller not delegated",
        )

    def is_alive(self, handle: SandboxHandle) -> bool:
        """True while the sandbox runs."""
        assert isinstance(handle, BubblewrapHandle)
        alive = handle.process.poll() is None
        if not alive and handle._log is not None:
            handle._log.close()
            handle._log = None
        if not alive:
            self._release_cgroup(handle)
        return alive

    def exit_reason(self, handle: SandboxHandle) -> str | None:
        """Why the program ended, when the sandbox knows better than its exit status."""
        assert isinstance(handle, BubblewrapHandle)
        if handle.out_of_memory:
            return "out of memory: killed at the memory limit of its size"
        return None

    def _release_cgroup(self, handle: BubblewrapHandle) -> None:
        """Note an OOM kill, then remove the ended sandbox's cgroup (and any straggler)."""
        if handle.cgroup is None or self.cgroups is None:
            return
        with contextlib.suppress(OSError):
            handle.out_of_memory = self.cgroups.oom_kills(handle.cgroup) > 0
            self.cgroups.remove(handle.cgroup)
            handle.cgroup = None

    def exit_status(self, handle: SandboxHandle) -> int | None:
        """The program's exit status once it ended (bwrap passes it through)."""
        assert isinstance(handle, BubblewrapHandle)
        return handle.process.poll()

    def pid(self, handle: SandboxHandle) -> int | None:
        """The host pid of the program (not of bwrap), once it exists."""
        assert isinstance(handle, BubblewrapHandle)
        if handle._pid is None and self.is_alive(handle):
            reaper = _only_child(handle.process.pid)
            handle._pid = _only_child(reaper) if reaper is not None else None
        return handle._pid

    def stop(self, handle: SandboxHandle, *, timeout: float = 10.0) -> None:
        """SIGTERM to the program, then SIGKILL to the whole sandbox after `timeout`."""
        assert isinstance(handle, BubblewrapHandle)
        pid = self.pid(handle)
        if pid is not None and self.is_alive(handle):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        try:
            handle.process.wait(timeout=timeout if pid is not None else 0.5)
        except subprocess.TimeoutExpired:
            handle.process.kill()  # --die-with-parent takes everything inside with it
            handle.process.wait(timeout=10)
        self.is_alive(handle)


def _only_child(pid: int) -> int | None:
    """The pid of `pid`'s first child, found through /proc."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if int(fields[1]) == pid:
            return int(entry.name)
    return None

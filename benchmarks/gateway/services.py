"""Processes under test: started pinned to CPUs, waited for, measured from /proc, stopped.

CPU time and memory are read for the process and all its descendants (nginx and haproxy
workers, gateway workers), so a contender is measured whole whatever its process layout.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def pinned(command: list[str], cpus: str | None) -> list[str]:
    """`command` run by ``taskset -c CPUS`` (unpinned when `cpus` is None)."""
    if cpus is None or shutil.which("taskset") is None:
        return command
    return ["taskset", "-c", cpus, *command]


@dataclass
class Service:
    """One started process (and its descendants)."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    extra: dict[str, object] = field(default_factory=dict)

    def pids(self) -> list[int]:
        """The process and every descendant, from /proc's parent links."""
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
        found, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo.extend(children.get(pid, []))
        return found

    def cpu_s(self) -> tuple[float, float]:
        """User and system CPU seconds of the process and its descendants."""
        user = system = 0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            user += int(fields[11])
            system += int(fields[12])
        return user / CLOCK_TICKS, system / CLOCK_TICKS

    def rss_mb(self) -> float:
        """Resident memory of the process and its descendants, in MB (shared pages counted
        in each process, as `ps` does)."""
        total_kb = 0
        for pid in self.pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        return round(total_kb / 1024, 1)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def start(
    name: str,
    command: list[str],
    *,
    cpus: str | None,
    work: Path,
    ready: tuple[str, int] | Path,
    env: dict[str, str] | None = None,
    timeout_s: float = 60.0,
) -> Service:
    """Start `command` pinned to `cpus` and wait until it accepts on `ready` (a TCP address,
    or a unix socket path)."""
    work.mkdir(parents=True, exist_ok=True)
    log = work / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            pinned(command, cpus),
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    service = Service(name, proc, log)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited: {log.read_text(errors='replace')[-2000:]}")
        if _accepting(ready):
            return service
        time.sleep(0.05)
    service.stop()
    raise RuntimeError(f"{name} did not start within {timeout_s} s")


def _accepting(ready: tuple[str, int] | Path) -> bool:
    try:
        if isinstance(ready, Path):
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(1)
                s.connect(str(ready))
        else:
            socket.create_connection(ready, timeout=1).close()
    except OSError:
        return False
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

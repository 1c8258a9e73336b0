"""`citadel gateway --workers N`: N processes on one port (SO_REUSEPORT) that resume each
other's TLS sessions, follow one snapshot and stop together."""

from __future__ import annotations

import os
import re
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from citadel.cli.main import app
from citadel.crypto.keyring import open_keyring
from citadel.crypto.providers.local import LocalKeyFile
from citadel.gateway.workers import worker_count
from citadel.pki.authority import ensure_ca
from tests.gateway.harness import write_snapshot
from tests.node.process import CITADEL, free_port

DEPLOYMENT = "5" * 32
HOST = f"{DEPLOYMENT}.local.citadel.localhost"
WORKERS = 2
CONNECTIONS = 16  # all on one worker by chance: 2**-15


def _deployment(state: str, *rulesets: str) -> dict:
    return {
        "id": DEPLOYMENT,
        "alias": None,
        "region": "local",
        "state": state,
        "node_socket": "/nonexistent/node.sock",
        "rulesets": list(rulesets),
    }


Started = tuple[subprocess.Popen, int, ssl.SSLContext, Path]


def _start(root: Path) -> Started:
    """A gateway of `WORKERS` workers serving a persisted snapshot (no control plane)."""
    data_dir = root / "data"
    keyring = open_keyring(
        data_dir / "keys" / "keyring.wrapped",
        LocalKeyFile.create_or_open(data_dir / "keys" / "platform.key"),
    )
    ensure_ca(data_dir / "pki", keyring.barrier)
    snapshot = data_dir / "gateway" / "snapshot.json"
    write_snapshot(snapshot, [_deployment("stopped")], version=1)
    port = free_port()
    command = [CITADEL, "gateway", "--data-dir", str(data_dir), "--port", str(port)]
    command += ["--wait", "0", "--workers", str(WORKERS), "--log-level", "warning"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ctx = ssl.create_default_context(cafile=str(data_dir / "pki" / "ca.crt"))
    deadline = time.monotonic() + 30
    while len(_children(proc.pid)) < WORKERS - 1 or not _answers(port, ctx):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(proc.stderr.read().decode() if proc.stderr else "no gateway")
        time.sleep(0.1)
    return proc, port, ctx, snapshot


def _stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=15)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Started]:
    started = _start(tmp_path_factory.mktemp("workers"))
    yield started
    _stop(started[0])


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _answers(port: int, ctx: ssl.SSLContext) -> bool:
    try:
        _get(port, ctx)
    except OSError:
        return False
    return True


def _get(
    port: int, ctx: ssl.SSLContext, session: ssl.SSLSession | None = None
) -> tuple[bytes, ssl.SSLSession | None, bool]:
    """Status line, TLS session and whether it was resumed, of one new connection."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with ctx.wrap_socket(raw, server_hostname=HOST, session=session) as conn:
        conn.sendall(f"GET / HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while part := conn.recv(65536):
            answer += part
        return answer.split(b"\r\n", 1)[0], conn.session, conn.session_reused


def test_the_workers_are_separate_processes(running: Started) -> None:
    proc, _, _, _ = running
    assert len(_children(proc.pid)) == WORKERS - 1


def test_a_session_from_one_worker_resumes_on_every_worker(running: Started) -> None:
    _, port, ctx, _ = running
    _, session, _ = _get(port, ctx)
    resumed = []
    for _ in range(CONNECTIONS):
        status, _, reused = _get(port, ctx, session)
        assert status.startswith(b"HTTP/1.1 503")
        resumed.append(reused)
    assert all(resumed)


def test_every_worker_follows_a_new_snapshot(running: Started) -> None:
    _, port, ctx, snapshot = running
    rulesets = {"elsewhere": {"type": "ip", "sources": ["192.0.2.0/24"]}}
    write_snapshot(snapshot, [_deployment("running", "elsewhere")], version=2, rulesets=rulesets)
    deadline = time.monotonic() + 20
    statuses: list[bytes] = []
    while time.monotonic() < deadline:
        statuses = [_get(port, ctx)[0] for _ in range(CONNECTIONS)]
        if all(s.startswith(b"HTTP/1.1 403") for s in statuses):
            return
        time.sleep(0.2)
    raise AssertionError(f"not every worker filters: {statuses}")


def test_stopping_the_gateway_stops_every_worker(tmp_path: Path) -> None:
    proc, _, _, _ = _start(tmp_path)
    children = _children(proc.pid)
    assert _stop(proc) == 0
    for child in children:
        assert not Path(f"/proc/{child}").exists() or _state(child) == "Z"


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def test_one_worker_per_cpu_when_asked_for_none() -> None:
    assert worker_count(0) == len(os.sched_getaffinity(0))
    assert worker_count(3) == 3
    with pytest.raises(ValueError, match="0"):
        worker_count(-1)


def test_several_workers_need_a_fixed_port(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["gateway", "--data-dir", str(tmp_path), "--wait", "0", "--workers", "2", "--port", "0"],
    )
    message = " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.output).split())
    assert result.exit_code == 2
    assert "--port" in message

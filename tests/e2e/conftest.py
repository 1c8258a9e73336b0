"""`citadel up` as a real process for the end-to-end tests, and small helpers around it."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest

CITADEL = str(Path(sys.executable).parent / "citadel")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def citadel_up(data_dir: Path, postgres_url: str | None, tmp_path: Path, **extra_env: str):
    """`citadel up` on `data_dir` with `extra_env`; yields (endpoints, api port, env)."""
    password_file = tmp_path / "owner-password"
    password_file.write_text("e2e owner password 123\n")
    port = free_port()
    env = {
        **os.environ,
        "CITADEL_BOOTSTRAP_PASSWORD_FILE": str(password_file),
        **extra_env,
    }
    if postgres_url:
        env["CITADEL_DATABASE_URL"] = postgres_url
    bin_dir = Path(sys.executable).parent
    log_path = tmp_path / "citadel-up.log"
    log = log_path.open("wb")  # a file, not a pipe: the children log for as long as they run
    proc = subprocess.Popen(
        [
            str(bin_dir / "citadel"),
            "up",
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
            "--internal-port",
            str(free_port()),
            "--gateway-port",
            str(free_port()),
            "--admin-email",
            "owner@example.com",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    endpoints = data_dir / "run" / "endpoints.json"
    deadline = time.monotonic() + 60
    while not endpoints.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"citadel up did not start:\n{log_path.read_text()}")
        time.sleep(0.1)
    try:
        yield json.loads(endpoints.read_text()), port, env
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture
def running(services, data_dir: Path, postgres_url, tmp_path: Path):
    """`citadel up` on the test's data directory (and database), stopped afterwards."""
    services.close()
    with citadel_up(data_dir, postgres_url, tmp_path) as started:
        yield started


def trust(endpoints) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=endpoints["ca_file"])


def admin_key(data_dir: Path, endpoints, env) -> str:
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "citadel"),
            "admin",
            "create-api-key",
            "--data-dir",
            str(data_dir),
            "--org",
            endpoints["organization_id"],
            "--role",
            "organization-admin",
            "--expiration",
            "1d",
        ],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return result.stdout.strip()


def wait_for_gateway(endpoints, timeout: float = 60) -> None:
    """The gateway is a child of `citadel up` and listens a moment after the API does."""
    port = int(endpoints["gateway_url"].rsplit(":", 1)[1])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail("the gateway never listened")

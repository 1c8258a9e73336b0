"""Citadel's roles started in namespace hosts: control-plane replicas (`citadel api` on the
run's PostgreSQL), allocators and gateways, each with its own data directory on its host's
disk; waiting for them to be ready, and the options of issue 20 used where the commands have
them (`supports`: read from the command's own ``--help``, so the harness runs whatever is
built and says what is not).

Until a host can join with a token (`citadel … --join URL --join-token-file F`), a component
host gets what joining would give it by a copy from the control plane's data directory: the
platform key, the keyring and the platform CA (so it issues its own component certificate),
and a ``run/endpoints.json`` naming the control plane's internal API on its host address.
"""

from __future__ import annotations

import functools
import json
import shutil
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.multihost.harness import Host, HostProcess

CITADEL = str(Path(sys.executable).parent / "citadel")
PYTHON = sys.executable
REPO = Path(__file__).resolve().parents[2]
API_PORT, INTERNAL_PORT, GATEWAY_PORT = 8443, 8444, 9243
OWNER_EMAIL = "owner@example.com"
OWNER_PASSWORD = "multi-host owner password 123"


class NotReady(AssertionError):
    """A role did not become ready in time; the message holds the end of its log."""


@functools.cache
def help_of(command: str) -> str:
    result = subprocess.run([CITADEL, command, "--help"], capture_output=True, text=True)
    return result.stdout + result.stderr


def supports(command: str, option: str) -> bool:
    """Whether `citadel <command>` has `option` (the work of issue 20 lands piece by piece)."""
    return option in help_of(command)


@dataclass
class Missing:
    """The parts of a scenario that are not built yet, named for the report."""

    parts: list[str] = field(default_factory=list)

    def note(self, part: str) -> None:
        if part not in self.parts:
            self.parts.append(part)


@dataclass
class ControlPlane:
    """One `citadel api` replica."""

    host: Host
    process: HostProcess
    data_dir: Path  # in the host's view

    @property
    def api_url(self) -> str:
        return f"https://{self.host.address}:{API_PORT}/api/v1"

    @property
    def internal_url(self) -> str:
        return f"https://{self.host.address}:{INTERNAL_PORT}"

    @property
    def ca_file(self) -> Path:
        """The platform CA certificate, on the machine's side."""
        return self.host.outside(self.data_dir / "pki" / "ca.crt")

    def trust(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))


def bootstrap_platform(host: Host, database_url: str) -> str:
    """The first replica's data directory and the database: keys, schema, the first
    organization and its owner. Returns the organization id."""
    data_dir = host.root / "data"
    password = host.disk / "owner-password"
    password.write_text(OWNER_PASSWORD + "\n")
    done = host.run(
        [
            PYTHON,
            "-m",
            "tests.multihost.first_owner",
            str(data_dir),
            OWNER_EMAIL,
            str(host.root / "owner-password"),
        ],
        env={"CITADEL_DATABASE_URL": database_url, "PYTHONPATH": str(REPO)},
    )
    if done.returncode != 0:
        raise NotReady(f"bootstrap on {host.name} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])["organization_id"]


def copy_platform_keys(source: Host, target: Host) -> Path:
    """What a joining host would receive, copied from the first replica's data directory:
    the platform key, the keyring and the platform CA. Returns the target's data directory
    (in its view)."""
    data = source.disk / "data"
    target_data = target.disk / "data"
    target_data.mkdir(mode=0o700, exist_ok=True)
    for part in ("keys", "pki"):
        if (target_data / part).exists():
            continue
        shutil.copytree(
            data / part, target_data / part, ignore=shutil.ignore_patterns("api.*", "components")
        )
    return target.root / "data"


def start_control_plane(
    host: Host,
    database_url: str,
    *,
    first: Host | None = None,
    env: dict[str, str] | None = None,
) -> ControlPlane:
    """`citadel api` on `host`'s address, on the shared database, with settings `env`; a
    replica other than the first gets the platform keys from `first`. Waits until it
    answers."""
    data_dir = host.root / "data"
    if first is not None and first is not host:
        copy_platform_keys(first, host)
    argv = [CITADEL, "api", "--data-dir", str(data_dir), "--host", host.address]
    argv += ["--port", str(API_PORT), "--internal-port", str(INTERNAL_PORT)]
    process = host.start("api", argv, env={**(env or {}), "CITADEL_DATABASE_URL": database_url})
    replica = ControlPlane(host, process, data_dir)
    wait_until(
        lambda: _answers(f"{replica.api_url}/_health", replica.ca_file),
        process,
        what=f"the control plane on {host.name}",
        timeout=90,
    )
    return replica


def _answers(url: str, ca_file: Path) -> bool:
    if not ca_file.exists():
        return False
    try:
        response = httpx.get(url, verify=ssl.create_default_context(cafile=str(ca_file)), timeout=3)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def wait_until(check, process: HostProcess, *, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if not process.alive():
            raise NotReady(f"{what} exited ({process.popen.returncode}):\n{process.log()}")
        if time.monotonic() > deadline:
            raise NotReady(f"{what} was not ready after {timeout:.0f} s:\n{process.log()}")
        time.sleep(0.2)


def _component_data_dir(host: Host, control_plane: ControlPlane) -> Path:
    """A component host's data directory: the platform keys and the control plane's
    endpoints (its internal API on its host address, the CA in this host's own copy)."""
    data_dir = copy_platform_keys(control_plane.host, host)
    run = host.disk / "data" / "run"
    run.mkdir(mode=0o700, exist_ok=True)
    endpoints = {
        "internal_url": control_plane.internal_url,
        "api_url": control_plane.api_url,
        "ca_file": str(data_dir / "pki" / "ca.crt"),
    }
    (run / "endpoints.json").write_text(json.dumps(endpoints))
    return data_dir


def start_allocator(
    host: Host,
    control_plane: ControlPlane,
    missing: Missing,
    *,
    zone: str | None = None,
    capacity_mb: int | None = None,
    node_ports: str | None = "20000-20999",
) -> HostProcess:
    """`citadel allocator` on `host`, with its id (the host's name), zone, capacity, address
    and node ports where the command has those options. Waits until it has started."""
    data_dir = _component_data_dir(host, control_plane)
    argv = [CITADEL, "allocator", "--data-dir", str(data_dir), "--interval", "0.25"]
    wanted = {
        "--allocator-id": host.name,
        "--zone": zone,
        "--capacity-mb": None if capacity_mb is None else str(capacity_mb),
        "--advertise-address": host.address,
        "--node-ports": node_ports,
    }
    for option, value in wanted.items():
        if value is None:
            continue
        if supports("allocator", option):
            argv += [option, value]
        else:
            missing.note(f"citadel allocator {option}")
    process = host.start("allocator", argv)
    wait_until(
        lambda: "allocator.started" in process.log(tail=100_000),
        process,
        what=f"the allocator on {host.name}",
        timeout=60,
    )
    return process


@dataclass
class Gateway:
    host: Host
    process: HostProcess

    @property
    def url(self) -> str:
        return f"https://{self.host.address}:{GATEWAY_PORT}"


def start_gateway(host: Host, control_plane: ControlPlane) -> Gateway:
    """`citadel gateway` listening on `host`'s address; waits until it accepts connections."""
    data_dir = _component_data_dir(host, control_plane)
    argv = [CITADEL, "gateway", "--data-dir", str(data_dir), "--host", host.address]
    argv += ["--port", str(GATEWAY_PORT)]
    process = host.start("gateway", argv)
    wait_until(
        lambda: _listens(host.address, GATEWAY_PORT),
        process,
        what=f"the gateway on {host.name}",
        timeout=60,
    )
    return Gateway(host, process)


def _listens(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=1).close()
    except OSError:
        return False
    return True


def admin_key(control_plane: ControlPlane, database_url: str, organization_id: str) -> str:
    """A break-glass organization-admin API key (`citadel admin create-api-key` on the
    control plane's host)."""
    done = control_plane.host.run(
        [
            CITADEL,
            "admin",
            "create-api-key",
            "--data-dir",
            str(control_plane.data_dir),
            "--org",
            organization_id,
            "--role",
            "organization-admin",
            "--expiration",
            "1d",
        ],
        env={"CITADEL_DATABASE_URL": database_url},
    )
    if done.returncode != 0:
        raise NotReady(f"create-api-key failed:\n{done.stderr[-3000:]}")
    return done.stdout.strip()

"""A real `citadel allocator --join` on a data directory of its own (another host, as far as
files go: no endpoints file, no keyring, no CA key) joins a real running control plane with
a token minted by `citadel platform join-token`, then reaches the internal API with the
certificate it obtained; a restart needs no token, and the token does not work twice."""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from citadel.contract.client import ComponentTls, ControlPlane
from citadel.contract.messages import ComponentKind
from citadel.join.host import joined_host
from citadel.join.schemas import JoinRole
from citadel.pki.components import component_kind_of
from citadel.roots.join import joined_renewal
from tests.e2e.conftest import CITADEL, admin_key, free_port, running, trust

__all__ = ["running"]  # the fixture: `citadel up` on the test's data directory

pytestmark = pytest.mark.e2e


def host_env() -> dict[str, str]:
    """The environment of a process on another host: none of the control plane's settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CITADEL_")}


def mint_token(
    data_dir: Path, env: dict[str, str], key: str, role: str = "allocator", name: str = "alloc-b"
) -> dict:
    result = subprocess.run(
        [
            CITADEL,
            "platform",
            "join-token",
            "--role",
            role,
            "--name",
            name,
            "--ttl",
            "10m",
            "--data-dir",
            str(data_dir),
            "--output",
            "json",
        ],
        env={**env, "CITADEL_API_KEY": key},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


def prepare_host(tmp_path: Path, name: str, control_data_dir: Path, token: str) -> Path:
    """A host's data directory with the platform key its operator placed (the allocator
    unwraps deployments' data keys with it; ADR 33) and the token in a 0600 file."""
    host_dir = tmp_path / name
    (host_dir / "keys").mkdir(parents=True, mode=0o700)
    key = host_dir / "keys" / "platform.key"
    shutil.copyfile(control_data_dir / "keys" / "platform.key", key)
    key.chmod(0o600)
    token_file = tmp_path / f"{name}.token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    return host_dir


def start_allocator(host_dir: Path, log_path: Path, *extra: str) -> subprocess.Popen:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [
                CITADEL,
                "allocator",
                "--data-dir",
                str(host_dir),
                "--allocator-id",
                "alloc-b",
                "--zone",
                "zone-b",
                *extra,
            ],
            env=host_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def wait_started(proc: subprocess.Popen, log_path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while "allocator.started" not in log_path.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the allocator did not start:\n{log_path.read_text()}")
        time.sleep(0.2)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_an_allocator_joins_with_a_token_and_reaches_the_internal_api(
    running, data_dir: Path, tmp_path: Path
):
    endpoints, port, env = running
    key = admin_key(data_dir, endpoints, env)
    minted = mint_token(data_dir, env, key)
    assert minted["role"] == "allocator"
    assert minted["name"] == "alloc-b"
    host_dir = prepare_host(tmp_path, "host-b", data_dir, minted["token"])
    join = [
        "--join",
        f"https://127.0.0.1:{port}",
        "--join-token-file",
        str(tmp_path / "host-b.token"),
    ]
    join += ["--ca-sha256", minted["ca_sha256"], "--join-name", "alloc-b"]
    log_path = tmp_path / "allocator-b.log"
    proc = start_allocator(host_dir, log_path, *join)
    try:
        wait_started(proc, log_path)
        joined = joined_host(host_dir, JoinRole.ALLOCATOR)
        assert joined is not None
        assert joined.name == "alloc-b"
        assert joined.internal_url == endpoints["internal_url"]
        assert joined.key_file.stat().st_mode & 0o777 == 0o600
        assert not (host_dir / "keys" / "keyring.wrapped").exists()
        assert not (host_dir / "run" / "endpoints.json").exists()
        cert_pem = joined.cert_file.read_bytes()
        assert component_kind_of(cert_pem) is ComponentKind.ALLOCATOR
        key_pem = joined.key_file.read_bytes()
        private = serialization.load_pem_private_key(key_pem, password=None)
        assert x509.load_pem_x509_certificate(cert_pem).public_key() == private.public_key()
        assert joined.ca_file.read_bytes() == Path(endpoints["ca_file"]).read_bytes()

        # The obtained certificate opens the internal API: this allocator's allocations.
        tls = ComponentTls(joined.ca_file, joined.cert_file, joined.key_file, b"")
        control_plane = ControlPlane(joined.internal_url, tls)
        try:
            assert control_plane.allocations(allocator="alloc-b").deployments == ()
            # Seventy days on, the certificate is due: renewed through the internal API with
            # a key made here (ADR 33), and the renewed pair opens the internal API too.
            later = datetime.now(UTC) + timedelta(days=70)
            joined_renewal(joined, control_plane, now=lambda: later)()
        finally:
            control_plane.close()
        renewed_pem = joined.cert_file.read_bytes()
        assert renewed_pem != cert_pem
        renewed_key = serialization.load_pem_private_key(joined.key_file.read_bytes(), None)
        renewed = x509.load_pem_x509_certificate(renewed_pem)
        assert renewed.public_key() == renewed_key.public_key() != private.public_key()
        assert component_kind_of(renewed_pem) is ComponentKind.ALLOCATOR
        assert joined.key_file.stat().st_mode & 0o777 == 0o600
        again = ComponentTls(joined.ca_file, joined.cert_file, joined.key_file, b"")
        fresh = ControlPlane(joined.internal_url, again)
        try:
            assert fresh.allocations(allocator="alloc-b").deployments == ()
        finally:
            fresh.close()
        # Its heartbeat registered it (ADR 31): the platform lists it in its zone.
        with httpx.Client(verify=trust(endpoints), timeout=30) as api:
            listed = api.get(
                f"{endpoints['api_url']}/platform/infrastructure/allocators",
                headers={"Authorization": f"ApiKey {key}"},
            )
        assert listed.status_code == 200, listed.text
        assert "alloc-b" in listed.text
        assert "zone-b" in listed.text
        assert proc.poll() is None
    finally:
        stop(proc)

    # A restart runs from the joined files: no token, no --join.
    restart_log = tmp_path / "allocator-b-restart.log"
    proc = start_allocator(host_dir, restart_log)
    try:
        wait_started(proc, restart_log)
    finally:
        stop(proc)

    # The token worked once: another host cannot join with it.
    other_dir = prepare_host(tmp_path, "host-c", data_dir, minted["token"])
    join_c = [
        a if a != str(tmp_path / "host-b.token") else str(tmp_path / "host-c.token") for a in join
    ]
    refused = subprocess.run(
        [CITADEL, "allocator", "--data-dir", str(other_dir), *join_c],
        env=host_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1
    assert "join.token_refused" in refused.stderr
    assert joined_host(other_dir, JoinRole.ALLOCATOR) is None


def test_a_wrong_ca_pin_sends_no_token(running, data_dir: Path, tmp_path: Path):
    endpoints, port, env = running
    minted = mint_token(data_dir, env, admin_key(data_dir, endpoints, env))
    host_dir = prepare_host(tmp_path, "host-d", data_dir, minted["token"])
    result = subprocess.run(
        [
            CITADEL,
            "allocator",
            "--data-dir",
            str(host_dir),
            "--join",
            f"https://127.0.0.1:{port}",
            "--join-token-file",
            str(tmp_path / "host-d.token"),
            "--ca-sha256",
            "sha256:" + "0" * 64,
        ],
        env=host_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "not the platform you meant" in result.stderr
    # The token was never presented: it still joins a host that trusts the right CA.
    log_path = tmp_path / "allocator-d.log"
    proc = start_allocator(
        host_dir,
        log_path,
        *["--join", f"https://127.0.0.1:{port}", "--ca-file", endpoints["ca_file"]],
        *["--join-token-file", str(tmp_path / "host-d.token"), "--join-name", "alloc-b"],
    )
    try:
        wait_started(proc, log_path)
    finally:
        stop(proc)
    assert "Joined as allocator alloc-b" in log_path.read_text()


def test_a_gateway_joins_and_serves_with_a_listener_certificate_from_the_internal_api(
    running, data_dir: Path, tmp_path: Path
):
    endpoints, port, env = running
    minted = mint_token(data_dir, env, admin_key(data_dir, endpoints, env), "gateway", "gw-b")
    host_dir = tmp_path / "gw-b"
    host_dir.mkdir(mode=0o700)
    token_file = tmp_path / "gw-b.token"
    token_file.write_text(minted["token"])
    token_file.chmod(0o600)
    gateway_port = free_port()
    log_path = tmp_path / "gateway-b.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                CITADEL,
                "gateway",
                "--data-dir",
                str(host_dir),
                "--port",
                str(gateway_port),
                "--join",
                f"https://127.0.0.1:{port}",
                "--join-token-file",
                str(token_file),
                "--ca-sha256",
                minted["ca_sha256"],
                "--join-name",
                "gw-b",
            ],
            env=host_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", gateway_port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the gateway never listened:\n{log_path.read_text()}")
                time.sleep(0.2)
        # Its listener presents a certificate from the platform CA for the platform's names.
        context = ssl.create_default_context(cafile=endpoints["ca_file"])
        name = "anything.local.citadel.localhost"
        with (
            socket.create_connection(("127.0.0.1", gateway_port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname=name) as tls,
        ):
            presented = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
        joined = joined_host(host_dir, JoinRole.GATEWAY)
        assert joined is not None
        listener_key = serialization.load_pem_private_key(
            (host_dir / "join" / "gateway-server.key").read_bytes(), None
        )
        assert presented.public_key() == listener_key.public_key()
        assert (host_dir / "join" / "gateway-server.key").stat().st_mode & 0o777 == 0o600
        # With its joined client certificate it fetched the routes from the internal API.
        snapshot = host_dir / "gateway" / "snapshot.json"
        deadline = time.monotonic() + 30
        while not snapshot.exists():
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        assert proc.poll() is None
    finally:
        stop(proc)

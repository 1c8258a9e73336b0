"""`citadel up` for real: a subprocess serving HTTPS with the platform CA, on either backend."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from citadel.authn import totp
from citadel.client.api import CitadelClient, ClientError
from tests.e2e.conftest import admin_key as _admin_key
from tests.e2e.conftest import trust as _trust

pytestmark = pytest.mark.e2e


def test_first_start_writes_endpoints_and_serves_https_with_the_platform_ca(running):
    endpoints, port, _ = running
    assert endpoints["api_url"] == f"https://127.0.0.1:{port}/api/v1"
    assert Path(endpoints["ca_file"]).exists()
    assert len(endpoints["organization_id"]) == 32
    response = httpx.get(f"{endpoints['api_url']}/_health", verify=_trust(endpoints))
    assert response.status_code == 200
    assert response.headers["strict-transport-security"].startswith("max-age=31536000")
    assert "server" not in response.headers


def test_plain_http_is_not_served(running):
    _, port, _ = running
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/api/v1/_health", timeout=5)


def test_tls_1_2_is_accepted_and_below_is_refused(running):
    _, port, _ = running
    modern = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    modern.check_hostname, modern.verify_mode = False, ssl.CERT_NONE
    modern.maximum_version = ssl.TLSVersion.TLSv1_2
    with (
        socket.create_connection(("127.0.0.1", port)) as raw,
        modern.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.version() == "TLSv1.2"
        assert "GCM" in tls.cipher()[0] or "CHACHA20" in tls.cipher()[0]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    with contextlib.suppress(ssl.SSLError):
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    with socket.create_connection(("127.0.0.1", port)) as raw, pytest.raises(ssl.SSLError):
        ctx.wrap_socket(raw, server_hostname="127.0.0.1")


def test_the_owner_signs_in_enrols_totp_and_mints_a_working_key(running):
    endpoints, _, _ = running
    api, ca = endpoints["api_url"], endpoints["ca_file"]
    with CitadelClient(api, ca_file=ca) as anon:
        token = anon.login("owner@example.com", "e2e owner password 123")
    assert token.mfa_enrollment_required is True
    with CitadelClient(api, token=token.token, ca_file=ca) as user:
        with pytest.raises(ClientError) as denied:
            user.list_members(endpoints["organization_id"])
        assert denied.value.code == "auth.mfa_enrollment_required"
        secret = user.request("POST", "/users/auth/mfa/totp")["secret"]
        seed = base64.b32decode(secret + "=" * (-len(secret) % 8))
        code = totp.code_at(seed, int(time.time()) // 30)
        user.request("POST", "/users/auth/mfa/totp/_confirm", json={"code": code})
        key = user.create_api_key("e2e", expiration="1d")
    with CitadelClient(api, api_key=key.key, ca_file=ca) as robot:
        [member] = robot.list_members(endpoints["organization_id"])
    assert member.email == "owner@example.com"


def test_admin_create_api_key_works_from_the_data_directory(running, data_dir):
    endpoints, _, env = running
    key = _admin_key(data_dir, endpoints, env)
    assert key.startswith("cit_live_")
    response = httpx.get(
        f"{endpoints['api_url']}/organizations/{endpoints['organization_id']}",
        headers={"Authorization": f"ApiKey {key}"},
        verify=_trust(endpoints),
    )
    assert response.status_code == 200


def _component_context(data_dir: Path, endpoints, *, with_certificate: bool) -> ssl.SSLContext:
    ctx = _trust(endpoints)
    if with_certificate:
        from citadel.bootstrap import build
        from citadel.config import Settings
        from citadel.pki.components import ensure_component_certificate

        services = build(Settings(data_dir=data_dir, _env_file=None))
        try:
            made = ensure_component_certificate(data_dir, services.keyring, "allocator")
        finally:
            services.close()
        ctx.load_cert_chain(str(made.cert_file), str(made.key_file), password=made.key_password)
    return ctx


def test_the_internal_listener_needs_a_component_certificate(running, data_dir):
    endpoints, _, _ = running
    url = f"{endpoints['internal_url']}/internal/v1/allocations"
    with pytest.raises(httpx.TransportError):
        httpx.get(url, verify=_component_context(data_dir, endpoints, with_certificate=False))

    from citadel.contract.messages import CONTRACT_HEADER, CONTRACT_VERSION

    response = httpx.get(
        url,
        verify=_component_context(data_dir, endpoints, with_certificate=True),
        headers={CONTRACT_HEADER: str(CONTRACT_VERSION)},
    )

    assert response.status_code == 200
    assert response.json()["deployments"] == []


def test_deployment_cli_creates_shows_shuts_down_and_deletes(running, data_dir):
    endpoints, _, env = running
    key = _admin_key(data_dir, endpoints, env)
    citadel = str(Path(sys.executable).parent / "citadel")
    base = {**env, "CITADEL_API_KEY": key}

    def run(*args: str) -> dict:
        result = subprocess.run(
            [citadel, "deployment", *args, "--data-dir", str(data_dir), "--output", "json"],
            capture_output=True,
            text=True,
            check=True,
            env=base,
        )
        return json.loads(result.stdout)

    made = run("create", "--name", "cli-made")
    dep = made["id"]
    assert made["resources"][0]["credentials"]["username"] == "elastic"
    assert [d["id"] for d in run("list")["deployments"]] == [dep]
    assert run("show", dep)["name"] == "cli-made"
    assert run("reset-password", dep)["password"]
    assert run("shutdown", dep, "--yes") == {"id": dep, "name": "cli-made"}
    assert run("delete", dep, "--yes") == {"id": dep, "name": "cli-made"}
    assert run("list")["deployments"] == []
    gone = subprocess.run(
        [citadel, "deployment", "show", dep, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        env=base,
    )
    assert gone.returncode == 1  # an error answer: its code on stderr, no traceback
    assert "HTTP 404: deployments.deployment_not_found" in gone.stderr
    assert "Traceback" not in gone.stderr

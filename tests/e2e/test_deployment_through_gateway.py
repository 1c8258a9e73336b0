"""The whole platform: `citadel up`, a deployment, its sandboxed node, through the gateway."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import admin_key, trust, wait_for_gateway

ROOT = Path(__file__).resolve().parents[2]
ES9 = ROOT / ".venv-es9" / "bin" / "python"
SCENARIO = Path(__file__).with_name("gateway_scenario.py")


def _needs(path: Path, what: str) -> None:
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{what} is missing: make test installs it")
        pytest.skip(f"{what} not available")


def _create_running_deployment(endpoints, key: str) -> tuple[str, str]:
    api = endpoints["api_url"]
    headers = {"Authorization": f"ApiKey {key}"}
    body = {"name": "e2e", "resources": {"elasticsearch": [{"ref_id": "main-elasticsearch"}]}}
    made = httpx.post(f"{api}/deployments", json=body, headers=headers, verify=trust(endpoints))
    assert made.status_code == 201, made.text
    deployment = made.json()["id"]
    password = made.json()["resources"][0]["credentials"]["password"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        shown = httpx.get(
            f"{api}/deployments/{deployment}", headers=headers, verify=trust(endpoints)
        )
        if shown.json().get("healthy"):
            return deployment, password
        time.sleep(0.25)
    pytest.fail(f"deployment did not become healthy: {shown.text}")


def cloud_id_of(endpoints, key: str, deployment: str) -> str:
    """The deployment's Cloud ID, as the API shows it."""
    shown = httpx.get(
        f"{endpoints['api_url']}/deployments/{deployment}",
        headers={"Authorization": f"ApiKey {key}"},
        verify=trust(endpoints),
    ).json()
    return shown["resources"]["elasticsearch"][0]["info"]["metadata"]["cloud_id"]


def _wait_for_gateway_route(endpoints, deployment: str, password: str) -> None:
    """The gateway refreshes its snapshot every second: wait for it to know the new node."""
    wait_for_gateway(endpoints)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        response = httpx.get(
            f"{endpoints['gateway_url']}/",
            headers={"X-Found-Cluster": deployment},
            auth=("elastic", password),
            verify=trust(endpoints),
        )
        if response.status_code == 200:
            return
        time.sleep(0.2)
    pytest.fail(f"the gateway never routed to the deployment: {response.text}")


def test_official_client_and_curl_reach_a_new_deployment_through_the_gateway(running, data_dir):
    _needs(ES9, ".venv-es9")
    if shutil.which("bwrap") is None:
        _needs(Path("/usr/bin/bwrap"), "bubblewrap")
    endpoints, _, env = running
    deployment, password = _create_running_deployment(
        endpoints, admin_key(data_dir, endpoints, env)
    )
    _wait_for_gateway_route(endpoints, deployment, password)

    scenario = subprocess.run(
        [
            str(ES9),
            str(SCENARIO),
            endpoints["gateway_url"],
            endpoints["ca_file"],
            deployment,
            password,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert scenario.returncode == 0, scenario.stderr[-3000:]
    seen = json.loads(scenario.stdout)
    assert seen["bulk_ok"] == 1000
    assert seen["count"] == 1000
    assert seen["top_hit"] == "42"

    curl = subprocess.run(
        [
            "curl",
            "-sS",
            "--cacert",
            endpoints["ca_file"],
            "-u",
            f"elastic:{password}",
            "-H",
            f"X-Found-Cluster: {deployment}",
            f"{endpoints['gateway_url']}/e2e/_count",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(curl.stdout)["count"] == 1000


def test_unknown_deployment_through_the_gateway_is_a_json_404(running):
    endpoints, _, _ = running
    wait_for_gateway(endpoints)
    response = httpx.get(
        f"{endpoints['gateway_url']}/",
        headers={"X-Found-Cluster": "0" * 32},
        verify=trust(endpoints),
    )
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")


def test_reset_password_reaches_the_running_node(running, data_dir):
    endpoints, _, env = running
    key = admin_key(data_dir, endpoints, env)
    deployment, old = _create_running_deployment(endpoints, key)
    _wait_for_gateway_route(endpoints, deployment, old)
    reset = httpx.post(
        f"{endpoints['api_url']}/deployments/{deployment}/elasticsearch/main-elasticsearch/_reset-password",
        headers={"Authorization": f"ApiKey {key}"},
        verify=trust(endpoints),
    )
    assert reset.status_code == 200, reset.text
    new = reset.json()["password"]
    # The node restarts with the new password; the gateway's view of its state trails by up
    # to a snapshot refresh, so wait until the restart has settled (503s in between are fine).
    _wait_for_gateway_route(endpoints, deployment, new)
    assert _settled_status(endpoints, deployment, old) == 401
    assert _settled_status(endpoints, deployment, new) == 200


def _settled_status(endpoints, deployment: str, password: str) -> int:
    """The gateway's answer for `password` once the deployment is not restarting (not 503)."""
    deadline = time.monotonic() + 30
    while True:
        status = httpx.get(
            f"{endpoints['gateway_url']}/",
            headers={"X-Found-Cluster": deployment},
            auth=("elastic", password),
            verify=trust(endpoints),
        ).status_code
        if status != 503 or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


def test_the_cloud_id_names_a_host_the_gateway_serves_by_sni(running, data_dir):
    endpoints, _, env = running
    key = admin_key(data_dir, endpoints, env)
    deployment, password = _create_running_deployment(endpoints, key)
    _wait_for_gateway_route(endpoints, deployment, password)
    cloud_id = cloud_id_of(endpoints, key, deployment)
    host_port, es_id, _ = base64.b64decode(cloud_id.split(":", 1)[1]).decode().split("$")
    host, port = host_port.rsplit(":", 1)
    assert es_id == deployment
    assert port == endpoints["gateway_url"].rsplit(":", 1)[1]
    # Where "<id>.<host>" resolves to the gateway (DNS); here we connect to loopback ourselves
    # and present that name, certificate check included, as a client would.
    name = f"{es_id}.{host}"
    ctx = trust(endpoints)
    with (
        socket.create_connection(("127.0.0.1", int(port))) as raw,
        ctx.wrap_socket(raw, server_hostname=name) as tls,
    ):
        auth = base64.b64encode(f"elastic:{password}".encode()).decode()
        tls.sendall(
            f"GET / HTTP/1.1\r\nHost: {name}\r\nAuthorization: Basic {auth}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        head = tls.recv(64)
    assert head.startswith(b"HTTP/1.1 200")


def test_the_gateway_keeps_serving_when_the_control_plane_is_gone(running, data_dir):
    endpoints, _, env = running
    key = admin_key(data_dir, endpoints, env)
    deployment, password = _create_running_deployment(endpoints, key)
    _wait_for_gateway_route(endpoints, deployment, password)
    children = _processes_using(data_dir)
    os.kill(endpoints["pid"], signal.SIGKILL)  # the control plane dies; its children live on
    try:
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{endpoints['api_url']}/_health", verify=trust(endpoints), timeout=5)
        time.sleep(2.5)  # more than two snapshot refresh intervals without the control plane
        response = httpx.get(
            f"{endpoints['gateway_url']}/_cluster/health",
            headers={"X-Found-Cluster": deployment},
            auth=("elastic", password),
            verify=trust(endpoints),
        )
        assert response.status_code == 200
        assert response.json()["status"] == "green"
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)


def _processes_using(data_dir: Path) -> list[int]:
    """The allocator and gateway started for this data directory (by their command lines)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if str(data_dir).encode() in argv and any(a in (b"allocator", b"gateway") for a in argv):
            pids.append(int(proc.name))
    return pids

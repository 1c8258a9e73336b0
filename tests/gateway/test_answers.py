"""The gateway's own answers are Elasticsearch errors an official client understands.

Unknown deployment, deployment not serving, a request the gateway refuses: each body is
``{"error":{"root_cause":[{"type","reason"}],"type","reason"},"status"}`` with the gateway's
`RejectCode` as the type and Citadel's wording as the reason.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.gateway.conftest import PASSWORD, STOPPED_ID
from tests.gateway.harness import Pki, RunningGateway, raw_exchange

ROOT = Path(__file__).resolve().parents[2]
ES9 = ROOT / ".venv-es9" / "bin" / "python"
SCRIPT = Path(__file__).with_name("client_errors.py")


def _es_error(body: dict, status: int) -> tuple[str, str]:
    """(type, reason) of an Elasticsearch error body, after checking its whole shape."""
    assert set(body) == {"error", "status"}
    assert body["status"] == status
    error = body["error"]
    assert set(error) == {"root_cause", "type", "reason"}
    assert error["root_cause"] == [{"type": error["type"], "reason": error["reason"]}]
    return error["type"], error["reason"]


def _get(gateway: RunningGateway, pki: Pki, headers: dict[str, str]) -> httpx.Response:
    with httpx.Client(
        base_url=f"https://127.0.0.1:{gateway.port}",
        verify=ssl.create_default_context(cafile=str(pki.node_tls.ca)),
        auth=("elastic", PASSWORD),
        headers=headers,
        timeout=15,
    ) as client:
        return client.get("/")


def _official_client(gateway: RunningGateway, pki: Pki, cluster: str) -> dict:
    if not ES9.exists():
        if os.environ.get("CI"):
            pytest.fail(".venv-es9 is missing: make test creates it")
        pytest.skip(".venv-es9 not created (run make test)")
    url = f"https://127.0.0.1:{gateway.port}"
    run = subprocess.run(
        [str(ES9), str(SCRIPT), "elasticsearch", url, str(pki.node_tls.ca), cluster],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


def test_an_unknown_deployment_is_an_elasticsearch_404(gateway: RunningGateway, pki: Pki) -> None:
    response = _get(gateway, pki, {"X-Found-Cluster": "0" * 32})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    kind, reason = _es_error(response.json(), 404)
    assert kind == "deployment.not_found"
    assert reason.startswith("No deployment matches this request's host name")


def test_a_stopped_deployment_is_an_elasticsearch_503(gateway: RunningGateway, pki: Pki) -> None:
    response = _get(gateway, pki, {"X-Found-Cluster": STOPPED_ID})
    assert response.status_code == 503
    kind, reason = _es_error(response.json(), 503)
    assert kind == "deployment.not_running"
    assert reason.startswith("The deployment is not serving")


def test_a_refused_request_is_an_elasticsearch_error(gateway: RunningGateway, pki: Pki) -> None:
    answer = raw_exchange(
        gateway.port, pki.node_tls.ca, b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"
    )
    head, body = answer.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"\r\ncontent-type: application/json\r\n" in head
    assert _es_error(json.loads(body), 400) == (
        "request.host",
        "The request has more than one Host header.",
    )


def test_no_answer_points_to_elastic_documentation(gateway: RunningGateway, pki: Pki) -> None:
    for cluster in ("0" * 32, STOPPED_ID):
        assert "Elastic" not in _get(gateway, pki, {"X-Found-Cluster": cluster}).text


def test_the_official_client_raises_not_found_with_citadels_reason(
    gateway: RunningGateway, pki: Pki
) -> None:
    seen = _official_client(gateway, pki, "0" * 32)
    assert seen["class"] == "NotFoundError"
    assert seen["status"] == 404
    assert seen["error"] == "deployment.not_found"
    assert "No deployment matches this request's host name" in seen["message"]
    _es_error(seen["body"], 404)


def test_the_official_client_raises_an_api_error_for_a_stopped_deployment(
    gateway: RunningGateway, pki: Pki
) -> None:
    seen = _official_client(gateway, pki, STOPPED_ID)
    assert (seen["class"], seen["status"], seen["error"]) == (
        "ApiError",
        503,
        "deployment.not_running",
    )
    assert "The deployment is not serving" in seen["message"]

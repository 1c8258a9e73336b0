"""The official `elasticsearch` clients, 8.x and 9.x, authenticate with a JWT
(``bearer_auth``) against a real node process started with ``--security-file``."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.node.jwt_builders import claims, security, signing_key, token, write_security
from tests.node.process import (
    CITADEL,
    RunningNode,
    Tls,
    _pipe_with,
    _wait_ready,
    free_port,
    make_tls,
)
from tests.node.test_clients import CLIENTS, ROOT

SCENARIO = Path(__file__).with_name("jwt_client_scenario.py")
PASSWORD = "elastic-test-password"


def start_node_with_security(data_dir: Path, tls: Tls, security_file: Path) -> RunningNode:
    """`citadel node` on a port, the elastic password on a pipe, following `security_file`."""
    pw_r = _pipe_with(PASSWORD.encode())
    port = free_port()
    args = [
        CITADEL,
        "node",
        "--data-dir",
        str(data_dir),
        "--elastic-password-fd",
        str(pw_r),
        "--cert",
        str(tls.cert),
        "--key",
        str(tls.key),
        "--port",
        str(port),
        "--security-file",
        str(security_file),
    ]
    proc = subprocess.Popen(args, pass_fds=[pw_r], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.close(pw_r)
    node = RunningNode(proc, f"https://127.0.0.1:{port}", tls)
    _wait_ready(node, client_ca=False)
    return node


@pytest.fixture
def python_of(request: pytest.FixtureRequest) -> tuple[Path, str]:
    venv, module = CLIENTS[request.param]
    python = ROOT / venv / "bin" / "python"
    if not python.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{venv} is missing: make test creates it")
        pytest.skip(f"{venv} not created (run make test)")
    return python, module


@pytest.mark.parametrize("python_of", sorted(CLIENTS), indirect=True)
def test_official_client_authenticates_with_a_jwt(
    tmp_path: Path, python_of: tuple[Path, str]
) -> None:
    python, module = python_of
    key, stranger = signing_key("k1"), signing_key("k1")  # the stranger claims our kid
    security_file = tmp_path / "security.json"
    write_security(security_file, security(key))
    tls = make_tls(tmp_path / "tls")
    node = start_node_with_security(tmp_path / "data", tls, security_file)
    try:
        with node.client(auth=("elastic", PASSWORD)) as admin:
            for i in ("1", "2"):
                admin.put(f"/books/_doc/{i}?refresh=true", json={"title": f"book {i}"})
        viewer, forged = token(key, claims()), token(stranger, claims(roles=["superuser"]))
        result = subprocess.run(
            [str(python), str(SCENARIO), module, node.url, str(tls.ca), viewer, forged],
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        node.stop()
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout)
    assert seen == {
        "username": "u-alice",
        "roles": ["viewer"],
        "realm": {"name": "citadel-cloud", "type": "jwt"},
        "count": 2,
        "hits": ["1", "2"],
        "write": 403,
        "forged": 401,
    }

"""The official `elasticsearch` clients, 8.x and 9.x, get, refresh, use and invalidate the
node's bearer tokens against a real node process."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.node.process import make_tls, start_node
from tests.node.test_clients import CLIENTS, ROOT

SCENARIO = Path(__file__).with_name("token_client_scenario.py")


@pytest.mark.parametrize("version", sorted(CLIENTS))
def test_official_client_uses_the_nodes_tokens(tmp_path: Path, version: str) -> None:
    venv, module = CLIENTS[version]
    python = ROOT / venv / "bin" / "python"
    if not python.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{venv} is missing: make test creates it")
        pytest.skip(f"{venv} not created (run make test)")
    tls = make_tls(tmp_path / "tls")
    node = start_node(tmp_path / "data", tls)
    try:
        result = subprocess.run(
            [str(python), str(SCENARIO), module, node.url, str(tls.ca), "elastic-test-password"],
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        node.stop()
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout) == {
        "type": "Bearer",
        "expires_in": 1200,
        "username": "elastic",
        "authentication_type": "token",
        "second_refresh": [400, "invalid_grant"],
        "invalidated": 1,
        "after_invalidation": 401,
        "client_credentials_refresh": False,
    }

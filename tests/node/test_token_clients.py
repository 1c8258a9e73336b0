"""The official `elasticsearch` clients, 8.x and 9.x, get, refresh, use and invalidate the
node's bearer tokens against a real node process."""

from __future__ import annotations

import json
from pathlib import Path

from tests.node.official_clients import OfficialClient
from tests.node.process import make_tls, start_node

SCENARIO = Path(__file__).with_name("token_client_scenario.py")


def test_official_client_uses_the_nodes_tokens(
    tmp_path: Path, official_client: OfficialClient
) -> None:
    tls = make_tls(tmp_path / "tls")
    node = start_node(tmp_path / "data", tls)
    try:
        result = official_client.run(
            SCENARIO, node.url, str(tls.ca), "elastic-test-password", timeout=300
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

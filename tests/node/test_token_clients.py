"""The official `elasticsearch` clients, 8.x and 9.x, get, refresh, use and invalidate the
node's bearer tokens against a real node process."""

from __future__ import annotations

from pathlib import Path

from tests.node.official_clients import OfficialClient

SCENARIO = Path(__file__).with_name("token_client_scenario.py")


def test_official_client_uses_the_nodes_tokens(
    tmp_path: Path, official_client: OfficialClient
) -> None:
    assert official_client.run_on_a_new_node(SCENARIO, tmp_path, timeout=300) == {
        "type": "Bearer",
        "expires_in": 1200,
        "username": "elastic",
        "authentication_type": "token",
        "second_refresh": [400, "invalid_grant"],
        "invalidated": 1,
        "after_invalidation": 401,
        "client_credentials_refresh": False,
    }

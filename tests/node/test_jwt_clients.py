"""The official `elasticsearch` clients, 8.x and 9.x, authenticate with a JWT
(``bearer_auth``) against a real node process started with ``--security-file``."""

from __future__ import annotations

import json
from pathlib import Path

from tests.node.jwt_builders import claims, security, signing_key, token, write_security
from tests.node.official_clients import OfficialClient
from tests.node.process import make_tls, start_node

SCENARIO = Path(__file__).with_name("jwt_client_scenario.py")
PASSWORD = "elastic-test-password"


def test_official_client_authenticates_with_a_jwt(
    tmp_path: Path, official_client: OfficialClient
) -> None:
    key, stranger = signing_key("k1"), signing_key("k1")  # the stranger claims our kid
    security_file = tmp_path / "security.json"
    write_security(security_file, security(key))
    tls = make_tls(tmp_path / "tls")
    node = start_node(
        tmp_path / "data",
        tls,
        elastic_password=PASSWORD,
        extra_args=["--security-file", str(security_file)],
    )
    try:
        with node.client(auth=("elastic", PASSWORD)) as admin:
            for i in ("1", "2"):
                admin.put(f"/books/_doc/{i}?refresh=true", json={"title": f"book {i}"})
        viewer, forged = token(key, claims()), token(stranger, claims(roles=["superuser"]))
        result = official_client.run(SCENARIO, node.url, str(tls.ca), viewer, forged, timeout=300)
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

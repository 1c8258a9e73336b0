"""``es-security-runas-user``: honoured only where the caller's roles' ``run_as`` allow the
target; the request is then authorized as the target; refusals read as Elasticsearch's."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from citadel.kit.clock import SettableClock
from citadel.node.services import NodeServices
from tests.node.builders import ELASTIC, PASSWORD, app_of, client_of, error_of, put_role, put_user
from tests.node.jwt_builders import (
    claims,
    node_with_security_file,
    security,
    signing_key,
    token,
    write_security,
)

RUN_AS = "es-security-runas-user"


@pytest.fixture
def users(es: TestClient) -> TestClient:
    """bob reads logs-*; carol may run as bob (and b*), not as anyone else."""
    es.put("/logs-1/_doc/1?refresh=true", json={"m": 1})
    es.put("/secret-1/_doc/1?refresh=true", json={"m": 1})
    put_role(es, "logs_reader", indices={"logs-*": ["read"]})
    put_user(es, "bob", roles=["logs_reader"], full_name="Bob")
    put_user(es, "dave", roles=["superuser"])
    response = es.put(
        "/_security/role/impersonator", json={"cluster": ["manage_own_api_key"], "run_as": ["b*"]}
    )
    assert response.status_code == 200, response.text
    put_user(es, "carol", roles=["impersonator"])
    return es


def as_user(
    client: TestClient, name: str, target: str, path: str = "/_security/_authenticate"
) -> Any:
    return client.get(path, headers={RUN_AS: target}, auth=(name, PASSWORD))


def test_a_superuser_runs_as_a_native_user_and_acts_with_their_roles(users: TestClient) -> None:
    who = users.get("/_security/_authenticate", headers={RUN_AS: "bob"})
    assert who.status_code == 200, who.text
    body = who.json()
    assert body["username"] == "bob"
    assert body["roles"] == ["logs_reader"]
    assert body["full_name"] == "Bob"
    assert body["authentication_realm"] == {"name": "reserved", "type": "reserved"}
    assert body["lookup_realm"] == {"name": "default_native", "type": "native"}
    assert body["authentication_type"] == "realm"
    assert users.get("/logs-1/_search", headers={RUN_AS: "bob"}).status_code == 200
    denied = users.get("/secret-1/_search", headers={RUN_AS: "bob"})
    assert denied.status_code == 403
    assert "for user [elastic] run as [bob] with effective roles [logs_reader]" in denied.text


def test_run_as_is_allowed_by_the_role_s_run_as_patterns(users: TestClient) -> None:
    assert as_user(users, "carol", "bob").json()["username"] == "bob"


def test_run_as_a_user_outside_the_patterns_is_refused(users: TestClient) -> None:
    error = error_of(as_user(users, "carol", "dave"), 403)
    assert error["type"] == "security_exception"
    assert error["reason"] == (
        "action [cluster:admin/xpack/security/user/authenticate] is unauthorized for user [carol] "
        "with effective roles [impersonator], because user [carol] is unauthorized to run as [dave]"
    )


@pytest.mark.parametrize(
    "target", ["bogus", "bert", ""], ids=["unknown", "unknown-in-pattern", "empty"]
)
def test_run_as_an_unknown_user_is_refused_like_a_forbidden_one(
    users: TestClient, target: str
) -> None:
    error = error_of(as_user(users, "carol", target), 403)
    assert error["reason"].endswith(f"because user [carol] is unauthorized to run as [{target}]")


def test_run_as_a_disabled_user_is_refused(users: TestClient) -> None:
    assert users.put("/_security/user/bob/_disable").status_code == 200
    error_of(users.get("/_security/_authenticate", headers={RUN_AS: "bob"}), 403)


def test_a_user_without_run_as_cannot_impersonate(users: TestClient) -> None:
    error = error_of(as_user(users, "bob", "bob"), 403)
    assert "user [bob] is unauthorized to run as [bob]" in error["reason"]


def test_a_failed_sign_in_is_a_401_whatever_the_run_as_header(users: TestClient) -> None:
    response = users.get(
        "/_security/_authenticate", headers={RUN_AS: "bob"}, auth=("carol", "wrong-password")
    )
    assert response.status_code == 401


def _api_key(client: TestClient, body: dict[str, Any]) -> str:
    created = client.post("/_security/api_key", json=body)
    assert created.status_code == 200, created.text
    raw = f"{created.json()['id']}:{created.json()['api_key']}".encode()
    return base64.b64encode(raw).decode()


def test_an_api_key_runs_as_when_its_roles_and_its_owner_allow(users: TestClient) -> None:
    key = _api_key(users, {"name": "k", "role_descriptors": {"r": {"run_as": ["bob"]}}})
    headers = {"Authorization": f"ApiKey {key}", RUN_AS: "bob"}
    with client_of(users.app) as anonymous:  # type: ignore[arg-type]
        body = anonymous.get("/_security/_authenticate", headers=headers).json()
    assert body["username"] == "bob"
    assert body["authentication_type"] == "api_key"
    assert body["authentication_realm"]["type"] == "_es_api_key"
    assert body["lookup_realm"] == {"name": "default_native", "type": "native"}
    assert "api_key" not in body  # the effective user is bob, not the key


def test_an_api_key_without_run_as_in_its_roles_is_refused(users: TestClient) -> None:
    key = _api_key(users, {"name": "k", "role_descriptors": {"r": {"cluster": ["monitor"]}}})
    headers = {"Authorization": f"ApiKey {key}", RUN_AS: "bob"}
    with client_of(users.app) as anonymous:  # type: ignore[arg-type]
        error = error_of(anonymous.get("/_security/_authenticate", headers=headers), 403)
    assert "because API key id [" in error["reason"]
    assert "is unauthorized to run as [bob]" in error["reason"]


def test_an_api_key_cannot_run_as_beyond_its_owner(users: TestClient) -> None:
    with client_of(users.app, ("carol", PASSWORD)) as carol:  # type: ignore[arg-type]
        key = _api_key(carol, {"name": "k", "role_descriptors": {"r": {"run_as": ["*"]}}})
        headers = {"Authorization": f"ApiKey {key}", RUN_AS: "dave"}
        error_of(carol.get("/_security/_authenticate", headers=headers), 403)
        allowed = {"Authorization": f"ApiKey {key}", RUN_AS: "bob"}
        assert carol.get("/_security/_authenticate", headers=allowed).status_code == 200


@pytest.fixture
def jwt_node(tmp_path: Path, node_clock: SettableClock) -> Iterator[tuple[NodeServices, Any]]:
    key = signing_key()
    path = tmp_path / "security.json"
    write_security(path, security(key))
    with node_with_security_file(tmp_path / "n", node_clock, path) as services:
        yield services, key


def test_a_jwt_user_runs_as_when_a_mapped_role_allows(
    jwt_node: tuple[NodeServices, Any], node_clock: SettableClock
) -> None:
    services, key = jwt_node
    with client_of(app_of(services), ELASTIC) as es:
        put_user(es, "bob", roles=["viewer"])
        assert es.put("/_security/role/support", json={"run_as": ["bob"]}).status_code == 200
        mapping = {"enabled": True, "roles": ["support"], "rules": {"field": {"groups": "support"}}}
        assert es.put("/_security/role_mapping/support", json=mapping).status_code == 200
        value = token(key, claims(node_clock.now().timestamp(), roles=["support"]))
        es.auth = None  # type: ignore[assignment]
        headers = {"Authorization": f"Bearer {value}", RUN_AS: "bob"}
        body = es.get("/_security/_authenticate", headers=headers).json()
    assert body["username"] == "bob"
    assert body["authentication_realm"] == {"name": "citadel-cloud", "type": "jwt"}
    assert body["lookup_realm"] == {"name": "default_native", "type": "native"}

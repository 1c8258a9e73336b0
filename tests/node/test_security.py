"""The node's security realm over a real encrypted store: authentication, users, roles,
API keys and authorization, through the REST API where it exists."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from citadel.kit.clock import SettableClock
from citadel.node.errors import Forbidden
from citadel.node.security.realm import Identity, Realm
from citadel.node.services import NodeServices
from tests.node.builders import ELASTIC_PASSWORD, PASSWORD, logs_reader, put_role, put_user

# -- builders ----------------------------------------------------------------------------


def basic(name: str, password: str = PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{name}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def api_key(encoded: str) -> dict[str, str]:
    return {"Authorization": f"ApiKey {encoded}"}


def create_key(client: TestClient, headers: dict[str, str] | None = None, **body: Any) -> dict:
    response = client.post("/_security/api_key", json={"name": "key", **body}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def key_owner(es: TestClient, name: str) -> None:
    """A viewer who may also manage their own API keys."""
    put_role(es, "own_keys", cluster=["manage_own_api_key"])
    put_user(es, name, roles=["viewer", "own_keys"])


def logs_key_owner(es: TestClient) -> None:
    """``bob``, who reads ``logs-*`` and manages his own API keys (role ``logs_reader``)."""
    put_role(es, "logs_reader", cluster=["manage_own_api_key"], indices={"logs-*": ["read"]})
    put_user(es, "bob", roles=["logs_reader"])


def whoami(client: TestClient, headers: dict[str, Any]) -> Any:
    return client.get("/_security/_authenticate", headers=headers)


def identity_of(realm: Realm, headers: dict[str, str]) -> Identity:
    return realm.authenticate(headers["Authorization"])


def error_type(response: Any) -> str:
    return response.json()["error"]["type"]


def reason(response: Any) -> str:
    return response.json()["error"]["reason"]


# -- _authenticate -----------------------------------------------------------------------


def test_authenticate_describes_the_elastic_superuser(es: TestClient) -> None:
    response = es.get("/_security/_authenticate")
    assert response.status_code == 200
    assert response.headers["x-elastic-product"] == "Elasticsearch"
    body = response.json()
    assert body["username"] == "elastic"
    assert body["roles"] == ["superuser"]
    assert body["enabled"] is True
    assert body["metadata"] == {"_reserved": True}
    assert body["authentication_realm"] == {"name": "reserved", "type": "reserved"}
    assert body["authentication_type"] == "realm"


def test_authenticate_describes_a_native_user(es: TestClient, anonymous: TestClient) -> None:
    put_user(es, "bob", roles=["viewer"], full_name="Bob B", email="bob@example.com")
    body = whoami(anonymous, basic("bob")).json()
    assert body["username"] == "bob"
    assert body["roles"] == ["viewer"]
    assert body["full_name"] == "Bob B"
    assert body["email"] == "bob@example.com"
    assert body["authentication_realm"] == {"name": "default_native", "type": "native"}


def test_authenticate_describes_an_api_key(es: TestClient, anonymous: TestClient) -> None:
    key = create_key(es, name="ci")
    body = whoami(anonymous, api_key(key["encoded"])).json()
    assert body["username"] == "elastic"
    assert body["authentication_type"] == "api_key"
    assert body["authentication_realm"]["type"] == "_es_api_key"
    assert body["api_key"] == {"id": key["id"], "name": "ci"}


def test_anonymous_requests_get_401_with_www_authenticate(anonymous: TestClient) -> None:
    response = anonymous.get("/_security/_authenticate")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic")
    assert "ApiKey" in response.headers["www-authenticate"]
    assert error_type(response) == "security_exception"


def test_a_wrong_password_gets_401(anonymous: TestClient) -> None:
    response = whoami(anonymous, basic("elastic", "not-the-password"))
    assert response.status_code == 401
    assert "www-authenticate" in response.headers


def test_an_unknown_user_gets_401(anonymous: TestClient) -> None:
    assert whoami(anonymous, basic("nobody", "whatever1")).status_code == 401


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize(
    "header",
    [
        b"",
        b"   ",
        b"Basic",
        b"Basic ",
        b"Basic !!!not-base64!!!",
        b"Basic " + b64(b"elastic").encode(),  # no colon
        b"Basic " + b64(b"\xff\xfe:\xfd").encode(),  # not UTF-8
        b"Basic \xff\xfe",
        b"Basic " + b64(b":" + ELASTIC_PASSWORD.encode()).encode(),  # empty username
        b"Basic " + b64(b"elastic:").encode(),  # empty password
        b"Basic " + b64(f"elastic:{ELASTIC_PASSWORD}".encode())[:-2].encode(),  # truncated
        b"Bearer " + b64(f"elastic:{ELASTIC_PASSWORD}".encode()).encode(),  # unknown scheme
        b"Negotiate abc",
        b"ApiKey",
        b"ApiKey garbage",
        b"ApiKey " + b64(b"no-colon").encode(),
        b"ApiKey " + b64(b"unknown-id:secret").encode(),
        b"ApiKey " + b64(b":").encode(),
        b"Basic " + b"A" * 20000,
    ],
)
def test_malformed_authorization_headers_get_401_never_500(
    anonymous: TestClient, header: bytes
) -> None:
    response = anonymous.get("/_security/_authenticate", headers={"Authorization": header})
    assert response.status_code == 401
    assert "www-authenticate" in response.headers
    assert error_type(response) == "security_exception"


def test_scheme_names_are_case_insensitive(anonymous: TestClient) -> None:
    token = b64(f"elastic:{ELASTIC_PASSWORD}".encode())
    response = whoami(anonymous, {"Authorization": f"basic {token}"})
    assert response.status_code == 200


def test_a_password_containing_a_colon_works(es: TestClient, anonymous: TestClient) -> None:
    put_user(es, "bob", roles=[], password="pass:word:with:colons")
    assert whoami(anonymous, basic("bob", "pass:word:with:colons")).status_code == 200


# -- passwords ---------------------------------------------------------------------------


def test_passwords_are_stored_only_as_argon2_hashes(
    es: TestClient, node_services: NodeServices
) -> None:
    put_user(es, "bob", roles=["viewer"], password="plaintext-marker-123")
    with node_services.store.read() as conn:
        rows = [dict(r) for r in conn.execute("SELECT * FROM users").fetchall()]
    assert {r["username"] for r in rows} == {"elastic", "bob"}
    for row in rows:
        assert row["password_hash"].startswith("$argon2id$")
        dumped = json.dumps(row)
        assert "plaintext-marker-123" not in dumped
        assert ELASTIC_PASSWORD not in dumped


def test_changing_a_password_invalidates_the_old_one_at_once(
    es: TestClient, anonymous: TestClient
) -> None:
    put_user(es, "bob", roles=[])
    assert whoami(anonymous, basic("bob")).status_code == 200  # now remembered
    response = es.put("/_security/user/bob/_password", json={"password": "new-password-2"})
    assert response.status_code == 200
    assert response.json() == {}
    assert whoami(anonymous, basic("bob")).status_code == 401
    assert whoami(anonymous, basic("bob", "new-password-2")).status_code == 200


def test_replacing_a_user_with_a_new_password_invalidates_the_old_one(
    es: TestClient, anonymous: TestClient
) -> None:
    put_user(es, "bob", roles=[])
    assert whoami(anonymous, basic("bob")).status_code == 200
    put_user(es, "bob", roles=[], password="another-one-3")
    assert whoami(anonymous, basic("bob")).status_code == 401
    assert whoami(anonymous, basic("bob", "another-one-3")).status_code == 200


def test_replacing_a_user_without_a_password_keeps_it(
    es: TestClient, anonymous: TestClient
) -> None:
    put_user(es, "bob", roles=[])
    response = es.put("/_security/user/bob", json={"roles": ["viewer"], "full_name": "Bob"})
    assert response.json() == {"created": False}
    assert whoami(anonymous, basic("bob")).json()["roles"] == ["viewer"]


def test_users_change_their_own_password(es: TestClient, anonymous: TestClient) -> None:
    put_user(es, "bob", roles=[])
    response = anonymous.post(
        "/_security/user/_password", json={"password": "bobs-new-pw"}, headers=basic("bob")
    )
    assert response.status_code == 200
    assert whoami(anonymous, basic("bob")).status_code == 401
    assert whoami(anonymous, basic("bob", "bobs-new-pw")).status_code == 200


def test_users_change_their_own_password_by_name(es: TestClient, anonymous: TestClient) -> None:
    put_user(es, "bob", roles=[])
    response = anonymous.put(
        "/_security/user/bob/_password", json={"password": "bobs-new-pw"}, headers=basic("bob")
    )
    assert response.status_code == 200
    assert whoami(anonymous, basic("bob", "bobs-new-pw")).status_code == 200


def test_changing_someone_elses_password_needs_manage_security(
    es: TestClient, anonymous: TestClient
) -> None:
    put_user(es, "bob", roles=["editor"])
    put_user(es, "carol", roles=[], password="carol-password")
    response = anonymous.put(
        "/_security/user/carol/_password", json={"password": "hijacked1"}, headers=basic("bob")
    )
    assert response.status_code == 403
    assert "manage_security" in reason(response)
    assert whoami(anonymous, basic("carol", "carol-password")).status_code == 200


def test_the_elastic_password_is_changeable_by_elastic(
    es: TestClient, anonymous: TestClient
) -> None:
    response = es.post("/_security/user/elastic/_password", json={"password": "rotated-pw"})
    assert response.status_code == 200
    assert whoami(anonymous, basic("elastic", ELASTIC_PASSWORD)).status_code == 401
    assert whoami(anonymous, basic("elastic", "rotated-pw")).status_code == 200


def test_the_elastic_password_is_changeable_by_a_security_manager(
    es: TestClient, anonymous: TestClient
) -> None:
    put_role(es, "security_admin", cluster=["manage_security"])
    put_user(es, "admin", roles=["security_admin"])
    response = anonymous.put(
        "/_security/user/elastic/_password", json={"password": "rotated-pw"}, headers=basic("admin")
    )
    assert response.status_code == 200
    assert whoami(anonymous, basic("elastic", "rotated-pw")).status_code == 200


def test_the_elastic_password_is_not_changeable_by_others(
    es: TestClient, anonymous: TestClient
) -> None:
    put_user(es, "bob", roles=["editor"])
    response = anonymous.put(
        "/_security/user/elastic/_password", json={"password": "rotated-pw"}, headers=basic("bob")
    )
    assert response.status_code == 403
    assert whoami(anonymous, basic("elastic", ELASTIC_PASSWORD)).status_code == 200


def test_an_api_key_cannot_change_its_owners_password(
    es: TestClient, anonymous: TestClient
) -> None:
    key_owner(es, "bob")
    key = create_key(anonymous, basic("bob"))
    response = anonymous.post(
        "/_security/user/_password",
        json={"password": "by-the-key"},
        headers=api_key(key["encoded"]),
    )
    assert response.status_code == 403
    assert whoami(anonymous, basic("bob")).status_code == 200


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ({"password": "short"}, "action_request_validation_exception"),
        ({}, "action_request_validation_exception"),
        ({"password_hash": "$2a$10$abcdefghijabcdefghijab"}, "action_request_validation_exception"),
        ({"password": 123456789}, "parse_exception"),
        ({"password": "long-enough", "extra": 1}, "parse_exception"),
        (["long-enough"], "parse_exception"),
    ],
)
def test_bad_password_changes_are_400(es: TestClient, body: Any, kind: str) -> None:
    response = es.put("/_security/user/elastic/_password", json=body)
    assert response.status_code == 400
    assert error_type(response) == kind


def test_changing_the_password_of_a_missing_user_is_400(es: TestClient) -> None:
    response = es.put("/_security/user/ghost/_password", json={"password": "ghost-pw"})
    assert response.status_code == 400
    assert "must exist" in reason(response)


# -- users -------------------------------------------------------------------------------


def test_put_user_reports_created_then_updated(es: TestClient) -> None:
    body = {"password": PASSWORD, "roles": ["viewer"]}
    assert es.put("/_security/user/bob", json=body).json() == {"created": True}
    assert es.post("/_security/user/bob", json=body).json() == {"created": False}


def test_get_user_shows_the_user_without_any_hash(es: TestClient) -> None:
    put_user(
        es, "bob", roles=["viewer"], full_name="Bob", email="b@example.com", metadata={"team": 1}
    )
    response = es.get("/_security/user/bob")
    assert response.status_code == 200
    assert response.json() == {
        "bob": {
            "username": "bob",
            "roles": ["viewer"],
            "full_name": "Bob",
            "email": "b@example.com",
            "metadata": {"team": 1},
            "enabled": True,
        }
    }
    assert "argon2" not in response.text
    assert PASSWORD not in response.text


def test_get_users_lists_everyone_including_elastic(es: TestClient) -> None:
    put_user(es, "bob", roles=[])
    put_user(es, "carol", roles=[])
    body = es.get("/_security/user").json()
    assert sorted(body) == ["bob", "carol", "elastic"]
    assert body["elastic"]["metadata"] == {"_reserved": True}
    assert "hash" not in json.dumps(body)


def test_get_several_users_by_name(es: TestClient) -> None:
    put_user(es, "bob", roles=[])
    put_user(es, "carol", roles=[])
    assert sorted(es.get("/_security/user/bob,carol,ghost").json()) == ["bob", "carol"]


def test_get_a_missing_user_is_404_with_an_empty_body(es: TestClient) -> None:
    response = es.get("/_security/user/ghost")
    assert response.status_code == 404
    assert response.json() == {}


def test_delete_user(es: TestClient, anonymous: TestClient) -> None:
    put_user(es, "bob", roles=[])
    assert whoami(anonymous, basic("bob")).status_code == 200
    response = es.delete("/_security/user/bob")
    assert (response.status_code, response.json()) == (200, {"found": True})
    assert whoami(anonymous, basic("bob")).status_code == 401
    response = es.delete("/_security/user/bob")
    assert (response.status_code, response.json()) == (404, {"found": False})


def test_elastic_cannot_be_deleted(es: TestClient) -> None:
    response = es.delete("/_security/user/elastic")
    assert response.status_code == 400
    assert "reserved" in reason(response)
    assert es.get("/_security/_authenticate").status_code == 200


def test_elastic_cannot_be_replaced_through_put_user(es: TestClient) -> None:
    response = es.put("/_security/user/elastic", json={"password": "takeover1", "roles": []})
    assert response.status_code == 400
    assert "reserved" in reason(response)
    assert es.get("/_security/_authenticate").json()["roles"] == ["superuser"]


def test_a_disabled_user_is_refused(es: TestClient, anonymous: TestClient) -> None:
    put_user(es, "bob", roles=[])
    assert whoami(anonymous, basic("bob")).status_code == 200
    assert es.put("/_security/user/bob/_disable").json() == {}
    assert whoami(anonymous, basic("bob")).status_code == 401
    assert es.get("/_security/user/bob").json()["bob"]["enabled"] is False
    assert es.post("/_security/user/bob/_enable").status_code == 200
    assert whoami(anonymous, basic("bob")).status_code == 200


def test_a_user_created_disabled_cannot_sign_in(es: TestClient, anonymous: TestClient) -> None:
    put_user(es, "bob", roles=[], enabled=False)
    assert whoami(anonymous, basic("bob")).status_code == 401


def test_nobody_disables_their_own_account(es: TestClient) -> None:
    response = es.put("/_security/user/elastic/_disable")
    assert response.status_code == 400
    assert es.get("/_security/_authenticate").status_code == 200


def test_enabling_a_missing_user_is_404(es: TestClient) -> None:
    assert es.put("/_security/user/ghost/_enable").status_code == 404


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ({"password": "short", "roles": []}, "action_request_validation_exception"),
        ({"password": PASSWORD}, "action_request_validation_exception"),  # no roles
        ({"roles": ["viewer"]}, "action_request_validation_exception"),  # new user, no password
        (
            {"password_hash": "$2a$10$" + "a" * 53, "roles": []},
            "action_request_validation_exception",
        ),
        (
            {"password": PASSWORD, "roles": [], "metadata": {"_x": 1}},
            "action_request_validation_exception",
        ),
        ({"password": PASSWORD, "roles": [], "surname": "x"}, "parse_exception"),
        ({"password": PASSWORD, "roles": [1]}, "parse_exception"),
        ({"password": PASSWORD, "roles": {}}, "parse_exception"),
        ({"password": PASSWORD, "roles": [], "enabled": "true"}, "parse_exception"),
        ({"password": PASSWORD, "roles": [], "full_name": 5}, "parse_exception"),
        ({"password": PASSWORD, "roles": [], "metadata": []}, "parse_exception"),
        ({"password": ["x"], "roles": []}, "parse_exception"),
        ([], "parse_exception"),
        ("user", "parse_exception"),
        (42, "parse_exception"),
    ],
)
def test_bad_user_bodies_are_400(es: TestClient, body: Any, kind: str) -> None:
    response = es.put("/_security/user/bob", json=body)
    assert response.status_code == 400, response.text
    assert error_type(response) == kind
    assert es.get("/_security/user/bob").status_code == 404


@pytest.mark.parametrize(
    "raw", [b"{", b"{'roles': []}", b'{"roles": [}', b"\xff\xfe", b"", b"null x", b"[" * 1000]
)
def test_malformed_json_is_400(es: TestClient, raw: bytes) -> None:
    for method, path in [
        ("PUT", "/_security/user/bob"),
        ("PUT", "/_security/user/bob/_password"),
        ("PUT", "/_security/role/r"),
        ("POST", "/_security/api_key"),
        ("DELETE", "/_security/api_key"),
    ]:
        response = es.request(
            method, path, content=raw, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400, (method, path, response.text)
        assert response.json()["status"] == 400


@pytest.mark.parametrize("name", [" bob", "bob ", "b%09ob", "x" * 508, "bjørn"])
def test_invalid_usernames_are_400(es: TestClient, name: str) -> None:
    response = es.put(f"/_security/user/{name}", json={"password": PASSWORD, "roles": []})
    assert response.status_code == 400
    assert error_type(response) == "action_request_validation_exception"


def test_roles_may_be_a_comma_separated_string(es: TestClient) -> None:
    es.put("/_security/user/bob", json={"password": PASSWORD, "roles": "viewer,editor"})
    assert es.get("/_security/user/bob").json()["bob"]["roles"] == ["viewer", "editor"]


def test_managing_users_needs_manage_security(es: TestClient, anonymous: TestClient) -> None:
    put_user(es, "bob", roles=["editor"])
    for method, path in [
        ("GET", "/_security/user"),
        ("GET", "/_security/user/elastic"),
        ("PUT", "/_security/user/carol"),
        ("DELETE", "/_security/user/elastic"),
        ("PUT", "/_security/user/elastic/_disable"),
        ("GET", "/_security/role"),
        ("PUT", "/_security/role/r"),
        ("DELETE", "/_security/role/r"),
    ]:
        response = anonymous.request(
            method, path, json={"password": PASSWORD, "roles": ["superuser"]}, headers=basic("bob")
        )
        assert response.status_code == 403, (method, path)
        assert error_type(response) == "security_exception"
        granting = (
            "[read_security,manage_security,all]" if method == "GET" else "[manage_security,all]"
        )
        assert granting in reason(response)
        assert "bob" in reason(response)
    assert es.get("/_security/user/carol").status_code == 404


# -- roles -------------------------------------------------------------------------------


def test_put_role_reports_created_then_updated(es: TestClient) -> None:
    body = {"cluster": ["monitor"], "indices": [{"names": ["logs-*"], "privileges": ["read"]}]}
    assert es.put("/_security/role/r", json=body).json() == {"role": {"created": True}}
    assert es.post("/_security/role/r", json=body).json() == {"role": {"created": False}}


def test_get_role_shows_it_in_elasticsearchs_shape(es: TestClient) -> None:
    body = {
        "cluster": ["monitor", "manage_security"],
        "indices": [{"names": ["logs-*", "books"], "privileges": ["read", "write"]}],
        "metadata": {"owner": "search-team"},
    }
    es.put("/_security/role/r", json=body)
    assert es.get("/_security/role/r").json() == {
        "r": {
            "cluster": ["monitor", "manage_security"],
            "indices": [
                {
                    "names": ["logs-*", "books"],
                    "privileges": ["read", "write"],
                    "allow_restricted_indices": False,
                }
            ],
            "applications": [],
            "run_as": [],
            "metadata": {"owner": "search-team"},
            "transient_metadata": {"enabled": True},
        }
    }


def test_get_roles_includes_the_reserved_builtins(es: TestClient) -> None:
    put_role(es, "mine", indices={"logs-*": ["read"]})
    body = es.get("/_security/role").json()
    assert {"superuser", "editor", "viewer", "mine"} <= set(body)
    assert body["superuser"]["metadata"] == {"_reserved": True}
    assert body["superuser"]["cluster"] == ["all"]
    assert body["mine"]["metadata"] == {}


def test_get_a_missing_role_is_404_with_an_empty_body(es: TestClient) -> None:
    response = es.get("/_security/role/ghost")
    assert (response.status_code, response.json()) == (404, {})


def test_delete_role(es: TestClient) -> None:
    put_role(es, "r", indices={"logs-*": ["read"]})
    response = es.delete("/_security/role/r")
    assert (response.status_code, response.json()) == (200, {"found": True})
    response = es.delete("/_security/role/r")
    assert (response.status_code, response.json()) == (404, {"found": False})


@pytest.mark.parametrize("name", ["superuser", "editor", "viewer"])
def test_builtin_role_names_are_reserved(es: TestClient, name: str) -> None:
    response = es.put(f"/_security/role/{name}", json={"cluster": ["monitor"]})
    assert response.status_code == 400
    assert "reserved" in reason(response)
    response = es.delete(f"/_security/role/{name}")
    assert response.status_code == 400
    assert "reserved" in reason(response)


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ({"cluster": ["own_the_cluster"]}, "illegal_argument_exception"),
        ({"indices": [{"names": ["a"], "privileges": ["rule"]}]}, "illegal_argument_exception"),
        ({"cluster": ["all"], "colour": "red"}, "parse_exception"),
        ({"cluster": "all"}, "parse_exception"),
        ({"indices": [{"names": ["a"]}]}, "parse_exception"),
        ({"indices": [{"names": [], "privileges": ["read"]}]}, "parse_exception"),
        (
            {"indices": [{"names": ["a"], "privileges": ["read"], "query": "{}"}]},
            "parse_exception",
        ),
        ({"run_as": "elastic"}, "parse_exception"),
        ({"metadata": {"_reserved": True}}, "parse_exception"),
        ([], "parse_exception"),
        (None, "x_content_parse_exception"),
    ],
)
def test_bad_role_bodies_are_400(es: TestClient, body: Any, kind: str) -> None:
    response = es.put(
        "/_security/role/r",
        content=json.dumps(body) if body is not None else b"",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert error_type(response) == kind
    assert es.get("/_security/role/r").status_code == 404


def test_a_role_change_takes_effect_at_once(es: TestClient, anonymous: TestClient) -> None:
    put_role(es, "admins", cluster=["manage_security"])
    put_user(es, "bob", roles=["admins"])
    assert anonymous.get("/_security/user", headers=basic("bob")).status_code == 200
    put_role(es, "admins", cluster=["monitor"])
    assert anonymous.get("/_security/user", headers=basic("bob")).status_code == 403
    put_role(es, "admins", cluster=["manage_security"])
    es.delete("/_security/role/admins")
    assert anonymous.get("/_security/user", headers=basic("bob")).status_code == 403


def test_a_user_with_an_unknown_role_gets_nothing_from_it(
    es: TestClient, anonymous: TestClient
) -> None:
    put_user(es, "bob", roles=["does_not_exist"])
    assert whoami(anonymous, basic("bob")).status_code == 200
    assert anonymous.get("/_security/user", headers=basic("bob")).status_code == 403


# -- index authorization (the scenario) --------------------------------------------


def test_a_logs_reader_may_read_logs_but_not_write_them_nor_read_books(
    es: TestClient, node_services: NodeServices
) -> None:
    logs_reader(es)
    realm: Realm = node_services.realm  # type: ignore[assignment]
    bob = identity_of(realm, basic("bob"))
    realm.require_indices(bob, "read", ["logs-1"])
    assert realm.allowed(bob, "read", "logs-2024")
    with pytest.raises(Forbidden) as denied:
        realm.require_indices(bob, "write", ["logs-1"])
    # he may write nowhere: Elasticsearch refuses the action before it looks at any index
    assert "on indices" not in denied.value.reason
    assert "granted by the index privileges [write,all]" in denied.value.reason
    with pytest.raises(Forbidden) as denied:
        realm.require_indices(bob, "read", ["books"])
    assert "[books]" in denied.value.reason
    with pytest.raises(Forbidden):
        realm.require_indices(bob, "read", ["logs-1", "books"])
    assert not realm.allowed(bob, "index", "logs-1")
    assert not realm.allowed(bob, "delete_index", "logs-1")


def test_a_logs_reader_cannot_manage_the_cluster(
    es: TestClient, node_services: NodeServices
) -> None:
    logs_reader(es)
    realm: Realm = node_services.realm  # type: ignore[assignment]
    bob = identity_of(realm, basic("bob"))
    with pytest.raises(Forbidden) as denied:
        realm.require_cluster(bob, "manage")
    assert "[manage,all]" in denied.value.reason


def seed_logs_and_books(es: TestClient) -> None:
    """One document in ``logs-1`` and one in ``books``, searchable at once."""
    for index, doc in (("logs-1", {"msg": "disk full"}), ("books", {"title": "Dune"})):
        response = es.put(f"/{index}/_doc/1", params={"refresh": "true"}, json=doc)
        assert response.status_code == 201, response.text


def test_over_rest_a_logs_reader_searches_logs_but_cannot_write_them_nor_read_books(
    es: TestClient, anonymous: TestClient
) -> None:
    seed_logs_and_books(es)
    logs_reader(es)
    bob = basic("bob")
    response = anonymous.post("/logs-1/_search", json={"query": {"match_all": {}}}, headers=bob)
    assert response.status_code == 200
    assert [h["_source"] for h in response.json()["hits"]["hits"]] == [{"msg": "disk full"}]
    assert anonymous.get("/logs-1/_doc/1", headers=bob).status_code == 200
    response = anonymous.put("/logs-1/_doc/2", json={"msg": "x"}, headers=bob)
    assert response.status_code == 403
    # he may write nowhere, so the refusal names the action's privileges and no index
    assert "granted by the index privileges [index,write,all]" in reason(response)
    for denied in (
        anonymous.get("/books/_search", headers=bob),
        anonymous.get("/books/_doc/1", headers=bob),
    ):
        assert denied.status_code == 403
        assert "[books]" in reason(denied)
    everything = anonymous.get("/_search", headers=bob).json()["hits"]["hits"]
    assert {h["_index"] for h in everything} == {"logs-1"}


def test_over_rest_an_api_key_cannot_exceed_its_creator(
    es: TestClient, anonymous: TestClient
) -> None:
    seed_logs_and_books(es)
    logs_key_owner(es)
    everything = {"god": {"cluster": ["all"], "indices": [{"names": ["*"], "privileges": ["all"]}]}}
    key = api_key(create_key(anonymous, basic("bob"), role_descriptors=everything)["encoded"])
    assert anonymous.get("/logs-1/_search", headers=key).status_code == 200
    assert anonymous.put("/logs-1/_doc/2", json={"msg": "x"}, headers=key).status_code == 403
    assert anonymous.get("/books/_search", headers=key).status_code == 403
    assert anonymous.delete("/logs-1", headers=key).status_code == 403


def test_over_rest_an_invalidated_key_stops_searching_at_once(
    es: TestClient, anonymous: TestClient
) -> None:
    seed_logs_and_books(es)
    key = create_key(es)
    assert anonymous.get("/logs-1/_search", headers=api_key(key["encoded"])).status_code == 200
    es.request("DELETE", "/_security/api_key", json={"ids": [key["id"]]})
    response = anonymous.get("/logs-1/_search", headers=api_key(key["encoded"]))
    assert response.status_code == 401
    assert "www-authenticate" in response.headers


def test_over_rest_an_expired_key_stops_searching(
    es: TestClient, anonymous: TestClient, node_clock: SettableClock
) -> None:
    seed_logs_and_books(es)
    key = api_key(create_key(es, expiration="30m")["encoded"])
    assert anonymous.get("/logs-1/_search", headers=key).status_code == 200
    node_clock.advance(minutes=30)
    assert anonymous.get("/logs-1/_search", headers=key).status_code == 401


# -- API keys ----------------------------------------------------------------------------


def test_create_api_key_returns_an_encoded_credential(es: TestClient) -> None:
    key = create_key(es, name="ci")
    assert set(key) == {"id", "name", "api_key", "encoded"}
    assert key["name"] == "ci"
    assert base64.b64decode(key["encoded"]).decode() == f"{key['id']}:{key['api_key']}"
    assert len(base64.urlsafe_b64decode(key["api_key"] + "==")) * 8 >= 128


def test_api_key_secrets_are_stored_only_as_hashes(
    es: TestClient, node_services: NodeServices
) -> None:
    key = create_key(es)
    with node_services.store.read() as conn:
        row = dict(conn.execute("SELECT * FROM api_keys WHERE id = ?", (key["id"],)).fetchone())
    assert len(row["secret_hash"]) == 32
    assert key["api_key"] not in repr(row)
    assert key["encoded"] not in repr(row)


def test_each_key_is_different(es: TestClient) -> None:
    first, second = create_key(es), create_key(es)
    assert first["id"] != second["id"]
    assert first["api_key"] != second["api_key"]


def test_put_also_creates_an_api_key(es: TestClient, anonymous: TestClient) -> None:
    response = es.put("/_security/api_key", json={"name": "by-put"})
    assert response.status_code == 200
    assert whoami(anonymous, api_key(response.json()["encoded"])).status_code == 200


def test_a_wrong_secret_for_a_real_key_id_gets_401(es: TestClient, anonymous: TestClient) -> None:
    key = create_key(es)
    forged = b64(f"{key['id']}:{'x' * len(key['api_key'])}".encode())
    assert whoami(anonymous, api_key(forged)).status_code == 401
    # an API key is not a password: the same pair as Basic fails too
    assert whoami(anonymous, basic(key["id"], key["api_key"])).status_code == 401


def test_an_invalidated_api_key_stops_working_at_once(
    es: TestClient, anonymous: TestClient
) -> None:
    key = create_key(es)
    assert whoami(anonymous, api_key(key["encoded"])).status_code == 200
    response = es.request("DELETE", "/_security/api_key", json={"ids": [key["id"]]})
    assert response.status_code == 200
    assert response.json() == {
        "invalidated_api_keys": [key["id"]],
        "previously_invalidated_api_keys": [],
        "error_count": 0,
    }
    response = whoami(anonymous, api_key(key["encoded"]))
    assert response.status_code == 401
    assert "www-authenticate" in response.headers


def test_invalidating_twice_reports_previously_invalidated(es: TestClient) -> None:
    key = create_key(es)
    es.request("DELETE", "/_security/api_key", json={"id": key["id"]})
    response = es.request("DELETE", "/_security/api_key", json={"id": key["id"]})
    assert response.json() == {
        "invalidated_api_keys": [],
        "previously_invalidated_api_keys": [key["id"]],
        "error_count": 0,
    }


def test_invalidate_by_name(es: TestClient, anonymous: TestClient) -> None:
    doomed, kept = create_key(es, name="doomed"), create_key(es, name="kept")
    response = es.request("DELETE", "/_security/api_key", json={"name": "doomed"})
    assert response.json()["invalidated_api_keys"] == [doomed["id"]]
    assert whoami(anonymous, api_key(doomed["encoded"])).status_code == 401
    assert whoami(anonymous, api_key(kept["encoded"])).status_code == 200


def test_invalidating_nothing_that_exists_is_an_empty_success(es: TestClient) -> None:
    response = es.request("DELETE", "/_security/api_key", json={"ids": ["no-such-key"]})
    assert response.status_code == 200
    assert response.json()["invalidated_api_keys"] == []


def test_an_expired_api_key_fails(
    es: TestClient, anonymous: TestClient, node_clock: SettableClock
) -> None:
    key = create_key(es, expiration="1h")
    created = es.get("/_security/api_key", params={"id": key["id"]}).json()["api_keys"][0]
    assert key["expiration"] == created["creation"] + 3_600_000
    assert whoami(anonymous, api_key(key["encoded"])).status_code == 200
    node_clock.advance(minutes=59)
    assert whoami(anonymous, api_key(key["encoded"])).status_code == 200
    node_clock.advance(minutes=1)
    assert whoami(anonymous, api_key(key["encoded"])).status_code == 401


@pytest.mark.parametrize(
    ("expiration", "seconds"), [("1d", 86400), ("12h", 43200), ("30m", 1800), ("45s", 45)]
)
def test_expirations_use_elasticsearch_time_units(
    es: TestClient, expiration: str, seconds: int, node_clock: SettableClock
) -> None:
    now_ms = int(node_clock.now().timestamp() * 1000)
    assert create_key(es, expiration=expiration)["expiration"] == now_ms + seconds * 1000


def test_a_key_without_expiration_never_expires(
    es: TestClient, anonymous: TestClient, node_clock: SettableClock
) -> None:
    key = create_key(es)
    assert "expiration" not in key
    node_clock.advance(days=3650)
    assert whoami(anonymous, api_key(key["encoded"])).status_code == 200


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ({}, "action_request_validation_exception"),  # no name
        ({"name": ""}, "action_request_validation_exception"),
        ({"name": "_hidden"}, "action_request_validation_exception"),
        ({"name": " padded "}, "action_request_validation_exception"),
        ({"name": "k", "metadata": {"_x": 1}}, "action_request_validation_exception"),
        ({"name": "k", "expiration": "1 day"}, "illegal_argument_exception"),
        ({"name": "k", "expiration": "-1d"}, "illegal_argument_exception"),
        ({"name": "k", "expiration": "0d"}, "illegal_argument_exception"),
        ({"name": "k", "expiration": "1w"}, "illegal_argument_exception"),
        ({"name": "k", "expiration": "9" * 20 + "d"}, "illegal_argument_exception"),
        ({"name": "k", "expiration": 3600}, "x_content_parse_exception"),
        ({"name": 7}, "x_content_parse_exception"),
        ({"name": "k", "role_descriptors": []}, "x_content_parse_exception"),
        ({"name": "k", "role_descriptors": {"r": []}}, "parse_exception"),
        (
            {"name": "k", "role_descriptors": {"r": {"cluster": ["god"]}}},
            "illegal_argument_exception",
        ),
        ({"name": "k", "role_descriptors": {"r": {"bogus": 1}}}, "parse_exception"),
        ({"name": "k", "unknown": True}, "x_content_parse_exception"),
        ([], "x_content_parse_exception"),
    ],
)
def test_bad_api_key_requests_are_400(es: TestClient, body: Any, kind: str) -> None:
    response = es.post("/_security/api_key", json=body)
    assert response.status_code == 400, response.text
    assert error_type(response) == kind
    assert es.get("/_security/api_key").json() == {"api_keys": []}


def test_an_api_key_is_limited_by_its_creator(
    es: TestClient, anonymous: TestClient, node_services: NodeServices
) -> None:
    logs_key_owner(es)
    everything = {"god": {"cluster": ["all"], "indices": [{"names": ["*"], "privileges": ["all"]}]}}
    key = create_key(anonymous, basic("bob"), role_descriptors=everything)
    realm: Realm = node_services.realm  # type: ignore[assignment]
    identity = identity_of(realm, api_key(key["encoded"]))
    realm.require_indices(identity, "read", ["logs-1"])
    with pytest.raises(Forbidden) as denied:
        realm.require_indices(identity, "write", ["logs-1"])
    assert f"API key id [{key['id']}]" in denied.value.reason
    with pytest.raises(Forbidden):
        realm.require_indices(identity, "read", ["books"])
    response = anonymous.get("/_security/user", headers=api_key(key["encoded"]))
    assert response.status_code == 403


def test_an_api_key_is_limited_by_its_own_descriptors(
    es: TestClient, anonymous: TestClient, node_services: NodeServices
) -> None:
    readonly = {"r": {"indices": [{"names": ["logs-*"], "privileges": ["read"]}]}}
    key = create_key(es, role_descriptors=readonly)
    realm: Realm = node_services.realm  # type: ignore[assignment]
    identity = identity_of(realm, api_key(key["encoded"]))
    assert realm.allowed(identity, "read", "logs-1")
    assert not realm.allowed(identity, "write", "logs-1")
    assert not realm.allowed(identity, "read", "books")
    response = anonymous.get("/_security/user", headers=api_key(key["encoded"]))
    assert response.status_code == 403
    assert "manage_security" in reason(response)


def test_a_key_without_descriptors_has_its_creators_privileges(
    es: TestClient, anonymous: TestClient
) -> None:
    key = create_key(es)
    assert anonymous.get("/_security/user", headers=api_key(key["encoded"])).status_code == 200


def test_a_keys_limits_are_a_snapshot_of_its_creators_roles(
    es: TestClient, anonymous: TestClient
) -> None:
    put_role(es, "admins", cluster=["manage_security"])
    key_owner(es, "bob")
    key = create_key(anonymous, basic("bob"))
    put_user(es, "bob", roles=["admins"])  # promoted after the key was made
    assert anonymous.get("/_security/user", headers=basic("bob")).status_code == 200
    assert anonymous.get("/_security/user", headers=api_key(key["encoded"])).status_code == 403


def test_get_api_key_with_limited_by_shows_the_creators_roles(
    es: TestClient, anonymous: TestClient
) -> None:
    logs_key_owner(es)
    key = create_key(anonymous, basic("bob"))
    listed = es.get(
        "/_security/api_key", params={"id": key["id"], "with_limited_by": "true"}
    ).json()["api_keys"][0]
    assert list(listed["limited_by"][0]) == ["logs_reader"]
    assert listed["limited_by"][0]["logs_reader"]["indices"][0]["names"] == ["logs-*"]
    assert "limited_by" not in es.get("/_security/api_key").json()["api_keys"][0]


def test_an_api_key_creates_only_keys_without_privileges(
    es: TestClient, anonymous: TestClient
) -> None:
    parent = api_key(create_key(es)["encoded"])
    response = anonymous.post("/_security/api_key", json={"name": "child"}, headers=parent)
    assert response.status_code == 400
    grabby = {"r": {"cluster": ["all"]}}
    response = anonymous.post(
        "/_security/api_key", json={"name": "child", "role_descriptors": grabby}, headers=parent
    )
    assert response.status_code == 400
    child = create_key(anonymous, parent, role_descriptors={"nothing": {}})
    assert whoami(anonymous, api_key(child["encoded"])).status_code == 200
    # an API key without privileges gets itself by id, and nothing more (as in Elasticsearch)
    as_child = api_key(child["encoded"])
    response = anonymous.get("/_security/api_key", params={"id": child["id"]}, headers=as_child)
    assert response.status_code == 200
    assert [k["id"] for k in response.json()["api_keys"]] == [child["id"]]
    assert anonymous.get("/_security/api_key", headers=as_child).status_code == 403
    response = anonymous.get("/_security/user", headers=api_key(child["encoded"]))
    assert response.status_code == 403


def test_get_api_keys_shows_elasticsearchs_fields(es: TestClient) -> None:
    key = create_key(es, name="ci", expiration="1d", metadata={"purpose": "ci"})
    listed = es.get("/_security/api_key").json()["api_keys"]
    assert len(listed) == 1
    entry = listed[0]
    assert entry["id"] == key["id"]
    assert entry["name"] == "ci"
    assert entry["expiration"] == key["expiration"]
    assert entry["invalidated"] is False
    assert entry["username"] == "elastic"
    assert entry["realm"] == "reserved"
    assert entry["metadata"] == {"purpose": "ci"}
    assert isinstance(entry["creation"], int)
    assert key["api_key"] not in json.dumps(entry)


def test_get_api_keys_by_name_with_a_wildcard(es: TestClient) -> None:
    create_key(es, name="ci-build")
    create_key(es, name="ci-deploy")
    create_key(es, name="laptop")
    listed = es.get("/_security/api_key", params={"name": "ci-*"}).json()["api_keys"]
    assert sorted(k["name"] for k in listed) == ["ci-build", "ci-deploy"]


def test_get_api_keys_active_only_hides_invalidated_and_expired(
    es: TestClient, node_clock: SettableClock
) -> None:
    live = create_key(es, name="live")
    dead = create_key(es, name="dead")
    create_key(es, name="short", expiration="1m")
    es.request("DELETE", "/_security/api_key", json={"ids": [dead["id"]]})
    node_clock.advance(minutes=2)
    everything = es.get("/_security/api_key").json()["api_keys"]
    assert len(everything) == 3
    active = es.get("/_security/api_key", params={"active_only": "true"}).json()["api_keys"]
    assert [k["id"] for k in active] == [live["id"]]


def test_users_see_only_their_own_api_keys(es: TestClient, anonymous: TestClient) -> None:
    key_owner(es, "bob")
    key_owner(es, "carol")
    bobs = create_key(anonymous, basic("bob"), name="bobs")
    create_key(anonymous, basic("carol"), name="carols")
    create_key(es, name="elastics")
    listed = anonymous.get("/_security/api_key", headers=basic("bob")).json()["api_keys"]
    assert [k["id"] for k in listed] == [bobs["id"]]
    owned = anonymous.get(
        "/_security/api_key", params={"owner": "true"}, headers=basic("bob")
    ).json()["api_keys"]
    assert [k["id"] for k in owned] == [bobs["id"]]
    assert len(es.get("/_security/api_key").json()["api_keys"]) == 3
    assert len(es.get("/_security/api_key", params={"owner": "true"}).json()["api_keys"]) == 1


def test_a_security_manager_sees_every_key(es: TestClient, anonymous: TestClient) -> None:
    put_role(es, "key_admin", cluster=["manage_api_key"])
    put_user(es, "admin", roles=["key_admin"])
    key_owner(es, "bob")
    create_key(anonymous, basic("bob"))
    listed = anonymous.get("/_security/api_key", headers=basic("admin")).json()["api_keys"]
    assert [k["username"] for k in listed] == ["bob"]
    by_user = anonymous.get(
        "/_security/api_key", params={"username": "bob"}, headers=basic("admin")
    ).json()["api_keys"]
    assert len(by_user) == 1


def test_reading_someone_elses_keys_needs_manage_api_key(
    es: TestClient, anonymous: TestClient
) -> None:
    key_owner(es, "bob")
    elastics = create_key(es)
    for params in ({"id": elastics["id"]}, {"username": "elastic"}):
        response = anonymous.get("/_security/api_key", params=params, headers=basic("bob"))
        assert response.status_code == 403, params
        assert "manage_api_key" in reason(response)


def test_invalidating_someone_elses_key_needs_manage_api_key(
    es: TestClient, anonymous: TestClient
) -> None:
    key_owner(es, "bob")
    elastics = create_key(es)
    response = anonymous.request(
        "DELETE", "/_security/api_key", json={"ids": [elastics["id"]]}, headers=basic("bob")
    )
    assert response.status_code == 403
    assert "manage_api_key" in reason(response)
    assert whoami(anonymous, api_key(elastics["encoded"])).status_code == 200


def test_users_invalidate_their_own_keys(es: TestClient, anonymous: TestClient) -> None:
    key_owner(es, "bob")
    bobs = create_key(anonymous, basic("bob"))
    elastics = create_key(es)
    response = anonymous.request(
        "DELETE", "/_security/api_key", json={"owner": True}, headers=basic("bob")
    )
    assert response.json()["invalidated_api_keys"] == [bobs["id"]]
    assert whoami(anonymous, api_key(bobs["encoded"])).status_code == 401
    assert whoami(anonymous, api_key(elastics["encoded"])).status_code == 200


def test_an_api_key_sees_and_invalidates_only_itself(es: TestClient, anonymous: TestClient) -> None:
    key_owner(es, "bob")
    first = create_key(anonymous, basic("bob"), name="first")
    second = create_key(anonymous, basic("bob"), name="second")
    as_first = api_key(first["encoded"])
    listed = anonymous.get("/_security/api_key", headers=as_first).json()["api_keys"]
    assert [k["id"] for k in listed] == [first["id"]]
    response = anonymous.request(
        "DELETE", "/_security/api_key", json={"ids": [second["id"]]}, headers=as_first
    )
    assert response.status_code == 403
    response = anonymous.request(
        "DELETE", "/_security/api_key", json={"owner": True}, headers=as_first
    )
    assert response.json()["invalidated_api_keys"] == [first["id"]]
    assert whoami(anonymous, api_key(second["encoded"])).status_code == 200


def test_a_deleted_users_api_keys_keep_working(es: TestClient, anonymous: TestClient) -> None:
    # as in Elasticsearch: keys are invalidated explicitly, not with their owner
    key_owner(es, "bob")
    key = create_key(anonymous, basic("bob"))
    es.delete("/_security/user/bob")
    assert whoami(anonymous, api_key(key["encoded"])).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"owner": False},
        {"ids": []},
        {"ids": [""]},
        {"ids": ["a"], "id": "a"},
        {"owner": True, "username": "elastic"},
        {"ids": "abc"},
        {"ids": [1]},
        {"owner": "yes"},
        {"everything": True},
        [],
    ],
)
def test_bad_invalidate_requests_are_400(es: TestClient, body: Any) -> None:
    key = create_key(es)
    response = es.request("DELETE", "/_security/api_key", json=body)
    assert response.status_code == 400, response.text
    assert es.get("/_security/api_key").json()["api_keys"][0]["id"] == key["id"]
    assert es.get("/_security/api_key").json()["api_keys"][0]["invalidated"] is False


def test_invalidate_needs_a_body(es: TestClient) -> None:
    response = es.delete("/_security/api_key")
    assert response.status_code == 400


@pytest.mark.parametrize(
    "params",
    [
        {"owner": "maybe"},
        {"id": "a", "name": "b"},
        {"id": "a", "username": "elastic"},
        {"owner": "true", "username": "elastic"},
    ],
)
def test_bad_get_api_key_requests_are_400(es: TestClient, params: dict[str, str]) -> None:
    response = es.get("/_security/api_key", params=params)
    assert response.status_code == 400


def test_creating_api_keys_needs_authentication(anonymous: TestClient) -> None:
    response = anonymous.post("/_security/api_key", json={"name": "k"})
    assert response.status_code == 401
    assert "www-authenticate" in response.headers


def test_unknown_security_endpoints_are_4xx_not_500(es: TestClient) -> None:
    assert es.get("/_security/nothing").status_code == 400
    assert es.get("/_security/user/_password").status_code == 405
    assert es.patch("/_security/user/bob", json={}).status_code == 405

"""The node's wider security API over a real store: bulk roles, granted API keys, application
privileges, role mappings, security settings, stats, caches, and the features it refuses."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.node.builders import PASSWORD, error_of, put_role, put_user


def basic(name: str, password: str = PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{name}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def grant(es: TestClient, headers: dict[str, str] | None = None, **body: Any) -> Any:
    return es.post(
        "/_security/api_key/grant",
        json={"grant_type": "password", "api_key": {"name": "granted"}, **body},
        headers=headers,
    )


def put_app_privileges(es: TestClient, body: dict[str, Any]) -> Any:
    response = es.put("/_security/privilege", json=body)
    assert response.status_code == 200, response.text
    return response.json()


# -- roles -------------------------------------------------------------------------------


def test_bulk_put_roles_reports_created_updated_noop_and_errors(es: TestClient) -> None:
    put_role(es, "existing", cluster=["monitor"])
    response = es.post(
        "/_security/role",
        json={
            "roles": {
                "fresh": {"cluster": ["manage_ilm"], "description": "new"},
                "existing": {"cluster": ["manage"]},
                "bad": {"cluster": ["no_such_privilege"]},
            }
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["created"] == ["fresh"]
    assert body["updated"] == ["existing"]
    assert body["errors"]["count"] == 1
    assert body["errors"]["details"]["bad"]["type"] == "illegal_argument_exception"
    assert es.get("/_security/role/fresh").json()["fresh"]["description"] == "new"
    again = es.post(
        "/_security/role",
        json={"roles": {"fresh": {"cluster": ["manage_ilm"], "description": "new"}}},
    )
    assert again.json() == {"noop": ["fresh"]}


def test_bulk_delete_roles_reports_deleted_and_not_found(es: TestClient) -> None:
    put_role(es, "doomed")
    response = es.request("DELETE", "/_security/role", json={"names": ["doomed", "ghost"]})
    assert response.json() == {"deleted": ["doomed"], "not_found": ["ghost"]}
    assert es.get("/_security/role/doomed").status_code == 404


@pytest.mark.parametrize(
    "name", ["manage_token", "manage_ilm", "monitor_ml", "none", "cancel_task"]
)
def test_roles_take_every_elasticsearch_cluster_privilege(es: TestClient, name: str) -> None:
    response = es.put("/_security/role/r", json={"cluster": [name]})
    assert response.status_code == 200, response.text
    assert es.get("/_security/role/r").json()["r"]["cluster"] == [name]


@pytest.mark.parametrize(
    ("entry", "named"),
    [
        ({"field_security": {"grant": ["a"]}}, "field_security"),
        ({"query": {"match_all": {}}}, "query"),
    ],
)
def test_field_and_document_level_security_are_accepted_and_shown(
    es: TestClient, entry: dict[str, Any], named: str
) -> None:
    body = {"indices": [{"names": ["a"], "privileges": ["read"], **entry}]}
    assert es.put("/_security/role/r", json=body).status_code == 200
    assert named in es.get("/_security/role/r").json()["r"]["indices"][0]


def test_unknown_cluster_privileges_are_still_refused(es: TestClient) -> None:
    error = error_of(es.put("/_security/role/r", json={"cluster": ["manage_galaxy"]}), 400)
    assert "[manage_galaxy]" in error["reason"]


# -- grant API key -----------------------------------------------------------------------


def test_a_key_granted_with_the_users_password_acts_for_that_user(
    es: TestClient, anonymous: TestClient
) -> None:
    put_role(es, "reader", indices={"logs": ["read"]})
    put_user(es, "target", roles=["reader"])
    response = grant(es, username="target", password=PASSWORD)
    assert response.status_code == 200, response.text
    encoded = response.json()["encoded"]
    who = anonymous.get("/_security/_authenticate", headers={"Authorization": f"ApiKey {encoded}"})
    assert who.json()["username"] == "target"


def test_a_wrong_password_grants_nothing(es: TestClient) -> None:
    put_user(es, "target", roles=[])
    assert grant(es, username="target", password="wrong-password").status_code == 401


def test_granting_needs_the_grant_api_key_privilege(es: TestClient, anonymous: TestClient) -> None:
    put_user(es, "target", roles=[])
    put_role(es, "own_keys", cluster=["manage_own_api_key"])
    put_user(es, "caller", roles=["own_keys"])
    response = grant(anonymous, basic("caller"), username="target", password=PASSWORD)
    assert error_of(response, 403)["type"] == "security_exception"
    put_role(es, "granter", cluster=["grant_api_key"])
    put_user(es, "granter", roles=["granter"])
    assert (
        grant(anonymous, basic("granter"), username="target", password=PASSWORD).status_code == 200
    )


def test_run_as_grants_are_refused(es: TestClient) -> None:
    put_user(es, "target", roles=[])
    body = {"username": "target", "password": PASSWORD, "run_as": "other"}
    error = error_of(grant(es, **body), 400)
    assert "not supported by this node" in error["reason"]


def test_an_access_token_grant_makes_a_key_for_the_tokens_user(es: TestClient) -> None:
    put_user(es, "target", roles=[])
    token = es.post(
        "/_security/oauth2/token",
        json={"grant_type": "password", "username": "target", "password": PASSWORD},
    ).json()["access_token"]
    response = grant(es, grant_type="access_token", access_token=token)
    assert response.status_code == 200, response.text
    key = es.get("/_security/api_key", params={"id": response.json()["id"]}).json()
    assert key["api_keys"][0]["username"] == "target"
    assert grant(es, grant_type="access_token", access_token="B" * 43).status_code == 401


# -- application privileges ----------------------------------------------------------------


def test_application_privileges_are_put_got_and_deleted(es: TestClient) -> None:
    first = put_app_privileges(
        es, {"myapp": {"read": {"actions": ["data:read/*"], "metadata": {"k": 1}}}}
    )
    assert first == {"myapp": {"read": {"created": True}}}
    again = put_app_privileges(es, {"myapp": {"read": {"actions": ["data:read/*", "login:"]}}})
    assert again == {"myapp": {"read": {"created": False}}}
    got = es.get("/_security/privilege/myapp/read").json()
    assert got == {
        "myapp": {
            "read": {
                "application": "myapp",
                "name": "read",
                "actions": ["data:read/*", "login:"],
                "metadata": {},
            }
        }
    }
    assert es.get("/_security/privilege/other/read").status_code == 404
    deleted = es.delete("/_security/privilege/myapp/read,ghost")
    assert deleted.json() == {"myapp": {"read": {"found": True}, "ghost": {"found": False}}}
    assert es.delete("/_security/privilege/myapp/read").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"ap": {"read": {"actions": ["data:read"]}}},
        {"myapp": {"Read": {"actions": ["data:read"]}}},
        {"myapp": {"read": {"actions": ["noseparator"]}}},
        {"myapp": {"read": {"actions": []}}},
        {"myapp": {"read": {"actions": ["a:b"], "name": "write"}}},
        {"myapp": {"read": {"actions": ["a:b"], "colour": "red"}}},
    ],
)
def test_bad_application_privileges_are_400(es: TestClient, body: dict) -> None:
    assert es.put("/_security/privilege", json=body).status_code == 400


def test_has_privileges_resolves_application_privileges_through_their_actions(
    es: TestClient, anonymous: TestClient
) -> None:
    put_app_privileges(
        es,
        {
            "myapp": {
                "read": {"actions": ["data:read/*"]},
                "write": {"actions": ["data:write/*"]},
            }
        },
    )
    role = {
        "applications": [{"application": "myapp", "privileges": ["read"], "resources": ["space/*"]}]
    }
    assert es.put("/_security/role/app_reader", json=role).status_code == 200
    put_user(es, "reader", roles=["app_reader"])
    check = {
        "application": [
            {
                "application": "myapp",
                "privileges": ["read", "write", "data:read/docs", "unknown"],
                "resources": ["space/1", "other"],
            }
        ]
    }
    body = anonymous.post(
        "/_security/user/_has_privileges", json=check, headers=basic("reader")
    ).json()
    assert body["application"]["myapp"] == {
        "space/1": {"read": True, "write": False, "data:read/docs": True, "unknown": False},
        "other": {"read": False, "write": False, "data:read/docs": False, "unknown": False},
    }
    mine = anonymous.get("/_security/user/_privileges", headers=basic("reader")).json()
    assert mine["applications"] == role["applications"]


def test_builtin_privileges_list_every_name(es: TestClient) -> None:
    body = es.get("/_security/privilege/_builtin").json()
    assert {"manage_token", "monitor_ml", "all", "none"} <= set(body["cluster"])
    assert {"read", "auto_configure", "manage_follow_index"} <= set(body["index"])


# -- role mappings --------------------------------------------------------------------------


def test_role_mappings_are_stored_and_returned(es: TestClient) -> None:
    mapping = {
        "enabled": True,
        "roles": ["viewer"],
        "rules": {"all": [{"field": {"username": "*"}}, {"except": {"field": {"groups": "x"}}}]},
        "metadata": {"uuid": "1"},
    }
    created = es.put("/_security/role_mapping/everyone", json=mapping)
    assert created.json() == {"role_mapping": {"created": True}}
    assert es.put("/_security/role_mapping/everyone", json=mapping).json() == {
        "role_mapping": {"created": False}
    }
    assert es.get("/_security/role_mapping/everyone").json() == {"everyone": mapping}
    assert es.get("/_security/role_mapping").json() == {"everyone": mapping}
    assert es.delete("/_security/role_mapping/everyone").json() == {"found": True}
    assert es.get("/_security/role_mapping/everyone").status_code == 404
    assert es.delete("/_security/role_mapping/everyone").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"roles": ["a"], "rules": {"field": {"username": "*"}}},
        {"enabled": True, "rules": {"field": {"username": "*"}}},
        {"enabled": True, "roles": ["a"]},
        {"enabled": True, "roles": ["a"], "rules": {"nope": {}}},
        {"enabled": True, "roles": ["a"], "rules": {"field": {"a": 1, "b": 2}}},
        {"enabled": "yes", "roles": ["a"], "rules": {"field": {"username": "*"}}},
        {"enabled": True, "roles": ["a"], "rules": {"field": {"u": "*"}}, "colour": 1},
    ],
)
def test_bad_role_mappings_are_400(es: TestClient, body: dict) -> None:
    assert es.put("/_security/role_mapping/m", json=body).status_code == 400


# -- settings, stats, caches ------------------------------------------------------------------


def test_security_index_settings_are_stored_and_shown(es: TestClient) -> None:
    before = es.get("/_security/settings").json()
    assert set(before) == {"security", "security-tokens", "security-profile"}
    assert before["security"]["index"]["number_of_replicas"] == "0"
    response = es.put(
        "/_security/settings",
        json={"security": {"index.auto_expand_replicas": None, "index.number_of_replicas": 1}},
    )
    assert response.json() == {"acknowledged": True}
    after = es.get("/_security/settings").json()
    assert after["security"]["index"]["number_of_replicas"] == "1"
    assert after["security-tokens"]["index"]["number_of_replicas"] == "0"


@pytest.mark.parametrize(
    "body",
    [
        {"security": {"index.refresh_interval": "1s"}},
        {"security": {"index.number_of_replicas": "many"}},
        {"other": {"index.number_of_replicas": 1}},
    ],
)
def test_other_security_settings_are_400(es: TestClient, body: dict) -> None:
    assert es.put("/_security/settings", json=body).status_code == 400


def test_stats_show_an_empty_dls_cache(es: TestClient) -> None:
    nodes = es.get("/_security/stats").json()["nodes"]
    (node,) = nodes.values()
    assert node["roles"]["dls"]["bit_set_cache"]["count"] == 0


@pytest.mark.parametrize(
    "path",
    [
        "/_security/role/r/_clear_cache",
        "/_security/api_key/abc/_clear_cache",
        "/_security/privilege/myapp/_clear_cache",
        "/_security/realm/*/_clear_cache",
    ],
)
def test_cache_clearing_answers_for_the_one_node(es: TestClient, path: str) -> None:
    body = es.post(path).json()
    assert body["_nodes"] == {"total": 1, "successful": 1, "failed": 0}


# -- refused features -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "feature"),
    [
        ("POST", "/_security/profile/_activate", "user profiles"),
        ("POST", "/_security/cross_cluster/api_key", "cross-cluster"),
        ("GET", "/_security/enroll/node", "enrollment"),
        ("POST", "/_security/service/elastic/fleet-server/credential/token/t", "service account"),
    ],
)
def test_missing_features_are_a_400_naming_them(
    es: TestClient, method: str, path: str, feature: str
) -> None:
    error = error_of(es.request(method, path, json={}), 400)
    assert feature in error["reason"]


def test_refusals_still_need_authentication(anonymous: TestClient) -> None:
    assert anonymous.post("/_security/profile/_activate", json={}).status_code == 401


def test_there_are_no_service_accounts(es: TestClient) -> None:
    assert es.get("/_security/service/elastic").json() == {}

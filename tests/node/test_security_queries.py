"""The ``_query`` APIs (users, roles, API keys), API key updates, ``manage_own_api_key``,
``_has_privileges`` and ``_privileges``, over a real node, through the REST API."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from citadel.kit.clock import SettableClock
from tests.node.builders import PASSWORD, error_of, put_role, put_user

# -- builders ----------------------------------------------------------------------------


def basic(name: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{PASSWORD}".encode()).decode()}


def api_key(key: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"ApiKey {key['encoded']}"}


def create_key(client: TestClient, headers: dict[str, str] | None = None, **body: Any) -> dict:
    response = client.post("/_security/api_key", json={"name": "key", **body}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def key_owner(es: TestClient, name: str = "bob", *roles: str) -> dict[str, str]:
    """A user who may manage their own API keys (and hold `roles`); their credentials."""
    put_role(es, "own_keys", cluster=["manage_own_api_key"])
    put_user(es, name, roles=["own_keys", *roles])
    return basic(name)


def user_with(es: TestClient, name: str, cluster: list[str], **indices: list[str]) -> dict:
    """A user whose one role grants `cluster` and `indices` (pattern → privileges)."""
    put_role(es, f"{name}_role", cluster=cluster, indices=indices)
    put_user(es, name, roles=[f"{name}_role"])
    return basic(name)


def query(client: TestClient, what: str, body: Any = None, **kwargs: Any) -> Any:
    return client.post(f"/_security/_query/{what}", json=body, **kwargs)


def found(response: Any, what: str, key: str) -> list[Any]:
    assert response.status_code == 200, response.text
    return [item[key] for item in response.json()[what]]


def forbidden(response: Any, *privileges: str) -> str:
    error = error_of(response, 403)
    assert error["type"] == "security_exception"
    for privilege in privileges:
        assert privilege in error["reason"]
    return error["reason"]


def bad(response: Any, kind: str | None = None) -> str:
    error = error_of(response, 400)
    if kind is not None:
        assert error["type"] == kind, error
    return error["reason"]


def some_users(es: TestClient) -> None:
    put_user(es, "alice", roles=["viewer"], full_name="Alice Smith", email="alice@corp.example")
    put_user(es, "bob", roles=["editor", "viewer"], full_name="Bob Jones", enabled=False)
    put_user(es, "carol", roles=["editor"], email="carol@corp.example")


def some_roles(es: TestClient) -> None:
    for name, body in {
        "auditor": {"cluster": ["monitor"], "description": "reads audit logs"},
        "logs_writer": {
            "indices": [{"names": ["logs-*"], "privileges": ["write"]}],
            "metadata": {"team": "ops", "tier": 2},
        },
        "search_admin": {"cluster": ["manage"], "metadata": {"team": "search"}},
    }.items():
        assert es.put(f"/_security/role/{name}", json=body).status_code == 200


# -- query users -------------------------------------------------------------------------


def test_query_users_lists_native_users_without_elastic(es: TestClient) -> None:
    some_users(es)
    response = query(es, "user")
    assert response.json()["total"] == 3
    assert response.json()["count"] == 3
    assert found(response, "users", "username") == ["alice", "bob", "carol"]
    alice = response.json()["users"][0]
    assert alice == {
        "username": "alice",
        "roles": ["viewer"],
        "full_name": "Alice Smith",
        "email": "alice@corp.example",
        "metadata": {},
        "enabled": True,
    }


def test_query_users_accepts_get_without_a_body(es: TestClient) -> None:
    some_users(es)
    response = es.get("/_security/_query/user")
    assert found(response, "users", "username") == ["alice", "bob", "carol"]


@pytest.mark.parametrize(
    ("q", "names"),
    [
        ({"term": {"roles": "editor"}}, ["bob", "carol"]),
        ({"terms": {"username": ["alice", "carol", "nobody"]}}, ["alice", "carol"]),
        ({"prefix": {"username": "ca"}}, ["carol"]),
        ({"wildcard": {"username": {"value": "*o*"}}}, ["bob", "carol"]),
        ({"term": {"enabled": False}}, ["bob"]),
        ({"match": {"full_name": "smith"}}, ["alice"]),
        ({"match": {"full_name": {"query": "bob smith", "operator": "and"}}}, []),
        ({"match": {"full_name": "bob smith"}}, ["alice", "bob"]),
        ({"exists": {"field": "email"}}, ["alice", "carol"]),
        ({"ids": {"values": ["user-bob"]}}, ["bob"]),
        ({"range": {"username": {"gte": "b", "lt": "c"}}}, ["bob"]),
        (
            {
                "bool": {
                    "must": [{"term": {"roles": "editor"}}],
                    "must_not": [{"term": {"enabled": False}}],
                }
            },
            ["carol"],
        ),
        (
            {"bool": {"should": [{"term": {"username": "alice"}}, {"term": {"username": "bob"}}]}},
            ["alice", "bob"],
        ),
        ({"simple_query_string": {"query": "jones", "fields": ["full_name"]}}, ["bob"]),
        ({"simple_query_string": {"query": "car*"}}, ["carol"]),
        ({"match_all": {}}, ["alice", "bob", "carol"]),
    ],
)
def test_query_users_filters_with_the_query_dsl(
    es: TestClient, q: dict[str, Any], names: list[str]
) -> None:
    some_users(es)
    assert found(query(es, "user", {"query": q}), "users", "username") == names


def test_query_users_sorts_pages_and_reports_sort_values(es: TestClient) -> None:
    some_users(es)
    body = {"sort": [{"username": {"order": "desc"}}], "from": 1, "size": 1}
    response = query(es, "user", body)
    assert response.json()["total"] == 3
    assert response.json()["count"] == 1
    assert response.json()["users"][0]["username"] == "bob"
    assert response.json()["users"][0]["_sort"] == ["bob"]


def test_query_users_pages_with_search_after(es: TestClient) -> None:
    some_users(es)
    body = {"sort": ["username"], "size": 2}
    first = query(es, "user", body).json()["users"]
    assert [u["username"] for u in first] == ["alice", "bob"]
    rest = query(es, "user", {**body, "search_after": first[-1]["_sort"]}).json()["users"]
    assert [u["username"] for u in rest] == ["carol"]


def test_query_users_accepts_with_profile_uid_and_shows_no_profile(es: TestClient) -> None:
    some_users(es)
    response = es.post("/_security/_query/user", params={"with_profile_uid": "true"}, json={})
    assert response.status_code == 200
    assert all("profile_uid" not in u for u in response.json()["users"])


def test_query_users_needs_read_security(es: TestClient, anonymous: TestClient) -> None:
    reader = user_with(es, "reader", ["read_security"])
    assert query(anonymous, "user", headers=reader).status_code == 200
    nobody = user_with(es, "nobody", ["monitor"])
    forbidden(
        query(anonymous, "user", headers=nobody), "[read_security,manage_security,all]", "nobody"
    )


def test_read_security_also_reads_users_and_roles_but_changes_nothing(
    es: TestClient, anonymous: TestClient
) -> None:
    reader = user_with(es, "reader", ["read_security"])
    assert anonymous.get("/_security/user", headers=reader).status_code == 200
    assert anonymous.get("/_security/role", headers=reader).status_code == 200
    response = anonymous.put("/_security/role/x", json={}, headers=reader)
    forbidden(response, "[manage_security,all]")


# -- query roles -------------------------------------------------------------------------


def test_query_roles_lists_native_roles_only_in_descriptor_shape(es: TestClient) -> None:
    some_roles(es)
    response = query(es, "role")
    assert response.json()["total"] == 3
    assert found(response, "roles", "name") == ["auditor", "logs_writer", "search_admin"]
    auditor = response.json()["roles"][0]
    assert auditor["cluster"] == ["monitor"]
    assert auditor["description"] == "reads audit logs"
    assert auditor["indices"] == []
    assert auditor["applications"] == []
    assert auditor["run_as"] == []


@pytest.mark.parametrize(
    ("q", "names"),
    [
        ({"term": {"metadata.team": "ops"}}, ["logs_writer"]),
        ({"term": {"metadata.tier": 2}}, ["logs_writer"]),
        ({"prefix": {"metadata.team": "se"}}, ["search_admin"]),
        ({"exists": {"field": "metadata.team"}}, ["logs_writer", "search_admin"]),
        ({"term": {"metadata": "search"}}, ["search_admin"]),
        ({"match": {"description": "AUDIT"}}, ["auditor"]),
        ({"wildcard": {"name": "*_*"}}, ["logs_writer", "search_admin"]),
        ({"ids": {"values": ["role-auditor"]}}, ["auditor"]),
        ({"exists": {"field": "applications.application"}}, []),
    ],
)
def test_query_roles_filters_on_name_description_and_metadata(
    es: TestClient, q: dict[str, Any], names: list[str]
) -> None:
    some_roles(es)
    assert found(query(es, "role", {"query": q}), "roles", "name") == names


def test_query_roles_sorts_by_name_descending(es: TestClient) -> None:
    some_roles(es)
    response = query(es, "role", {"sort": [{"name": "desc"}]})
    assert found(response, "roles", "name") == ["search_admin", "logs_writer", "auditor"]
    assert response.json()["roles"][0]["_sort"] == ["search_admin"]


def test_query_roles_needs_read_security(es: TestClient, anonymous: TestClient) -> None:
    nobody = user_with(es, "nobody", ["manage_own_api_key"])
    forbidden(query(anonymous, "role", headers=nobody), "read_security")


# -- bad query requests --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("what", "body", "kind", "names"),
    [
        ("user", {"query": {"term": {"password": "x"}}}, "illegal_argument_exception", "password"),
        ("user", {"query": {"term": {"user*": "x"}}}, "illegal_argument_exception", "user*"),
        ("user", {"sort": ["full_name"]}, "illegal_argument_exception", "full_name"),
        ("user", {"query": {"fuzzy": {"username": "x"}}}, "illegal_argument_exception", "fuzzy"),
        ("user", {"query": {"no_such_query": {}}}, "parsing_exception", "no_such_query"),
        ("user", {"query": {"bool": {"must": [], "nope": 1}}}, "parsing_exception", "nope"),
        ("user", {"query": {"term": {"enabled": "maybe"}}}, "illegal_argument_exception", "maybe"),
        ("user", {"query": "username:bob"}, "parsing_exception", None),
        ("user", {"from": -1}, "action_request_validation_exception", "[from]"),
        ("user", {"size": -5}, "action_request_validation_exception", "[size]"),
        ("user", {"from": "ten"}, "x_content_parse_exception", "[from]"),
        ("user", {"from": 9999, "size": 2}, "illegal_argument_exception", "Result window"),
        ("user", {"aggs": {}}, "x_content_parse_exception", "[aggs]"),
        ("user", {"search_after": ["a"]}, "illegal_argument_exception", "Sort"),
        ("user", {"sort": ["username"], "search_after": ["a", 1]}, "illegal_argument_exception",
         "search_after"),
        ("user", {"sort": ["username"], "search_after": ["a"], "from": 1},
         "illegal_argument_exception", "from"),
        ("user", {"sort": [{"username": {"order": "up"}}]}, "illegal_argument_exception", "up"),
        ("user", [], "x_content_parse_exception", None),
        ("role", {"query": {"term": {"cluster": "all"}}}, "illegal_argument_exception", "cluster"),
        ("role", {"query": {"match_phrase": {"name": "a"}}}, "illegal_argument_exception",
         "match_phrase"),
        ("role", {"query": {"range": {"name": {"gte": "a", "relation": "within"}}}},
         "illegal_argument_exception", "relation"),
        ("role", {"unknown": 1}, "x_content_parse_exception", "[unknown]"),
        ("api_key", {"query": {"term": {"secret": "x"}}}, "illegal_argument_exception", "secret"),
        ("api_key", {"query": {"terms": {"name": {"index": "i", "id": "1"}}}},
         "illegal_argument_exception", "terms lookup"),
        ("api_key", {"query": {"range": {"creation": {"gt": "yesterday"}}}},
         "illegal_argument_exception", "yesterday"),
        ("api_key", {"aggs": {"names": {"terms": {"field": "name"}}}},
         "illegal_argument_exception", "[aggs]"),
        ("api_key", {"aggregations": {}}, "illegal_argument_exception", "[aggregations]"),
    ],
)  # fmt: skip
def test_bad_query_requests_are_400_naming_the_problem(
    es: TestClient, what: str, body: Any, kind: str, names: str | None
) -> None:
    some_users(es)
    reason = bad(query(es, what, body), kind)
    if names is not None:
        assert names in reason


@pytest.mark.parametrize(
    ("what", "params"),
    [
        ("user", {"with_profile_uid": "maybe"}),
        ("user", {"with_limited_by": "true"}),
        ("role", {"with_profile_uid": "true"}),
        ("api_key", {"with_limited_by": "yes"}),
        ("api_key", {"typed_keys": "perhaps"}),
        ("api_key", {"owner": "true"}),
    ],
)
def test_bad_query_parameters_are_400(es: TestClient, what: str, params: dict[str, str]) -> None:
    bad(es.post(f"/_security/_query/{what}", params=params, json={}), "illegal_argument_exception")


def test_a_malformed_query_body_is_400(es: TestClient) -> None:
    response = es.post(
        "/_security/_query/user", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400


# -- query API keys ------------------------------------------------------------------------


def test_query_api_keys_shows_elasticsearchs_fields(es: TestClient) -> None:
    key = create_key(es, name="ci", expiration="1d", metadata={"env": "prod"})
    response = query(es, "api_key")
    assert response.json()["total"] == 1
    assert response.json()["count"] == 1
    item = response.json()["api_keys"][0]
    assert item["id"] == key["id"]
    assert item["name"] == "ci"
    assert item["type"] == "rest"
    assert item["expiration"] == key["expiration"]
    assert item["invalidated"] is False
    assert "invalidation" not in item
    assert item["username"] == "elastic"
    assert item["realm"] == "reserved"
    assert item["metadata"] == {"env": "prod"}
    assert item["role_descriptors"] == {}
    assert "limited_by" not in item
    assert "_sort" not in item
    assert key["api_key"] not in json.dumps(item)


@pytest.mark.parametrize(
    ("q", "names"),
    [
        ({"term": {"name": "ci-build"}}, ["ci-build"]),
        ({"prefix": {"name": "ci-"}}, ["ci-build", "ci-deploy"]),
        ({"wildcard": {"name": {"value": "CI-*", "case_insensitive": True}}},
         ["ci-build", "ci-deploy"]),
        ({"term": {"metadata.env": "prod"}}, ["ci-deploy"]),
        ({"term": {"metadata.owner.team": "web"}}, ["laptop"]),
        ({"exists": {"field": "expiration"}}, ["ci-deploy"]),
        ({"term": {"invalidated": True}}, ["ci-build"]),
        ({"exists": {"field": "invalidation"}}, ["ci-build"]),
        ({"term": {"username": "elastic"}}, ["ci-build", "ci-deploy", "laptop"]),
        ({"term": {"realm_name": "reserved"}}, ["ci-build", "ci-deploy", "laptop"]),
        ({"term": {"type": "rest"}}, ["ci-build", "ci-deploy", "laptop"]),
        ({"range": {"creation": {"gte": "now-1h"}}}, ["ci-build", "ci-deploy", "laptop"]),
        ({"range": {"expiration": {"lt": "now+1d/d"}}}, []),
        ({"range": {"expiration": {"lte": "now+1d"}}}, ["ci-deploy"]),
        ({"match": {"name": "laptop"}}, ["laptop"]),
        ({"simple_query_string": {"query": "ci-build | laptop", "fields": ["name"]}},
         ["ci-build", "laptop"]),
        ({"simple_query_string": {"query": "ci* -ci-build", "fields": ["name"],
                                  "default_operator": "and"}}, ["ci-deploy"]),
    ],
)  # fmt: skip
def test_query_api_keys_filters_on_elasticsearchs_field_names(
    es: TestClient, q: dict[str, Any], names: list[str]
) -> None:
    build = create_key(es, name="ci-build")
    create_key(es, name="ci-deploy", expiration="1d", metadata={"env": "prod"})
    create_key(es, name="laptop", metadata={"owner": {"team": "web"}})
    es.request("DELETE", "/_security/api_key", json={"ids": [build["id"]]})
    response = query(es, "api_key", {"query": q})
    assert sorted(found(response, "api_keys", "name")) == names


def test_query_api_keys_reports_when_a_key_was_invalidated(
    es: TestClient, node_clock: SettableClock
) -> None:
    key = create_key(es)
    node_clock.advance(minutes=5)
    es.request("DELETE", "/_security/api_key", json={"ids": [key["id"]]})
    item = query(es, "api_key").json()["api_keys"][0]
    assert item["invalidated"] is True
    assert item["invalidation"] == item["creation"] + 5 * 60_000


def test_query_api_keys_sorts_by_creation_with_sort_values(
    es: TestClient, node_clock: SettableClock
) -> None:
    first = create_key(es, name="first")
    node_clock.advance(seconds=1)
    second = create_key(es, name="second")
    response = query(es, "api_key", {"sort": [{"creation": "desc"}, "name"]})
    items = response.json()["api_keys"]
    assert [k["id"] for k in items] == [second["id"], first["id"]]
    assert items[0]["_sort"] == [items[0]["creation"], "second"]
    after = query(
        es, "api_key", {"sort": [{"creation": "desc"}, "name"], "search_after": items[0]["_sort"]}
    )
    assert found(after, "api_keys", "id") == [first["id"]]


def test_query_api_keys_sorts_missing_expirations_last(es: TestClient) -> None:
    create_key(es, name="forever")
    create_key(es, name="brief", expiration="1h")
    response = query(es, "api_key", {"sort": ["expiration"]})
    assert found(response, "api_keys", "name") == ["brief", "forever"]
    assert response.json()["api_keys"][1]["_sort"] == [2**63 - 1]


def test_query_api_keys_with_limited_by_shows_the_owners_roles(es: TestClient) -> None:
    create_key(es)
    response = es.post("/_security/_query/api_key", params={"with_limited_by": "true"}, json={})
    assert list(response.json()["api_keys"][0]["limited_by"][0]) == ["superuser"]


def test_manage_own_api_key_queries_only_ones_own_keys(
    es: TestClient, anonymous: TestClient
) -> None:
    bob = key_owner(es, "bob")
    bobs = create_key(anonymous, bob, name="bobs")
    create_key(es, name="elastics")
    response = query(anonymous, "api_key", headers=bob)
    assert response.json()["total"] == 1
    assert found(response, "api_keys", "id") == [bobs["id"]]


@pytest.mark.parametrize("privilege", ["read_security", "manage_api_key"])
def test_read_security_and_manage_api_key_query_every_key(
    es: TestClient, anonymous: TestClient, privilege: str
) -> None:
    bob = key_owner(es, "bob")
    create_key(anonymous, bob, name="bobs")
    create_key(es, name="elastics")
    reader = user_with(es, "reader", [privilege])
    response = query(anonymous, "api_key", {"sort": ["name"]}, headers=reader)
    assert found(response, "api_keys", "name") == ["bobs", "elastics"]


def test_query_api_keys_needs_a_key_privilege(es: TestClient, anonymous: TestClient) -> None:
    nobody = user_with(es, "nobody", ["monitor"], **{"*": ["read"]})
    reason = forbidden(query(anonymous, "api_key", headers=nobody))
    assert "[manage_own_api_key,read_security,manage_api_key,manage_security,all]" in reason


def test_an_api_key_queries_only_itself(es: TestClient, anonymous: TestClient) -> None:
    bob = key_owner(es, "bob")
    first = create_key(anonymous, bob, name="first")
    create_key(anonymous, bob, name="second")
    response = query(anonymous, "api_key", headers=api_key(first))
    assert found(response, "api_keys", "id") == [first["id"]]


def test_an_api_key_sees_no_limited_by_without_manage_api_key(
    es: TestClient, anonymous: TestClient
) -> None:
    bob = key_owner(es, "bob")
    key = create_key(anonymous, bob)
    response = anonymous.post(
        "/_security/_query/api_key",
        params={"with_limited_by": "true"},
        json={},
        headers=api_key(key),
    )
    forbidden(response, "manage_api_key")


# -- manage_own_api_key: create, get, invalidate -----------------------------------------


def test_creating_a_key_needs_manage_own_api_key(es: TestClient, anonymous: TestClient) -> None:
    put_user(es, "viewer", roles=["viewer"])
    response = anonymous.post("/_security/api_key", json={"name": "k"}, headers=basic("viewer"))
    forbidden(response, "[manage_own_api_key,manage_api_key,manage_security,all]", "viewer")
    owner = key_owner(es, "bob")
    assert anonymous.post("/_security/api_key", json={"name": "k"}, headers=owner).is_success


def test_getting_keys_needs_a_key_privilege(es: TestClient, anonymous: TestClient) -> None:
    put_user(es, "viewer", roles=["viewer"])
    forbidden(anonymous.get("/_security/api_key", headers=basic("viewer")), "manage_own_api_key")


def test_invalidating_keys_needs_manage_own_api_key(es: TestClient, anonymous: TestClient) -> None:
    reader = user_with(es, "reader", ["read_security"])
    key = create_key(es)
    response = anonymous.request(
        "DELETE", "/_security/api_key", json={"ids": [key["id"]]}, headers=reader
    )
    forbidden(response, "manage_own_api_key")
    assert anonymous.get("/_security/_authenticate", headers=api_key(key)).status_code == 200


def test_manage_own_api_key_gets_and_invalidates_only_own_keys(
    es: TestClient, anonymous: TestClient
) -> None:
    bob = key_owner(es, "bob")
    bobs = create_key(anonymous, bob)
    elastics = create_key(es)
    listed = anonymous.get("/_security/api_key", headers=bob).json()["api_keys"]
    assert [k["id"] for k in listed] == [bobs["id"]]
    forbidden(
        anonymous.get("/_security/api_key", params={"id": elastics["id"]}, headers=bob),
        "manage_api_key",
    )
    response = anonymous.request(
        "DELETE", "/_security/api_key", json={"ids": [elastics["id"]]}, headers=bob
    )
    forbidden(response, "manage_api_key")
    response = anonymous.request(
        "DELETE", "/_security/api_key", json={"ids": [bobs["id"]]}, headers=bob
    )
    assert response.json()["invalidated_api_keys"] == [bobs["id"]]


def test_read_security_gets_every_key(es: TestClient, anonymous: TestClient) -> None:
    create_key(es, name="elastics")
    reader = user_with(es, "reader", ["read_security"])
    listed = anonymous.get("/_security/api_key", headers=reader).json()["api_keys"]
    assert [k["name"] for k in listed] == ["elastics"]


# -- update API keys -----------------------------------------------------------------------


def test_updating_a_key_changes_its_descriptors_and_metadata(
    es: TestClient, anonymous: TestClient
) -> None:
    key = create_key(es, metadata={"v": 1})
    readonly = {"ro": {"indices": [{"names": ["logs-*"], "privileges": ["read"]}]}}
    response = es.put(
        f"/_security/api_key/{key['id']}",
        json={"role_descriptors": readonly, "metadata": {"v": 2}},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"updated": True}
    item = es.get("/_security/api_key", params={"id": key["id"]}).json()["api_keys"][0]
    assert item["metadata"] == {"v": 2}
    assert item["role_descriptors"]["ro"]["indices"][0]["names"] == ["logs-*"]
    response = anonymous.get("/_security/user", headers=api_key(key))
    forbidden(response, "manage_security")


def test_an_identical_update_is_a_noop(es: TestClient) -> None:
    key = create_key(es, metadata={"v": 1})
    assert es.put(f"/_security/api_key/{key['id']}", json={"metadata": {"v": 1}}).json() == {
        "updated": False
    }
    assert es.put(f"/_security/api_key/{key['id']}", json={}).json() == {"updated": False}


def test_an_update_with_an_expiration_always_updates(
    es: TestClient, node_clock: SettableClock
) -> None:
    key = create_key(es)
    node_clock.advance(minutes=10)
    response = es.put(f"/_security/api_key/{key['id']}", json={"expiration": "1h"})
    assert response.json() == {"updated": True}
    item = es.get("/_security/api_key", params={"id": key["id"]}).json()["api_keys"][0]
    assert item["expiration"] == item["creation"] + 70 * 60_000


def test_an_update_snapshots_the_owners_current_roles(
    es: TestClient, anonymous: TestClient
) -> None:
    bob = key_owner(es, "bob")
    key = create_key(anonymous, bob)
    assert anonymous.get("/_security/user", headers=api_key(key)).status_code == 403
    put_role(es, "admins", cluster=["manage_security"])
    put_user(es, "bob", roles=["own_keys", "admins"])
    response = anonymous.put(f"/_security/api_key/{key['id']}", json={}, headers=bob)
    assert response.json() == {"updated": True}
    assert anonymous.get("/_security/user", headers=api_key(key)).status_code == 200


def test_updating_an_unknown_key_is_404(es: TestClient) -> None:
    error = error_of(es.put("/_security/api_key/no-such-key", json={}), 404)
    assert error["type"] == "resource_not_found_exception"
    assert error["reason"] == "no API key owned by requesting user found for ID [no-such-key]"


def test_only_the_owner_updates_a_key(es: TestClient, anonymous: TestClient) -> None:
    bob = key_owner(es, "bob")
    elastics = create_key(es)
    response = anonymous.put(f"/_security/api_key/{elastics['id']}", json={}, headers=bob)
    assert error_of(response, 404)["type"] == "resource_not_found_exception"
    bobs = create_key(anonymous, bob)
    assert es.put(f"/_security/api_key/{bobs['id']}", json={}).status_code == 404


def test_an_api_key_cannot_update_keys(es: TestClient, anonymous: TestClient) -> None:
    key = create_key(es)
    response = anonymous.put(f"/_security/api_key/{key['id']}", json={}, headers=api_key(key))
    reason = bad(response, "illegal_argument_exception")
    assert "only the owner user can update an API key" in reason


def test_updating_needs_manage_own_api_key(es: TestClient, anonymous: TestClient) -> None:
    put_user(es, "viewer", roles=["viewer"])
    response = anonymous.put("/_security/api_key/x", json={}, headers=basic("viewer"))
    forbidden(response, "manage_own_api_key")


def test_an_invalidated_key_cannot_be_updated(es: TestClient) -> None:
    key = create_key(es)
    es.request("DELETE", "/_security/api_key", json={"ids": [key["id"]]})
    reason = bad(es.put(f"/_security/api_key/{key['id']}", json={}), "illegal_argument_exception")
    assert reason == f"cannot update invalidated API key [{key['id']}]"


def test_an_expired_key_cannot_be_updated(es: TestClient, node_clock: SettableClock) -> None:
    key = create_key(es, expiration="1m")
    node_clock.advance(minutes=2)
    reason = bad(es.put(f"/_security/api_key/{key['id']}", json={}), "illegal_argument_exception")
    assert reason == f"cannot update expired API key [{key['id']}]"


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ({"metadata": {"_x": 1}}, "action_request_validation_exception"),
        ({"metadata": []}, "x_content_parse_exception"),
        ({"role_descriptors": {"r": {"cluster": ["god"]}}}, "illegal_argument_exception"),
        ({"role_descriptors": {"r": {"bogus": 1}}}, "parse_exception"),
        ({"expiration": "1 day"}, "illegal_argument_exception"),
        ({"expiration": 3600}, "x_content_parse_exception"),
        ({"name": "renamed"}, "x_content_parse_exception"),
        ([], "x_content_parse_exception"),
    ],
)
def test_bad_updates_are_400(es: TestClient, body: Any, kind: str) -> None:
    key = create_key(es, metadata={"v": 1})
    bad(es.put(f"/_security/api_key/{key['id']}", json=body), kind)
    assert es.get("/_security/api_key").json()["api_keys"][0]["metadata"] == {"v": 1}


def test_bulk_update_reports_updated_noops_and_errors(es: TestClient) -> None:
    changed = create_key(es, metadata={"v": 1})
    same = create_key(es, metadata={"v": 2})
    dead = create_key(es)
    es.request("DELETE", "/_security/api_key", json={"ids": [dead["id"]]})
    response = es.post(
        "/_security/api_key/_bulk_update",
        json={"ids": [changed["id"], same["id"], dead["id"], "missing"], "metadata": {"v": 2}},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "updated": [changed["id"]],
        "noops": [same["id"]],
        "errors": {
            "count": 2,
            "details": {
                dead["id"]: {
                    "type": "illegal_argument_exception",
                    "reason": f"cannot update invalidated API key [{dead['id']}]",
                },
                "missing": {
                    "type": "resource_not_found_exception",
                    "reason": "no API key owned by requesting user found for ID [missing]",
                },
            },
        },
    }


def test_bulk_update_without_errors_reports_a_zero_count(es: TestClient) -> None:
    key = create_key(es)
    response = es.post("/_security/api_key/_bulk_update", json={"ids": [key["id"]]})
    assert response.json() == {"updated": [], "noops": [key["id"]], "errors": {"count": 0}}


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ({}, "x_content_parse_exception"),
        ({"ids": []}, "action_request_validation_exception"),
        ({"ids": "abc"}, "x_content_parse_exception"),
        ({"ids": ["a"], "metadata": {"_x": 1}}, "action_request_validation_exception"),
    ],
)
def test_bad_bulk_updates_are_400(es: TestClient, body: Any, kind: str) -> None:
    bad(es.post("/_security/api_key/_bulk_update", json=body), kind)


# -- _has_privileges ---------------------------------------------------------------------


def test_has_privileges_answers_for_cluster_index_and_application(
    es: TestClient, anonymous: TestClient
) -> None:
    bob = user_with(es, "bob", ["monitor"], **{"logs-*": ["read"], "books": ["all"]})
    body = {
        "cluster": ["monitor", "manage"],
        "index": [
            {"names": ["logs-1", "books"], "privileges": ["read"]},
            {"names": ["logs-1"], "privileges": ["write"]},
        ],
        "application": [{"application": "kibana", "privileges": ["read"], "resources": ["*"]}],
    }
    response = anonymous.post("/_security/user/_has_privileges", json=body, headers=bob)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "username": "bob",
        "has_all_requested": False,
        "cluster": {"monitor": True, "manage": False},
        "index": {"logs-1": {"read": True, "write": False}, "books": {"read": True}},
        "application": {"kibana": {"*": {"read": False}}},
    }


def test_has_privileges_is_all_true_when_everything_is_granted(
    es: TestClient, anonymous: TestClient
) -> None:
    bob = user_with(es, "bob", ["manage_own_api_key"], **{"logs-*": ["write"]})
    body = {
        "cluster": ["manage_own_api_key"],
        "index": [{"names": ["logs-*"], "privileges": ["index", "delete"]}],
    }
    response = anonymous.request(
        "GET", "/_security/user/bob/_has_privileges", json=body, headers=bob
    )
    assert response.json()["has_all_requested"] is True


@pytest.mark.parametrize(
    ("asked", "granted"),
    [("logs-2024-*", True), ("logs-*", True), ("log*", False), ("*", False), ("books", False)],
)
def test_has_privileges_checks_a_wildcard_name_against_every_name_it_covers(
    es: TestClient, anonymous: TestClient, asked: str, granted: bool
) -> None:
    bob = user_with(es, "bob", [], **{"logs-*": ["read"]})
    body = {"index": [{"names": [asked], "privileges": ["read"]}]}
    response = anonymous.post("/_security/user/_has_privileges", json=body, headers=bob)
    assert response.json()["index"] == {asked: {"read": granted}}


def test_the_superuser_has_every_cluster_and_index_privilege(es: TestClient) -> None:
    body = {"cluster": ["all"], "index": [{"names": ["*"], "privileges": ["all"]}]}
    response = es.post("/_security/user/elastic/_has_privileges", json=body)
    assert response.json()["has_all_requested"] is True
    assert response.json()["username"] == "elastic"


def test_an_api_keys_privileges_are_the_intersection(es: TestClient, anonymous: TestClient) -> None:
    bob = key_owner(es, "bob")
    put_role(es, "own_keys", cluster=["manage_own_api_key"], indices={"logs-*": ["all"]})
    readonly = {"ro": {"indices": [{"names": ["*"], "privileges": ["read"]}]}}
    key = create_key(anonymous, bob, role_descriptors=readonly)
    body = {"index": [{"names": ["logs-1", "books"], "privileges": ["read", "write"]}]}
    response = anonymous.post(
        "/_security/user/bob/_has_privileges", json=body, headers=api_key(key)
    )
    assert response.json()["username"] == "bob"
    assert response.json()["index"] == {
        "logs-1": {"read": True, "write": False},
        "books": {"read": False, "write": False},
    }


def test_checking_someone_elses_privileges_is_400(es: TestClient) -> None:
    put_user(es, "bob", roles=[])
    response = es.post("/_security/user/bob/_has_privileges", json={"cluster": ["monitor"]})
    reason = bad(response, "illegal_argument_exception")
    assert reason == "users may only check the privileges of their own account"


def test_has_privileges_needs_authentication(anonymous: TestClient) -> None:
    response = anonymous.post("/_security/user/_has_privileges", json={"cluster": ["monitor"]})
    assert error_of(response, 401)["type"] == "security_exception"


@pytest.mark.parametrize(
    ("body", "kind", "names"),
    [
        ({}, "action_request_validation_exception", "at least one privilege"),
        ({"cluster": []}, "action_request_validation_exception", "at least one privilege"),
        ({"cluster": ["everything"]}, "illegal_argument_exception", "[everything]"),
        ({"cluster": "monitor"}, "parse_exception", "[cluster]"),
        ({"index": [{"names": ["a"], "privileges": ["own"]}]}, "illegal_argument_exception",
         "[own]"),
        ({"index": [{"names": ["a"], "privileges": []}]}, "action_request_validation_exception",
         "privileges"),
        ({"index": [{"names": [], "privileges": ["read"]}]}, "action_request_validation_exception",
         "indices"),
        ({"index": [{"names": ["a"], "privileges": ["read"], "query": "{}"}]}, "parse_exception",
         "[query]"),
        ({"index": {"names": ["a"]}}, "parse_exception", "[index]"),
        ({"application": [{"application": "k", "privileges": ["r"]}]},
         "action_request_validation_exception", "resources"),
        ({"application": [{"privileges": ["r"], "resources": ["*"]}]}, "parse_exception",
         "application"),
        ({"clusters": ["monitor"]}, "parse_exception", "[clusters]"),
        ([], "parse_exception", None),
    ],
)  # fmt: skip
def test_bad_has_privileges_requests_are_400(
    es: TestClient, body: Any, kind: str, names: str | None
) -> None:
    reason = bad(es.post("/_security/user/_has_privileges", json=body), kind)
    if names is not None:
        assert names in reason


# -- _privileges ---------------------------------------------------------------------------


def test_user_privileges_describe_the_callers_effective_grants(
    es: TestClient, anonymous: TestClient
) -> None:
    put_role(es, "r1", cluster=["monitor"], indices={"logs-*": ["read"]})
    put_role(es, "r2", cluster=["manage_own_api_key"], indices={"logs-*": ["write"], "b": ["read"]})
    put_user(es, "bob", roles=["r1", "r2"])
    response = anonymous.get("/_security/user/_privileges", headers=basic("bob"))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "cluster": ["manage_own_api_key", "monitor"],
        "global": [],
        "indices": [
            {
                "names": ["logs-*"],
                "privileges": ["read", "write"],
                "allow_restricted_indices": False,
            },
            {"names": ["b"], "privileges": ["read"], "allow_restricted_indices": False},
        ],
        "applications": [],
        "run_as": [],
    }


def test_the_superusers_privileges(es: TestClient) -> None:
    body = es.get("/_security/user/_privileges").json()
    assert body["cluster"] == ["all"]
    assert body["indices"] == [
        {"names": ["*"], "privileges": ["all"], "allow_restricted_indices": False}
    ]


def test_a_key_without_descriptors_reports_its_owners_privileges(
    es: TestClient, anonymous: TestClient
) -> None:
    key = create_key(es)
    response = anonymous.get("/_security/user/_privileges", headers=api_key(key))
    assert response.json()["cluster"] == ["all"]


def test_a_key_with_descriptors_cannot_list_its_privileges(
    es: TestClient, anonymous: TestClient
) -> None:
    key = create_key(es, role_descriptors={"r": {"cluster": ["monitor"]}})
    response = anonymous.get("/_security/user/_privileges", headers=api_key(key))
    assert "Cannot retrieve privileges for API keys with assigned role descriptors" in bad(
        response, "illegal_argument_exception"
    )


def test_a_user_without_roles_has_no_privileges(es: TestClient, anonymous: TestClient) -> None:
    put_user(es, "bob", roles=[])
    body = anonymous.get("/_security/user/_privileges", headers=basic("bob")).json()
    assert body == {"cluster": [], "global": [], "indices": [], "applications": [], "run_as": []}


def test_key_ids_never_start_with_an_underscore(es: TestClient) -> None:
    # "_..." path segments are endpoints (``_bulk_update``), so such an id could not be updated
    ids = [create_key(es)["id"] for _ in range(200)]
    assert not [i for i in ids if i.startswith("_")]

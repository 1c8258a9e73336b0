"""A caller who holds an index action's privilege on no index at all is refused with
Elasticsearch's 403 before any index is looked at (``RBACEngine.authorizeIndexAction``:
``role.checkIndicesAction``), not answered an empty result; one who holds it on some index gets
the expression expanded to the indices it may see, and an empty answer when none match.

Against a real node in process: native users through the security API, a JWT user with a
token signed as the control plane signs them, API keys limited by their creator.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from citadel.contract.messages import AuditSettings
from citadel.kit.clock import SettableClock
from citadel.node.http.app import NodeApp
from citadel.node.routes import build_router
from citadel.node.security.audit import AuditTrail
from citadel.node.security.privileges import parse_descriptor
from citadel.node.security.realm import grants_index_privilege
from citadel.node.services import NodeServices
from tests.node.builders import (
    ELASTIC,
    PASSWORD,
    app_of,
    client_of,
    error_of,
    put_role,
    put_user,
)
from tests.node.jwt_builders import (
    SigningKey,
    claims,
    node_with_security_file,
    security,
    signing_key,
    token,
    write_security,
)

NO_READ = (
    "action is unauthorized for user [nobody] with effective roles [], "
    "this action is granted by the index privileges [read,all]"
)

# every route that expands an index expression, as a caller without any index privilege
# would call it, and the privilege whose absence its 403 names
EXPANDING = [
    ("GET", "/*/_search", None, "read"),
    ("GET", "/_search", None, "read"),
    ("POST", "/logs-*/_search", {"query": {"match_all": {}}}, "read"),
    ("GET", "/_count", None, "read"),
    ("GET", "/*/_count", None, "read"),
    ("POST", "/*/_field_caps?fields=*", None, "read"),
    ("POST", "/*/_terms_enum", {"field": "msg"}, "read"),
    ("GET", "/*/_validate/query", None, "read"),
    ("GET", "/*/_search_shards", None, "read"),
    ("POST", "/*/_delete_by_query", {"query": {"match_all": {}}}, "read"),
    ("GET", "/_cat/indices", None, "monitor"),
    ("GET", "/_cat/count", None, "read"),
    ("GET", "/_cat/shards", None, "monitor"),
    ("GET", "/_cat/aliases", None, "view_index_metadata"),
    ("GET", "/_mapping", None, "view_index_metadata"),
    ("GET", "/*/_mapping", None, "view_index_metadata"),
    ("GET", "/*", None, "view_index_metadata"),
    ("GET", "/logs-*/_settings", None, "view_index_metadata"),
    ("GET", "/*/_stats", None, "monitor"),
    ("GET", "/_settings", None, "view_index_metadata"),
    ("GET", "/_stats", None, "monitor"),
    ("GET", "/_alias", None, "view_index_metadata"),
    ("GET", "/_resolve/index/*", None, "view_index_metadata"),
    ("POST", "/_refresh", None, "read"),  # the first of the privileges the node refreshes for
    ("GET", "/_data_stream", None, "view_index_metadata"),
    ("GET", "/_data_stream/_stats", None, "monitor"),
    ("GET", "/_data_stream/*/_mappings", None, "view_index_metadata"),
    ("GET", "/*/_alias", None, "view_index_metadata"),
    ("GET", "/*/_mapping/field/*", None, "view_index_metadata"),
    ("GET", "/*/_lifecycle/explain", None, "view_index_metadata"),
]


# -- builders --------------------------------------------------------------------------------


def basic(name: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{PASSWORD}".encode()).decode()}


def seed(es: TestClient) -> None:
    """``logs-1`` and ``metrics-1``, one document each."""
    for index, doc in (("logs-1", {"msg": "disk full"}), ("metrics-1", {"msg": "cpu 99"})):
        assert es.put(f"/{index}/_doc/1?refresh=true", json=doc).status_code in (200, 201)


def nobody(es: TestClient) -> dict[str, str]:
    """A native user with no role at all."""
    put_user(es, "nobody", roles=[])
    return basic("nobody")


def logs_user(es: TestClient, *privileges: str) -> dict[str, str]:
    """A native user holding `privileges` on ``logs-*`` and nothing else."""
    put_role(es, "logs_only", cluster=["manage_own_api_key"], indices={"logs-*": [*privileges]})
    put_user(es, "bob", roles=["logs_only"])
    return basic("bob")


ACTION = re.compile(r"^action \[[a-z:/_*]+\] ")


def reason_of(response: Any, status: int = 403) -> str:
    """The refusal's reason without the action it names (the app adds Elasticsearch's action
    name to every 403; `test_a_refusal_names_the_action_as_elasticsearch_does` checks it)."""
    error = error_of(response, status)
    assert error["type"] == ("security_exception" if status == 403 else error["type"])
    return ACTION.sub("action ", str(error["reason"]))


@pytest.mark.parametrize(
    ("path", "action"),
    [
        ("/*/_search", "indices:data/read/search"),
        ("/logs-1/_count", "indices:data/read/search"),
        ("/logs-1/_doc/1", "indices:data/read/get"),
    ],
)
def test_a_refusal_names_the_action_as_elasticsearch_does(
    es: TestClient, anonymous: TestClient, path: str, action: str
) -> None:
    seed(es)
    error = error_of(anonymous.get(path, headers=nobody(es)), 403)
    assert error["reason"] == f"action [{action}] is unauthorized for user [nobody] with " + (
        "effective roles [], this action is granted by the index privileges [read,all]"
    )


def hits(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return sorted(h["_index"] for h in response.json()["hits"]["hits"])


# -- the pure check --------------------------------------------------------------------------


def test_an_index_privilege_is_held_anywhere_when_a_grant_includes_it() -> None:
    logs_all = parse_descriptor({"indices": [{"names": ["logs-*"], "privileges": ["all"]}]})
    monitor = parse_descriptor({"cluster": ["all"], "indices": []})
    assert grants_index_privilege([logs_all], "read")  # `all` includes read, on logs-* only
    assert grants_index_privilege([monitor, logs_all], "delete_index")
    assert not grants_index_privilege([monitor], "read")  # cluster privileges are not index ones
    assert not grants_index_privilege([], "read")


# -- no privilege anywhere: a 403 --------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "body", "privilege"), EXPANDING)
def test_a_user_without_the_privilege_on_any_index_is_refused_not_answered_empty(
    es: TestClient,
    anonymous: TestClient,
    method: str,
    path: str,
    body: Any,
    privilege: str,
) -> None:
    seed(es)
    headers = nobody(es)
    reason = reason_of(anonymous.request(method, path, json=body, headers=headers))
    assert reason.startswith("action is unauthorized for user [nobody] with effective roles []")
    assert f"this action is granted by the index privileges [{privilege}" in reason
    assert "on indices" not in reason  # refused before any index was looked at


def test_a_roleless_user_searching_everything_gets_elasticsearchs_message(
    es: TestClient, anonymous: TestClient
) -> None:
    seed(es)
    assert reason_of(anonymous.get("/*/_search", headers=nobody(es))) == NO_READ


def test_a_roleless_user_naming_an_index_is_refused_the_same_way(
    es: TestClient, anonymous: TestClient
) -> None:
    seed(es)
    headers = nobody(es)
    assert reason_of(anonymous.get("/logs-1/_search", headers=headers)) == NO_READ
    assert reason_of(anonymous.get("/logs-1/_doc/1", headers=headers)) == NO_READ


def test_each_search_of_a_roleless_users_msearch_is_refused(
    es: TestClient, anonymous: TestClient
) -> None:
    seed(es)
    lines = b'{"index": "*"}\n{"query": {"match_all": {}}}\n{}\n{}\n'
    response = anonymous.post(
        "/_msearch",
        content=lines,
        headers={**nobody(es), "content-type": "application/x-ndjson"},
    )
    assert response.status_code == 200
    errors = [item["error"] for item in response.json()["responses"]]
    assert [e["type"] for e in errors] == ["security_exception", "security_exception"]
    assert {e["reason"] for e in errors} == {NO_READ}


def test_the_refusal_is_audited_as_access_denied_and_nothing_granted(
    node_services: NodeServices,
) -> None:
    trail = AuditTrail(lambda: AuditSettings(enabled=True, include=["_all"]))
    app = NodeApp(build_router(node_services), node_services.realm, audit=trail)
    with client_of(app, ELASTIC) as es:
        seed(es)
        headers = nobody(es)
    trail.collect(10**9)  # forget the setting up
    with client_of(app) as anonymous:
        assert anonymous.get("/*/_search", headers=headers).status_code == 403
    access = [
        (e["event.action"], e["action"])
        for e in trail.collect(0)["events"]
        if e["event.action"].startswith("access_")
    ]
    assert access == [("access_denied", "indices:data/read/search")]


def test_a_user_with_only_a_write_privilege_may_not_search(
    es: TestClient, anonymous: TestClient
) -> None:
    seed(es)
    headers = logs_user(es, "write")
    reason = reason_of(anonymous.get("/*/_search", headers=headers))
    assert reason == (
        "action is unauthorized for user [bob] with effective roles [logs_only], "
        "this action is granted by the index privileges [read,all]"
    )


# -- the privilege somewhere: the indices it may see, perhaps none ----------------------------


def test_a_logs_reader_searching_everything_finds_only_logs(
    es: TestClient, anonymous: TestClient
) -> None:
    seed(es)
    headers = logs_user(es, "read")
    assert hits(anonymous.get("/*/_search", headers=headers)) == ["logs-1"]
    assert hits(anonymous.get("/_search", headers=headers)) == ["logs-1"]
    assert anonymous.get("/_count", headers=headers).json()["count"] == 1
    assert anonymous.get("/_cat/count?h=count", headers=headers).text.strip() == "1"


def test_a_logs_reader_searching_metrics_by_wildcard_gets_an_empty_answer(
    es: TestClient, anonymous: TestClient
) -> None:
    seed(es)
    headers = logs_user(es, "read")
    assert hits(anonymous.get("/metrics-*/_search", headers=headers)) == []
    assert anonymous.get("/metrics-*/_count", headers=headers).json()["count"] == 0


def test_without_allow_no_indices_a_wildcard_matching_nothing_visible_is_not_found(
    es: TestClient, anonymous: TestClient
) -> None:
    seed(es)
    headers = logs_user(es, "read")
    response = anonymous.get("/metrics-*/_search?allow_no_indices=false", headers=headers)
    assert error_of(response, 404)["type"] == "index_not_found_exception"


def test_a_logs_reader_naming_metrics_is_refused_on_that_index(
    es: TestClient, anonymous: TestClient
) -> None:
    seed(es)
    headers = logs_user(es, "read")
    reason = reason_of(anonymous.get("/metrics-1/_search", headers=headers))
    assert reason == (
        "action is unauthorized for user [bob] with effective roles [logs_only] on indices "
        "[metrics-1], this action is granted by the index privileges [read,all]"
    )


def test_a_logs_monitor_lists_only_logs_in_cat_indices(
    es: TestClient, anonymous: TestClient
) -> None:
    seed(es)
    headers = logs_user(es, "monitor")
    listed = anonymous.get("/_cat/indices?h=index", headers=headers)
    assert listed.status_code == 200, listed.text
    assert listed.text.split() == ["logs-1"]


def test_a_logs_reader_sees_only_logs_fields(es: TestClient, anonymous: TestClient) -> None:
    seed(es)
    headers = logs_user(es, "read")
    response = anonymous.get("/*/_field_caps?fields=msg", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["indices"] == ["logs-1"]


@pytest.mark.parametrize("api", ["", "/_mapping", "/_settings", "/_alias", "/_mapping/field/*"])
def test_a_wildcard_in_the_path_expands_to_the_indices_the_caller_may_see(
    es: TestClient, anonymous: TestClient, api: str
) -> None:
    seed(es)
    headers = logs_user(es, "view_index_metadata")
    response = anonymous.get(f"/*{api}", headers=headers)
    assert response.status_code == 200, response.text
    assert list(response.json()) == ["logs-1"]
    assert anonymous.get(f"/metrics-*{api}", headers=headers).json() == {}
    refused = anonymous.get(f"/logs-1,metrics-1{api}", headers=headers)
    assert "on indices [metrics-1]" in reason_of(refused)


def test_lifecycle_explain_of_a_wildcard_explains_only_the_indices_the_caller_may_see(
    es: TestClient, anonymous: TestClient
) -> None:
    seed(es)
    headers = logs_user(es, "view_index_metadata")
    response = anonymous.get("/*/_lifecycle/explain", headers=headers)
    assert response.status_code == 200, response.text
    assert list(response.json()["indices"]) == ["logs-1"]
    refused = anonymous.get("/metrics-1/_lifecycle/explain", headers=headers)
    assert "on indices [metrics-1]" in reason_of(refused)


def test_index_stats_of_a_wildcard_count_only_the_indices_the_caller_may_monitor(
    es: TestClient, anonymous: TestClient
) -> None:
    seed(es)
    headers = logs_user(es, "monitor")
    response = anonymous.get("/*/_stats", headers=headers)
    assert response.status_code == 200, response.text
    assert list(response.json()["indices"]) == ["logs-1"]
    assert "on indices [metrics-1]" in reason_of(
        anonymous.get("/metrics-1/_stats", headers=headers)
    )


def test_data_streams_are_listed_only_where_the_caller_may_see_them(
    es: TestClient, anonymous: TestClient
) -> None:
    es.put("/_index_template/t", json={"index_patterns": ["*-app"], "data_stream": {}})
    for name in ("logs-app", "metrics-app"):
        assert es.put(f"/_data_stream/{name}").status_code == 200
    headers = logs_user(es, "view_index_metadata")
    listed = anonymous.get("/_data_stream", headers=headers)
    assert listed.status_code == 200, listed.text
    assert [s["name"] for s in listed.json()["data_streams"]] == ["logs-app"]
    refused = anonymous.get("/_data_stream/metrics-app", headers=headers)
    assert "on indices [metrics-app]" in reason_of(refused)


def test_data_stream_stats_count_only_the_streams_the_caller_may_monitor(
    es: TestClient, anonymous: TestClient
) -> None:
    es.put("/_index_template/t", json={"index_patterns": ["*-app"], "data_stream": {}})
    for name in ("logs-app", "metrics-app"):
        assert es.put(f"/_data_stream/{name}").status_code == 200
    headers = logs_user(es, "monitor")
    stats = anonymous.get("/_data_stream/_stats", headers=headers)
    assert stats.status_code == 200, stats.text
    body = stats.json()
    assert [row["data_stream"] for row in body["data_streams"]] == ["logs-app"]
    assert (body["data_stream_count"], body["backing_indices"]) == (1, 1)
    refused = anonymous.get("/_data_stream/metrics-app/_stats", headers=headers)
    assert "on indices [metrics-app]" in reason_of(refused)


# -- API keys: their own descriptors and limited_by both --------------------------------------


def create_key(client: TestClient, headers: dict[str, str], **body: Any) -> dict[str, str]:
    response = client.post("/_security/api_key", json={"name": "k", **body}, headers=headers)
    assert response.status_code == 200, response.text
    encoded = response.json()["encoded"]
    return {"Authorization": f"ApiKey {encoded}"}


def test_an_api_key_of_a_creator_who_may_read_nowhere_is_refused_whatever_it_names(
    es: TestClient, anonymous: TestClient
) -> None:
    seed(es)
    put_role(es, "keys_only", cluster=["manage_own_api_key"])
    put_user(es, "carol", roles=["keys_only"])
    everything = {"all": {"indices": [{"names": ["*"], "privileges": ["all"]}]}}
    key = create_key(anonymous, basic("carol"), role_descriptors=everything)
    reason = reason_of(anonymous.get("/*/_search", headers=key))
    assert reason.startswith("action is unauthorized for API key id [")
    assert "on indices" not in reason


def test_an_api_key_without_index_grants_of_its_own_is_refused(
    es: TestClient, anonymous: TestClient
) -> None:
    seed(es)
    headers = logs_user(es, "read")
    cluster_only = {"cluster_only": {"cluster": ["monitor"]}}
    key = create_key(anonymous, headers, role_descriptors=cluster_only)
    assert "on indices" not in reason_of(anonymous.get("/_search", headers=key))


def test_an_api_key_within_its_creators_reach_searches_the_overlap(
    es: TestClient, anonymous: TestClient
) -> None:
    seed(es)
    headers = logs_user(es, "read")
    everything = {"all": {"indices": [{"names": ["*"], "privileges": ["read"]}]}}
    key = create_key(anonymous, headers, role_descriptors=everything)
    assert hits(anonymous.get("/*/_search", headers=key)) == ["logs-1"]


# -- a JWT user the role mappings have not mapped yet -----------------------------------------


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return signing_key("k1")


@pytest.fixture
def jwt_node(
    tmp_path: Path, node_clock: SettableClock, key: SigningKey
) -> Iterator[tuple[TestClient, TestClient]]:
    """(elastic, no credentials) clients of a node whose jwt realm trusts `key`."""
    security_file = tmp_path / "security.json"
    write_security(security_file, security(key))
    with node_with_security_file(tmp_path / "node", node_clock, security_file) as services:
        app = app_of(services)
        with client_of(app, ELASTIC) as es, client_of(app) as node:
            seed(es)
            yield es, node


def bearer_of(key: SigningKey, clock: SettableClock, **overrides: Any) -> dict[str, str]:
    value = token(key, claims(clock.now().timestamp(), **overrides))
    return {"Authorization": f"Bearer {value}"}


def test_a_jwt_user_with_no_role_can_search_nothing_until_a_role_is_mapped(
    jwt_node: tuple[TestClient, TestClient], key: SigningKey, node_clock: SettableClock
) -> None:
    es, node = jwt_node
    headers = bearer_of(key, node_clock, roles=[])
    for path in ("/*/_search", "/_cat/indices", "/_mapping", "/_count"):
        reason = reason_of(node.get(path, headers=headers))
        assert reason.startswith(
            "action is unauthorized for user [u-alice] with effective roles []"
        )
        assert "on indices" not in reason
    mapping = {"enabled": True, "roles": ["viewer"], "rules": {"field": {"username": "u-alice"}}}
    assert es.put("/_security/role_mapping/alice", json=mapping).status_code == 200
    assert hits(node.get("/*/_search", headers=headers)) == ["logs-1", "metrics-1"]

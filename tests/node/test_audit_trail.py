"""The node's security audit trail: Elasticsearch's events, its settings (include, exclude,
ignore_filters), the bounded buffer and its dropped counter, and ``GET /_citadel/audit``."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from citadel.contract.messages import AuditSettings
from citadel.node.http.app import NodeApp
from citadel.node.http.messages import NodeRequest
from citadel.node.routes import build_router
from citadel.node.security.audit import (
    AUDIT_PATH,
    DEFAULT_INCLUDE,
    EVENT_TYPES,
    TOKEN_HEADER,
    AuditTrail,
    compile_policy,
)
from citadel.node.security.realm import Identity
from citadel.node.services import NodeServices
from tests.node.builders import ELASTIC, PASSWORD, client_of, put_role, put_user

TOKEN = "the-allocator-per-start-token"
SECRET = "not-in-any-event-9f3c"


class Settings:
    """What the node's SecurityConfig would answer: changed by a test at will."""

    def __init__(self, **given: object) -> None:
        self.value = AuditSettings(enabled=True, **given)  # type: ignore[arg-type]

    def __call__(self) -> AuditSettings:
        return self.value


def request(path: str = "/logs-1/_search", *, auth: str | None = None, **headers: str):
    given = {"x-forwarded-for": "203.0.113.7", "x-request-id": "req-1", **headers}
    if auth is not None:
        given["authorization"] = auth
    return NodeRequest("POST", path, {}, {}, given, b"")


def bob(*roles: str) -> Identity:
    return Identity("bob", roles or ("logs_reader",), (), "native")


def trail_with(**settings: object) -> AuditTrail:
    return AuditTrail(Settings(**settings))


def events(trail: AuditTrail) -> list[dict]:
    return trail.collect(0)["events"]


def actions(trail: AuditTrail) -> list[str]:
    return [e["event.action"] for e in events(trail)]


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# -- what an event says ----------------------------------------------------------------------


def test_access_granted_is_an_elasticsearch_transport_event():
    trail = trail_with()
    trail.access_granted(bob(), "indices:data/read/search", request(), ["logs-1"])
    (event,) = events(trail)
    assert event["event.type"] == "transport"
    assert event["event.action"] == "access_granted"
    assert event["user.name"] == "bob"
    assert event["user.realm"] == "default_native"
    assert event["user.roles"] == ["logs_reader"]
    assert event["authentication.type"] == "REALM"
    assert event["origin.type"] == "rest"
    assert event["origin.address"] == "203.0.113.7"
    assert event["request.id"] == "req-1"
    assert event["action"] == "indices:data/read/search"
    assert event["indices"] == ["logs-1"]
    assert event["url.path"] == "/logs-1/_search"
    assert event["@timestamp"].endswith("Z")
    assert event["seq"] == 1


def test_a_failed_sign_in_names_the_user_and_never_the_password():
    trail = trail_with()
    trail.authentication_failed(request(auth=basic("mallory", SECRET)))
    (event,) = events(trail)
    assert event["event.type"] == "rest"
    assert event["event.action"] == "authentication_failed"
    assert event["user.name"] == "mallory"
    assert SECRET not in json.dumps(event)


def test_a_refused_api_key_is_named_by_its_id_only():
    trail = trail_with()
    header = "ApiKey " + base64.b64encode(f"key-id-1:{SECRET}".encode()).decode()
    trail.authentication_failed(request(auth=header))
    (event,) = events(trail)
    assert event["apikey.id"] == "key-id-1"
    assert SECRET not in json.dumps(event)


def test_a_request_without_credentials_is_anonymous_access_denied():
    trail = trail_with()
    trail.authentication_failed(request())
    assert actions(trail) == ["anonymous_access_denied"]


def test_an_api_key_caller_is_named_with_its_key():
    trail = trail_with()
    key = Identity(
        "bob", (), (), "_es_api_key", authentication_type="api_key", api_key_id="k1",
        api_key_name="ci",
    )  # fmt: skip
    trail.access_denied(key, "indices:data/write/index", request(), ["logs-1"])
    (event,) = events(trail)
    assert event["authentication.type"] == "API_KEY"
    assert (event["apikey.id"], event["apikey.name"]) == ("k1", "ci")


def test_run_as_names_both_users():
    trail = trail_with()
    trail.run_as_denied(Identity("admin", ("ops",), (), "native"), "alice", request())
    (event,) = events(trail)
    assert event["event.action"] == "run_as_denied"
    assert (event["user.name"], event["user.run_as.name"]) == ("admin", "alice")


def test_a_request_without_an_id_gets_one_its_events_share():
    trail = trail_with(include=["_all"])
    given = NodeRequest("GET", "/", {}, {}, {}, b"")
    trail.authentication_success(bob(), given)
    trail.access_granted(bob(), "cluster:monitor/main", given)
    first, second = events(trail)
    assert first["request.id"]
    assert first["request.id"] == second["request.id"]


# -- settings ----------------------------------------------------------------------------------


def test_nothing_is_recorded_when_the_trail_is_disabled():
    trail = AuditTrail(AuditSettings)
    trail.access_denied(bob(), "indices:data/read/search", request(), ["x"])
    trail.authentication_failed(request(auth=basic("bob", "wrong")))
    assert events(trail) == []


def test_the_default_set_is_everything_but_authentication_success():
    assert set(EVENT_TYPES) - DEFAULT_INCLUDE == {"authentication_success"}
    trail = trail_with()
    trail.authentication_success(bob(), request())
    trail.access_granted(bob(), "indices:data/read/search", request(), ["logs-1"])
    assert actions(trail) == ["access_granted"]


def test_all_includes_authentication_success():
    trail = trail_with(include=["_all"])
    trail.authentication_success(bob(), request())
    assert actions(trail) == ["authentication_success"]


def test_include_and_exclude_choose_the_types():
    trail = trail_with(include=["access_denied", "access_granted"], exclude=["access_granted"])
    trail.access_granted(bob(), "a", request())
    trail.access_denied(bob(), "a", request())
    trail.authentication_failed(request(auth=basic("bob", "x")))
    assert actions(trail) == ["access_denied"]


def test_an_ignore_policy_drops_events_of_the_users_it_names():
    trail = trail_with(ignore_filters={"quiet": {"users": ["bo?", "svc-*"]}})
    trail.access_granted(bob(), "a", request())
    trail.access_granted(Identity("svc-ingest", (), (), "native"), "a", request())
    trail.access_granted(Identity("alice", (), (), "native"), "a", request())
    assert [e["user.name"] for e in events(trail)] == ["alice"]


def test_a_policy_must_match_every_field_it_names():
    policy = {"users": ["bob"], "indices": ["logs-*"]}
    trail = trail_with(ignore_filters={"bob_logs": policy})
    trail.access_granted(bob(), "a", request(), ["logs-1", "logs-2"])  # ignored
    trail.access_granted(bob(), "a", request(), ["logs-1", "metrics-1"])  # not every index
    trail.access_granted(bob(), "a", request())  # no index: matched as "", which logs-* is not
    assert [e.get("indices") for e in events(trail)] == [["logs-1", "metrics-1"], None]


def test_a_policy_on_roles_needs_every_role_of_the_user():
    trail = trail_with(ignore_filters={"readers": {"roles": ["*_reader"]}})
    trail.access_granted(bob("logs_reader", "metrics_reader"), "a", request())
    trail.access_granted(bob("logs_reader", "superuser"), "a", request())
    assert [e["user.roles"] for e in events(trail)] == [["logs_reader", "superuser"]]


def test_policies_on_realms_and_actions():
    filters = {"p": {"realms": ["default_native"], "actions": ["indices:data/read/*"]}}
    trail = trail_with(ignore_filters=filters)
    trail.access_granted(bob(), "indices:data/read/search", request())
    trail.access_granted(bob(), "indices:data/write/bulk", request())
    elastic = Identity("elastic", ("superuser",), (), "reserved")
    trail.access_granted(elastic, "indices:data/read/get", request())
    assert [(e["user.name"], e["action"]) for e in events(trail)] == [
        ("bob", "indices:data/write/bulk"),
        ("elastic", "indices:data/read/get"),
    ]


def test_malformed_settings_are_left_out_not_fatal():
    settings = AuditSettings(
        enabled=True,
        include=["access_granted", "no_such_event"],
        ignore_filters={"bad": "not an object", "worse": {"users": [3]}, "ok": {"users": ["x"]}},
    )
    policy = compile_policy(settings)
    assert policy.events == {"access_granted"}
    assert [p.name for p in policy.ignore] == ["ok"]


def test_a_settings_change_applies_to_the_next_event():
    settings = Settings()
    trail = AuditTrail(settings)
    trail.access_granted(bob(), "a", request())
    settings.value = AuditSettings(enabled=False)
    trail.access_granted(bob(), "b", request())
    settings.value = AuditSettings(enabled=True, exclude=["access_granted"])
    trail.access_granted(bob(), "c", request())
    trail.access_denied(bob(), "d", request())
    assert [e["action"] for e in events(trail)] == ["a", "d"]


# -- the buffer ------------------------------------------------------------------------------


def test_a_full_buffer_drops_new_events_and_counts_them():
    trail = AuditTrail(Settings(), capacity=3)
    for i in range(5):
        trail.access_granted(bob(), f"a{i}", request())
    answer = trail.collect(0)
    assert [e["action"] for e in answer["events"]] == ["a0", "a1", "a2"]
    assert answer["dropped"] == 2
    assert answer["next"] == 3


def test_collecting_after_a_sequence_acknowledges_what_came_before():
    trail = AuditTrail(Settings(), capacity=3)
    for i in range(3):
        trail.access_granted(bob(), f"a{i}", request())
    assert trail.collect(2)["events"][0]["action"] == "a2"
    trail.access_granted(bob(), "a3", request())
    trail.access_granted(bob(), "a4", request())  # room for two again
    answer = trail.collect(3)
    assert [(e["seq"], e["action"]) for e in answer["events"]] == [(4, "a3"), (5, "a4")]
    assert answer["next"] == 5
    assert answer["dropped"] == 0
    assert trail.collect(5) == {"events": [], "dropped": 0, "next": 5}


def test_a_broken_settings_source_loses_the_event_and_raises_nothing():
    def broken() -> AuditSettings:
        raise RuntimeError("settings unreadable")

    trail = AuditTrail(broken)
    trail.access_granted(bob(), "a", request())
    trail.authentication_failed(request(auth=basic("bob", "x")))
    assert events(trail) == []


def test_a_full_buffer_neither_fails_nor_slows_requests(node_services: NodeServices):
    trail = AuditTrail(Settings(include=["_all"]), capacity=10)
    app = audited_app(node_services, trail)
    with client_of(app, ELASTIC) as es:
        for i in range(10):
            es.put(f"/logs-{i}")
        assert trail.pending() == 10
        started = time.perf_counter()
        answers = [es.get("/_cluster/health").status_code for _ in range(200)]
        elapsed = time.perf_counter() - started
    assert answers == [200] * 200
    assert trail.collect(0)["dropped"] >= 400  # a success and a grant each
    assert elapsed < 20  # no waiting on the buffer: in-process requests, ~ms each


# -- security_config_change ------------------------------------------------------------------


def audited_app(services: NodeServices, trail: AuditTrail, token: str | None = TOKEN) -> NodeApp:
    router = build_router(services)
    trail.instrument(router, token)
    return NodeApp(router, services.realm, tasks=services.tasks, audit=trail)


@pytest.fixture
def trail() -> AuditTrail:
    return trail_with(include=["security_config_change"])


@pytest.fixture
def es(node_services: NodeServices, trail: AuditTrail) -> Iterator[TestClient]:
    with client_of(audited_app(node_services, trail), ELASTIC) as client:
        yield client


def test_putting_a_user_is_a_config_change_without_its_password(es, trail):
    put_user(es, "carol", roles=["viewer"], password=SECRET, full_name="Carol")
    (event,) = events(trail)
    assert event["event.type"] == "security_config_change"
    assert event["event.action"] == "put_user"
    assert event["user.name"] == "elastic"
    assert event["put"]["user"] == {
        "name": "carol",
        "enabled": True,
        "roles": ["viewer"],
        "full_name": "Carol",
        "has_password": True,
    }
    assert SECRET not in json.dumps(event)


def test_password_changes_roles_and_deletions_are_config_changes(es, trail):
    put_role(es, "logs_reader", indices={"logs-*": ["read"]})
    put_user(es, "dave", roles=["logs_reader"])
    assert es.put("/_security/user/dave/_password", json={"password": SECRET}).status_code == 200
    assert es.put("/_security/user/dave/_disable").status_code == 200
    assert es.delete("/_security/user/dave").status_code == 200
    assert es.delete("/_security/role/logs_reader").status_code == 200
    assert actions(trail) == [
        "put_role",
        "put_user",
        "change_password",
        "change_disable_user",
        "delete_user",
        "delete_role",
    ]
    change = events(trail)[2]["change"]
    assert change == {"password": {"user": {"name": "dave"}}}
    assert SECRET not in json.dumps(events(trail))


def test_api_keys_and_role_mappings_are_config_changes(es, trail):
    created = es.post("/_security/api_key", json={"name": "ci"}).json()
    mapping = {"roles": ["viewer"], "rules": {"field": {"groups": "ops"}}, "enabled": True}
    assert es.put("/_security/role_mapping/ops", json=mapping).status_code == 200
    invalidated = es.request("DELETE", "/_security/api_key", json={"ids": [created["id"]]})
    assert invalidated.status_code == 200
    create, put_mapping, invalidate = events(trail)
    assert create["event.action"] == "create_apikey"
    assert create["create"]["apikey"]["id"] == created["id"]
    assert created["api_key"] not in json.dumps(create)
    assert put_mapping["put"]["role_mapping"]["name"] == "ops"
    assert invalidate["invalidate"]["apikeys"]["ids"] == [created["id"]]


def test_a_refused_change_is_not_a_config_change(es, node_services, trail):
    put_user(es, "erin", roles=[])
    with client_of(audited_app(node_services, trail), ("erin", PASSWORD)) as erin:
        refused = erin.put("/_security/user/x", json={"password": SECRET, "roles": []})
    assert refused.status_code == 403
    assert actions(trail) == ["put_user"]


# -- GET /_citadel/audit -----------------------------------------------------------------------


def test_the_collection_route_answers_the_token_holder_with_events_and_acknowledges(
    node_services,
):
    trail = trail_with()
    with client_of(audited_app(node_services, trail)) as node:
        wrong = node.get("/", headers={"authorization": basic("elastic", "wrong")})
        assert wrong.status_code == 401
        first = node.get(AUDIT_PATH, headers={TOKEN_HEADER: TOKEN}).json()
        again = node.get(f"{AUDIT_PATH}?after={first['next']}", headers={TOKEN_HEADER: TOKEN})
    assert [e["event.action"] for e in first["events"]] == ["authentication_failed"]
    assert first["dropped"] == 0
    assert first["next"] == first["events"][0]["seq"]
    assert again.json() == {"events": [], "dropped": 0, "next": first["next"]}


@pytest.mark.parametrize("token", [None, TOKEN])
def test_without_the_token_the_collection_route_is_answered_as_absent(node_services, token):
    trail = trail_with()
    trail.access_denied(bob(), "a", request())
    with client_of(audited_app(node_services, trail, token), ELASTIC) as node:
        absent = node.get("/_citadel/nothing_here")
        refused = [
            node.get(AUDIT_PATH),
            node.get(AUDIT_PATH, headers={TOKEN_HEADER: "forged"}),
        ]
    for answer in refused:
        assert answer.status_code == absent.status_code
        assert answer.json()["error"]["type"] == absent.json()["error"]["type"]
        assert "access_denied" not in answer.text
    assert trail.pending() == 1


def test_the_trail_follows_the_security_file(tmp_path: Path):
    from citadel.contract.messages import NodeSecurity
    from citadel.node.security.config import SecurityConfig

    path = tmp_path / "security.json"
    now = [0.0]
    config = SecurityConfig(path, monotonic=lambda: now[0])
    trail = AuditTrail(lambda: config.current().audit)
    trail.access_denied(bob(), "before", request())
    audit = AuditSettings(enabled=True, include=["access_denied"])
    path.write_text(NodeSecurity(audit=audit).model_dump_json())
    now[0] += 2
    trail.access_denied(bob(), "after", request())
    assert [e["action"] for e in events(trail)] == ["after"]


# -- the app's hooks ---------------------------------------------------------------------------


@pytest.fixture
def everything(node_services: NodeServices) -> tuple[AuditTrail, NodeApp]:
    trail = trail_with(include=["_all"], exclude=["security_config_change"])
    return trail, audited_app(node_services, trail)


def test_a_request_records_its_authentication_and_its_access(everything):
    trail, app = everything
    with client_of(app, ELASTIC) as es:
        es.get("/_cluster/health", headers={"x-forwarded-for": "198.51.100.4"})
    success, granted = events(trail)
    assert success["event.action"] == "authentication_success"
    assert (success["user.name"], success["user.realm"]) == ("elastic", "reserved")
    assert granted["event.action"] == "access_granted"
    assert granted["action"] == "cluster:monitor/health"
    assert granted["origin.address"] == "198.51.100.4"
    assert success["request.id"] == granted["request.id"]


def test_a_missing_index_privilege_is_access_denied_naming_the_index(everything, node_services):
    trail, app = everything
    with client_of(app, ELASTIC) as es:
        put_role(es, "logs_reader", indices={"logs-*": ["read"]})
        put_user(es, "bob", roles=["logs_reader"])
    trail.collect(10**9)
    with client_of(app, ("bob", PASSWORD)) as bob_client:
        assert bob_client.post("/metrics-1/_search", json={}).status_code == 403
    denied = [e for e in events(trail) if e["event.action"] == "access_denied"]
    assert [(e["user.name"], e["indices"], e["action"]) for e in denied] == [
        ("bob", ["metrics-1"], "indices:data/read/search")
    ]
    bobs = [e["event.action"] for e in events(trail) if e.get("user.name") == "bob"]
    assert "access_granted" not in bobs


def test_wrong_and_missing_credentials_are_recorded(everything):
    trail, app = everything
    with client_of(app) as anonymous:
        anonymous.get("/", headers={"authorization": basic("elastic", SECRET)})
        anonymous.get("/_cluster/health")
    failed, anonymous_denied = events(trail)
    assert (failed["event.action"], failed["user.name"]) == ("authentication_failed", "elastic")
    assert anonymous_denied["event.action"] == "anonymous_access_denied"
    assert SECRET not in json.dumps(events(trail))


def test_a_failure_before_the_body_is_read_is_recorded(everything):
    trail, app = everything
    body = b"{" + b" " * (70 * 1024) + b"}"  # over the window: authenticated on the headers
    with client_of(app) as client:
        answer = client.post(
            "/logs-1/_doc",
            content=body,
            headers={"authorization": basic("elastic", SECRET), "content-type": "application/json"},
        )
    assert answer.status_code == 401
    assert actions(trail) == ["authentication_failed"]


def test_run_as_is_recorded_granted_or_denied(everything):
    trail, app = everything
    with client_of(app, ELASTIC) as es:
        put_user(es, "bob", roles=[])
        trail.collect(10**9)
        es.get("/_security/_authenticate", headers={"es-security-runas-user": "bob"})
    with client_of(app, ("bob", PASSWORD)) as bob_client:
        refused = bob_client.get("/", headers={"es-security-runas-user": "elastic"})
    assert refused.status_code == 403
    run_as = [e for e in events(trail) if e["event.action"].startswith("run_as")]
    assert [(e["event.action"], e["user.name"], e["user.run_as.name"]) for e in run_as] == [
        ("run_as_granted", "elastic", "bob"),
        ("run_as_denied", "bob", "elastic"),
    ]
    granted = [e for e in events(trail) if e["event.action"] == "access_granted"][-1]
    assert (granted["user.name"], granted["user.run_as.name"]) == ("elastic", "bob")


def test_the_node_metrics_show_pending_and_dropped_events(node_services, node_dir):
    from prometheus_client.parser import text_string_to_metric_families

    from citadel.node.metrics import METRICS_PATH, NodeMetrics
    from citadel.node.metrics import TOKEN_HEADER as METRICS_TOKEN_HEADER
    from citadel.node.security.audit import AuditCollector

    trail = AuditTrail(Settings(), capacity=2)
    for i in range(5):
        trail.access_granted(bob(), f"a{i}", request())
    router = build_router(node_services)
    metrics = NodeMetrics(node_services.engine, node_dir, TOKEN)
    metrics.instrument(router)
    metrics.registry.register(AuditCollector(trail))
    with client_of(NodeApp(router, node_services.realm, audit=trail)) as node:
        text = node.get(METRICS_PATH, headers={METRICS_TOKEN_HEADER: TOKEN}).text
    samples = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}
    assert samples["citadel_node_audit_events_pending"] == 2
    assert samples["citadel_node_audit_events_dropped_total"] == 3

"""A serverless project's node (``citadel node --project-type T``, issue 19, ADR 28).

Real `citadel node` processes over TLS (tests.node.process) for what the allocator relies on:
the serverless ``GET /``, ``admin`` as the reserved superuser from the password descriptor and
its reset at a restart, the type's templates installed once and kept across restarts, and the
official 8.x and 9.x clients against it (``info()``, a bulk into ``logs-generic-default`` that
makes a data stream). The project roles are checked on the node in process (the real store,
realm and ASGI app), one role and one privilege per test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from citadel.kit.clock import SettableClock
from citadel.node.main import assemble
from citadel.node.services import NodeServices
from citadel.node.store.connection import Store
from citadel.projects.roles import project_roles
from citadel.projects.types import ProjectType
from tests.node.builders import PASSWORD, app_of, client_of, put_user
from tests.node.official_clients import OfficialClient
from tests.node.process import RunningNode, Tls, make_tls, start_node

ADMIN_PASSWORD = "admin-test-password-1"
ADMIN = ("admin", ADMIN_PASSWORD)
DOC = {"@timestamp": "2026-12-07T05:00:00Z", "message": "user logged in", "host": {"name": "a"}}


# -- builders --------------------------------------------------------------------------------


def start_project_node(
    data_dir: Path,
    tls: Tls,
    project_type: str,
    *,
    password: str = ADMIN_PASSWORD,
    reset: bool = False,
) -> RunningNode:
    """`citadel node --project-type` over TLS on a port, `password` on the password fd."""
    extra = ["--project-type", project_type]
    if reset:
        extra.append("--reset-elastic-password")
    return start_node(data_dir, tls, elastic_password=password, extra_args=extra)


@contextmanager
def project_node(data_dir: Path, project_type: str | None) -> Iterator[NodeServices]:
    """A node in process for `project_type` (None: a deployment's), its superuser's password
    set; closed after (opening it again is a restart)."""
    store = Store.open(data_dir)
    services = assemble(
        store, data_dir, SettableClock(), "node-1", "project-1", project_type=project_type
    )
    try:
        services.realm.bootstrap_elastic(ADMIN_PASSWORD)  # type: ignore[attr-defined]
        yield services
    finally:
        services.engine.close()
        store.close()


@contextmanager
def signed_in(services: NodeServices, auth: tuple[str, str]) -> Iterator[TestClient]:
    with client_of(app_of(services), auth) as client:
        yield client


def user_with(es: TestClient, role: str) -> tuple[str, str]:
    """A native user holding the built-in `role` alone."""
    name = f"user-{role.replace('_', '-')}"
    put_user(es, name, roles=[role])
    return (name, PASSWORD)


def role_names(es: TestClient) -> set[str]:
    answer = es.get("/_security/role")
    assert answer.status_code == 200, answer.text
    return set(answer.json())


# -- a real node process -----------------------------------------------------------------------


@pytest.fixture
def tls(tmp_path: Path) -> Tls:
    return make_tls(tmp_path / "tls")


@pytest.fixture
def observability(tmp_path: Path, tls: Tls) -> Iterator[RunningNode]:
    node = start_project_node(tmp_path / "data", tls, "observability")
    yield node
    node.stop()


def test_get_root_answers_the_serverless_flavor_and_a_compatibility_version(
    observability: RunningNode,
) -> None:
    with observability.client(auth=ADMIN) as es:
        answer = es.get("/")
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-elastic-product"] == "Elasticsearch"
    version = answer.json()["version"]
    assert version["build_flavor"] == "serverless"
    assert version["number"] == "8.11.0"
    assert version["minimum_wire_compatibility_version"] == "8.11.0"


def test_the_reserved_superuser_is_admin_and_elastic_does_not_exist(
    observability: RunningNode,
) -> None:
    with observability.client(auth=ADMIN) as es:
        me = es.get("/_security/_authenticate").json()
    assert me["username"] == "admin"
    assert me["roles"] == ["superuser"]
    assert me["authentication_realm"] == {"name": "reserved", "type": "reserved"}
    assert me["metadata"] == {"_reserved": True}
    with observability.client(auth=("elastic", ADMIN_PASSWORD)) as es:
        assert es.get("/").status_code == 401


def test_admin_cannot_be_replaced_or_deleted_through_the_users_api(
    observability: RunningNode,
) -> None:
    with observability.client(auth=ADMIN) as es:
        replaced = es.put("/_security/user/admin", json={"password": "other-pw", "roles": []})
        deleted = es.delete("/_security/user/admin")
    assert replaced.status_code == 400
    assert "reserved" in replaced.json()["error"]["reason"]
    assert deleted.status_code == 400


def test_a_reset_at_restart_replaces_admins_password_and_a_plain_restart_keeps_it(
    tmp_path: Path, tls: Tls
) -> None:
    data = tmp_path / "data"
    start_project_node(data, tls, "elasticsearch").stop()
    kept = start_project_node(data, tls, "elasticsearch", password="ignored-without-reset")
    try:
        with kept.client(auth=ADMIN) as es:
            assert es.get("/").status_code == 200
    finally:
        kept.stop()
    reset = start_project_node(data, tls, "elasticsearch", password="the-new-password", reset=True)
    try:
        with reset.client(auth=ADMIN) as es:
            assert es.get("/").status_code == 401
        with reset.client(auth=("admin", "the-new-password")) as es:
            assert es.get("/").status_code == 200
    finally:
        reset.stop()


def test_templates_are_installed_once_kept_as_changed_and_restored_when_deleted(
    tmp_path: Path, tls: Tls
) -> None:
    data = tmp_path / "data"
    node = start_project_node(data, tls, "observability")
    try:
        with node.client(auth=ADMIN) as es:
            logs = es.get("/_index_template/logs").json()["index_templates"][0]["index_template"]
            logs["version"] = 7  # the customer's change
            assert es.put("/_index_template/logs", json=logs).status_code == 200
            assert es.delete("/_index_template/metrics").status_code == 200
            written = es.post("/logs-generic-default/_doc?refresh=true", json=DOC)
            assert written.status_code == 201, written.text
    finally:
        node.stop()
    node = start_project_node(data, tls, "observability")
    try:
        with node.client(auth=ADMIN) as es:
            found = es.get("/_index_template").json()["index_templates"]
            by_name = {t["name"]: t["index_template"] for t in found}
            assert set(by_name) == {"logs", "metrics", "traces"}
            assert by_name["logs"]["version"] == 7
            assert by_name["metrics"]["index_patterns"] == ["metrics-*-*"]
            assert es.get("/logs-generic-default/_count").json()["count"] == 1
    finally:
        node.stop()


SCENARIO = """
import importlib, json, sys
module, url, ca, password = sys.argv[1:5]
es_mod = importlib.import_module(module)
helpers = importlib.import_module(module + ".helpers")
es = es_mod.Elasticsearch(url, ca_certs=ca, basic_auth=("admin", password))
out = {"info": es.info()["version"]}
docs = [
    {"_op_type": "create", "_index": "logs-generic-default", "@timestamp": "2026-12-07T05:0%d" % i}
    for i in range(5)
]
ok, errors = helpers.bulk(es, docs, refresh=True, raise_on_error=False)
out["bulk_ok"], out["bulk_errors"] = ok, len(errors)
streams = es.indices.get_data_stream(name="logs-generic-default")["data_streams"]
out["stream"] = {"name": streams[0]["name"], "template": streams[0]["template"],
                 "indices": [i["index_name"] for i in streams[0]["indices"]]}
out["count"] = es.count(index="logs-generic-default")["count"]
print(json.dumps(out))
"""


def test_the_official_client_reads_info_and_a_bulk_makes_a_logs_data_stream(
    tmp_path: Path, tls: Tls, official_client: OfficialClient
) -> None:
    scenario = tmp_path / "serverless_scenario.py"
    scenario.write_text(SCENARIO)
    node = start_project_node(tmp_path / "data", tls, "observability")
    try:
        result = official_client.run(
            scenario, node.url, str(node.tls.ca), ADMIN_PASSWORD, timeout=300
        )
    finally:
        node.stop()
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout)
    assert seen["info"]["build_flavor"] == "serverless"
    assert seen["info"]["number"] == "8.11.0"
    assert (seen["bulk_ok"], seen["bulk_errors"]) == (5, 0)
    assert seen["stream"]["name"] == "logs-generic-default"
    assert seen["stream"]["template"] == "logs"
    assert seen["stream"]["indices"][0].startswith(".ds-logs-generic-default-")
    assert seen["count"] == 5


# -- content by type, in process -------------------------------------------------------------


def test_an_elasticsearch_project_has_no_data_stream_templates(tmp_path: Path) -> None:
    with project_node(tmp_path, "elasticsearch") as node, signed_in(node, ADMIN) as es:
        assert es.get("/_index_template").json()["index_templates"] == []


def test_a_security_project_has_its_alerts_index_behind_the_write_alias(tmp_path: Path) -> None:
    with project_node(tmp_path, "security") as node, signed_in(node, ADMIN) as es:
        aliases = es.get("/.alerts-security.alerts/_alias").json()
        assert aliases == {
            ".alerts-security.alerts-default": {
                "aliases": {".alerts-security.alerts": {"is_write_index": True, "is_hidden": True}}
            }
        }
        settings = es.get("/.alerts-security.alerts-default/_settings").json()
        assert settings[".alerts-security.alerts-default"]["settings"]["index"]["hidden"] == "true"
        alert = {"@timestamp": "2026-12-07T05:00:00Z", "kibana.alert.status": "active"}
        assert es.post("/.alerts-security.alerts/_doc", json=alert).status_code == 201
        templates = {t["name"] for t in es.get("/_index_template").json()["index_templates"]}
        assert templates == {"logs", "metrics", "traces"}


def test_a_restart_finds_everything_and_creates_nothing(tmp_path: Path) -> None:
    with project_node(tmp_path, "security") as node, signed_in(node, ADMIN) as es:
        alert = {"@timestamp": "2026-12-07T05:00:00Z", "kibana.alert.status": "active"}
        assert es.post("/.alerts-security.alerts/_doc?refresh=true", json=alert).status_code == 201
    with project_node(tmp_path, "security") as node, signed_in(node, ADMIN) as es:
        assert es.get("/.alerts-security.alerts/_count").json()["count"] == 1
        assert len(es.get("/_index_template").json()["index_templates"]) == 3


def test_a_customer_template_in_the_way_is_skipped_and_the_node_starts(tmp_path: Path) -> None:
    with project_node(tmp_path, "observability") as node, signed_in(node, ADMIN) as es:
        assert es.delete("/_index_template/logs").status_code == 200
        mine = {"index_patterns": ["logs-*"], "data_stream": {}, "priority": 100}
        assert es.put("/_index_template/my-logs", json=mine).status_code == 200
    with project_node(tmp_path, "observability") as node, signed_in(node, ADMIN) as es:
        names = {t["name"] for t in es.get("/_index_template").json()["index_templates"]}
        assert names == {"my-logs", "metrics", "traces"}
        assert es.get("/").json()["version"]["build_flavor"] == "serverless"


def test_a_deployments_node_is_unchanged(tmp_path: Path) -> None:
    with project_node(tmp_path, None) as node, signed_in(node, ("elastic", ADMIN_PASSWORD)) as es:
        assert es.get("/").json()["version"]["build_flavor"] == "default"
        assert es.get("/_index_template").json()["index_templates"] == []
        assert {"admin", "developer", "t1_analyst"}.isdisjoint(role_names(es))


# -- project roles, in process -------------------------------------------------------------------

SECURITY_ANALYSTS = {
    "t1_analyst",
    "t2_analyst",
    "t3_analyst",
    "threat_intelligence_analyst",
    "rule_author",
    "soc_manager",
    "endpoint_operations_analyst",
    "platform_engineer",
    "detections_admin",
    "endpoint_policy_manager",
}
ELASTICSEARCH_ROLES = {"superuser", "admin", "developer", "editor", "viewer"}


@pytest.mark.parametrize(
    ("project_type", "held", "absent"),
    [
        ("elasticsearch", {"admin", "developer", "viewer"}, SECURITY_ANALYSTS),
        ("observability", {"admin", "editor", "viewer"}, SECURITY_ANALYSTS | {"developer"}),
        ("security", {"admin", "editor", "viewer"} | SECURITY_ANALYSTS, {"developer"}),
    ],
)
def test_each_type_holds_its_project_roles_as_reserved_roles(
    tmp_path: Path, project_type: str, held: set[str], absent: set[str]
) -> None:
    with project_node(tmp_path, project_type) as node, signed_in(node, ADMIN) as es:
        roles = es.get("/_security/role").json()
    assert held <= set(roles)
    assert absent.isdisjoint(roles)
    assert all(roles[name]["metadata"] == {"_reserved": True} for name in held)


def test_a_project_role_cannot_be_replaced_or_deleted(tmp_path: Path) -> None:
    with project_node(tmp_path, "security") as node, signed_in(node, ADMIN) as es:
        replaced = es.put("/_security/role/t1_analyst", json={"cluster": ["all"]})
        deleted = es.delete("/_security/role/admin")
    assert replaced.status_code == 400
    assert deleted.status_code == 400


def test_the_admin_role_holds_every_privilege(tmp_path: Path) -> None:
    with project_node(tmp_path, "elasticsearch") as node, signed_in(node, ADMIN) as es:
        user = user_with(es, "admin")
        with signed_in(node, user) as as_admin:
            assert as_admin.put("/anything").status_code == 200
            assert as_admin.get("/_security/user").status_code == 200


def test_a_developer_creates_indices_and_api_keys_but_not_users(tmp_path: Path) -> None:
    with project_node(tmp_path, "elasticsearch") as node, signed_in(node, ADMIN) as es:
        user = user_with(es, "developer")
        with signed_in(node, user) as dev:
            assert dev.put("/products").status_code == 200
            assert dev.post("/products/_doc", json={"name": "x"}).status_code == 201
            assert dev.post("/_security/api_key", json={"name": "ci"}).status_code == 200
            assert dev.get("/_security/user").status_code == 403


def test_a_viewer_reads_and_cannot_write(tmp_path: Path) -> None:
    with project_node(tmp_path, "observability") as node, signed_in(node, ADMIN) as es:
        assert es.post("/logs-app-default/_doc?refresh=true", json=DOC).status_code == 201
        user = user_with(es, "viewer")
        with signed_in(node, user) as viewer:
            assert viewer.get("/logs-app-default/_count").json()["count"] == 1
            assert viewer.post("/logs-app-default/_doc", json=DOC).status_code == 403


def test_a_t1_analyst_triages_alerts_and_reads_logs_but_writes_no_logs(tmp_path: Path) -> None:
    with project_node(tmp_path, "security") as node, signed_in(node, ADMIN) as es:
        assert es.post("/logs-endpoint-default/_doc?refresh=true", json=DOC).status_code == 201
        user = user_with(es, "t1_analyst")
        with signed_in(node, user) as analyst:
            alert = {"@timestamp": "2026-12-07T05:00:00Z", "kibana.alert.status": "active"}
            assert analyst.post("/.alerts-security.alerts/_doc", json=alert).status_code == 201
            assert analyst.get("/logs-endpoint-default/_count").json()["count"] == 1
            assert analyst.post("/logs-endpoint-default/_doc", json=DOC).status_code == 403


def test_a_t3_analyst_writes_response_actions_and_a_t1_analyst_does_not(tmp_path: Path) -> None:
    action = {"@timestamp": "2026-12-07T05:00:00Z", "action": "isolate"}
    with project_node(tmp_path, "security") as node, signed_in(node, ADMIN) as es:
        assert es.put("/.logs-endpoint.actions-default").status_code == 200  # Fleet's, not theirs
        t3, t1 = user_with(es, "t3_analyst"), user_with(es, "t1_analyst")
        with signed_in(node, t3) as analyst:
            made = analyst.post("/.logs-endpoint.actions-default/_doc", json=action)
            assert made.status_code == 201, made.text
        with signed_in(node, t1) as analyst:
            refused = analyst.post("/.logs-endpoint.actions-default/_doc", json=action)
            assert refused.status_code == 403


def test_a_detections_admin_may_delete_the_alerts_index_and_a_rule_author_may_not(
    tmp_path: Path,
) -> None:
    with project_node(tmp_path, "security") as node, signed_in(node, ADMIN) as es:
        author, admin = user_with(es, "rule_author"), user_with(es, "detections_admin")
        with signed_in(node, author) as rule_author:
            assert rule_author.delete("/.alerts-security.alerts-default").status_code == 403
        with signed_in(node, admin) as detections_admin:
            assert detections_admin.delete("/.alerts-security.alerts-default").status_code == 200


@pytest.mark.parametrize("project_type", ["elasticsearch", "observability", "security"])
def test_the_roles_the_project_api_lists_are_the_project_roles_the_node_holds(
    tmp_path: Path, project_type: str
) -> None:
    listed = {name for name, _ in project_roles(ProjectType(project_type))}
    with project_node(tmp_path, project_type) as node, signed_in(node, ADMIN) as es:
        held = role_names(es) - {"superuser"}
    # `editor` and `viewer` are on every node; an Elasticsearch project lists no editor
    assert held - {"editor"} == listed - {"editor"}
    assert listed <= held

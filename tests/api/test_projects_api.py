"""The serverless project API: create (credentials once, endpoints, cloud_id, the instance it
runs as), read by scope, list filters, patch with If-Match, delete through `deleting` to
gone, reset credentials, resume, the phases the instance's observations give, all audited."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from citadel.app import create_app
from citadel.audit.models import AuditEvent
from citadel.contract.states import DesiredState, ObservedState
from citadel.deployments.models import PROJECT, Deployment
from citadel.deployments.service import data_key_context, password_context
from citadel.projects import service as projects
from citadel.projects.models import Project
from tests.fixtures.builders import (
    add_member,
    bearer,
    grant,
    key_headers,
    login,
    make_api_key,
    make_user,
)

URL = "/api/v1/serverless/projects"


def create(client, headers: dict[str, str], type: str = "elasticsearch", **body: Any):
    return client.post(
        f"{URL}/{type}", json={"name": "My search", "region_id": "local", **body}, headers=headers
    )


def made(client, headers: dict[str, str], type: str = "elasticsearch", **body: Any) -> dict:
    response = create(client, headers, type, **body)
    assert response.status_code == 201, response.text
    return response.json()


def instance(services, project_id: str) -> Deployment:
    with services.db.read() as session:
        found = session.get(Deployment, project_id)
        assert found is not None
        session.expunge(found)
        return found


def project_row(services, project_id: str) -> Project | None:
    with services.db.read() as session:
        found = session.get(Project, project_id)
        if found is not None:
            session.expunge(found)
        return found


def observe(services, project_id: str, state: ObservedState) -> None:
    with services.db.write() as session:
        ctx = services.context(session, services.system_caller())
        projects.observe(ctx, project_id, state)


def actions(services, project_id: str) -> list[str]:
    with services.db.read() as session:
        return list(
            session.scalars(
                sa.select(AuditEvent.action)
                .where(AuditEvent.target_id == project_id)
                .order_by(AuditEvent.seq)
            )
        )


def key_with(services, org: str, role: str, *ids: str) -> dict[str, str]:
    return key_headers(make_api_key(services, org, grant(org, role, *ids)))


# --- create ------------------------------------------------------------------------------------


def test_create_answers_201_with_credentials_endpoints_cloud_id_and_an_etag(
    client, services, owner_key
) -> None:
    response = create(client, owner_key)
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["ETag"] == '"1"'
    assert body["type"] == "elasticsearch"
    assert body["alias"] == f"my-search-{body['id'][:6]}"
    assert body["optimized_for"] == "general_purpose"
    assert body["credentials"]["username"] == "admin"
    assert len(body["credentials"]["password"]) >= 24
    domain, port = services.settings.deployment_domain, services.settings.gateway_port
    assert body["endpoints"] == {
        "elasticsearch": f"https://{body['alias']}.es.local.{domain}:{port}",
        "kibana": f"https://{body['alias']}.kb.local.{domain}:{port}",
    }
    name, _, encoded = body["cloud_id"].partition(":")
    assert name == "My search"
    decoded = base64.b64decode(encoded).decode()
    assert decoded == f"local.{domain}:{port}${body['alias']}.es${body['alias']}.kb"


def test_the_project_runs_as_an_instance_with_its_password_pending(
    client, services, owner_key
) -> None:
    body = made(client, owner_key, search_lake={"search_power": 400})
    row = instance(services, body["id"])
    assert (row.kind, row.version, row.desired_state) == (PROJECT, "serverless", "running")
    assert row.size == 2048  # 4 started hundreds of search power, 512 MiB each
    sealed = row.elastic_password_sealed
    assert sealed is not None
    opened = services.keyring.barrier.open(sealed, context=password_context(row.id))
    assert opened.decode() == body["credentials"]["password"]
    assert row.data_key_wrapped is not None
    services.platform_keys.unwrap(row.data_key_wrapped, context=data_key_context(row.id))


def test_the_deployments_api_does_not_show_the_instance(client, owner_key) -> None:
    body = made(client, owner_key)
    listed = client.get("/api/v1/deployments", headers=owner_key).json()
    assert body["id"] not in [d["id"] for d in listed["deployments"]]
    assert client.get(f"/api/v1/deployments/{body['id']}", headers=owner_key).status_code == 404


def test_each_type_gets_its_endpoints_and_default_settings(client, owner_key) -> None:
    obs = made(client, owner_key, "observability")
    assert set(obs["endpoints"]) == {"elasticsearch", "kibana", "apm", "ingest"}
    assert obs["product_tier"] == "complete"
    sec = made(client, owner_key, "security", name="Sec")
    assert set(sec["endpoints"]) == {"elasticsearch", "kibana", "ingest"}
    assert sec["admin_features_package"] == "standard"
    assert [p["product_line"] for p in sec["product_types"]] == ["security", "cloud", "endpoint"]
    assert sec["search_lake"]["data_retention"]["max_retention_days"] == 396


def test_settings_given_at_creation_are_stored_and_shown(client, owner_key) -> None:
    body = made(
        client,
        owner_key,
        "security",
        alias="soc",
        admin_features_package="enterprise",
        product_types=[{"product_line": "security", "product_tier": "essentials"}],
        search_lake={"data_retention": {"max_retention_days": 30, "default_retention_days": 7}},
        metadata={"tags": {"team": "blue"}},
    )
    shown = client.get(f"{URL}/security/{body['id']}", headers=owner_key).json()
    assert shown["alias"] == f"soc-{body['id'][:6]}"
    assert shown["admin_features_package"] == "enterprise"
    assert shown["product_types"] == [{"product_line": "security", "product_tier": "essentials"}]
    assert shown["search_lake"]["data_retention"] == {
        "max_retention_days": 30,
        "default_retention_days": 7,
    }
    assert shown["metadata"]["tags"] == {"team": "blue"}
    assert "credentials" not in shown


@pytest.mark.parametrize(
    ("type", "extra", "field"),
    [
        ("elasticsearch", {"bogus": 1}, "body.bogus"),
        ("elasticsearch", {"product_tier": "complete"}, "body.product_tier"),
        ("observability", {"optimized_for": "vector"}, "body.optimized_for"),
        ("elasticsearch", {"search_lake": {"search_power": 27}}, "body.search_lake.search_power"),
        ("elasticsearch", {"search_lake": {"boost_window": 181}}, "body.search_lake.boost_window"),
        ("elasticsearch", {"alias": "-bad"}, "body.alias"),
        ("elasticsearch", {"region_id": "mars"}, "body.region_id"),
        ("elasticsearch", {"metadata": {"tags": {"Bad": "x"}}}, "body.metadata.tags"),
        ("security", {"product_types": []}, "body.product_types"),
        ("linked", {}, "body.linked"),
    ],
)
def test_a_wrong_create_is_a_400_naming_the_field(
    client, owner_key, type: str, extra: dict, field: str
) -> None:
    if type == "linked":
        type, extra = "elasticsearch", {"linked": {"projects": {"a" * 32: {"type": "security"}}}}
    response = create(client, owner_key, type, **extra)
    assert response.status_code == 400, response.text
    assert field in response.json()["errors"][0]["fields"]


def test_an_alias_taken_in_the_region_is_a_409(client, owner_key, services) -> None:
    first = made(client, owner_key)
    second = made(client, owner_key, name="Second")
    clash = f"shop-{second['id'][:6]}"  # ids differ: make the first hold the second's alias
    with services.db.write() as session:
        session.execute(sa.update(Project).where(Project.id == first["id"]).values(alias=clash))
    url = f"{URL}/elasticsearch/{second['id']}"
    response = client.patch(url, json={"alias": "shop"}, headers=owner_key)
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "projects.alias_taken"


def test_creating_needs_admin_on_all_projects_of_the_type(client, services, org) -> None:
    scoped = key_with(services, org, "elasticsearch-admin", "a" * 32)
    assert create(client, scoped).status_code == 403
    viewer = key_with(services, org, "elasticsearch-viewer")
    assert create(client, viewer).status_code == 403
    admin = key_with(services, org, "elasticsearch-admin")
    assert create(client, admin).status_code == 201
    assert create(client, admin, "security").status_code == 403


# --- read ----------------------------------------------------------------------------------------


def test_a_project_outside_the_callers_scope_is_a_404(client, services, org, owner_key) -> None:
    one = made(client, owner_key)
    two = made(client, owner_key, name="Two")
    viewer = key_with(services, org, "elasticsearch-viewer", one["id"])
    assert client.get(f"{URL}/elasticsearch/{one['id']}", headers=viewer).status_code == 200
    hidden = client.get(f"{URL}/elasticsearch/{two['id']}", headers=viewer)
    assert hidden.status_code == 404
    assert hidden.json()["errors"][0]["code"] == "projects.not_found"
    listed = client.get(f"{URL}/elasticsearch", headers=viewer).json()["items"]
    assert [p["id"] for p in listed] == [one["id"]]


def test_a_project_of_another_type_is_a_404(client, owner_key) -> None:
    body = made(client, owner_key)
    assert client.get(f"{URL}/security/{body['id']}", headers=owner_key).status_code == 404
    assert client.get(f"{URL}/security", headers=owner_key).json()["items"] == []


def test_a_signed_in_member_with_a_project_role_reads_it(client, services, org, owner_key):
    body = made(client, owner_key)
    user = make_user(services)
    add_member(services, org, user, grant(org, "elasticsearch-viewer", body["id"]))
    headers = bearer(login(client, services, user))
    client.cookies.clear()
    response = client.get(f"{URL}/elasticsearch/{body['id']}", headers=headers)
    assert response.status_code == 200, response.text
    denied = client.patch(f"{URL}/elasticsearch/{body['id']}", json={"name": "x"}, headers=headers)
    assert denied.status_code == 403


def test_the_list_filters_by_tags_in_both_spellings(client, owner_key) -> None:
    blue = made(client, owner_key, metadata={"tags": {"team": "blue"}})
    made(client, owner_key, name="Red", metadata={"tags": {"team": "red"}})
    for name in ("tags[team]", "tag[team]"):
        listed = client.get(f"{URL}/elasticsearch", params={name: "blue"}, headers=owner_key)
        assert [p["id"] for p in listed.json()["items"]] == [blue["id"]]


def test_the_deprecated_paging_parameters_page_through_every_project_once(
    client, owner_key
) -> None:
    ids = [made(client, owner_key, name=f"Paged {i}")["id"] for i in range(3)]
    seen, token = [], None
    for _ in range(3):
        params = {"page_size": 2, **({"next_page": token} if token else {})}
        listed = client.get(f"{URL}/elasticsearch", params=params, headers=owner_key)
        assert listed.status_code == 200, listed.text
        seen += [p["id"] for p in listed.json()["items"]]
        token = listed.json().get("next_page")
        if token is None:
            break
    whole = client.get(f"{URL}/elasticsearch", headers=owner_key).json()
    assert seen == [p["id"] for p in whole["items"]]  # the same order, each once
    assert sorted(seen) == sorted(ids)
    assert "next_page" not in whole


def test_a_next_page_that_is_not_ours_is_refused_naming_it(client, owner_key) -> None:
    listed = client.get(f"{URL}/elasticsearch", params={"next_page": "x"}, headers=owner_key)
    assert listed.status_code == 400
    assert listed.json()["errors"][0]["fields"] == ["query.next_page"]


# --- patch -----------------------------------------------------------------------------------


def test_patch_changes_name_alias_tags_and_settings(client, services, owner_key) -> None:
    body = made(client, owner_key, metadata={"tags": {"team": "blue", "env": "dev"}})
    url = f"{URL}/elasticsearch/{body['id']}"
    before = instance(services, body["id"]).revision
    response = client.patch(
        url,
        json={
            "name": "Renamed",
            "alias": "renamed",
            "metadata": {"tags": {"env": None, "tier": "gold"}},
            "search_lake": {"search_power": 1000, "boost_window": 30},
        },
        headers={**owner_key, "If-Match": '"1"'},
    )
    assert response.status_code == 200, response.text
    shown = response.json()
    assert response.headers["ETag"] == '"2"'
    assert shown["name"] == "Renamed"
    assert shown["alias"] == f"renamed-{body['id'][:6]}"
    assert shown["metadata"]["tags"] == {"team": "blue", "tier": "gold"}
    assert shown["search_lake"] == {"search_power": 1000, "boost_window": 30}
    assert shown["endpoints"]["elasticsearch"].startswith(f"https://{shown['alias']}.es.")
    row = instance(services, body["id"])
    assert row.size == 5120
    assert row.revision > before  # the gateway's snapshot names the new alias
    assert "project.updated" in actions(services, body["id"])


def test_a_null_search_lake_value_restores_the_default(client, services, owner_key) -> None:
    body = made(client, owner_key, search_lake={"search_power": 1000, "boost_window": 9})
    url = f"{URL}/elasticsearch/{body['id']}"
    response = client.patch(url, json={"search_lake": {"search_power": None}}, headers=owner_key)
    assert response.json()["search_lake"] == {"boost_window": 9}
    assert instance(services, body["id"]).size == 512


def test_a_stale_if_match_is_a_412_and_changes_nothing(client, owner_key) -> None:
    body = made(client, owner_key)
    url = f"{URL}/elasticsearch/{body['id']}"
    assert client.patch(url, json={"name": "a"}, headers=owner_key).status_code == 200
    stale = client.patch(url, json={"name": "b"}, headers={**owner_key, "If-Match": '"1"'})
    assert stale.status_code == 412
    assert stale.json()["errors"][0]["code"] == "projects.etag_mismatch"
    assert client.get(url, headers=owner_key).json()["name"] == "a"
    for change in ("_resume", "_reset-credentials"):
        refused = client.post(f"{url}/{change}", headers={**owner_key, "If-Match": '"1"'})
        assert refused.status_code == 412
    assert client.delete(url, headers={**owner_key, "If-Match": '"1"'}).status_code == 412


def test_patch_refuses_fields_of_another_type_and_create_only_ones(client, owner_key) -> None:
    body = made(client, owner_key)
    url = f"{URL}/elasticsearch/{body['id']}"
    for field in ("optimized_for", "region_id", "product_tier"):
        response = client.patch(url, json={field: "complete"}, headers=owner_key)
        assert response.status_code == 400
        assert response.json()["errors"][0]["fields"] == [f"body.{field}"]


# --- delete, phases ------------------------------------------------------------------------


def test_delete_schedules_then_the_project_is_gone(client, services, owner_key) -> None:
    body = made(client, owner_key)
    url = f"{URL}/elasticsearch/{body['id']}"
    response = client.delete(url, headers=owner_key)
    assert response.status_code == 200
    assert response.content == b""
    assert "ETag" in response.headers
    assert client.get(f"{url}/status", headers=owner_key).json()["phase"] == "deleting"
    row = instance(services, body["id"])
    assert row.desired_state == DesiredState.DELETED
    assert row.data_key_wrapped is None  # crypto-shredded at once
    conflict = client.patch(url, json={"name": "x"}, headers=owner_key)
    assert conflict.status_code == 409
    assert conflict.json()["errors"][0]["code"] == "projects.wrong_phase"
    assert client.delete(url, headers=owner_key).status_code == 200  # again: the same
    observe(services, body["id"], ObservedState.DELETED)
    assert client.get(url, headers=owner_key).status_code == 404
    assert client.delete(url, headers=owner_key).status_code == 404
    assert project_row(services, body["id"]) is None
    assert instance(services, body["id"]).kind == PROJECT  # the instance row stays
    assert actions(services, body["id"])[:1] == ["project.created"]
    assert "project.deleted" in actions(services, body["id"])


def test_the_phase_follows_the_instance(client, services, owner_key) -> None:
    body = made(client, owner_key)
    url = f"{URL}/elasticsearch/{body['id']}/status"
    status = client.get(url, headers=owner_key).json()
    assert status["phase"] == "initializing"
    observe(services, body["id"], ObservedState.RUNNING)
    assert client.get(url, headers=owner_key).json()["phase"] == "initialized"
    observe(services, body["id"], ObservedState.LOCKED)
    assert client.get(url, headers=owner_key).json()["phase"] == "suspended"
    shown = client.get(f"{URL}/elasticsearch/{body['id']}", headers=owner_key).json()
    assert shown["metadata"]["suspended_reason"] == "encryption key unavailable"
    observe(services, body["id"], ObservedState.RUNNING)
    assert client.get(url, headers=owner_key).json()["phase"] == "initialized"
    shown = client.get(f"{URL}/elasticsearch/{body['id']}", headers=owner_key).json()
    assert "suspended_at" not in shown["metadata"]


# --- credentials, resume ---------------------------------------------------------------------


def test_reset_credentials_seals_a_new_pending_password(client, services, owner_key) -> None:
    body = made(client, owner_key)
    response = client.post(
        f"{URL}/elasticsearch/{body['id']}/_reset-credentials", headers=owner_key
    )
    assert response.status_code == 200
    fresh = response.json()
    assert fresh["username"] == "admin"
    assert fresh["password"] != body["credentials"]["password"]
    row = instance(services, body["id"])
    assert row.elastic_password_sealed is not None
    opened = services.keyring.barrier.open(
        row.elastic_password_sealed, context=password_context(row.id)
    )
    assert opened.decode() == fresh["password"]
    assert "project.credentials_reset" in actions(services, body["id"])


def test_resetting_credentials_needs_manage_security(client, services, org, owner_key) -> None:
    body = made(client, owner_key, "observability")
    editor = key_with(services, org, "observability-editor", body["id"])
    url = f"{URL}/observability/{body['id']}/_reset-credentials"
    assert client.post(url, headers=editor).status_code == 403


def test_resume_wakes_an_idle_stopped_project(client, services, owner_key) -> None:
    body = made(client, owner_key)
    with services.db.write() as session:
        session.execute(
            sa.update(Project).where(Project.id == body["id"]).values(idle_stopped=True)
        )
        session.execute(
            sa.update(Deployment).where(Deployment.id == body["id"]).values(desired_state="stopped")
        )
    response = client.post(f"{URL}/elasticsearch/{body['id']}/_resume", headers=owner_key)
    assert response.status_code == 200
    assert response.content == b""
    assert instance(services, body["id"]).desired_state == DesiredState.RUNNING
    row = project_row(services, body["id"])
    assert row is not None
    assert not row.idle_stopped
    assert "project.resumed" in actions(services, body["id"])


def test_resume_of_a_running_project_changes_nothing(client, services, owner_key) -> None:
    body = made(client, owner_key)
    response = client.post(f"{URL}/elasticsearch/{body['id']}/_resume", headers=owner_key)
    assert response.status_code == 200
    assert response.headers["ETag"] == '"1"'
    assert "project.resumed" not in actions(services, body["id"])


def test_resume_brings_a_suspended_project_back_through_initializing(
    client, services, owner_key
) -> None:
    body = made(client, owner_key)
    observe(services, body["id"], ObservedState.LOCKED)
    client.post(f"{URL}/elasticsearch/{body['id']}/_resume", headers=owner_key)
    status = client.get(f"{URL}/elasticsearch/{body['id']}/status", headers=owner_key).json()
    assert status["phase"] == "initializing"


# --- roles, regions ---------------------------------------------------------------------------


def test_roles_lists_the_types_roles_under_the_project_id(client, owner_key) -> None:
    body = made(client, owner_key, "security")
    response = client.get(f"{URL}/security/{body['id']}/roles", headers=owner_key)
    assert response.status_code == 200
    names = [r["name"] for r in response.json()[body["id"]]["roles"]]
    assert "admin" in names
    assert "t1_analyst" in names


def test_regions_are_the_platforms(client, services, owner_key) -> None:
    listed = client.get("/api/v1/serverless/regions", headers=owner_key).json()
    assert [r["id"] for r in listed] == list(services.settings.regions)
    assert listed[0]["csp"] == services.settings.serverless_csp
    assert listed[0]["project_creation_enabled"] is True
    one = client.get("/api/v1/serverless/regions/local", headers=owner_key)
    assert one.json()["csp_region"] == "local"
    missing = client.get("/api/v1/serverless/regions/mars", headers=owner_key)
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["code"] == "projects.region_not_found"


# --- traffic filters -----------------------------------------------------------------------------


def make_filter(client, headers: dict[str, str], *, by_default: bool = False) -> str:
    body = {
        "name": "office",
        "type": "ip",
        "region": "local",
        "include_by_default": by_default,
        "rules": [{"source": "127.0.0.1"}],
    }
    response = client.post("/api/v1/serverless/traffic-filters", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_traffic_filters_are_associated_listed_and_detached(client, owner_key) -> None:
    office = make_filter(client, owner_key)
    body = made(client, owner_key, traffic_filters=[{"id": office}])
    assert body["traffic_filters"] == [{"id": office}]
    made(client, owner_key, name="Unfiltered")
    listed = client.get(
        f"{URL}/elasticsearch", params={"traffic_filter": office}, headers=owner_key
    ).json()["items"]
    assert [p["id"] for p in listed] == [body["id"]]
    url = f"{URL}/elasticsearch/{body['id']}"
    detached = client.patch(url, json={"traffic_filters": []}, headers=owner_key)
    assert detached.status_code == 200, detached.text
    assert detached.json().get("traffic_filters", []) == []
    assert detached.headers["ETag"] == '"2"'


def test_an_unknown_traffic_filter_is_a_400_naming_it(client, owner_key) -> None:
    response = create(client, owner_key, traffic_filters=[{"id": "0" * 32}])
    assert response.status_code == 400
    assert response.json()["errors"][0]["fields"] == ["body.traffic_filters[0].id"]


def test_a_new_project_gets_the_regions_default_filters(client, owner_key) -> None:
    default = make_filter(client, owner_key, by_default=True)
    assert made(client, owner_key)["traffic_filters"] == [{"id": default}]
    named = made(client, owner_key, name="Chosen", traffic_filters=[])
    assert named.get("traffic_filters", []) == []


def test_a_deleted_projects_filters_are_detached(client, owner_key) -> None:
    office = make_filter(client, owner_key)
    body = made(client, owner_key, traffic_filters=[{"id": office}])
    client.delete(f"{URL}/elasticsearch/{body['id']}", headers=owner_key)
    gone = client.delete(f"/api/v1/serverless/traffic-filters/{office}", headers=owner_key)
    assert gone.status_code == 204, gone.text


@pytest.fixture
def from_caller(services) -> Iterator[TestClient]:
    """The API as seen from 198.51.100.7."""
    with TestClient(
        create_app(services), base_url="https://testserver", client=("198.51.100.7", 50000)
    ) as c:
        yield c


def test_a_filter_list_that_blocks_the_caller_needs_force(from_caller, services, owner_key):
    elsewhere = make_filter(from_caller, owner_key)  # allows 127.0.0.1 only
    body = made(from_caller, owner_key)
    url = f"{URL}/elasticsearch/{body['id']}"
    with services.db.write() as session:  # reported once: someone may have reached it
        session.execute(
            sa.update(Deployment)
            .where(Deployment.id == body["id"])
            .values(observed_state="running", observed_at=services.clock.now())
        )
    refused = from_caller.patch(
        url, json={"traffic_filters": [{"id": elsewhere}]}, headers=owner_key
    )
    assert refused.status_code == 409
    error = refused.json()["errors"][0]
    assert (error["code"], error["fields"]) == (
        "traffic_filter.would_block_caller",
        ["query.force"],
    )
    assert from_caller.get(url, headers=owner_key).json().get("traffic_filters", []) == []
    forced = from_caller.patch(
        url,
        params={"force": "true"},
        json={"traffic_filters": [{"id": elsewhere}]},
        headers=owner_key,
    )
    assert forced.status_code == 200
    assert forced.json()["traffic_filters"] == [{"id": elsewhere}]


def test_an_organization_holds_projects_up_to_the_deployment_quota_apart(services, org, owner_key):
    limited = dataclasses.replace(
        services.policies,
        quotas=dataclasses.replace(services.policies.quotas, deployments_per_organization=1),
    )
    app = create_app(dataclasses.replace(services, policies=limited))
    with TestClient(app, base_url="https://testserver") as api:
        assert (
            api.post("/api/v1/deployments", json={"name": "d"}, headers=owner_key).status_code
            == 201
        )
        first = made(api, owner_key)  # projects count apart from deployments
        refused = create(api, owner_key, name="Second")
        assert refused.status_code == 409
        assert refused.json()["errors"][0]["code"] == "quota.deployments_per_organization"
        api.delete(f"{URL}/elasticsearch/{first['id']}", headers=owner_key)
        assert create(api, owner_key, name="Third").status_code == 201  # a deleted one frees it

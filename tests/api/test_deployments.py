"""The deployments API: create (once, idempotent, validate-only), read by scope, change,
shut down, delete with crypto-shredding, reset the `elastic` password, all audited."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import sqlalchemy as sa

from citadel.audit.models import AuditEvent
from citadel.deployments.models import Deployment
from citadel.deployments.service import data_key_context, password_context
from tests.fixtures.builders import (
    add_member,
    bearer,
    grant,
    key_headers,
    login,
    make_api_key,
    make_deployment,
    make_org,
    make_user,
)

URL = "/api/v1/deployments"


def key_with(services, org: str, role: str, *ids: str) -> dict[str, str]:
    return key_headers(make_api_key(services, org, grant(org, role, *ids)))


def create(client, headers: dict[str, str], **body: Any):
    return client.post(URL, json={"name": "search", **body}, headers=headers)


def row(services, deployment_id: str) -> Deployment:
    with services.db.read() as session:
        found = session.get(Deployment, deployment_id)
        assert found is not None
        session.expunge(found)
        return found


def count(services) -> int:
    with services.db.read() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(Deployment))


def actions(services, deployment_id: str) -> list[str]:
    with services.db.read() as session:
        return list(
            session.scalars(
                sa.select(AuditEvent.action)
                .where(AuditEvent.target_id == deployment_id)
                .order_by(AuditEvent.seq)
            )
        )


def test_create_returns_the_elastic_password_once(client, services, owner_key):
    response = create(client, owner_key)

    assert response.status_code == 201
    resource = response.json()["resources"][0]
    assert resource["credentials"]["username"] == "elastic"
    password = resource["credentials"]["password"]
    assert len(password) >= 24
    shown = client.get(f"{URL}/{response.json()['id']}", headers=owner_key)
    assert password not in shown.text


def test_create_keeps_the_password_sealed_for_the_allocator(client, services, owner_key):
    body = create(client, owner_key).json()
    password = body["resources"][0]["credentials"]["password"]

    stored = row(services, body["id"]).elastic_password_sealed

    assert stored is not None
    assert password.encode() not in stored
    opened = services.keyring.barrier.open(stored, context=password_context(body["id"]))
    assert opened == password.encode()


def test_create_wraps_a_256_bit_data_key_with_the_platform_key(client, services, owner_key):
    dep = create(client, owner_key).json()["id"]

    stored = row(services, dep)

    assert stored.data_key_wrapped is not None
    key = services.platform_keys.unwrap(stored.data_key_wrapped, context=data_key_context(dep))
    assert len(key) == 32
    assert stored.key_path.startswith("file:")


def test_deployments_get_distinct_ids_and_sandbox_uids(client, services, owner_key):
    first = create(client, owner_key).json()["id"]
    second = create(client, owner_key).json()["id"]

    uids = {row(services, first).sandbox_uid, row(services, second).sandbox_uid}

    assert first != second
    assert len(first) == 32
    assert len(uids) == 2
    assert min(uids) >= 100_000


def test_same_request_id_answers_202_with_the_first_deployment(client, services, owner_key):
    query = {"request_id": "a" * 40}
    first = client.post(URL, json={"name": "once"}, headers=owner_key, params=query)

    again = client.post(URL, json={"name": "twice"}, headers=owner_key, params=query)

    assert first.status_code == 201
    assert again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["created"] is False
    assert "credentials" not in again.json()["resources"][0]
    assert count(services) == 1


def test_validate_only_creates_nothing(client, services, owner_key):
    response = client.post(
        URL, json={"name": "check"}, headers=owner_key, params={"validate_only": "true"}
    )

    assert response.status_code == 200
    assert count(services) == 0


def test_validate_only_still_refuses_an_invalid_request(client, services, owner_key):
    response = client.post(
        URL, json={"region": "mars"}, headers=owner_key, params={"validate_only": "true"}
    )

    assert response.status_code == 400


def test_an_unknown_traffic_filter_ruleset_undoes_the_create(client, services, owner_key):
    settings = {"traffic_filter_settings": {"rulesets": ["0" * 32]}}

    response = create(client, owner_key, settings=settings)

    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["code"] == "traffic_filter.not_found"
    assert error["fields"] == ["body.settings.traffic_filter_settings.rulesets[0]"]
    assert count(services) == 0


def test_an_empty_traffic_filter_list_is_accepted(client, services, owner_key):
    response = create(client, owner_key, settings={"traffic_filter_settings": {"rulesets": []}})

    assert response.status_code == 201


@pytest.mark.parametrize(
    ("role", "ids", "status"),
    [
        ("deployment-admin", (), 201),
        ("deployment-admin", ("d" * 32,), 403),
        ("deployment-editor", (), 403),
        ("deployment-viewer", (), 403),
        ("billing-admin", (), 403),
    ],
)
def test_only_owners_and_admins_of_all_deployments_create(client, services, org, role, ids, status):
    response = create(client, key_with(services, org, role, *ids))

    assert response.status_code == status


def test_scoped_viewer_lists_only_their_deployment(client, services, org):
    mine = make_deployment(services, org, name="mine")
    make_deployment(services, org, name="other")
    viewer = key_with(services, org, "deployment-viewer", mine)

    response = client.get(URL, headers=viewer)

    assert [d["id"] for d in response.json()["deployments"]] == [mine]


def test_scoped_viewer_gets_404_for_another_deployment_like_an_unknown_one(client, services, org):
    mine = make_deployment(services, org, name="mine")
    other = make_deployment(services, org, name="other")
    viewer = key_with(services, org, "deployment-viewer", mine)

    hidden = client.get(f"{URL}/{other}", headers=viewer)
    unknown = client.get(f"{URL}/{'0' * 32}", headers=viewer)

    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json() == unknown.json()
    assert hidden.json()["errors"][0]["code"] == "deployments.deployment_not_found"


def test_another_organizations_deployment_does_not_exist(client, services, org):
    dep = make_deployment(services, org)
    stranger = make_user(services)
    make_org(services, stranger, "Elsewhere")
    headers = bearer(login(client, services, stranger))
    client.cookies.clear()

    foreign = client.get(f"{URL}/{dep}", headers=headers)
    unknown = client.get(f"{URL}/{'0' * 32}", headers=headers)

    assert foreign.status_code == 404
    assert foreign.json() == unknown.json()


def test_get_shows_status_endpoints_and_cloud_id(client, services, owner_key):
    dep = create(client, owner_key, alias="my-search").json()["id"]

    body = client.get(f"{URL}/{dep}", headers=owner_key).json()

    info = body["resources"]["elasticsearch"][0]["info"]
    assert body["healthy"] is False
    assert info["status"] == "initializing"
    assert info["metadata"]["endpoint"] == f"{dep}.local.citadel.localhost"
    assert info["metadata"]["aliased_endpoint"] == "my-search.local.citadel.localhost"
    name, encoded = info["metadata"]["cloud_id"].split(":", 1)
    assert name == "search"
    assert base64.b64decode(encoded).decode().split("$")[:2] == [
        "local.citadel.localhost:9243",
        dep,
    ]


def test_put_changes_name_alias_and_tags(client, services, owner_key):
    dep = create(client, owner_key).json()["id"]
    body = {
        "prune_orphans": False,
        "name": "renamed",
        "alias": "renamed",
        "metadata": {"tags": [{"key": "team", "value": "search"}]},
    }

    response = client.put(f"{URL}/{dep}", json=body, headers=owner_key)

    assert response.status_code == 200
    shown = client.get(f"{URL}/{dep}", headers=owner_key).json()
    assert (shown["name"], shown["alias"]) == ("renamed", "renamed")
    assert shown["metadata"]["tags"] == [{"key": "team", "value": "search"}]


def test_an_alias_in_use_is_refused(client, services, owner_key):
    create(client, owner_key, alias="taken")

    response = create(client, owner_key, alias="taken")

    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "deployments.alias_already_in_use"


def test_delete_before_shutdown_is_refused(client, services, owner_key):
    dep = create(client, owner_key).json()["id"]

    response = client.delete(f"{URL}/{dep}", headers=owner_key)

    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "deployments.deployment_not_shutdown"
    assert row(services, dep).data_key_wrapped is not None


def test_shutdown_then_delete_shreds_the_data_key(client, services, owner_key):
    dep = create(client, owner_key).json()["id"]

    shut = client.post(f"{URL}/{dep}/_shutdown", headers=owner_key)
    deleted = client.delete(f"{URL}/{dep}", headers=owner_key)

    assert shut.status_code == deleted.status_code == 200
    stored = row(services, dep)
    assert stored.desired_state == "deleted"
    assert stored.data_key_wrapped is None
    assert stored.elastic_password_sealed is None
    assert client.get(f"{URL}/{dep}", headers=owner_key).status_code == 404
    assert client.get(URL, headers=owner_key).json()["deployments"] == []


def test_shutdown_asks_for_stopped(client, services, owner_key):
    dep = create(client, owner_key).json()["id"]

    client.post(f"{URL}/{dep}/_shutdown", headers=owner_key)

    assert row(services, dep).desired_state == "stopped"
    status = client.get(f"{URL}/{dep}", headers=owner_key).json()
    assert status["resources"]["elasticsearch"][0]["info"]["status"] == "stopping"


def test_reset_password_returns_a_new_pending_password(client, services, owner_key):
    dep = create(client, owner_key).json()["id"]

    response = client.post(
        f"{URL}/{dep}/elasticsearch/main-elasticsearch/_reset-password", headers=owner_key
    )

    assert response.status_code == 200
    password = response.json()["password"]
    sealed = row(services, dep).elastic_password_sealed
    assert services.keyring.barrier.open(sealed, context=password_context(dep)) == (
        password.encode()
    )


def test_reset_password_of_an_unknown_resource_is_404(client, services, owner_key):
    dep = create(client, owner_key).json()["id"]

    response = client.post(f"{URL}/{dep}/elasticsearch/nope/_reset-password", headers=owner_key)

    assert response.status_code == 404


def test_every_change_is_audited(client, services, owner_key):
    dep = create(client, owner_key).json()["id"]
    client.put(f"{URL}/{dep}", json={"prune_orphans": False, "name": "n2"}, headers=owner_key)
    client.post(f"{URL}/{dep}/elasticsearch/main-elasticsearch/_reset-password", headers=owner_key)
    client.post(f"{URL}/{dep}/_shutdown", headers=owner_key)
    client.delete(f"{URL}/{dep}", headers=owner_key)

    assert actions(services, dep) == [
        "deployment.created",
        "deployment.updated",
        "deployment.elastic_password_reset",
        "deployment.shutdown",
        "deployment.deleted",
    ]


def test_a_refused_create_is_audited_as_denied(client, services, org):
    create(client, key_with(services, org, "deployment-viewer"))

    with services.db.read() as session:
        denied = session.scalars(
            sa.select(AuditEvent.target_id).where(AuditEvent.action == "request.denied")
        ).all()
    assert "POST /api/v1/deployments" in denied


def test_member_with_a_role_elsewhere_sees_an_empty_list(client, services, org):
    make_deployment(services, org)
    user = make_user(services)
    add_member(services, org, user)
    headers = bearer(login(client, services, user))
    client.cookies.clear()

    response = client.get(URL, headers=headers)

    assert response.status_code == 200
    assert response.json() == {"deployments": []}

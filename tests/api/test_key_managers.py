"""An organization's key managers (ADR 11, ours): create, read, change and delete them; the
credential is sealed, never returned, never audited; a manager whose keys encrypt deployments
stays. None of these needs the key manager's server: settings are checked, not dialled."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from citadel.audit.models import AuditEvent
from citadel.deployments.models import Deployment
from citadel.key_managers.models import KeyManager
from citadel.key_managers.service import secret_context
from citadel.kit.ids import new_id
from tests.fixtures.builders import key_headers, make_api_key, make_deployment, make_org, make_user
from tests.fixtures.state import business_state

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
TOKEN = "hvs.the-customers-vault-token"
TRANSIT = {"name": "bao", "kind": "vault-transit", "settings": {"scheme": "http"}, "secret": TOKEN}


def base(org: str) -> str:
    return f"/api/v1/organizations/{org}/key-managers"


def create(client, org: str, headers: dict[str, str], **changes: Any):
    return client.post(base(org), json={**TRANSIT, **changes}, headers=headers)


def made(client, org: str, headers: dict[str, str], **changes: Any) -> dict[str, Any]:
    response = create(client, org, headers, **changes)
    assert response.status_code == 201, response.text
    return response.json()


def stored(services, manager_id: str) -> KeyManager:
    with services.db.read() as session:
        row = session.get(KeyManager, manager_id)
        assert row is not None
        session.expunge(row)
        return row


def error(response) -> dict[str, Any]:
    return response.json()["errors"][0]


def events(services, org: str, prefix: str = "key_manager.") -> list[AuditEvent]:
    with services.db.read() as session:
        rows = session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.organization_id == org, AuditEvent.action.startswith(prefix))
            .order_by(AuditEvent.seq)
        ).all()
        for row in rows:
            session.expunge(row)
        return list(rows)


# --- create and read -----------------------------------------------------------------------


def test_a_created_manager_shows_whether_it_has_a_secret_never_the_secret(client, org, owner_key):
    response = create(client, org, owner_key)

    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "bao"
    assert body["kind"] == "vault-transit"
    assert body["settings"] == {"scheme": "http"}
    assert body["has_secret"] is True
    assert set(body) == {"id", "name", "kind", "settings", "has_secret", "created", "updated"}
    assert TOKEN not in response.text


def test_get_and_list_never_carry_the_secret(client, org, owner_key):
    manager = made(client, org, owner_key)

    one = client.get(f"{base(org)}/{manager['id']}", headers=owner_key)
    listed = client.get(base(org), headers=owner_key)

    assert one.status_code == listed.status_code == 200
    assert one.json() == manager
    assert listed.json() == {"key_managers": [manager]}
    assert TOKEN not in one.text + listed.text


def test_the_stored_secret_is_sealed_not_the_plaintext(client, services, org, owner_key):
    manager = made(client, org, owner_key)

    row = stored(services, manager["id"])

    assert row.secret_sealed is not None
    assert TOKEN.encode() not in row.secret_sealed
    opened = services.keyring.barrier.open(row.secret_sealed, context=secret_context(row.id))
    assert opened == TOKEN.encode()


def test_an_aws_manager_needs_its_own_credentials_not_the_platforms(
    client, services, org, owner_key
):
    """Without them boto3 would fall back to the control plane's own AWS credentials."""
    before = business_state(services)
    settings = {"endpoint_url": "http://kms.invalid"}

    bare = client.post(
        base(org), json={"name": "kms", "kind": "aws-kms", "settings": settings}, headers=owner_key
    )
    keyless = client.post(
        base(org),
        json={"name": "kms", "kind": "aws-kms", "settings": settings, "secret": "SK"},
        headers=owner_key,
    )

    assert bare.status_code == keyless.status_code == 400
    assert error(bare)["fields"] == error(keyless)["fields"] == ["body.settings.access_key_id"]
    assert business_state(services) == before


def test_managers_are_listed_in_creation_order(client, clock, org, owner_key):
    first = made(client, org, owner_key, name="first")
    clock.advance(seconds=1)
    second = made(client, org, owner_key, name="second")

    listed = client.get(base(org), headers=owner_key).json()["key_managers"]

    assert [m["id"] for m in listed] == [first["id"], second["id"]]


def test_each_kind_is_accepted_with_its_settings(client, org, owner_key):
    bodies = [
        {"kind": "pkcs11", "settings": {"module": SOFTHSM_MODULE}, "secret": "1234"},
        {"kind": "pkcs11", "settings": {}, "secret": "1234"},
        {"kind": "vault-transit", "settings": {"scheme": "https", "mount": "kv"}, "secret": "t"},
        {"kind": "kmip", "settings": {"ca_pem": "CA", "cert_pem": "CERT"}, "secret": "KEY"},
        {"kind": "aws-kms", "settings": {"access_key_id": "AK"}, "secret": "SK"},
    ]
    for n, body in enumerate(bodies):
        response = client.post(base(org), json={"name": f"m{n}", **body}, headers=owner_key)
        assert response.status_code == 201, (body, response.text)


# --- update ------------------------------------------------------------------------------


def test_an_update_replaces_the_settings_and_the_secret(client, services, org, owner_key):
    manager = made(client, org, owner_key)
    before = stored(services, manager["id"]).secret_sealed

    response = client.put(
        f"{base(org)}/{manager['id']}",
        json={"settings": {"scheme": "https", "mount": "keys"}, "secret": "hvs.new-token"},
        headers=owner_key,
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["settings"] == {"scheme": "https", "mount": "keys"}
    assert body["has_secret"] is True
    assert "hvs.new-token" not in response.text
    row = stored(services, manager["id"])
    assert row.secret_sealed != before
    opened = services.keyring.barrier.open(row.secret_sealed, context=secret_context(row.id))
    assert opened == b"hvs.new-token"


def test_an_update_without_settings_or_secret_keeps_them(client, services, org, owner_key):
    manager = made(client, org, owner_key)
    sealed = stored(services, manager["id"]).secret_sealed

    response = client.put(
        f"{base(org)}/{manager['id']}", json={"name": "renamed"}, headers=owner_key
    )

    assert response.status_code == 200
    assert response.json()["name"] == "renamed"
    assert response.json()["settings"] == {"scheme": "http"}
    assert stored(services, manager["id"]).secret_sealed == sealed


def test_an_update_is_checked_like_a_create(client, services, org, owner_key):
    manager = made(client, org, owner_key)
    before = business_state(services)

    response = client.put(
        f"{base(org)}/{manager['id']}", json={"settings": {"scheme": "ftp"}}, headers=owner_key
    )

    assert response.status_code == 400
    assert error(response)["code"] == "key_managers.invalid_request"
    assert error(response)["fields"] == ["body.settings.scheme"]
    assert business_state(services) == before


def test_the_kind_cannot_be_changed(client, org, owner_key):
    manager = made(client, org, owner_key)

    response = client.put(f"{base(org)}/{manager['id']}", json={"kind": "kmip"}, headers=owner_key)

    assert response.status_code == 400


# --- names ---------------------------------------------------------------------------------


def test_a_name_is_unique_within_the_organization(client, services, org, owner_key):
    made(client, org, owner_key)
    before = business_state(services)

    response = create(client, org, owner_key)

    assert response.status_code == 409
    assert error(response)["code"] == "key_managers.name_in_use"
    assert error(response)["fields"] == ["body.name"]
    assert business_state(services) == before


def test_renaming_onto_another_managers_name_is_refused(client, org, owner_key):
    made(client, org, owner_key, name="one")
    other = made(client, org, owner_key, name="two")

    response = client.put(f"{base(org)}/{other['id']}", json={"name": "one"}, headers=owner_key)

    assert response.status_code == 409
    assert error(response)["code"] == "key_managers.name_in_use"


def test_another_organization_may_use_the_same_name(client, services, org, owner_key):
    made(client, org, owner_key)
    other = make_org(services, make_user(services), "Other")

    response = create(client, other, key_headers(make_api_key(services, other)))

    assert response.status_code == 201


# --- validation, naming the field ------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (
            {"kind": "vault-transit", "settings": {"scheme": "http", "url": "x"}, "secret": "t"},
            ["body.settings.url"],
        ),
        (
            {"kind": "pkcs11", "settings": {"module": SOFTHSM_MODULE, "slot": "0"}, "secret": "1"},
            ["body.settings.slot"],
        ),
        (
            {"kind": "aws-kms", "settings": {"region": "eu-west-1"}},
            ["body.settings.region"],
        ),
        ({"kind": "aws-kms", "settings": {"access_key_id": "AK"}}, ["body.secret"]),
        (
            {"kind": "kmip", "settings": {}, "secret": "KEY"},
            ["body.settings.ca_pem", "body.settings.cert_pem"],
        ),
        (
            {"kind": "kmip", "settings": {"ca_pem": "CA"}, "secret": "KEY"},
            ["body.settings.cert_pem"],
        ),
        (
            {"kind": "kmip", "settings": {"cert_pem": "C"}, "secret": "KEY"},
            ["body.settings.ca_pem"],
        ),
        ({"kind": "kmip", "settings": {"ca_pem": "CA", "cert_pem": "C"}}, ["body.secret"]),
        ({"kind": "pkcs11", "settings": {"module": SOFTHSM_MODULE}}, ["body.secret"]),
        ({"kind": "vault-transit", "settings": {}}, ["body.secret"]),
        (
            {"kind": "pkcs11", "settings": {"module": "/tmp/evil.so"}, "secret": "1234"},
            ["body.settings.module"],
        ),
        (
            {"kind": "vault-transit", "settings": {"scheme": "ftp"}, "secret": "t"},
            ["body.settings.scheme"],
        ),
    ],
)
def test_invalid_settings_are_refused_naming_the_field(
    client, services, org, owner_key, body, fields
):
    before = business_state(services)

    response = client.post(base(org), json={"name": "m", **body}, headers=owner_key)

    assert response.status_code == 400, response.text
    assert error(response)["code"] == "key_managers.invalid_request"
    assert error(response)["fields"] == fields
    assert business_state(services) == before


def test_only_the_modules_the_operator_allows_are_named(client, org, owner_key):
    body = {"name": "m", "kind": "pkcs11", "settings": {"module": "/tmp/evil.so"}, "secret": "1"}

    response = client.post(base(org), json=body, headers=owner_key)

    assert "CITADEL_PKCS11_MODULES" in error(response)["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**TRANSIT, "kind": "file"}, "body.kind"),
        ({**TRANSIT, "name": ""}, "body.name"),
        ({**TRANSIT, "secret": ""}, "body.secret"),
        ({**TRANSIT, "settings": {"scheme": 1}}, "body.settings.scheme"),
        ({**TRANSIT, "extra": True}, "body.extra"),
    ],
)
def test_a_malformed_body_is_refused(client, org, owner_key, body, field):
    response = client.post(base(org), json=body, headers=owner_key)

    assert response.status_code == 400
    assert field in error(response).get("fields", [])


# --- delete --------------------------------------------------------------------------------


def test_a_manager_no_deployment_uses_is_deleted(client, services, org, owner_key):
    manager = made(client, org, owner_key)

    response = client.delete(f"{base(org)}/{manager['id']}", headers=owner_key)

    assert response.status_code == 200
    assert response.json() == {}
    assert client.get(f"{base(org)}/{manager['id']}", headers=owner_key).status_code == 404
    with services.db.read() as session:
        assert session.get(KeyManager, manager["id"]) is None


def use(services, deployment_id: str, manager_id: str) -> None:
    """Mark the deployment as encrypted under one of the manager's keys (the BYOK tests create
    such deployments through real key managers; here only the bookkeeping matters)."""
    with services.db.write() as session:
        row = session.get(Deployment, deployment_id)
        row.key_manager_id = manager_id
        row.key_path = "vault-transit://127.0.0.1:1/kek"


def test_a_manager_whose_keys_encrypt_a_deployment_is_not_deleted(client, services, org, owner_key):
    manager = made(client, org, owner_key)
    use(services, make_deployment(services, org), manager["id"])
    before = business_state(services)

    response = client.delete(f"{base(org)}/{manager['id']}", headers=owner_key)

    assert response.status_code == 409
    assert error(response)["code"] == "key_managers.in_use"
    assert business_state(services) == before


def test_a_shut_down_deployment_still_holds_its_manager(client, services, org, owner_key):
    manager = made(client, org, owner_key)
    use(services, make_deployment(services, org, stopped=True), manager["id"])

    response = client.delete(f"{base(org)}/{manager['id']}", headers=owner_key)

    assert response.status_code == 409


def test_once_the_deployment_is_deleted_the_manager_may_go(client, services, org, owner_key):
    manager = made(client, org, owner_key)
    dep = make_deployment(services, org, stopped=True)
    use(services, dep, manager["id"])
    assert client.delete(f"/api/v1/deployments/{dep}", headers=owner_key).status_code == 200

    response = client.delete(f"{base(org)}/{manager['id']}", headers=owner_key)

    assert response.status_code == 200


def test_a_credential_change_reaches_the_allocator_with_a_new_revision(
    client, services, org, owner_key
):
    manager = made(client, org, owner_key)
    dep = make_deployment(services, org)
    use(services, dep, manager["id"])
    with services.db.read() as session:
        revision = session.get(Deployment, dep).revision

    client.put(f"{base(org)}/{manager['id']}", json={"secret": "rotated"}, headers=owner_key)

    with services.db.read() as session:
        assert session.get(Deployment, dep).revision > revision


# --- not found -------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_an_unknown_manager_is_not_found(client, org, owner_key, method):
    body = {"name": "x"} if method == "PUT" else None

    response = client.request(method, f"{base(org)}/{new_id()}", json=body, headers=owner_key)

    assert response.status_code == 404
    assert error(response)["code"] == "key_managers.not_found"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_another_organizations_manager_answers_like_a_nonexistent_one(
    client, services, org, owner_key, method
):
    theirs = make_org(services, make_user(services), "Theirs")
    foreign = made(client, theirs, key_headers(make_api_key(services, theirs)))
    body = {"secret": "stolen"} if method == "PUT" else None
    unknown = new_id()
    before = business_state(services)

    through_ours = client.request(
        method, f"{base(org)}/{foreign['id']}", json=body, headers=owner_key
    )
    missing = client.request(method, f"{base(org)}/{unknown}", json=body, headers=owner_key)
    through_theirs = client.request(
        method, f"{base(theirs)}/{foreign['id']}", json=body, headers=owner_key
    )
    missing_org = client.request(
        method, f"{base(new_id())}/{foreign['id']}", json=body, headers=owner_key
    )

    assert through_ours.status_code == missing.status_code == 404
    assert through_ours.json() == missing.json()
    assert through_theirs.status_code == missing_org.status_code == 404
    assert through_theirs.json() == missing_org.json()
    assert business_state(services) == before


def test_a_malformed_manager_id_is_not_found(client, org, owner_key):
    response = client.get(f"{base(org)}/not-an-id", headers=owner_key)

    assert response.status_code == 404
    assert error(response)["code"] == "key_managers.not_found"


# --- audit -------------------------------------------------------------------------------


def test_create_update_and_delete_are_audited_without_the_secret(client, services, org, owner_key):
    manager = made(client, org, owner_key)
    client.put(
        f"{base(org)}/{manager['id']}",
        json={"name": "renamed", "secret": "hvs.second-token"},
        headers=owner_key,
    )
    client.delete(f"{base(org)}/{manager['id']}", headers=owner_key)

    audited = events(services, org)

    assert [e.action for e in audited] == [
        "key_manager.created",
        "key_manager.updated",
        "key_manager.deleted",
    ]
    assert all(e.target_type == "key_manager" and e.target_id == manager["id"] for e in audited)
    assert all(e.outcome == "success" for e in audited)
    created, updated, deleted = (e.details for e in audited)
    assert created == {"name": "bao", "kind": "vault-transit", "settings": ["scheme"]}
    assert updated == {"changed": ["name", "secret"]}
    assert deleted == {"name": "renamed"}
    text = repr([e.details for e in audited])
    assert TOKEN not in text
    assert "hvs.second-token" not in text


def test_the_audit_log_route_shows_the_events_without_the_secret(client, org, owner_key):
    made(client, org, owner_key)

    response = client.get(
        f"/api/v1/organizations/{org}/audit-events",
        params={"action": "key_manager.created"},
        headers=owner_key,
    )

    assert [e["action"] for e in response.json()["events"]] == ["key_manager.created"]
    assert TOKEN not in response.text

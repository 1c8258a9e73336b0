"""Deployments under customer-managed keys (ADR 11) against real key managers: SoftHSM2
through the PKCS#11 module, an OpenBao transit engine, a PyKMIP server over mutual TLS, and
moto's KMS (the happy path only: moto does not enforce key state).

Creating checks the key before anything is stored; rotating and re-keying re-wrap the one data
key, which never changes; the allocator's side (internal API) gets the manager's connection,
re-wraps on a rotation it noticed, and reports a deployment locked when its key goes dark.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from citadel.audit.models import AuditEvent
from citadel.contract.messages import ComponentKind
from citadel.crypto.providers.base import KeyProvider, ProviderError
from citadel.crypto.providers.connection import Connection
from citadel.crypto.providers.registry import open_provider
from citadel.deployments.models import Deployment
from citadel.deployments.service import data_key_context
from citadel.key_managers import service as key_managers
from citadel.kit.ids import new_id
from tests.fixtures.builders import (
    grant,
    key_headers,
    make_api_key,
    make_deployment,
    make_org,
    make_user,
)
from tests.fixtures.internal import as_component
from tests.fixtures.key_servers import USER_PIN, Bao, SoftHsm
from tests.fixtures.key_servers import bao as _bao  # noqa: F401
from tests.fixtures.key_servers import label as _label  # noqa: F401
from tests.fixtures.key_servers import softhsm as _softhsm  # noqa: F401
from tests.fixtures.state import business_state
from tests.providers.dead_servers import silent_port as _silent_port  # noqa: F401
from tests.providers.kmip_server import KmipServer, issue, make_ca
from tests.providers.kmip_server import kmip_server as _kmip_server  # noqa: F401
from tests.providers.moto_server import ACCESS_KEY_ID, SECRET_KEY, MotoKms
from tests.providers.moto_server import moto_kms as _moto_kms  # noqa: F401

CREATE_FIELD = "body.settings.byok.key_resource_path"
REKEY_FIELD = "body.key_resource_path"


# --- the organization and its key managers ------------------------------------------------


@pytest.fixture
def internal(services) -> Iterator[TestClient]:
    """The allocator's view of the internal API."""
    with as_component(services, ComponentKind.ALLOCATOR) as c:
        yield c


@pytest.fixture
def gateway(services) -> Iterator[TestClient]:
    """The gateway's view of the internal API (the routes)."""
    with as_component(services, ComponentKind.GATEWAY) as c:
        yield c


@pytest.fixture
def name() -> str:
    """A transit key name no other test uses."""
    return f"kek-{uuid.uuid4().hex[:12]}"


def add_manager(client, org: str, headers: dict[str, str], body: dict[str, Any]) -> str:
    body = {"name": f"m-{uuid.uuid4().hex[:8]}", **body}
    response = client.post(f"/api/v1/organizations/{org}/key-managers", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def hsm_manager(softhsm: SoftHsm, pin: str = USER_PIN) -> dict[str, Any]:
    return {"kind": "pkcs11", "settings": {"module": softhsm.module}, "secret": pin}


def bao_manager(bao: Bao, token: str | None = None) -> dict[str, Any]:
    return {
        "kind": "vault-transit",
        "settings": {"scheme": "http"},
        "secret": token or bao.root_token,
    }


def kmip_manager(kmip: KmipServer) -> dict[str, Any]:
    return {
        "kind": "kmip",
        "settings": {
            "ca_pem": kmip.ca.cert_pem.decode(),
            "cert_pem": kmip.client.cert_pem.decode(),
        },
        "secret": kmip.client.key_pem.decode(),
    }


def kms_manager(kms: MotoKms) -> dict[str, Any]:
    return {
        "kind": "aws-kms",
        "settings": {"endpoint_url": kms.endpoint_url, "access_key_id": ACCESS_KEY_ID},
        "secret": SECRET_KEY.decode(),
    }


@dataclass
class CustomerKey:
    """A key made at a real key manager: its path, the manager's body, a provider to check."""

    key_path: str
    manager: dict[str, Any]
    connection: Connection

    def provider(self) -> KeyProvider:
        return open_provider(self.key_path, self.connection)


def hsm_key(softhsm: SoftHsm, label: str) -> CustomerKey:
    softhsm.add_aes_key(label)
    return CustomerKey(softhsm.key_path(label), hsm_manager(softhsm), softhsm.connection())


def bao_key(bao: Bao, name: str) -> CustomerKey:
    bao.add_key(name)
    return CustomerKey(bao.key_path(name), bao_manager(bao), bao.connection())


def kmip_key(kmip: KmipServer) -> CustomerKey:
    return CustomerKey(kmip.key_path(kmip.create_aes_key()), kmip_manager(kmip), kmip.connection())


def kms_key(kms: MotoKms) -> CustomerKey:
    return CustomerKey(kms.create_key(), kms_manager(kms), kms.connection())


KEYS: dict[str, Callable[[pytest.FixtureRequest], CustomerKey]] = {
    "pkcs11": lambda r: hsm_key(r.getfixturevalue("softhsm"), r.getfixturevalue("label")),
    "vault-transit": lambda r: bao_key(r.getfixturevalue("bao"), r.getfixturevalue("name")),
    "kmip": lambda r: kmip_key(r.getfixturevalue("kmip_server")),
    "aws-kms": lambda r: kms_key(r.getfixturevalue("moto_kms")),
}


# --- requests and what they left -----------------------------------------------------------


def create(client, headers: dict[str, str], key_path: str, manager_id: str | None = None):
    byok: dict[str, Any] = {"key_resource_path": key_path}
    if manager_id is not None:
        byok["key_manager_id"] = manager_id
    body = {"name": "secure", "settings": {"byok": byok}}
    return client.post("/api/v1/deployments", json=body, headers=headers)


def created(client, headers: dict[str, str], key_path: str, manager_id: str | None = None) -> str:
    response = create(client, headers, key_path, manager_id)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def rotate(client, headers: dict[str, str], dep: str):
    return client.post(f"/api/v1/deployments/{dep}/encryption/_rotate", headers=headers)


def rekey(client, headers: dict[str, str], dep: str, key_path: str | None, **extra: Any):
    body = {"key_resource_path": key_path, **extra}
    return client.post(f"/api/v1/deployments/{dep}/encryption/_rekey", json=body, headers=headers)


def row_of(services, dep: str) -> Deployment:
    with services.db.read() as session:
        row = session.get(Deployment, dep)
        assert row is not None
        session.expunge(row)
        return row


def deployments_of(services, org: str) -> int:
    with services.db.read() as session:
        query = sa.select(sa.func.count()).where(Deployment.organization_id == org)
        return session.scalar(query.select_from(Deployment))


def audited(services, org: str, *actions: str) -> list[AuditEvent]:
    with services.db.read() as session:
        rows = session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.organization_id == org, AuditEvent.action.in_(actions))
            .order_by(AuditEvent.seq)
        ).all()
        for row in rows:
            session.expunge(row)
        return list(rows)


def error(response) -> dict[str, Any]:
    return response.json()["errors"][0]


def data_key(provider: KeyProvider, services, dep: str) -> bytes:
    return provider.unwrap(row_of(services, dep).data_key_wrapped, context=data_key_context(dep))


def shown(client, headers: dict[str, str], dep: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/deployments/{dep}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


# --- creating under a customer key -----------------------------------------------------------


@pytest.mark.parametrize("kind", list(KEYS))
def test_a_deployment_is_created_under_the_customers_key(
    request, client, services, org, owner_key, kind
):
    key = KEYS[kind](request)
    manager = add_manager(client, org, owner_key, key.manager)

    response = create(client, owner_key, key.key_path)

    assert response.status_code == 201, response.text
    dep = response.json()["id"]
    body = shown(client, owner_key, dep)
    assert body["metadata"]["byok_enabled"] is True
    assert body["settings"]["byok"] == {
        "key_resource_path": key.key_path,
        "key_manager_id": manager,
    }
    row = row_of(services, dep)
    assert row.key_manager_id == manager
    assert row.key_path == key.key_path
    assert len(data_key(key.provider(), services, dep)) == 32
    with pytest.raises(ProviderError):
        data_key(services.platform_keys, services, dep)


def test_a_platform_key_deployment_is_not_byok(client, services, org, owner_key):
    dep = make_deployment(services, org)

    body = shown(client, owner_key, dep)

    assert body["metadata"]["byok_enabled"] is False
    assert "byok" not in body["settings"]


def test_the_manager_is_chosen_by_id_when_there_are_several_of_a_kind(
    client, services, org, owner_key, bao, name
):
    key = bao_key(bao, name)
    add_manager(client, org, owner_key, bao_manager(bao, token="not-this-one"))
    chosen = add_manager(client, org, owner_key, key.manager)

    dep = created(client, owner_key, key.key_path, chosen)

    assert row_of(services, dep).key_manager_id == chosen


# --- refused before anything is created -----------------------------------------------------


def refused(client, services, org, headers, key_path, manager_id=None, *, status=400):
    before = business_state(services)
    response = create(client, headers, key_path, manager_id)
    assert response.status_code == status, response.text
    assert deployments_of(services, org) == 0
    assert business_state(services) == before
    return error(response)


@pytest.fixture
def every_kind(client, org, owner_key, softhsm) -> None:
    """One manager of each kind (settings only: malformed paths never reach a server)."""
    ca = make_ca("some-ca")
    client_id = issue(ca, "client", server=False)
    add_manager(client, org, owner_key, hsm_manager(softhsm))
    add_manager(client, org, owner_key, {**bao_manager(Bao(1, "t"))})
    add_manager(
        client,
        org,
        owner_key,
        {
            "kind": "kmip",
            "settings": {"ca_pem": ca.cert_pem.decode(), "cert_pem": client_id.cert_pem.decode()},
            "secret": client_id.key_pem.decode(),
        },
    )
    aws = {"kind": "aws-kms", "settings": {"access_key_id": "AK"}, "secret": "SK"}
    add_manager(client, org, owner_key, aws)


@pytest.mark.parametrize(
    "key_path",
    [
        "gopher://keys.example/kek",
        "pkcs11:token=citadel-a",
        "pkcs11:object=kek;type=private",
        "vault-transit://127.0.0.1:8200/",
        "vault-transit://127.0.0.1:notaport/kek",
        "kmip://127.0.0.1:5696/",
        "arn:aws:kms:eu-west-1:123456789012:bucket/kek",
        "arn:aws:kms:eu-west-1",
    ],
)
def test_a_malformed_key_path_is_refused(client, services, org, owner_key, every_kind, key_path):
    problem = refused(client, services, org, owner_key, key_path)

    assert problem["code"] == "deployments.invalid_key_path"
    assert problem["fields"] == [CREATE_FIELD]


def test_a_key_file_is_the_platforms_not_a_customers(client, services, org, owner_key, every_kind):
    problem = refused(client, services, org, owner_key, "file:/etc/passwd")

    assert problem["code"] == "deployments.invalid_key_path"
    assert problem["fields"] == [CREATE_FIELD]
    assert "file:" in problem["message"]


@pytest.mark.parametrize("query", ["pin-source=file:/etc/shadow", "pin-value=4321"])
def test_a_pin_in_a_pkcs11_path_is_refused(client, services, org, owner_key, softhsm, label, query):
    softhsm.add_aes_key(label)
    add_manager(client, org, owner_key, hsm_manager(softhsm))

    problem = refused(client, services, org, owner_key, f"{softhsm.key_path(label)}?{query}")

    assert problem["code"] == "deployments.invalid_key_path"
    assert problem["fields"] == [CREATE_FIELD]


def unusable(problem: dict[str, Any], reason: str) -> None:
    assert problem["code"] == "deployments.key_unusable"
    assert problem["fields"] == [CREATE_FIELD]
    assert reason in problem["message"]


def test_an_unknown_hsm_key_is_refused(client, services, org, owner_key, softhsm, label):
    add_manager(client, org, owner_key, hsm_manager(softhsm))

    unusable(refused(client, services, org, owner_key, softhsm.key_path(label)), "unknown_key")


def test_an_unknown_transit_key_is_refused(client, services, org, owner_key, bao, name):
    add_manager(client, org, owner_key, bao_manager(bao))

    unusable(refused(client, services, org, owner_key, bao.key_path(name)), "unknown_key")


def test_an_unknown_kmip_key_is_refused(client, services, org, owner_key, kmip_server):
    add_manager(client, org, owner_key, kmip_manager(kmip_server))
    path = kmip_server.key_path("999999")

    unusable(refused(client, services, org, owner_key, path), "unknown_key")


def test_a_disabled_hsm_key_is_refused(client, services, org, owner_key, softhsm, label):
    softhsm.add_aes_key(label, encrypt=False, decrypt=False)
    add_manager(client, org, owner_key, hsm_manager(softhsm))

    unusable(refused(client, services, org, owner_key, softhsm.key_path(label)), "disabled")


def revoke(kmip: KmipServer, key_path: str) -> None:
    from kmip import enums

    with kmip.admin() as admin:
        admin.revoke(enums.RevocationReasonCode.CESSATION_OF_OPERATION, key_path.rsplit("/", 1)[1])


def test_a_revoked_kmip_key_is_refused(client, services, org, owner_key, kmip_server):
    key = kmip_key(kmip_server)
    revoke(kmip_server, key.key_path)
    add_manager(client, org, owner_key, key.manager)

    unusable(refused(client, services, org, owner_key, key.key_path), "disabled")


def test_a_wrong_pin_is_access_denied(client, services, org, owner_key, softhsm, label):
    softhsm.add_aes_key(label)
    add_manager(client, org, owner_key, hsm_manager(softhsm, pin="0000"))

    unusable(refused(client, services, org, owner_key, softhsm.key_path(label)), "access_denied")


def test_a_token_without_permission_is_access_denied(client, services, org, owner_key, bao, name):
    bao.add_key(name)
    token = bao.token_with(name, {"keys/someone-else": ["read"]})
    add_manager(client, org, owner_key, bao_manager(bao, token=token))

    unusable(refused(client, services, org, owner_key, bao.key_path(name)), "access_denied")


def test_a_signing_key_is_the_wrong_key_type(client, services, org, owner_key, bao, name):
    bao.add_key(name, key_type="ed25519")
    add_manager(client, org, owner_key, bao_manager(bao))

    unusable(refused(client, services, org, owner_key, bao.key_path(name)), "wrong_key_type")


def test_a_generic_secret_on_the_hsm_is_the_wrong_key_type(
    client, services, org, owner_key, softhsm, label
):
    from pkcs11 import KeyType

    with softhsm.session() as s:
        s.generate_key(KeyType.GENERIC_SECRET, 256, label=label, id=b"\x01", store=True)
    add_manager(client, org, owner_key, hsm_manager(softhsm))

    unusable(refused(client, services, org, owner_key, softhsm.key_path(label)), "wrong_key_type")


def test_without_a_manager_of_the_kind_nothing_is_created(
    client, services, org, owner_key, bao, softhsm, label
):
    add_manager(client, org, owner_key, bao_manager(bao))

    problem = refused(client, services, org, owner_key, softhsm.key_path(label))

    assert problem["code"] == "key_managers.invalid_request"
    assert problem["fields"] == [CREATE_FIELD]
    assert "pkcs11" in problem["message"]


def test_two_managers_of_a_kind_need_the_id(client, services, org, owner_key, bao, name):
    key = bao_key(bao, name)
    add_manager(client, org, owner_key, key.manager)
    add_manager(client, org, owner_key, key.manager)

    problem = refused(client, services, org, owner_key, key.key_path)

    assert problem["code"] == "key_managers.invalid_request"
    assert problem["fields"] == ["body.settings.byok.key_manager_id"]


def test_another_organizations_manager_cannot_be_named(client, services, org, owner_key, bao, name):
    key = bao_key(bao, name)
    add_manager(client, org, owner_key, key.manager)
    theirs = make_org(services, make_user(services), "Theirs")
    foreign = add_manager(client, theirs, key_headers(make_api_key(services, theirs)), key.manager)

    problem = refused(client, services, org, owner_key, key.key_path, foreign)

    assert problem["code"] == "key_managers.invalid_request"
    assert problem["fields"] == ["body.settings.byok.key_manager_id"]


def test_a_manager_that_never_answers_is_unreachable_and_nothing_is_created(
    client, services, org, owner_key, silent_port, monkeypatch
):
    monkeypatch.setattr(key_managers, "TIMEOUT_S", 0.5)
    add_manager(client, org, owner_key, bao_manager(Bao(silent_port, "t")))
    path = f"vault-transit://127.0.0.1:{silent_port}/kek"

    problem = refused(client, services, org, owner_key, path, status=503)

    assert problem["code"] == "deployments.key_manager_unreachable"


# --- rotation ------------------------------------------------------------------------------


def test_rotate_rewraps_under_the_new_transit_version(client, services, org, owner_key, bao, name):
    key = bao_key(bao, name)
    add_manager(client, org, owner_key, key.manager)
    dep = created(client, owner_key, key.key_path)
    provider = key.provider()
    before = data_key(provider, services, dep)
    bao.client().secrets.transit.rotate_key(name)

    response = rotate(client, owner_key, dep)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "key_resource_path": key.key_path,
        "previous_version": "1",
        "version": "2",
    }
    assert provider.version_of(row_of(services, dep).data_key_wrapped) == "2"
    assert data_key(provider, services, dep) == before
    (event,) = audited(services, org, "deployment.key_rotated")
    assert event.target_id == dep
    assert event.details["from_version"] == "1"
    assert event.details["to_version"] == "2"


def test_rotate_rewraps_under_the_hsm_object_with_the_higher_id(
    client, services, org, owner_key, softhsm, label
):
    key = hsm_key(softhsm, label)
    add_manager(client, org, owner_key, key.manager)
    dep = created(client, owner_key, key.key_path)
    provider = key.provider()
    before = data_key(provider, services, dep)
    softhsm.add_aes_key(label, key_id=b"\x02")

    response = rotate(client, owner_key, dep)

    assert response.status_code == 200, response.text
    assert (response.json()["previous_version"], response.json()["version"]) == ("01", "02")
    assert provider.version_of(row_of(services, dep).data_key_wrapped) == "02"
    assert data_key(provider, services, dep) == before


def test_rotate_without_a_new_version_changes_nothing(client, services, org, owner_key, bao, name):
    key = bao_key(bao, name)
    add_manager(client, org, owner_key, key.manager)
    dep = created(client, owner_key, key.key_path)
    wrapped = row_of(services, dep).data_key_wrapped

    response = rotate(client, owner_key, dep)

    assert response.status_code == 200
    assert response.json()["previous_version"] == response.json()["version"] == "1"
    assert row_of(services, dep).data_key_wrapped == wrapped
    assert audited(services, org, "deployment.key_rotated") == []


def test_the_allocator_asks_for_a_rewrap_after_a_rotation(
    client, internal, services, org, owner_key, bao, name
):
    key = bao_key(bao, name)
    add_manager(client, org, owner_key, key.manager)
    dep = created(client, owner_key, key.key_path)
    before = data_key(key.provider(), services, dep)
    bao.client().secrets.transit.rotate_key(name)

    response = internal.post(f"/internal/v1/deployments/{dep}/encryption/_rewrap")

    assert response.status_code == 200, response.text
    assert response.json()["version"] == "2"
    assert key.provider().version_of(row_of(services, dep).data_key_wrapped) == "2"
    assert data_key(key.provider(), services, dep) == before
    assert len(audited(services, org, "deployment.key_rotated")) == 1


def test_a_rewrap_of_an_unknown_deployment_is_not_found(internal):
    response = internal.post(f"/internal/v1/deployments/{new_id()}/encryption/_rewrap")

    assert response.status_code == 404
    assert error(response)["code"] == "deployments.deployment_not_found"


# --- re-keying -------------------------------------------------------------------------------


def test_rekey_moves_through_every_provider_and_back_with_the_same_data_key(
    client, services, org, owner_key, softhsm, label, bao, name, kmip_server
):
    hsm, transit, kmip = hsm_key(softhsm, label), bao_key(bao, name), kmip_key(kmip_server)
    managers = {
        k.key_path: add_manager(client, org, owner_key, k.manager) for k in (hsm, transit, kmip)
    }
    dep = created(client, owner_key, hsm.key_path)
    original = data_key(hsm.provider(), services, dep)

    for key in (transit, kmip):
        response = rekey(client, owner_key, dep, key.key_path)
        assert response.status_code == 200, response.text
        assert response.json() == {
            "id": dep,
            "key_resource_path": key.key_path,
            "byok_enabled": True,
        }
        assert data_key(key.provider(), services, dep) == original
        body = shown(client, owner_key, dep)
        assert body["metadata"]["byok_enabled"] is True
        assert body["settings"]["byok"]["key_manager_id"] == managers[key.key_path]

    response = rekey(client, owner_key, dep, None)

    assert response.status_code == 200, response.text
    assert response.json()["byok_enabled"] is False
    assert response.json()["key_resource_path"].startswith("file:")
    assert data_key(services.platform_keys, services, dep) == original
    body = shown(client, owner_key, dep)
    assert body["metadata"]["byok_enabled"] is False
    assert "byok" not in body["settings"]
    assert row_of(services, dep).key_manager_id is None
    events = audited(services, org, "deployment.rekeyed")
    assert [(e.details["from"], e.details["to"]) for e in events] == [
        (hsm.key_path, transit.key_path),
        (transit.key_path, kmip.key_path),
        (kmip.key_path, response.json()["key_resource_path"]),
    ]
    assert [e.details["byok"] for e in events] == [True, True, False]


def test_a_platform_deployment_may_move_to_a_customer_key(
    client, services, org, owner_key, bao, name
):
    dep = make_deployment(services, org)
    original = data_key(services.platform_keys, services, dep)
    key = bao_key(bao, name)
    manager = add_manager(client, org, owner_key, key.manager)

    response = rekey(client, owner_key, dep, key.key_path)

    assert response.status_code == 200, response.text
    assert data_key(key.provider(), services, dep) == original
    assert row_of(services, dep).key_manager_id == manager


def test_after_rekeying_away_the_old_manager_may_be_deleted(
    client, services, org, owner_key, softhsm, label, bao, name
):
    hsm, transit = hsm_key(softhsm, label), bao_key(bao, name)
    old = add_manager(client, org, owner_key, hsm.manager)
    add_manager(client, org, owner_key, transit.manager)
    dep = created(client, owner_key, hsm.key_path)
    managers = f"/api/v1/organizations/{org}/key-managers"
    assert client.delete(f"{managers}/{old}", headers=owner_key).status_code == 409

    assert rekey(client, owner_key, dep, transit.key_path).status_code == 200

    assert client.delete(f"{managers}/{old}", headers=owner_key).status_code == 200


def test_rekey_to_a_disabled_key_changes_nothing(
    client, services, org, owner_key, bao, name, softhsm, label
):
    transit = bao_key(bao, name)
    add_manager(client, org, owner_key, transit.manager)
    softhsm.add_aes_key(label, encrypt=False, decrypt=False)
    add_manager(client, org, owner_key, hsm_manager(softhsm))
    dep = created(client, owner_key, transit.key_path)
    before = business_state(services)

    response = rekey(client, owner_key, dep, softhsm.key_path(label))

    assert response.status_code == 400
    assert error(response)["code"] == "deployments.key_unusable"
    assert error(response)["fields"] == [REKEY_FIELD]
    assert "disabled" in error(response)["message"]
    assert business_state(services) == before
    assert audited(services, org, "deployment.rekeyed") == []


def test_rekey_to_a_malformed_path_names_the_field(client, services, org, owner_key, bao, name):
    key = bao_key(bao, name)
    add_manager(client, org, owner_key, key.manager)
    dep = created(client, owner_key, key.key_path)

    response = rekey(client, owner_key, dep, "file:/etc/passwd")

    assert response.status_code == 400
    assert error(response)["code"] == "deployments.invalid_key_path"
    assert error(response)["fields"] == [REKEY_FIELD]


def test_rekey_with_two_managers_of_a_kind_needs_the_id(
    client, services, org, owner_key, bao, name
):
    key = bao_key(bao, name)
    first = add_manager(client, org, owner_key, key.manager)
    add_manager(client, org, owner_key, key.manager)
    dep = make_deployment(services, org)

    without = rekey(client, owner_key, dep, key.key_path)
    named = rekey(client, owner_key, dep, key.key_path, key_manager_id=first)

    assert without.status_code == 400
    assert error(without)["fields"] == ["body.key_manager_id"]
    assert named.status_code == 200, named.text


# --- who may rotate and re-key -----------------------------------------------------------------


@pytest.fixture
def byok_deployment(client, services, org, owner_key, bao, name) -> tuple[str, CustomerKey]:
    key = bao_key(bao, name)
    add_manager(client, org, owner_key, key.manager)
    return created(client, owner_key, key.key_path), key


@pytest.mark.parametrize("role", ["deployment-editor", "deployment-viewer"])
@pytest.mark.parametrize("operation", ["rotate", "rekey"])
def test_rotating_and_rekeying_need_the_security_permission(
    client, services, org, byok_deployment, role, operation
):
    dep, _ = byok_deployment
    headers = key_headers(make_api_key(services, org, grant(org, role)))
    before = business_state(services)

    if operation == "rotate":
        response = rotate(client, headers, dep)
    else:
        response = rekey(client, headers, dep, None)

    assert response.status_code == 403
    assert business_state(services) == before


@pytest.mark.parametrize("operation", ["rotate", "rekey"])
def test_a_deployment_admin_may_rotate_and_rekey(client, services, org, byok_deployment, operation):
    dep, _ = byok_deployment
    headers = key_headers(make_api_key(services, org, grant(org, "deployment-admin", dep)))

    if operation == "rotate":
        response = rotate(client, headers, dep)
    else:
        response = rekey(client, headers, dep, None)

    assert response.status_code == 200, response.text


@pytest.mark.parametrize("operation", ["rotate", "rekey"])
def test_another_organizations_deployment_answers_like_an_unknown_one(
    client, services, byok_deployment, operation
):
    dep, _ = byok_deployment
    theirs = make_org(services, make_user(services), "Theirs")
    headers = key_headers(make_api_key(services, theirs))
    unknown = new_id()
    before = business_state(services)

    if operation == "rotate":
        foreign, missing = rotate(client, headers, dep), rotate(client, headers, unknown)
    else:
        foreign, missing = rekey(client, headers, dep, None), rekey(client, headers, unknown, None)

    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["errors"][0]["code"] == "deployments.deployment_not_found"
    assert foreign.text.replace(dep, "<id>") == missing.text.replace(unknown, "<id>")
    assert business_state(services) == before


# --- the allocator's view ----------------------------------------------------------------------


def test_allocations_carry_the_managers_connection_for_byok_deployments_only(
    internal, services, org, byok_deployment, bao
):
    dep, key = byok_deployment
    platform = make_deployment(services, org)

    items = {d["id"]: d for d in internal.get("/internal/v1/allocations").json()["deployments"]}

    connection = items[dep]["key_connection"]
    assert connection["settings"] == {"scheme": "http"}
    assert base64.b64decode(connection["secret"]) == bao.root_token.encode()
    assert connection["timeout_s"] > 0
    assert items[dep]["key_path"] == key.key_path
    wrapped = base64.b64decode(items[dep]["wrapped_data_key"])
    assert len(key.provider().unwrap(wrapped, context=data_key_context(dep))) == 32
    assert items[platform]["key_connection"] is None


def report(internal: TestClient, dep: str, state: str, detail: str = ""):
    body = {"observed_state": state, "healthy": state == "running", "detail": detail}
    response = internal.post(f"/internal/v1/deployments/{dep}/status", json=body)
    assert response.status_code == 200, response.text


def test_a_locked_deployment_shows_why_and_unlocks(
    client, internal, gateway, services, org, owner_key, byok_deployment
):
    dep, key = byok_deployment
    report(internal, dep, "running")
    reason = "the key cannot be used (disabled): transit key disabled"

    report(internal, dep, "locked", reason)

    info = shown(client, owner_key, dep)["resources"]["elasticsearch"][0]["info"]
    assert info["status"] == "locked"
    assert info["locked"] == {"reason": reason}
    (route,) = [
        d for d in gateway.get("/internal/v1/routes").json()["deployments"] if d["id"] == dep
    ]
    assert route["state"] == "locked"
    assert route["detail"] == reason
    (locked,) = audited(services, org, "deployment.locked")
    assert locked.target_id == dep
    assert locked.details == {"reason": reason, "key_path": key.key_path}

    report(internal, dep, "running")

    info = shown(client, owner_key, dep)["resources"]["elasticsearch"][0]["info"]
    assert info["status"] == "started"
    assert "locked" not in info
    (route,) = [
        d for d in gateway.get("/internal/v1/routes").json()["deployments"] if d["id"] == dep
    ]
    assert route["state"] == "running"
    assert route["detail"] == ""
    actions = [e.action for e in audited(services, org, "deployment.locked", "deployment.unlocked")]
    assert actions == ["deployment.locked", "deployment.unlocked"]


def test_a_manager_changed_to_unreadable_settings_makes_rotate_a_400_not_a_500(
    client, services, org, owner_key, kmip_server
):
    key = kmip_key(kmip_server)
    manager = add_manager(client, org, owner_key, key.manager)
    dep = created(client, owner_key, key.key_path)
    broken = {"settings": {"ca_pem": "not a certificate", "cert_pem": "nor this"}}
    url = f"/api/v1/organizations/{org}/key-managers/{manager}"
    assert client.put(url, json=broken, headers=owner_key).status_code == 200
    before = business_state(services)

    rotated = rotate(client, owner_key, dep)
    rekeyed = rekey(client, owner_key, dep, None)

    assert rotated.status_code == rekeyed.status_code == 400
    assert error(rotated)["code"] == error(rekeyed)["code"] == "deployments.key_unusable"
    assert business_state(services) == before

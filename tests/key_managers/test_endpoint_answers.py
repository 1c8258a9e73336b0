"""What an organization is told when its key manager is somewhere it may not be, or cannot be
reached: a fixed set of answers that reveal nothing of the target (issue 17.4, ADR 19).

`strict_client` runs the default settings (loopback and private addresses refused);
`client` runs the test settings, which list loopback, where the real key servers are.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from citadel.audit.models import AuditEvent
from citadel.crypto.providers.base import Reason
from citadel.deployments.models import Deployment
from citadel.key_managers.errors import KeyManagerUnreachable
from citadel.key_managers.service import UNUSABLE
from tests.fixtures.key_servers import Bao
from tests.fixtures.key_servers import bao as _bao  # noqa: F401
from tests.fixtures.key_servers import nonsense_http as _nonsense_http  # noqa: F401
from tests.providers.dead_servers import HangingService
from tests.providers.dead_servers import babbling_port as _babbling_port  # noqa: F401
from tests.providers.dead_servers import closed_port as _closed_port  # noqa: F401
from tests.providers.dead_servers import hanging_service as _hanging_service  # noqa: F401
from tests.providers.dead_servers import silent_port as _silent_port  # noqa: F401
from tests.providers.kmip_server import KmipServer
from tests.providers.kmip_server import kmip_server as _kmip_server  # noqa: F401
from tests.providers.moto_server import ACCESS_KEY_ID, ACCOUNT, REGION, SECRET_KEY, MotoKms
from tests.providers.moto_server import moto_kms as _moto_kms  # noqa: F401

NOT_ALLOWED = "key_managers.endpoint_not_allowed"
KEY_PATH_FIELD = "body.settings.byok.key_resource_path"


def managers_url(org: str) -> str:
    return f"/api/v1/organizations/{org}/key-managers"


def add_manager(client, org: str, headers: dict[str, str], body: dict[str, Any]) -> str:
    body = {"name": f"m-{uuid.uuid4().hex[:8]}", **body}
    response = client.post(managers_url(org), json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def vault_manager(token: str = "token", scheme: str = "http") -> dict[str, Any]:
    return {"kind": "vault-transit", "settings": {"scheme": scheme}, "secret": token}


def kmip_manager(kmip: KmipServer) -> dict[str, Any]:
    return {
        "kind": "kmip",
        "settings": {
            "ca_pem": kmip.ca.cert_pem.decode(),
            "cert_pem": kmip.client.cert_pem.decode(),
        },
        "secret": kmip.client.key_pem.decode(),
    }


def kms_manager(endpoint_url: str) -> dict[str, Any]:
    return {
        "kind": "aws-kms",
        "settings": {"endpoint_url": endpoint_url, "access_key_id": ACCESS_KEY_ID},
        "secret": SECRET_KEY.decode(),
    }


def create(client, headers: dict[str, str], key_path: str):
    body = {"name": "secure", "settings": {"byok": {"key_resource_path": key_path}}}
    return client.post("/api/v1/deployments", json=body, headers=headers)


def error(response) -> dict[str, Any]:
    return response.json()["errors"][0]


def deployments_of(services, org: str) -> int:
    with services.db.read() as session:
        query = sa.select(sa.func.count()).where(Deployment.organization_id == org)
        return session.scalar(query.select_from(Deployment))


def failures(services, org: str) -> list[dict[str, Any]]:
    with services.db.read() as session:
        rows = session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.organization_id == org, AuditEvent.action == "request.failed")
            .order_by(AuditEvent.seq)
        ).all()
        return [dict(row.details or {}) for row in rows]


# -- refused by default --------------------------------------------------------------------


@pytest.mark.parametrize(
    "endpoint_url",
    [
        "http://127.0.0.1:4566",
        "http://[::1]:4566",
        "http://169.254.169.254",
        "https://10.0.0.5",
        "https://192.168.1.20:8443",
        "http://localhost:4566",
    ],
)
def test_an_aws_endpoint_at_a_non_public_address_is_refused_naming_the_field_and_audited(
    strict_client, services, org, owner_key, endpoint_url: str
) -> None:
    response = strict_client.post(
        managers_url(org), json={"name": "kms", **kms_manager(endpoint_url)}, headers=owner_key
    )

    assert response.status_code == 400, response.text
    assert error(response)["code"] == NOT_ALLOWED
    assert error(response)["fields"] == ["body.settings.endpoint_url"]
    assert {"code": NOT_ALLOWED, "status": 400}.items() <= failures(services, org)[-1].items()


def test_an_update_to_a_loopback_endpoint_is_refused(strict_client, org, owner_key) -> None:
    manager = add_manager(strict_client, org, owner_key, kms_manager("https://kms.example.com"))
    settings = {"endpoint_url": "http://127.0.0.1:4566", "access_key_id": ACCESS_KEY_ID}

    response = strict_client.put(
        f"{managers_url(org)}/{manager}", json={"settings": settings}, headers=owner_key
    )

    assert response.status_code == 400, response.text
    assert error(response)["code"] == NOT_ALLOWED


@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]", "10.1.2.3", "169.254.169.254", "localhost"])
def test_a_key_path_at_a_non_public_address_is_refused_and_never_reached(
    strict_client, services, org, owner_key, hanging_service: HangingService, host: str
) -> None:
    add_manager(strict_client, org, owner_key, vault_manager())

    response = create(
        strict_client, owner_key, f"vault-transit://{host}:{hanging_service.port}/kek"
    )

    assert response.status_code == 400, response.text
    assert error(response)["code"] == NOT_ALLOWED
    assert error(response)["fields"] == [KEY_PATH_FIELD]
    assert not hanging_service.reached.is_set()
    assert deployments_of(services, org) == 0
    assert failures(services, org)[-1]["code"] == NOT_ALLOWED


def test_a_listed_loopback_is_allowed(client, strict_client, org, owner_key, bao: Bao) -> None:
    name = f"kek-{uuid.uuid4().hex[:12]}"
    bao.add_key(name)
    add_manager(client, org, owner_key, vault_manager(bao.root_token))

    refused = create(strict_client, owner_key, bao.key_path(name))
    allowed = create(client, owner_key, bao.key_path(name))

    assert error(refused)["code"] == NOT_ALLOWED
    assert allowed.status_code == 201, allowed.text


# -- one answer however the key manager is unreachable ---------------------------------------


def test_closed_silent_and_non_tls_ports_answer_alike(
    client, org, owner_key, kmip_server: KmipServer, closed_port, silent_port, babbling_port
) -> None:
    """No port-state oracle: refused, filtered (never answers) and open-but-not-KMIP are one
    answer, on an address the operator allows."""
    add_manager(client, org, owner_key, kmip_manager(kmip_server))
    answers = [
        create(client, owner_key, f"kmip://127.0.0.1:{port}/1")
        for port in (closed_port, silent_port, babbling_port)
    ]

    assert {a.status_code for a in answers} == {503}
    assert all(a.json() == answers[0].json() for a in answers)
    assert error(answers[0])["message"] == KeyManagerUnreachable.default_message


def test_https_to_a_closed_port_and_to_a_plain_http_server_answer_alike(
    client, org, owner_key, bao: Bao, closed_port, babbling_port
) -> None:
    add_manager(client, org, owner_key, vault_manager(scheme="https"))
    answers = [
        create(client, owner_key, f"vault-transit://127.0.0.1:{port}/kek")
        for port in (closed_port, babbling_port, bao.port)
    ]

    assert {a.status_code for a in answers} == {503}
    assert all(a.json() == answers[0].json() for a in answers)


# -- nothing a key service says is repeated --------------------------------------------------

LEAK = "db-7.corp.internal:5432"


@pytest.mark.parametrize(
    ("status", "kms_error", "answer"),
    [
        (400, "com.example#InternalThing", 503),  # an error code KMS never sends
        (400, "NotFoundException", 400),  # a known code: its reason, in our words
        (500, "KMSInternalException", 503),
    ],
)
def test_what_a_kms_endpoint_says_is_never_repeated(
    client,
    org,
    owner_key,
    nonsense_http: Callable[[int, bytes, str], int],
    status: int,
    kms_error: str,
    answer: int,
) -> None:
    body = json.dumps({"__type": kms_error, "message": f"{LEAK} refused: {kms_error}"}).encode()
    port = nonsense_http(status, body, "application/x-amz-json-1.1")
    add_manager(client, org, owner_key, kms_manager(f"http://127.0.0.1:{port}"))

    response = create(client, owner_key, f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/customer")

    assert response.status_code == answer, response.text
    assert LEAK not in response.text
    assert "InternalThing" not in response.text
    assert "KMSInternalException" not in response.text


def test_a_missing_kms_key_is_told_in_our_words(client, org, owner_key, moto_kms: MotoKms) -> None:
    add_manager(client, org, owner_key, kms_manager(moto_kms.endpoint_url))
    missing = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{uuid.uuid4()}"

    response = create(client, owner_key, missing)

    assert response.status_code == 400, response.text
    assert error(response)["code"] == "deployments.key_unusable"
    assert error(response)["message"] == (
        f"The key cannot be used (unknown_key): {UNUSABLE[Reason.UNKNOWN_KEY]}."
    )

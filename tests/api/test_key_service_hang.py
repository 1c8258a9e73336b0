"""A key service that hangs holds no lock (issue 15, point 2).

A create under a customer key, or a re-key to one, asks the key service with no transaction
open, so while the service keeps it waiting, an unrelated write (renaming the organization)
commits; the request then fails with the provider's own timeout and changes nothing. The key
service is a real TCP listener on loopback that accepts connections and never answers.
"""

from __future__ import annotations

import threading

import httpx
import sqlalchemy as sa

from citadel.deployments.models import Deployment
from citadel.key_managers import service as key_managers
from citadel.key_managers.errors import KeyManagerUnreachable
from citadel.orgs.models import Organization
from tests.fixtures.builders import (
    make_deployment,
)
from tests.providers.dead_servers import HangingService
from tests.providers.dead_servers import hanging_service as _hanging_service  # noqa: F401

TIMEOUT_S = 10.0  # the provider's bound on one call; the test only waits for it to end


def hanging_key_path(client, org: str, owner_key: dict[str, str], service: HangingService) -> str:
    """A Vault transit key path at the hanging service, with the organization's manager."""
    manager = {
        "name": "hangs",
        "kind": "vault-transit",
        "settings": {"scheme": "http"},
        "secret": "token",
    }
    managers = f"/api/v1/organizations/{org}/key-managers"
    added = client.post(managers, json=manager, headers=owner_key)
    assert added.status_code == 201, added.text
    return f"vault-transit://127.0.0.1:{service.port}/kek"


def while_waiting(
    client, org: str, owner_key: dict[str, str], service: HangingService, send
) -> tuple[httpx.Response, bool, httpx.Response]:
    """Start `send` (a request that asks the hanging service); once it has reached the service,
    rename the organization. The rename's answer, whether `send` was still waiting when the
    rename had committed, and `send`'s answer."""
    answers: list[httpx.Response] = []
    waiting = threading.Thread(target=lambda: answers.append(send()))
    waiting.start()
    assert service.reached.wait(timeout=60), "the request never reached the key service"
    rename = {"name": "renamed"}
    renamed = client.put(f"/api/v1/organizations/{org}", json=rename, headers=owner_key)
    still_waiting = waiting.is_alive()
    waiting.join()
    (answer,) = answers
    return renamed, still_waiting, answer


def assert_timed_out(answer: httpx.Response) -> None:
    """The 503 of a key service that was reached (`while_waiting` checks) and never answered:
    a timeout, told in the one message every unreachable key manager gets (the cause, here a
    ReadTimeout, is only logged: no port-state oracle, issue 17.4)."""
    assert answer.status_code == 503, answer.text
    error = answer.json()["errors"][0]
    assert error["code"] == "deployments.key_manager_unreachable"
    assert error["message"] == KeyManagerUnreachable.default_message


def test_a_hanging_key_service_does_not_block_an_unrelated_write(
    client, services, org, owner_key, hanging_service, monkeypatch
):
    monkeypatch.setattr(key_managers, "TIMEOUT_S", TIMEOUT_S)
    key_path = hanging_key_path(client, org, owner_key, hanging_service)
    body = {"name": "waits", "settings": {"byok": {"key_resource_path": key_path}}}

    renamed, still_waiting, answer = while_waiting(
        client,
        org,
        owner_key,
        hanging_service,
        lambda: client.post("/api/v1/deployments", json=body, headers=owner_key),
    )

    assert renamed.status_code == 200, renamed.text
    assert still_waiting, "the rename should commit while the key service keeps the create waiting"
    assert_timed_out(answer)
    with services.db.read() as session:
        assert session.get(Organization, org).name == "renamed"
        count = sa.select(sa.func.count()).select_from(Deployment)
        assert session.scalar(count.where(Deployment.organization_id == org)) == 0


def test_a_rekey_to_a_hanging_key_service_does_not_block_an_unrelated_write(
    client, services, org, owner_key, hanging_service, monkeypatch
):
    monkeypatch.setattr(key_managers, "TIMEOUT_S", TIMEOUT_S)
    dep = make_deployment(services, org)
    key_path = hanging_key_path(client, org, owner_key, hanging_service)
    rekey = f"/api/v1/deployments/{dep}/encryption/_rekey"

    renamed, still_waiting, answer = while_waiting(
        client,
        org,
        owner_key,
        hanging_service,
        lambda: client.post(rekey, json={"key_resource_path": key_path}, headers=owner_key),
    )

    assert renamed.status_code == 200, renamed.text
    assert still_waiting, "the rename should commit while the key service keeps the re-key waiting"
    assert_timed_out(answer)
    with services.db.read() as session:
        row = session.get(Deployment, dep)
        assert row.key_manager_id is None
        assert row.key_path == services.platform_keys.describe().key_path

"""Deployment use cases (`citadel.use_cases.deployments`, issue 15): `validate_only` makes
every check the real create makes, and a write that follows a key-service call refuses when
what it read before the call has changed meanwhile."""

from __future__ import annotations

from typing import Any

import pytest

from citadel.key_managers import service as key_managers
from citadel.key_managers.errors import KeyChangedMeanwhile
from citadel.key_managers.schemas import KeyManagerIn, KeyManagerUpdateIn
from citadel.key_managers.service import Rotation
from citadel.use_cases import deployments as use_cases
from tests.fixtures.builders import (
    SystemUnits,
    make_deployment,
)

URL = "/api/v1/deployments"
UNKNOWN = "0" * 32


def _error(response) -> tuple[int, str, list[str]]:
    error = response.json()["errors"][0]
    return response.status_code, error["code"], error.get("fields") or []


BAD_CREATES: dict[str, dict[str, Any]] = {
    "unknown region": {"region": "mars"},
    "unknown ruleset": {"settings": {"traffic_filter_settings": {"rulesets": [UNKNOWN]}}},
    "key path of no known kind": {"settings": {"byok": {"key_resource_path": "gopher://kek"}}},
    "the platform's own key file": {"settings": {"byok": {"key_resource_path": "file:/etc/k"}}},
    "no key manager of the kind": {
        "settings": {"byok": {"key_resource_path": "vault-transit://127.0.0.1:8200/kek"}}
    },
}


@pytest.mark.parametrize("body", BAD_CREATES.values(), ids=BAD_CREATES.keys())
def test_validate_only_refuses_what_the_create_refuses_with_the_same_error(client, owner_key, body):
    body = {"name": "checked", **body}

    checked = client.post(URL, json=body, headers=owner_key, params={"validate_only": "true"})
    created = client.post(URL, json=body, headers=owner_key)

    assert checked.status_code >= 400
    assert _error(checked) == _error(created)


def test_validate_only_refuses_an_alias_already_taken(client, owner_key):
    first = client.post(URL, json={"name": "one", "alias": "shop"}, headers=owner_key)
    assert first.status_code == 201, first.text

    checked = client.post(
        URL,
        json={"name": "two", "alias": "shop"},
        headers=owner_key,
        params={"validate_only": "true"},
    )

    assert checked.status_code == 409
    assert _error(checked) == _error(
        client.post(URL, json={"name": "two", "alias": "shop"}, headers=owner_key)
    )


def test_a_key_manager_changed_while_its_key_was_checked_refuses_the_write(services, org):
    units = SystemUnits(services)
    body = KeyManagerIn(name="vault", kind="vault-transit", settings={"scheme": "http"}, secret="a")
    with units.write() as ctx:
        manager = key_managers.create_manager(ctx, org, body)
    with units.read() as ctx:
        key_path = "vault-transit://127.0.0.1:8200/kek"
        customer = key_managers.locate(ctx, org, key_path, None, field="body.key")
    with units.write() as ctx:
        key_managers.update_manager(ctx, org, manager.id, KeyManagerUpdateIn(secret="b"))

    with pytest.raises(KeyChangedMeanwhile), units.write() as ctx:
        key_managers.confirm(ctx, org, customer)


def test_a_data_key_rewrapped_meanwhile_refuses_a_rotation_read_before(services, org):
    units = SystemUnits(services)
    dep = make_deployment(services, org)
    with units.read() as ctx:
        key = key_managers.key_in_use(ctx, org, dep, services.platform_keys)
    use_cases.rekey_deployment(
        units, org, dep, services.platform_keys, key_path=None, manager_id=None
    )

    with pytest.raises(KeyChangedMeanwhile), units.write() as ctx:
        key_managers.record_rotation(ctx, org, key, Rotation("1", "2", b"rewrapped"))


def test_delete_drops_the_deployments_traffic_filter_associations(client, owner_key, org):
    ruleset = {"name": "office", "region": "local", "type": "ip", "include_by_default": False}
    made = client.post(
        "/api/v1/deployments/traffic-filter/rulesets",
        json={**ruleset, "rules": [{"source": "10.0.0.0/8"}]},
        headers=owner_key,
    )
    assert made.status_code == 201, made.text
    ruleset_id = made.json()["id"]
    settings = {"traffic_filter_settings": {"rulesets": [ruleset_id]}}
    dep = client.post(URL, json={"name": "f", "settings": settings}, headers=owner_key)
    assert dep.status_code == 201, dep.text
    dep_id = dep.json()["id"]
    assert client.post(f"{URL}/{dep_id}/_shutdown", headers=owner_key).status_code == 200

    deleted = client.delete(f"{URL}/{dep_id}", headers=owner_key)

    assert deleted.status_code == 200, deleted.text
    gone = client.delete(
        f"/api/v1/deployments/traffic-filter/rulesets/{ruleset_id}", headers=owner_key
    )
    assert gone.status_code == 200, gone.text

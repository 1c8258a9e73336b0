"""Our serverless traffic-filter answers against the serverless API subset: every operation
(list, create, metadata, get, patch, delete) called for real for a success and for its errors,
each answer checked by `assert_conforms` (status declared or listed with its reason, body
schema, ETag where declared)."""

from __future__ import annotations

from typing import Any

import pytest

from citadel.projects.schemas import CreateElasticsearchProjectIn, TrafficFilterRefIn
from citadel.projects.types import ProjectType
from citadel.use_cases import projects as project_use_cases
from tests.api.serverless_contract import Caller, subset
from tests.fixtures.builders import SystemUnits, grant, key_headers, make_api_key

BASE = "/api/v1/serverless/traffic-filters"
ONE = BASE + "/{id}"
METADATA = BASE + "/metadata"
UNKNOWN = {"id": "0" * 32}
GUID = "7c0f05e4-e32b-4b10-a246-7b77f7dcc63c"
BODIES: dict[str, dict[str, Any]] = {
    "ip": {"rules": [{"source": "192.0.2.0/24", "description": "office"}]},
    "vpce": {"rules": [{"source": "vpce-0123456789abcdef0"}]},
    "private_endpoint": {
        "rules": [{"azure_endpoint_name": "azure-demo", "azure_endpoint_guid": GUID}]
    },
}


@pytest.fixture
def call(client, owner_key) -> Caller:
    return Caller(client, owner_key)


def test_the_subset_has_the_operations_we_call() -> None:
    paths = subset()["paths"]
    assert set(paths[BASE]) >= {"get", "post"}
    assert set(paths[ONE]) >= {"get", "patch", "delete"}
    assert "get" in paths[METADATA]


@pytest.mark.parametrize("kind", list(BODIES))
def test_every_operation_succeeds_as_declared(call: Caller, kind: str) -> None:
    body = {"name": "Contract", "description": "", "type": kind, "region": "aws-local"}
    created = call("POST", BASE, 201, json=body | BODIES[kind]).json()
    ids = {"id": created["id"]}
    call("GET", BASE, 200)
    call("GET", BASE, 200, params={"region": "local", "include_by_default": "false"})
    paged = call("GET", BASE, 200, headers={"X-Elastic-Page-Size": "1"}).json()
    assert "next_page" not in paged  # one filter: the first page is the last
    call("GET", ONE, 200, values=ids)
    call("PATCH", ONE, 200, values=ids, json={"name": "Renamed"} | BODIES[kind])
    call("PATCH", ONE, 200, values=ids, json={"include_by_default": True})
    call("DELETE", ONE, 204, values=ids)


def test_a_paged_list_answers_as_declared(call: Caller) -> None:
    for name in ("a", "b", "c"):
        call("POST", BASE, 201, json={"name": name, "type": "ip", "region": "local"} | BODIES["ip"])
    first = call("GET", BASE, 200, headers={"X-Elastic-Page-Size": "2"}).json()
    token = first["next_page"]
    rest = call(
        "GET", BASE, 200, headers={"X-Elastic-Page-Size": "2", "X-Elastic-Next-Page": token}
    )
    assert len(first["items"]) + len(rest.json()["items"]) == 3


def test_the_metadata_answers_as_declared(call: Caller) -> None:
    listed = call("GET", METADATA, 200).json()
    assert listed["regions"]
    call("GET", METADATA, 200, params={"region": "aws-local", "csp": "aws"})
    assert call("GET", METADATA, 200, params={"csp": "gcp"}).json() == {"regions": []}


def test_every_operation_fails_as_declared(call: Caller, client, services, org) -> None:
    Caller(client, {})("GET", BASE, 401)
    Caller(client, {})("POST", BASE, 401, json={"name": "x", "type": "ip", "region": "local"})
    Caller(client, {})("GET", METADATA, 401)
    Caller(client, {})("GET", ONE, 401, values=UNKNOWN)
    Caller(client, {})("PATCH", ONE, 401, values=UNKNOWN, json={"name": "x"})
    Caller(client, {})("DELETE", ONE, 401, values=UNKNOWN)
    call("GET", BASE, 400, headers={"X-Elastic-Next-Page": "not-a-token"})
    call("POST", BASE, 400, json={"name": "x", "type": "ip", "region": "mars"})
    call("POST", BASE, 400, json={"name": "x", "type": "ip", "region": "local", "surprise": 1})
    call("GET", METADATA, 400, params={"region": ""})
    call("GET", ONE, 404, values=UNKNOWN)
    call("PATCH", ONE, 404, values=UNKNOWN, json={"name": "x"})
    call("DELETE", ONE, 404, values=UNKNOWN)

    body = {"name": "Errors", "type": "ip", "region": "local"} | BODIES["ip"]
    ids = {"id": call("POST", BASE, 201, json=body).json()["id"]}
    call("PATCH", ONE, 400, values=ids, json={"type": "vpce"})
    call("GET", ONE, 400, values={"id": "x" * 33})
    viewer = Caller(client, key_headers(make_api_key(services, org, grant(org, "security-viewer"))))
    viewer("POST", BASE, 403, json=body)
    viewer("PATCH", ONE, 403, values=ids, json={"name": "x"})
    viewer("DELETE", ONE, 403, values=ids)

    project = project_use_cases.create_project(
        SystemUnits(services),
        services.platform_keys,
        org,
        ProjectType.ELASTICSEARCH,
        CreateElasticsearchProjectIn(
            name="uses it", region_id="local", traffic_filters=[TrafficFilterRefIn(id=ids["id"])]
        ),
        created_by=None,
    )
    assert project.filters == [ids["id"]]
    call("DELETE", ONE, 409, values=ids)

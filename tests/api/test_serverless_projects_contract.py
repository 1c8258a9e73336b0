"""Our project and region answers against the serverless API subset: every project operation
of the three types and both region operations, called for real once for a success and at
least once for an error, each answer checked by `assert_conforms` (status declared or listed
with its reason, body schema, ETag where declared)."""

from __future__ import annotations

from typing import Any

import pytest

from citadel.contract.states import ObservedState
from citadel.projects import service as projects
from tests.api.serverless_contract import Caller, subset
from tests.fixtures.builders import grant, key_headers, make_api_key

TYPES = ("elasticsearch", "observability", "security")
UNKNOWN_ID = "0" * 32
REQUESTS: dict[str, dict[str, Any]] = {
    "elasticsearch": {
        "optimized_for": "vector",
        "search_lake": {"search_power": 200, "boost_window": 7},
    },
    "observability": {"product_tier": "logs_essentials"},
    "security": {
        "admin_features_package": "enterprise",
        "product_types": [{"product_line": "security", "product_tier": "complete"}],
        "search_lake": {"data_retention": {"max_retention_days": 90}},
    },
}
PATCHES: dict[str, dict[str, Any]] = {
    "elasticsearch": {"search_lake": {"boost_window": None}},
    "observability": {"product_tier": "complete"},
    "security": {"admin_features_package": None, "product_types": None},
}


def _template(project_type: str, tail: str = "") -> str:
    return "/api/v1/serverless/projects/" + project_type + tail


@pytest.fixture
def call(client, owner_key) -> Caller:
    return Caller(client, owner_key)


def test_the_subset_has_the_operations_we_call() -> None:
    paths = subset()["paths"]
    for project_type in TYPES:
        for tail in ("", "/{id}", "/{id}/status", "/{id}/roles", "/{id}/_resume"):
            assert _template(project_type, tail) in paths
        assert _template(project_type, "/{id}/_reset-credentials") in paths


@pytest.mark.parametrize("project_type", TYPES)
def test_every_project_operation_succeeds_as_declared(
    call: Caller, services, project_type: str
) -> None:
    base = _template(project_type)
    one = base + "/{id}"
    body = {"name": "Contract", "region_id": "local", "alias": "contract"}
    body |= REQUESTS[project_type] | {"metadata": {"tags": {"suite": "contract"}}}
    created = call("POST", base, 201, json=body).json()
    ids = {"id": created["id"]}
    call("GET", base, 200)
    call("GET", base, 200, params={"tags[suite]": "contract", "page_size": 10})
    got = call("GET", one, 200, values=ids)
    call("GET", one + "/status", 200, values=ids)
    with services.db.write() as session:
        projects.observe(
            services.context(session, services.system_caller()),
            created["id"],
            ObservedState.RUNNING,
        )
    call("GET", one + "/roles", 200, values=ids)
    etag = got.headers["ETag"]
    patched = call(
        "PATCH",
        one,
        200,
        values=ids,
        headers={"If-Match": etag},
        json={"name": "Renamed", "metadata": {"tags": {"suite": None, "kept": "yes"}}}
        | PATCHES[project_type],
    )
    call(
        "POST",
        one + "/_reset-credentials",
        200,
        values=ids,
        headers={"If-Match": patched.headers["ETag"]},
    )
    call("POST", one + "/_resume", 200, values=ids)
    call("DELETE", one, 200, values=ids)


@pytest.mark.parametrize("project_type", TYPES)
def test_every_project_operation_fails_as_declared(
    call: Caller, client, services, org, project_type: str
) -> None:
    base = _template(project_type)
    one = base + "/{id}"
    unknown = {"id": UNKNOWN_ID}
    call("POST", base, 400, json={"name": "x", "region_id": "local", "surprise": True})
    call("POST", base, 400, json={"region_id": "local"})
    call("GET", one, 404, values=unknown)
    call("GET", one + "/status", 404, values=unknown)
    call("GET", one + "/roles", 404, values=unknown)
    call("PATCH", one, 404, values=unknown, json={"name": "x"})
    call("DELETE", one, 404, values=unknown)
    call("POST", one + "/_reset-credentials", 404, values=unknown)
    call("POST", one + "/_resume", 404, values=unknown)
    Caller(client, {})("GET", base, 401)

    created = call("POST", base, 201, json={"name": "Errors", "region_id": "local"}).json()
    ids = {"id": created["id"]}
    stale = {"If-Match": '"0"'}
    call("PATCH", one, 412, values=ids, headers=stale, json={"name": "x"})
    call("POST", one + "/_resume", 412, values=ids, headers=stale)
    call("POST", one + "/_reset-credentials", 412, values=ids, headers=stale)
    call("DELETE", one, 412, values=ids, headers=stale)
    call("PATCH", one, 400, values=ids, json={"region_id": "local"})
    viewer = key_headers(make_api_key(services, org, grant(org, f"{project_type}-viewer")))
    Caller(client, viewer)("POST", base, 403, json={"name": "x", "region_id": "local"})
    Caller(client, viewer)("PATCH", one, 403, values=ids, json={"name": "x"})
    call("DELETE", one, 200, values=ids)
    call("PATCH", one, 409, values=ids, json={"name": "x"})
    call("POST", one + "/_reset-credentials", 409, values=ids)
    call("POST", one + "/_resume", 409, values=ids)


def test_the_region_operations_answer_as_declared(call: Caller, client) -> None:
    regions = "/api/v1/serverless/regions"
    listed = call("GET", regions, 200).json()
    call("GET", regions + "/{id}", 200, values={"id": listed[0]["id"]})
    call("GET", regions + "/{id}", 404, values={"id": "nowhere"})
    Caller(client, {})("GET", regions, 401)

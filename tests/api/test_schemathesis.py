"""A bounded schemathesis run: the API answers as its served OpenAPI document says.

Every operation of `/api/v1/openapi.json` is called with requests generated from the
document (a fixed number per operation, derandomized: the same requests every run) by an
organization owner's API key, against the real application in process over a fresh database.
The organization in a path is the owner's own, so the requests reach the services instead of
stopping at the access check. Each answer must not be a server error, must have a status the
document lists for the operation, and a content type and body that its schema for that status
admits.

It runs once (marker `schemathesis`): the database backend does not change the document, so
the PostgreSQL pass skips it.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from citadel.app import create_app
from citadel.bootstrap import Services
from tests.fixtures.builders import key_headers, make_api_key, make_org, make_user

pytestmark = [
    pytest.mark.schemathesis,
    pytest.mark.skipif(
        os.environ.get("CITADEL_TEST_DATABASE") == "postgresql",
        reason="runs once, on the first backend",
    ),
]

EXAMPLES_PER_OPERATION = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _run(operation: Any, org_id: str, headers: dict[str, str]) -> None:
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def check(case: Any) -> None:
        if case.path_parameters and "organization_id" in case.path_parameters:
            case.path_parameters["organization_id"] = org_id
        case.call_and_validate(headers=headers, checks=CHECKS)

    check()


def test_every_answer_agrees_with_the_served_document(services: Services) -> None:
    owner = make_user(services)
    org_id = make_org(services, owner)
    headers = key_headers(make_api_key(services, org_id))
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", create_app(services))
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        try:
            _run(operation, org_id, headers)
        except Exception as exc:
            failures.append(f"{operation.label}: {type(exc).__name__}: {exc}"[:2000])
    assert operations > 60
    assert failures == []

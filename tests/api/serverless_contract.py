"""Our answers against the serverless project API contract (`serverless-api-subset.json`).

Shared by the serverless contract tests (projects, regions, traffic filters): `assert_conforms`
checks a response against what the subset declares for the operation and status (OpenAPI 3.0
schemas, `#/components/...` references resolved, `nullable` honoured, formats checked); an
error body must be the subset's `MultiErrorResponse` (`{"errors": [{"code", "message"}]}`,
our optional `fields` besides). A status the subset does not declare for the operation must
be listed in `UNDECLARED_STATUSES` with the reason we answer it.

The subset is vendored in `tests/fixtures/reference/` (a copy of the shared reference), or
read from ``CITADEL_SERVERLESS_API_SUBSET``.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_schema_validator import OAS30Validator

from tests.api.test_contract import assert_error_shape

_DEFAULT_SUBSET = (
    Path(__file__).resolve().parents[1] / "fixtures" / "reference" / "serverless-api-subset.json"
)

# (method, path template, status) answered although the subset does not declare it: why.
UNDECLARED_STATUSES: dict[tuple[str, str, int], str] = {
    # --- projects (the three types answer alike) ---
    **{
        ("POST", f"/api/v1/serverless/projects/{t}/{{id}}/_reset-credentials", 412): (
            "The subset takes If-Match on _reset-credentials but declares no 412; a stale "
            "ETag is refused as on every other change of the project."
        )
        for t in ("elasticsearch", "observability", "security")
    },
    **{
        ("POST", f"/api/v1/serverless/projects/{t}", 403): (
            "Creating needs Admin on all projects of the type (or the Organization owner); "
            "the subset declares no 403 anywhere, though Cloud RBAC refuses."
        )
        for t in ("elasticsearch", "observability", "security")
    },
    **{
        ("PATCH", f"/api/v1/serverless/projects/{t}/{{id}}", 403): (
            "A project the caller may read but not change (a Viewer): refused, as on "
            "deployments; one they may not read is a 404."
        )
        for t in ("elasticsearch", "observability", "security")
    },
    **{
        ("PATCH", f"/api/v1/serverless/projects/{t}/{{id}}", 400): (
            "A patch body the type's Patch schema refuses (additionalProperties false, "
            "limits): 400 naming the field, as the create's declared 400."
        )
        for t in ("elasticsearch", "observability", "security")
    },
    # --- traffic filters ---
    ("POST", "/api/v1/serverless/traffic-filters", 403): (
        "Creating a filter needs the Organization owner or Admin/Editor on at least one project "
        "(include_by_default: on all projects of every type; serverless-notes §8); the subset "
        "declares 403 only on delete, though the same rule refuses here."
    ),
    ("PATCH", "/api/v1/serverless/traffic-filters/{id}", 403): (
        "Changing a filter needs the same role as creating one (serverless-notes §8); the "
        "subset declares 403 only on delete."
    ),
}


@functools.cache
def subset() -> dict[str, Any]:
    """The OpenAPI 3.0 subset of the serverless project API."""
    path = Path(os.environ.get("CITADEL_SERVERLESS_API_SUBSET", _DEFAULT_SUBSET))
    if not path.is_file():
        pytest.fail(f"The serverless API subset is missing at {path}")
    return json.loads(path.read_text())


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = subset()
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def schema_errors(instance: Any, schema: dict[str, Any]) -> list[str]:
    """Violations of a subset schema (references into the subset resolved)."""
    root = {"allOf": [schema], "components": subset()["components"]}
    validator = OAS30Validator(root, format_checker=OAS30Validator.FORMAT_CHECKER)
    return sorted(
        f"{'/'.join(map(str, e.absolute_path)) or '<body>'}: {e.message}"
        for e in validator.iter_errors(instance)
    )


def operation(method: str, path: str) -> dict[str, Any]:
    """The subset's operation for a method and a path template (``/api/v1/...``)."""
    return subset()["paths"][path][method.lower()]


def assert_conforms(method: str, path: str, response: httpx.Response) -> None:
    """The response is one the subset declares for this operation (or one we document):
    status, body schema, and the `ETag` header where the subset declares one."""
    declared = operation(method, path)["responses"].get(str(response.status_code))
    if response.status_code >= 400:
        assert_error_shape(response.json())
    if declared is None:
        assert (method.upper(), path, response.status_code) in UNDECLARED_STATUSES, (
            f"{method} {path} answered {response.status_code}, which the subset does not "
            f"declare: {response.text[:500]}"
        )
        return
    declared = _resolve(declared)
    content = declared.get("content", {}).get("application/json")
    if content is not None and "schema" in content:
        body = response.json()
        problems = schema_errors(body, content["schema"])
        assert not problems, f"{method} {path} {response.status_code}: {problems}\n{body}"
    for header in declared.get("headers", {}):
        assert header.lower() in response.headers, f"{method} {path}: no {header} header"


class Caller:
    """Calls one operation and checks the answer against the subset."""

    def __init__(self, client: Any, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers

    def __call__(
        self,
        method: str,
        template: str,
        status: int,
        *,
        values: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        path = template.format(**(values or {}))
        response = self.client.request(
            method, path, headers={**self.headers, **(headers or {})}, **kwargs
        )
        assert response.status_code == status, (method, path, response.text)
        assert_conforms(method, template, response)
        return response

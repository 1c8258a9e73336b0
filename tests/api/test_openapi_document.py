"""The served OpenAPI document is honest: every operation declares its answer's schema, its
error statuses with the one error body, and how a caller authenticates.

(`test_schemathesis.py` checks real answers against the document; `test_contract.py` checks
them against the Cloud API subset.)
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from citadel.api.openapi import SECURITY_SCHEMES, error_statuses
from citadel.kit.schema import NullableResponseModel, ResponseModel

API = "/api/v1"
REPLY = {"$ref": "#/components/schemas/BasicFailedReply"}
# Answers that are not JSON bodies: redirects of the browser's SSO flow, SAML metadata.
NOT_JSON = {
    ("GET", "/sso/saml/{login_prefix}/login"): "303",
    ("POST", "/sso/saml/{organization_id}/acs"): "303",
    ("GET", "/sso/saml/{organization_id}/metadata"): "200",
    # a serverless traffic filter's delete: 204 with no body, as the subset declares
    ("DELETE", f"{API}/serverless/traffic-filters/{{filter_id}}"): "204",
    # a project's delete and resume: 200 with no body, as the subset declares
    ("DELETE", f"{API}/serverless/projects/{{project_type}}/{{project_id}}"): "200",
    ("POST", f"{API}/serverless/projects/{{project_type}}/{{project_id}}/_resume"): "200",
}
# A success schema that is an object of free keys, with why.
FREE_OBJECTS = {("GET", f"{API}/_health"): '`{"status": "ok"}`, the liveness answer.'}


@pytest.fixture
def document(client: TestClient) -> dict[str, Any]:
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    return response.json()


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    ]


def _access_kinds(client: TestClient) -> dict[tuple[str, str], str]:
    kinds = {}
    for context in iter_route_contexts(client.app.routes):
        if not isinstance(context.original_route, APIRoute):
            continue
        pending = list(context.dependant.dependencies)
        while pending:
            dependant = pending.pop()
            access = getattr(dependant.call, "access", None)
            if access is not None:
                for method in context.methods or ():
                    kinds[(method, context.path)] = str(access.kind)
                break
            pending.extend(dependant.dependencies)
    return kinds


def test_every_operation_declares_the_schema_of_its_success(document) -> None:
    missing = []
    for method, path, operation in _operations(document):
        successes = {s: r for s, r in operation["responses"].items() if s.startswith(("2", "3"))}
        if (method, path) in NOT_JSON:
            assert NOT_JSON[(method, path)] in successes, (method, path)
            continue
        for status, response in successes.items():
            schema = response.get("content", {}).get("application/json", {}).get("schema", {})
            typed = "$ref" in schema or "anyOf" in schema
            if not typed and (method, path) not in FREE_OBJECTS:
                missing.append(f"{method} {path} {status}")
    assert missing == []


def test_every_error_response_is_the_one_error_body(document) -> None:
    for method, path, operation in _operations(document):
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                assert response["content"]["application/json"]["schema"] == REPLY, (method, path)


def test_error_statuses_follow_from_the_route(document, client) -> None:
    kinds = _access_kinds(client)
    for method, path, operation in _operations(document):
        declared = {int(s) for s in operation["responses"] if int(s) >= 400}
        expected = set(error_statuses(method, path, kinds.get((method, path))))
        assert expected <= declared, (method, path)


def test_every_route_may_answer_401_and_a_path_with_ids_404(document) -> None:
    for method, path, operation in _operations(document):
        assert "401" in operation["responses"], (method, path)
        if "{" in path:
            assert "404" in operation["responses"], (method, path)


def test_the_three_credentials_are_declared_security_schemes(document) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes == SECURITY_SCHEMES
    assert schemes["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "An API key: `Authorization: ApiKey <key>`.",
    }
    assert schemes["Bearer"]["scheme"] == "bearer"
    assert (schemes["Session"]["in"], schemes["Session"]["name"]) == (
        "cookie",
        "__Host-citadel_session",
    )


def test_public_routes_alone_make_a_credential_optional(document, client) -> None:
    kinds = _access_kinds(client)
    for method, path, operation in _operations(document):
        security = operation["security"]
        assert all(set(item) <= set(SECURITY_SCHEMES) for item in security), (method, path)
        optional = {} in security
        assert optional == (kinds[(method, path)] == "public"), (method, path)


def test_a_field_a_response_omits_when_empty_is_not_required() -> None:
    class Shown(ResponseModel):
        name: str
        alias: str | None
        tags: list[str] | None = None

    schema = Shown.model_json_schema()
    assert schema["required"] == ["name"]
    assert schema["properties"]["alias"] == {"title": "Alias", "type": "string"}
    assert Shown(name="a", alias=None).model_dump(mode="json") == {"name": "a"}


def test_a_field_sent_as_null_stays_required_and_nullable() -> None:
    class Shown(NullableResponseModel):
        verified: str | None

    schema = Shown.model_json_schema()
    assert schema["required"] == ["verified"]
    assert Shown(verified=None).model_dump(mode="json") == {"verified": None}


def _subclasses(cls: type) -> list[type]:
    return [sub for direct in cls.__subclasses__() for sub in (direct, *_subclasses(direct))]


def test_a_field_a_response_may_omit_defaults_to_none(client) -> None:
    """What the server omits, the typed client must accept as absent."""
    required_but_omittable = [
        f"{model.__qualname__}.{name}"
        for model in _subclasses(ResponseModel)
        if model.__module__.startswith("citadel.")
        for name, field in model.model_fields.items()
        if field.is_required() and type(None) in getattr(field.annotation, "__args__", ())
    ]
    assert required_but_omittable == []

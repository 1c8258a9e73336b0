"""Bad input is refused with a 4xx that names the offending field, never with a 500.

Each case sends one kind of bad input to one route as an organization owner (API key, or a
session where the route wants a signed-in user) and expects the status, the code and the
field the error must name (``body.emails[1]``, ``path.user_ids``, ``query.api_key``...).
Paths and bodies say ``{org}`` and ``{user}`` for the scene's organization and owner.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from citadel.bootstrap import Services
from tests.fixtures.builders import (
    TestUser,
    bearer,
    key_headers,
    login,
    make_api_key,
    make_org,
    make_user,
)

API = "/api/v1"
MIB = 1024 * 1024
ORG = "{org}"
HEX_ID = "ab" * 16
TOKEN = "inv_" + "0" * 32 + "_" + "A" * 43
USER_ONLY = {("POST", "/organizations"), ("POST", "/users/auth/mfa/totp/_confirm")}


@dataclass
class Scene:
    """An organization, its owner, and the owner's API key."""

    client: TestClient
    services: Services
    owner: TestUser
    org: str
    key: dict[str, str]

    @functools.cached_property
    def session(self) -> dict[str, str]:
        """Bearer headers of a session of the owner (signed in on first use)."""
        headers = bearer(login(self.client, self.services, self.owner))
        self.client.cookies.clear()  # credentials travel in headers only
        return headers

    def fill(self, text: str) -> str:
        return text.replace(ORG, self.org).replace("{user}", self.owner.user_id)

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content: bytes | Iterator[bytes] | None = None,
        content_type: str = "application/json",
    ) -> httpx.Response:
        """Call as the owner: with the API key, or a session where only a user may call."""
        headers = dict(self.session if (method, path.split("?")[0]) in USER_ONLY else self.key)
        kwargs: dict[str, Any] = {"headers": headers}
        if content is not None:
            headers["content-type"] = content_type
            kwargs["content"] = content
        elif body is not None:
            kwargs["json"] = json.loads(self.fill(json.dumps(body)))
        return self.client.request(method, API + self.fill(path), **kwargs)


@pytest.fixture
def scene(client: TestClient, services: Services) -> Scene:
    owner = make_user(services)
    org = make_org(services, owner)
    return Scene(client, services, owner, org, key_headers(make_api_key(services, org)))


def assert_refused(
    response: httpx.Response, status: int, code: str | None = None, field: str | None = None
) -> None:
    """A 4xx of the one error shape, with this code, naming this field."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"errors"}, body
    [error] = body["errors"]
    assert set(error) <= {"code", "message", "fields"}, error
    assert error["message"], error
    if code is not None:
        assert error["code"] == code, error
    if field is not None:
        assert field in error.get("fields", []), error


def role(role_id: str, **extra: Any) -> dict[str, Any]:
    """One role assignment in the scene's organization."""
    return {"role_id": role_id, "organization_id": ORG, **extra}


def ids(values: list[Any]) -> list[str]:
    """Short readable test ids."""
    return [str(v)[:70] for v in values]


# --- bodies that are not JSON, or not a JSON object ------------------------------------------

# Routes that take a JSON body, each with a body it accepts.
BODY_ROUTES = [
    ("POST", "/users/auth/keys", {"description": "ci"}),
    ("PUT", "/organizations/{org}", {"name": "Acme"}),
    ("POST", "/organizations", {"name": "Acme"}),
    ("POST", "/organizations/{org}/invitations", {"emails": ["a@example.com"]}),
    ("DELETE", "/users/auth/keys", {"keys": ["abcdefghijkl"]}),
    ("POST", "/users/auth/_login", {"username": "a@example.com", "password": "x"}),
    ("POST", "/users/{user}/role_assignments", {}),
    ("POST", "/users/auth/mfa/totp/_confirm", {"code": "123456"}),
]
KEYS = BODY_ROUTES[0]
MALFORMED = {
    "truncated": b'{"description": "ci"',
    "single_quotes": b"{'description': 'ci'}",
    "trailing_comma": b'{"description": "ci",}',
    "not_utf8": b"\xff\xfe{}",
    "latin1": '{"description": "été"}'.encode("latin-1"),
    "nested_too_deep": b"[" * 100_000,
    "empty": b"",
}
MALFORMED_CASES = [(KEYS[:2], content) for content in MALFORMED.values()] + [
    (route[:2], MALFORMED["truncated"]) for route in BODY_ROUTES[1:]
]


@pytest.mark.parametrize(("route", "content"), MALFORMED_CASES, ids=ids(MALFORMED_CASES))
def test_malformed_json_is_a_400_naming_the_body(scene, route, content):
    assert_refused(scene.call(*route, content=content), 400, field="body")


NOT_OBJECTS = [(KEYS[:2], body) for body in ([], ["a"], "text", 5, True)] + [
    (route[:2], []) for route in BODY_ROUTES[1:]
]


@pytest.mark.parametrize(("route", "body"), NOT_OBJECTS, ids=ids(NOT_OBJECTS))
def test_a_body_that_is_not_an_object_is_a_400_naming_the_body(scene, route, body):
    assert_refused(scene.call(*route, body=body), 400, "root.invalid_data", "body")


# What `curl -d '{...}'` sends (a form), or text: the body is never read as JSON.
WRONG_TYPES = [
    "application/x-www-form-urlencoded",
    "text/plain; charset=utf-8",
    "multipart/form-data",
]
WRONG_TYPE_CASES = [(KEYS[:2], t) for t in WRONG_TYPES] + [
    (route[:2], WRONG_TYPES[0]) for route in BODY_ROUTES[1:]
]


@pytest.mark.parametrize(("route", "content_type"), WRONG_TYPE_CASES, ids=ids(WRONG_TYPE_CASES))
def test_a_json_body_with_another_content_type_is_a_400_naming_the_content_type(
    scene, route, content_type
):
    body = json.dumps(next(r[2] for r in BODY_ROUTES if r[:2] == route)).encode()
    response = scene.call(
        *route, content=scene.fill(body.decode()).encode(), content_type=content_type
    )
    assert_refused(response, 400, "root.unsupported_content_type", "header.content-type")
    message = response.json()["errors"][0]["message"]
    assert "Content-Type: application/json" in message
    assert content_type.split(";")[0] in message


def test_a_json_body_without_a_content_type_is_a_400_saying_so(scene):
    response = scene.client.post(
        API + "/users/auth/keys", content=b'{"description": "ci"}', headers=scene.key
    )
    assert_refused(response, 400, "root.unsupported_content_type", "header.content-type")
    assert "named none" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize(("method", "path", "valid"), BODY_ROUTES, ids=ids(BODY_ROUTES))
def test_an_unknown_field_is_a_400_naming_it(scene, method, path, valid):
    response = scene.call(method, path, body={**valid, "surprise": True})
    assert_refused(response, 400, "root.invalid_data", "body.surprise")


NESTED_UNKNOWN = [
    (
        "POST",
        "/users/{user}/role_assignments",
        {"organization": [role("billing-admin", all=True)]},
        "body.organization[0].all",
    ),
    (
        "POST",
        "/users/auth/keys",
        {"description": "ci", "role_assignments": {"cluster": []}},
        "body.role_assignments.cluster",
    ),
    (
        "POST",
        "/users/auth/_login",
        {"username": "a@example.com", "password": "x", "login_state": {"path": "/"}},
        "body.login_state",
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "field"), NESTED_UNKNOWN, ids=ids(NESTED_UNKNOWN)
)
def test_an_unknown_nested_field_is_a_400_naming_it(scene, method, path, body, field):
    assert_refused(scene.call(method, path, body=body), 400, "root.invalid_data", field)


# --- wrong JSON types ------------------------------------------------------------------------

WRONG_TYPES = [
    (
        "PUT",
        "/organizations/{org}",
        {"default_disk_usage_alerts_enabled": "false"},
        "body.default_disk_usage_alerts_enabled",
    ),
    (
        "PUT",
        "/organizations/{org}",
        {"allow_never_expiring_api_keys": 1},
        "body.allow_never_expiring_api_keys",
    ),
    ("PUT", "/organizations/{org}", {"name": 5}, "body.name"),
    ("PUT", "/organizations/{org}", {"billing_contacts": "a@example.com"}, "body.billing_contacts"),
    (
        "PUT",
        "/organizations/{org}",
        {"operational_contacts": {"a": "a@example.com"}},
        "body.operational_contacts",
    ),
    (
        "PUT",
        "/organizations/{org}",
        {"billing_contacts": [{"email": "a@example.com"}]},
        "body.billing_contacts[0]",
    ),
    ("POST", "/organizations/{org}/invitations", {"emails": "a@example.com"}, "body.emails"),
    ("POST", "/organizations/{org}/invitations", {"emails": [5]}, "body.emails[0]"),
    (
        "POST",
        "/organizations/{org}/invitations",
        {"emails": ["a@example.com"], "expires_in": 3},
        "body.expires_in",
    ),
    (
        "POST",
        "/organizations/{org}/invitations",
        {"emails": ["a@example.com"], "role_assignments": []},
        "body.role_assignments",
    ),
    ("POST", "/users/auth/keys", {"description": 5}, "body.description"),
    ("POST", "/users/auth/keys", {"description": "ci", "expiration": 86400}, "body.expiration"),
    (
        "POST",
        "/users/auth/keys",
        {"description": "ci", "role_assignments": {"organization": role("billing-admin")}},
        "body.role_assignments.organization",
    ),
    (
        "POST",
        "/users/auth/keys",
        {
            "description": "ci",
            "role_assignments": {"deployment": [role("deployment-viewer", all="true")]},
        },
        "body.role_assignments.deployment[0].all",
    ),
    ("DELETE", "/users/auth/keys", {"keys": "abcdefghijkl"}, "body.keys"),
    ("DELETE", "/users/auth/keys", {"keys": [1]}, "body.keys[0]"),
    ("POST", "/users/auth/_login", {"username": 5, "password": "x"}, "body.username"),
    (
        "POST",
        "/users/auth/_login",
        {"username": "a@example.com", "password": ["x"]},
        "body.password",
    ),
    (
        "POST",
        "/users/{user}/role_assignments",
        {"organization": [role(1)]},
        "body.organization[0].role_id",
    ),
    (
        "POST",
        "/users/{user}/role_assignments",
        {"deployment": [role("deployment-viewer", deployment_ids=HEX_ID)]},
        "body.deployment[0].deployment_ids",
    ),
    ("POST", "/users/auth/mfa/totp/_confirm", {"code": 123456}, "body.code"),
    ("POST", "/organizations", {"name": ["Acme"]}, "body.name"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), WRONG_TYPES, ids=ids(WRONG_TYPES))
def test_a_wrong_json_type_is_a_400_naming_the_field(scene, method, path, body, field):
    assert_refused(scene.call(method, path, body=body), 400, "root.invalid_data", field)


def test_a_wrong_json_type_when_accepting_an_invitation_is_a_400_naming_the_field(scene):
    url = f"{API}/organizations/invitations/{TOKEN}/_accept"
    response = scene.client.post(url, json={"password": 5})
    assert_refused(response, 400, "root.invalid_data", "body.password")


# --- missing required fields -----------------------------------------------------------------

MISSING = [
    ("POST", "/users/auth/keys", {"expiration": "1d"}, "body.description"),
    ("POST", "/organizations/{org}/invitations", {"expires_in": "1d"}, "body.emails"),
    ("DELETE", "/users/auth/keys", {}, "body.keys"),
    ("POST", "/users/auth/_login", {"username": "a@example.com"}, "body.password"),
    ("POST", "/users/auth/_login", {"password": "x"}, "body.username"),
    ("POST", "/organizations", {}, "body.name"),
    ("POST", "/users/auth/mfa/totp/_confirm", {}, "body.code"),
    (
        "POST",
        "/users/{user}/role_assignments",
        {"organization": [{"role_id": "billing-admin"}]},
        "body.organization[0].organization_id",
    ),
    (
        "POST",
        "/users/auth/keys",
        {
            "description": "ci",
            "role_assignments": {"deployment": [{"organization_id": ORG, "all": True}]},
        },
        "body.role_assignments.deployment[0].role_id",
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), MISSING, ids=ids(MISSING))
def test_a_missing_required_field_is_a_400_naming_it(scene, method, path, body, field):
    assert_refused(scene.call(method, path, body=body), 400, "root.invalid_data", field)


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/users/auth/keys"), ("PUT", "/organizations/{org}"), ("DELETE", "/users/auth/keys")],
)
def test_a_missing_body_is_a_400_naming_the_body(scene, method, path):
    assert_refused(scene.call(method, path), 400, "root.invalid_data", "body")


# --- oversized bodies ------------------------------------------------------------------------


def _oversized_json() -> bytes:
    return json.dumps({"description": "x" * (MIB + 1)}).encode()


def test_an_oversized_body_with_content_length_is_a_413(scene):
    response = scene.call("POST", "/users/auth/keys", content=_oversized_json())
    assert int(response.request.headers["content-length"]) > MIB
    assert_refused(response, 413, "root.request_too_large", "body")


def test_an_oversized_chunked_body_is_a_413(scene):
    def chunks() -> Iterator[bytes]:
        data = _oversized_json()
        for start in range(0, len(data), 64 * 1024):
            yield data[start : start + 64 * 1024]

    response = scene.call("POST", "/users/auth/keys", content=chunks())
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_refused(response, 413, "root.request_too_large", "body")


def test_a_content_length_that_is_not_a_number_is_a_4xx(scene):
    request = scene.client.build_request(
        "POST",
        f"{API}/users/auth/keys",
        headers={**scene.key, "content-type": "application/json"},
        content=b'{"description": "ci"}',
    )
    request.headers["content-length"] = "twenty"
    response = scene.client.send(request)
    assert 400 <= response.status_code < 500, response.text


# --- emails and domains ----------------------------------------------------------------------

BAD_EMAILS = [
    "not-an-email",
    "a@@example.com",
    "@example.com",
    "a@",
    "a@example.invalid",
    "",
    " ",
    "a b@example.com",
    "x" * 321 + "@example.com",
]


@pytest.mark.parametrize("email", BAD_EMAILS, ids=ids(BAD_EMAILS))
def test_an_invalid_email_in_invitations_is_a_400_naming_its_index(scene, email):
    body = {"emails": ["ok@example.com", email]}
    response = scene.call("POST", "/organizations/{org}/invitations", body=body)
    assert_refused(response, 400, "organization.invitation_invalid_email", "body.emails[1]")


@pytest.mark.parametrize("field", ["billing_contacts", "operational_contacts"])
@pytest.mark.parametrize("email", ["not-an-email", "a@example.invalid", ""], ids=repr)
def test_an_invalid_contact_email_is_a_400_naming_its_index(scene, field, email):
    response = scene.call("PUT", "/organizations/{org}", body={field: ["ok@example.com", email]})
    assert_refused(response, 400, "organization.invalid_contact", f"body.{field}[1]")


@pytest.mark.parametrize("domain", ["not a domain", "", "-example.com", "example"], ids=repr)
def test_an_invalid_notification_domain_is_a_400_naming_its_index(scene, domain):
    body = {"notifications_allowed_email_domains": ["example.com", domain]}
    response = scene.call("PUT", "/organizations/{org}", body=body)
    field = "body.notifications_allowed_email_domains[1]"
    assert_refused(response, 400, "organization.invalid_contact", field)


def test_an_empty_email_list_is_a_400_naming_it(scene):
    response = scene.call("POST", "/organizations/{org}/invitations", body={"emails": []})
    assert_refused(response, 400, "root.invalid_data", "body.emails")


# --- durations -------------------------------------------------------------------------------

BAD_DURATIONS = ["-1d", "0d", "1.5h", "99999y", "abc", "", "1d1h", " 1d"]


@pytest.mark.parametrize("duration", [*BAD_DURATIONS, "never", "31d"], ids=repr)
def test_a_bad_invitation_expiry_is_a_400_naming_expires_in(scene, duration):
    body = {"emails": ["a@example.com"], "expires_in": duration}
    response = scene.call("POST", "/organizations/{org}/invitations", body=body)
    assert_refused(response, 400, "organization.invitation_invalid_input", "body.expires_in")


@pytest.mark.parametrize("duration", [*BAD_DURATIONS, "366d"], ids=repr)
def test_a_bad_api_key_expiration_is_a_400_naming_expiration(scene, duration):
    response = scene.call(
        "POST", "/users/auth/keys", body={"description": "ci", "expiration": duration}
    )
    assert_refused(response, 400, "api_keys.invalid_input", "body.expiration")


def test_a_never_expiring_api_key_is_a_400_unless_the_organization_allows_it(scene):
    response = scene.call(
        "POST", "/users/auth/keys", body={"description": "ci", "expiration": "never"}
    )
    assert_refused(response, 400, "api_keys.invalid_input", "body.expiration")


def test_an_overlong_duration_is_a_400_naming_it(scene):
    body = {"description": "ci", "expiration": "1" * 17 + "d"}
    response = scene.call("POST", "/users/auth/keys", body=body)
    assert_refused(response, 400, "root.invalid_data", "body.expiration")


# --- role assignments ------------------------------------------------------------------------

BAD_ASSIGNMENTS = [
    ({"organization": [role("owner")]}, "organization[0].role_id"),
    ({"organization": [role("")]}, "organization[0].role_id"),
    ({"organization": [role("deployment-admin")]}, "organization[0].role_id"),
    ({"deployment": [role("deployment-god", all=True)]}, "deployment[0].role_id"),
    ({"deployment": [role("organization-admin", all=True)]}, "deployment[0].role_id"),
    (
        {"project": {"elasticsearch": [role("elasticsearch-owner", all=True)]}},
        "project.elasticsearch[0].role_id",
    ),
    (
        {"project": {"security": [role("observability-admin", all=True)]}},
        "project.security[0].role_id",
    ),
    ({"platform": [{"role_id": "platform-admin"}]}, "platform"),
    (
        {"deployment": [role("deployment-viewer", all=True, deployment_ids=[HEX_ID])]},
        "deployment[0].deployment_ids",
    ),
    (
        {
            "project": {
                "observability": [role("observability-viewer", all=True, project_ids=[HEX_ID])]
            }
        },
        "project.observability[0].project_ids",
    ),
    ({"deployment": [role("deployment-viewer")]}, "deployment[0].deployment_ids"),
    (
        {"deployment": [role("deployment-viewer", all=False, deployment_ids=[])]},
        "deployment[0].deployment_ids",
    ),
    (
        {"deployment": [role("deployment-viewer", deployment_ids=["XYZ"])]},
        "deployment[0].deployment_ids[0]",
    ),
    (
        {"deployment": [role("deployment-viewer", deployment_ids=[HEX_ID, HEX_ID.upper()])]},
        "deployment[0].deployment_ids[1]",
    ),
    (
        {"deployment": [role("deployment-viewer", deployment_ids=["g" * 32])]},
        "deployment[0].deployment_ids[0]",
    ),
    (
        {"deployment": [role("deployment-viewer", deployment_ids=["a" * 31])]},
        "deployment[0].deployment_ids[0]",
    ),
    (
        {"project": {"security": [role("security-viewer", project_ids=["../etc"])]}},
        "project.security[0].project_ids[0]",
    ),
    (
        {"deployment": [role("deployment-viewer", all=True, application_roles=[""])]},
        "deployment[0].application_roles[0]",
    ),
]


@pytest.mark.parametrize(("assignments", "field"), BAD_ASSIGNMENTS, ids=ids(BAD_ASSIGNMENTS))
def test_an_invalid_role_assignment_of_an_api_key_is_a_400_naming_the_field(
    scene, assignments, field
):
    body = {"description": "ci", "role_assignments": assignments}
    response = scene.call("POST", "/users/auth/keys", body=body)
    code = "role_assignments.invalid_role_assignment"
    assert_refused(response, 400, code, f"body.role_assignments.{field}")


# The same checks where role assignments arrive elsewhere: a few of the cases above each.
ASSIGNMENT_ROUTES = [
    (
        "POST",
        "/organizations/{org}/invitations",
        {"emails": ["a@example.com"]},
        "body.role_assignments",
    ),
    ("POST", "/users/{user}/role_assignments", None, "body"),
    ("DELETE", "/users/{user}/role_assignments", None, "body"),
]
ELSEWHERE = [
    (route, case)
    for route in ASSIGNMENT_ROUTES
    for case in (BAD_ASSIGNMENTS[3], BAD_ASSIGNMENTS[8], BAD_ASSIGNMENTS[12])
]


@pytest.mark.parametrize(("route", "case"), ELSEWHERE, ids=ids(ELSEWHERE))
def test_an_invalid_role_assignment_elsewhere_is_a_400_naming_the_field(scene, route, case):
    (method, path, around, prefix), (assignments, field) = route, case
    body = {**around, "role_assignments": assignments} if around else assignments
    response = scene.call(method, path, body=body)
    assert_refused(response, 400, "role_assignments.invalid_role_assignment", f"{prefix}.{field}")


# --- credentials -----------------------------------------------------------------------------


@pytest.mark.parametrize("param", ["api_key", "apikey", "API_KEY", "access_token", "token", "key"])
def test_credentials_in_the_query_string_are_a_400_naming_the_parameter(scene, param):
    response = scene.client.get(f"{API}/organizations", params={param: "secret"})
    assert_refused(response, 400, "root.credentials_in_url", f"query.{param}")


def test_credentials_in_the_query_string_are_a_400_even_with_a_valid_header(scene):
    response = scene.call("POST", "/users/auth/keys?api_key=secret", body={"description": "ci"})
    assert_refused(response, 400, "root.credentials_in_url", "query.api_key")


# Garbage Authorization values, some made from the scene's real key or session token.
GARBAGE_AUTHORIZATIONS: dict[str, Callable[[Scene], str | bytes]] = {
    "unknown_scheme": lambda s: "Garbage",
    "apikey_without_value": lambda s: "ApiKey",
    "apikey_with_blank_value": lambda s: "ApiKey ",
    "bearer_without_value": lambda s: "Bearer",
    "bearer_with_junk": lambda s: "Bearer x",
    "basic": lambda s: "Basic dXNlcjpwYXNzd29yZA==",
    "digest": lambda s: "Digest username=x",
    "apikey_huge": lambda s: "ApiKey " + "a" * 5000,
    "apikey_well_formed_unknown": lambda s: "ApiKey cit_live_" + "x" * 40,
    "bearer_well_formed_unknown": lambda s: "Bearer cit_ses_" + "a" * 43,
    "key_as_bearer": lambda s: s.key["Authorization"].replace("ApiKey", "Bearer"),
    "session_as_apikey": lambda s: s.session["Authorization"].replace("Bearer", "ApiKey"),
    "key_truncated": lambda s: s.key["Authorization"][:-1],
    "key_extended": lambda s: s.key["Authorization"] + "x",
    "tab_separator": lambda s: s.key["Authorization"].replace(" ", "\t"),
    "not_ascii": lambda s: b"ApiKey \xff\xfe\xfd",
}


@pytest.mark.parametrize("kind", GARBAGE_AUTHORIZATIONS)
def test_a_garbage_authorization_header_is_a_401(scene, kind):
    value = GARBAGE_AUTHORIZATIONS[kind](scene)
    response = scene.client.get(f"{API}/organizations", headers={"Authorization": value})
    assert_refused(response, 401, "root.unauthenticated")
    assert response.headers["www-authenticate"]


def test_a_garbage_session_cookie_is_a_401(scene):
    scene.client.cookies.set("__Host-citadel_session", "garbage", domain="testserver")
    assert_refused(scene.client.get(f"{API}/organizations"), 401, "root.unauthenticated")


# --- path and query parameters ---------------------------------------------------------------

TOO_LONG = [
    ("GET", "/organizations/" + "a" * 33, "path.organization_id"),
    ("PUT", "/organizations/" + "a" * 33, "path.organization_id"),
    ("GET", "/organizations/" + "a" * 5000 + "/members", "path.organization_id"),
    ("GET", "/organizations/" + "a" * 33 + "/audit-events", "path.organization_id"),
    ("DELETE", "/organizations/{org}/members/" + "a" * 3401, "path.user_ids"),
    ("DELETE", "/organizations/{org}/invitations/" + "a" * 13001, "path.invitation_tokens"),
    ("GET", "/organizations/invitations/" + "a" * 129, "path.invitation_token"),
    ("POST", "/organizations/invitations/" + "a" * 129 + "/_accept", "path.invitation_token"),
    ("GET", "/users/auth/keys/" + "a" * 65, "path.api_key_id"),
    ("DELETE", "/users/auth/keys/" + "a" * 65, "path.api_key_id"),
    ("POST", "/users/" + "a" * 33 + "/role_assignments", "path.user_id"),
    ("GET", "/users/auth/keys?organization_id=" + "a" * 33, "query.organization_id"),
    ("GET", "/organizations/{org}/audit-events?action=" + "a" * 65, "query.action"),
]


@pytest.mark.parametrize(("method", "path", "field"), TOO_LONG, ids=ids(TOO_LONG))
def test_a_too_long_parameter_is_a_400_naming_it(scene, method, path, field):
    body = {"name": "Acme"} if method == "PUT" else {} if "role_assignments" in path else None
    assert_refused(scene.call(method, path, body=body), 400, "root.invalid_data", field)


CSV_WITH_EMPTY_ITEMS = [",", "{id},", ",{id}", "{id},,{id}", "{id}, ,{id}"]


@pytest.mark.parametrize("csv", CSV_WITH_EMPTY_ITEMS, ids=repr)
def test_member_ids_with_an_empty_item_are_a_400_naming_them(scene, csv):
    path = "/organizations/{org}/members/" + csv.replace("{id}", HEX_ID)
    assert_refused(scene.call("DELETE", path), 400, "root.invalid_data", "path.user_ids")


@pytest.mark.parametrize("csv", CSV_WITH_EMPTY_ITEMS, ids=repr)
def test_invitation_tokens_with_an_empty_item_are_a_400_naming_them(scene, csv):
    path = "/organizations/{org}/invitations/" + csv.replace("{id}", TOKEN)
    response = scene.call("DELETE", path)
    assert_refused(response, 400, "root.invalid_data", "path.invitation_tokens")


AUDIT_QUERIES = [
    ("since=2025-01-01T00:00:00", "query.since"),
    ("since=2025-01-01", "query.since"),
    ("since=yesterday", "query.since"),
    ("until=9999-12-31T23:59:59-23:59", "query.until"),
    ("until=0001-01-01T00:00:00%2B01:00", "query.until"),
    ("size=0", "query.size"),
    ("size=1001", "query.size"),
    ("size=ten", "query.size"),
    ("cursor=0", "query.cursor"),
    ("cursor=-1", "query.cursor"),
    ("cursor=abc", "query.cursor"),
    ("cursor=%C2%B2", "query.cursor"),
    ("cursor=99999999999999999999", "query.cursor"),
]


@pytest.mark.parametrize(("query", "field"), AUDIT_QUERIES, ids=ids(AUDIT_QUERIES))
def test_a_bad_audit_query_is_a_400_naming_the_parameter(scene, query, field):
    response = scene.call("GET", f"/organizations/{{org}}/audit-events?{query}")
    assert_refused(response, 400, field=field)


# --- NUL characters (PostgreSQL text cannot hold them) ---------------------------------------

NUL_IN_BODIES = [
    ("PUT", "/organizations/{org}", {"name": "Ac\x00me"}, "body.name"),
    ("POST", "/users/auth/keys", {"description": "c\x00i"}, "body.description"),
    (
        "POST",
        "/users/auth/_login",
        {"username": "a\x00@example.com", "password": "x"},
        "body.username",
    ),
    (
        "POST",
        "/organizations/{org}/invitations",
        {"emails": ["a@example.com", "b\x00@example.com"]},
        "body.emails",
    ),
    ("DELETE", "/users/auth/keys", {"keys": ["abc\x00def"]}, "body.keys"),
    (
        "POST",
        "/users/{user}/role_assignments",
        {"deployment": [role("deployment-viewer", all=True, application_roles=["a\x00"])]},
        "body.deployment[0].application_roles",
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), NUL_IN_BODIES, ids=ids(NUL_IN_BODIES))
def test_a_nul_character_in_the_body_is_a_400_naming_the_field(scene, method, path, body, field):
    assert_refused(scene.call(method, path, body=body), 400, "root.invalid_data", field)


NUL_IN_URLS = [
    ("GET", "/users/auth/keys/abc%00def", "path.api_key_id"),
    ("DELETE", "/organizations/{org}/members/abc%00def", "path.user_ids"),
    ("POST", "/users/abc%00def/role_assignments", "path.user_id"),
    ("GET", "/organizations/{org}/audit-events?action=a%00b", "query.action"),
    ("GET", "/organizations/{org}/audit-events?actor_id=%00", "query.actor_id"),
]


@pytest.mark.parametrize(("method", "path", "field"), NUL_IN_URLS, ids=ids(NUL_IN_URLS))
def test_a_nul_character_in_the_url_is_a_400_naming_the_parameter(scene, method, path, field):
    body = {} if path.endswith("role_assignments") else None
    assert_refused(scene.call(method, path, body=body), 400, "root.invalid_data", field)

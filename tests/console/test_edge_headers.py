"""The control plane's answers at the HTTP edge (issue 17.10, control-plane part): browser
isolation headers on every response, `Retry-After` on the console's 429, `Origin: null`
refused by the console as by the API, `Allow` on a 405."""

from __future__ import annotations

import pytest

from citadel.api.middleware import PERMISSIONS_POLICY
from tests.console.helpers import post, token_in
from tests.fixtures.builders import PASSWORD, key_headers, make_api_key

ISOLATION = {
    "permissions-policy": PERMISSIONS_POLICY,
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "referrer-policy": "same-origin",
}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/_health"),  # an API answer
        ("GET", "/sign-in"),  # a console page
        ("GET", "/static/console.css"),  # a static file
        ("GET", "/favicon.ico"),
        ("GET", "/api/v1/no-such-route"),  # a 404
        ("GET", "/api/v1/organizations"),  # a 401
        ("DELETE", "/api/v1/_health"),  # a 405
        ("GET", "/members"),  # a redirect to sign in
    ],
)
def test_every_response_carries_the_isolation_headers(client, method, path):
    response = client.request(method, path, follow_redirects=False)
    for name, value in ISOLATION.items():
        assert response.headers.get(name) == value, (name, response.status_code)


def test_a_too_large_body_carries_the_isolation_headers(client):
    response = client.post(
        "/api/v1/users/auth/_login",
        content=b"x",
        headers={"content-length": str(10**9), "content-type": "application/json"},
    )
    assert response.status_code == 413
    for name, value in ISOLATION.items():
        assert response.headers.get(name) == value


def test_a_405_names_the_allowed_methods(client):
    response = client.delete("/api/v1/_health")
    assert response.status_code == 405
    assert response.json()["errors"][0]["code"] == "root.method_not_allowed"
    assert response.headers["Allow"] == "GET"


def test_a_405_of_a_console_page_names_the_allowed_methods(client):
    response = client.put("/sign-in", follow_redirects=False)
    assert response.status_code == 405
    assert set(response.headers["Allow"].replace(" ", "").split(",")) == {"GET", "POST"}


def test_the_consoles_throttled_sign_in_says_when_to_retry(client, services, owner):
    user, _ = owner
    form = {"email": user.email, "password": "not the password"}
    statuses = []
    for _ in range(services.policies.signin_pair_failures + 1):
        form["csrf_token"] = token_in(client.get("/sign-in").text)
        statuses.append(client.post("/sign-in", data=form, follow_redirects=False))
    refused = statuses[-1]
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert "content-security-policy" in refused.headers


def test_origin_null_is_refused_by_a_console_form(client, signed_in):
    response = client.post(
        "/api-keys",
        data={"csrf_token": signed_in, "description": "k", "role": "organization-admin"},
        headers={"Origin": "null"},
        follow_redirects=False,
    )
    assert response.status_code == 403


def test_origin_null_is_refused_by_the_sign_in_form(client, services, owner):
    user, _ = owner
    form = {
        "csrf_token": token_in(client.get("/sign-in").text),
        "email": user.email,
        "password": PASSWORD,
        "totp_code": user.code(services),
    }
    response = client.post("/sign-in", data=form, headers={"Origin": "null"})
    assert response.status_code == 403
    assert client.cookies.get("__Host-citadel_session") is None


def test_the_consoles_own_origin_is_accepted(client, signed_in):
    response = post(client, "/sign-out", signed_in)
    assert response.status_code == 303
    origin = client.post(
        "/sign-out",
        data={"csrf_token": signed_in},
        headers={"Origin": "https://testserver"},
        follow_redirects=False,
    )
    assert origin.status_code in (303, 200)


def test_origin_null_is_refused_by_the_api_with_a_session_cookie(client, services, signed_in):
    response = client.post(
        "/api/v1/users/auth/_password",
        json={"current_password": PASSWORD, "new_password": "Another-Long-Passphrase-1"},
        headers={"X-CSRF-Token": signed_in, "Origin": "null"},
    )
    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "auth.csrf_failed"


def test_an_api_key_call_needs_no_origin_check(client, services, owner):
    _, org = owner
    key = key_headers(make_api_key(services, org))
    response = client.get(f"/api/v1/organizations/{org}", headers=key | {"Origin": "null"})
    assert response.status_code == 200

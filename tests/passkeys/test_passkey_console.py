"""Passkeys through the console's forms (in-process app): adding one, signing in with it,
and the sign-in challenge bound to the browser's pre-session token."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from citadel.app import create_app
from citadel.bootstrap import Services
from tests.console.helpers import sign_in, token_in
from tests.fixtures.builders import PASSWORD, make_org, make_user
from tests.passkeys.authenticator import SoftAuthenticator


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    app = create_app(services)
    with TestClient(app, base_url="https://testserver", client=("127.0.0.1", 50000)) as c:
        yield c


def add_in_console(client, services, user) -> SoftAuthenticator:
    csrf = sign_in(client, services, user)
    options = client.post("/security/passkeys/options", data={"csrf_token": csrf})
    assert options.status_code == 200, options.text
    device = SoftAuthenticator()
    credential = device.create(
        options.json()["public_key"], origin=services.settings.control_plane_url
    )
    added = client.post(
        "/security/passkeys",
        data={"csrf_token": csrf, "credential": credential, "name": "laptop"},
        follow_redirects=False,
    )
    assert added.headers["location"] == "/security/passkeys?notice=passkey_added"
    assert "laptop" in client.get("/security/passkeys").text
    client.cookies.clear()  # signed out: a new browser
    return device


def assertion(client, services, device) -> tuple[str, str]:
    """(the sign-in form's token, the device's answer to the console's challenge)."""
    token = token_in(client.get("/sign-in").text)
    options = client.post("/sign-in/passkey", data={"csrf_token": token})
    assert options.status_code == 200, options.text
    answer = device.get(options.json()["public_key"], origin=services.settings.control_plane_url)
    return token, answer


def post_sign_in(client, user, token, answer):
    form = {"csrf_token": token, "email": user.email, "password": PASSWORD}
    form["passkey_assertion"] = answer
    return client.post("/sign-in", data=form, follow_redirects=False)


def test_sign_in_with_password_and_passkey_in_the_console(client, services):
    user = make_user(services)
    make_org(services, user)
    device = add_in_console(client, services, user)
    token, answer = assertion(client, services, device)
    done = post_sign_in(client, user, token, answer)
    assert (done.status_code, done.headers["location"]) == (303, "/")


def test_a_console_challenge_is_bound_to_the_browser_that_asked(client, services):
    user = make_user(services)
    make_org(services, user)
    device = add_in_console(client, services, user)
    _, answer = assertion(client, services, device)
    client.cookies.clear()  # another browser posts the answer
    token = token_in(client.get("/sign-in").text)
    refused = post_sign_in(client, user, token, answer)
    assert refused.status_code == 401
    assert "The email, password or second factor is not valid" in refused.text


def test_an_api_challenge_does_not_serve_the_console(client, services):
    user = make_user(services)
    make_org(services, user)
    device = add_in_console(client, services, user)
    options = client.post("/api/v1/users/auth/passkeys/_challenge").json()["public_key"]
    answer = device.get(options, origin=services.settings.control_plane_url)
    token = token_in(client.get("/sign-in").text)
    assert post_sign_in(client, user, token, answer).status_code == 401


def test_the_sign_in_challenge_needs_the_pre_session_token(client):
    client.get("/sign-in")
    refused = client.post("/sign-in/passkey", data={"csrf_token": "x" * 43})
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["code"] == "auth.csrf_failed"


def test_a_passkey_alone_signs_in_through_the_console(client, services):
    user = make_user(services)
    make_org(services, user)
    device = add_in_console(client, services, user)
    token, answer = assertion(client, services, device)
    done = client.post(
        "/sign-in/passkey-only",
        data={"csrf_token": token, "passkey_assertion": answer},
        follow_redirects=False,
    )
    assert (done.status_code, done.headers["location"]) == (303, "/")
    assert user.email in client.get("/").text

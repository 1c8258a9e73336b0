"""Passwordless: a passkey alone (with user verification) signs its owner in, through the API;
every refusal is the answer of a wrong password."""

from __future__ import annotations

import sqlalchemy as sa

from citadel.audit.models import AuditEvent
from tests.fixtures.builders import bearer
from tests.passkeys.authenticator import SoftAuthenticator
from tests.passkeys.test_passkey_api import CHALLENGE, LOGIN, enrolled, origin_of

PASSKEY_LOGIN = "/api/v1/users/auth/passkeys/_login"


def passwordless(client, services, device: SoftAuthenticator, **kw):
    options = client.post(CHALLENGE).json()["public_key"]
    assertion = device.get(options, origin=kw.pop("origin", origin_of(services)), **kw)
    return client.post(PASSKEY_LOGIN, json={"passkey_assertion": assertion})


def wrong_password(client, user):
    return client.post(LOGIN, json={"username": user.email, "password": "wrong!!12345"})


def test_a_passkey_alone_signs_its_owner_in(client, services):
    user, _, device = enrolled(client, services)
    response = passwordless(client, services, device)
    assert response.status_code == 200, response.text
    me = client.get("/api/v1/users/auth", headers=bearer(response.json())).json()
    assert me["email"] == user.email


def test_the_passwordless_sign_in_is_audited_with_its_method(client, services):
    _, _, device = enrolled(client, services)
    assert passwordless(client, services, device).status_code == 200
    with services.db.read() as session:
        rows = session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "user.signin"))
        methods = {(r.details or {}).get("method") for r in rows if r.outcome == "success"}
    assert "passkey" in methods


def test_without_user_verification_a_passkey_alone_is_refused(client, services):
    user, _, device = enrolled(client, services)
    device.verifies_user = False
    response = passwordless(client, services, device)
    expected = wrong_password(client, user)
    assert (response.status_code, response.json()) == (expected.status_code, expected.json())


def test_an_unknown_passkey_is_refused_like_a_wrong_password(client, services):
    user, _, _ = enrolled(client, services)
    response = passwordless(client, services, SoftAuthenticator(user_handle=b"x"))
    expected = wrong_password(client, user)
    assert (response.status_code, response.json()) == (expected.status_code, expected.json())


def test_a_passwordless_answer_cannot_be_replayed(client, services):
    _, _, device = enrolled(client, services)
    options = client.post(CHALLENGE).json()["public_key"]
    body = {"passkey_assertion": device.get(options, origin=origin_of(services))}
    assert client.post(PASSKEY_LOGIN, json=body).status_code == 200
    assert client.post(PASSKEY_LOGIN, json=body).status_code == 401


def test_another_origin_is_refused(client, services):
    _, _, device = enrolled(client, services)
    assert passwordless(client, services, device, origin="https://evil.example").status_code == 401

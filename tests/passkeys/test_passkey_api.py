"""Passkeys through the API: adding one (options, attestation), signing in with password and
passkey instead of a TOTP code, and the refusals (challenge, origin, RP id, replay)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from citadel.audit.models import AuditEvent
from tests.fixtures.builders import (
    PASSWORD,
    add_member,
    bearer,
    grant,
    key_headers,
    login,
    make_api_key,
    make_org,
    make_user,
)
from tests.passkeys.authenticator import SoftAuthenticator

LOGIN = "/api/v1/users/auth/_login"
PASSKEYS = "/api/v1/users/auth/passkeys"
CHALLENGE = "/api/v1/users/auth/passkeys/_challenge"


def origin_of(services) -> str:
    return services.settings.control_plane_url


def registration_options(client, token) -> dict[str, Any]:
    response = client.post(f"{PASSKEYS}/_options", headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.json()["public_key"]


def add(client, services, token, device: SoftAuthenticator, **kw: Any):
    options = registration_options(client, token)
    credential = device.create(options, origin=kw.pop("origin", origin_of(services)), **kw)
    return client.post(
        PASSKEYS, json={"credential": credential, "name": "laptop"}, headers=bearer(token)
    )


def enrolled(client, services, *, with_totp: bool = True):
    """A user with TOTP, signed in, who then added a passkey: (user, token, device)."""
    user = make_user(services)
    make_org(services, user)
    token = login(client, services, user)
    device = SoftAuthenticator()
    assert add(client, services, token, device).status_code == 201
    return user, token, device


def sign_in_body(client, services, user, device, **kw: Any) -> dict[str, Any]:
    options = client.post(CHALLENGE).json()["public_key"]
    assertion = device.get(options, origin=kw.pop("origin", origin_of(services)), **kw)
    return {"username": user.email, "password": PASSWORD, "passkey_assertion": assertion}


def refusal_code(response) -> str:
    return response.json()["errors"][0]["code"]


def test_a_passkey_is_added_and_listed(client, services):
    _, token, _ = enrolled(client, services)
    listed = client.get(PASSKEYS, headers=bearer(token)).json()["passkeys"]
    assert [p["name"] for p in listed] == ["laptop"]


def test_registration_options_name_the_rp_id_and_require_a_discoverable_credential(
    client, services
):
    user = make_user(services)
    token = login(client, services, user)
    options = registration_options(client, token)
    assert options["rp"]["id"] == "localhost"
    assert options["authenticatorSelection"]["residentKey"] == "required"


def test_password_and_passkey_sign_in_without_a_totp_code(client, services):
    user, _, device = enrolled(client, services)
    response = client.post(LOGIN, json=sign_in_body(client, services, user, device))
    assert response.status_code == 200, response.text
    assert response.json()["mfa_enrollment_required"] is False


def test_sign_in_with_a_passkey_is_audited_as_such(client, services):
    user, _, device = enrolled(client, services)
    assert client.post(LOGIN, json=sign_in_body(client, services, user, device)).status_code == 200
    with services.db.read() as session:
        rows = session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "user.signin")
        ).all()
    assert any((r.details or {}).get("second_factor") == "passkey" for r in rows)


def test_a_sign_in_challenge_cannot_be_used_twice(client, services):
    user, _, device = enrolled(client, services)
    body = sign_in_body(client, services, user, device)
    assert client.post(LOGIN, json=body).status_code == 200
    again = client.post(LOGIN, json=body)
    assert again.status_code == 401
    assert refusal_code(again) == "root.unauthenticated"


def test_a_passkey_answer_refused_looks_like_a_wrong_password(client, services):
    user, _, device = enrolled(client, services)
    wrong_password = client.post(LOGIN, json={"username": user.email, "password": "wrong!!1234"})
    refusals = [
        sign_in_body(client, services, user, device, origin="https://evil.example"),
        sign_in_body(client, services, user, device, rp_id="evil.example"),
        sign_in_body(client, services, user, SoftAuthenticator(user_handle=b"x")),
    ]
    for body in refusals:
        response = client.post(LOGIN, json=body)
        assert (response.status_code, response.json()) == (
            wrong_password.status_code,
            wrong_password.json(),
        )


def test_an_assertion_for_a_challenge_never_issued_is_refused(client, services):
    user, _, device = enrolled(client, services)
    options = {"challenge": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "rpId": "localhost"}
    body = {
        "username": user.email,
        "password": PASSWORD,
        "passkey_assertion": device.get(options, origin=origin_of(services)),
    }
    assert client.post(LOGIN, json=body).status_code == 401


def test_a_malformed_assertion_is_refused_like_a_wrong_code(client, services):
    user, _, _ = enrolled(client, services)
    body = {"username": user.email, "password": PASSWORD, "passkey_assertion": "not json"}
    assert client.post(LOGIN, json=body).status_code == 401


def test_registration_from_another_origin_is_refused(client, services):
    user = make_user(services)
    token = login(client, services, user)
    response = add(client, services, token, SoftAuthenticator(), origin="https://evil.example")
    assert response.status_code == 400
    assert refusal_code(response) == "auth.invalid_passkey"
    assert response.json()["errors"][0]["fields"] == ["body.credential"]


def test_registration_for_another_rp_id_is_refused(client, services):
    user = make_user(services)
    token = login(client, services, user)
    response = add(client, services, token, SoftAuthenticator(), rp_id="evil.example")
    assert response.status_code == 400
    assert refusal_code(response) == "auth.invalid_passkey"


def test_a_registration_challenge_cannot_be_used_twice(client, services):
    user = make_user(services)
    token = login(client, services, user)
    options = registration_options(client, token)
    first = SoftAuthenticator().create(options, origin=origin_of(services))
    second = SoftAuthenticator().create(options, origin=origin_of(services))
    assert (
        client.post(PASSKEYS, json={"credential": first}, headers=bearer(token)).status_code == 201
    )
    replay = client.post(PASSKEYS, json={"credential": second}, headers=bearer(token))
    assert replay.status_code == 400


def test_a_registration_challenge_of_another_session_is_refused(client, services, clock):
    user = make_user(services)
    token = login(client, services, user)
    clock.advance(seconds=30)  # the next TOTP step: a code is good once
    other = login(client, services, user)
    options = registration_options(client, token)
    credential = SoftAuthenticator().create(options, origin=origin_of(services))
    response = client.post(PASSKEYS, json={"credential": credential}, headers=bearer(other))
    assert response.status_code == 400


def test_a_sign_in_challenge_is_not_a_registration_challenge(client, services):
    user = make_user(services)
    token = login(client, services, user)
    options = client.post(CHALLENGE).json()["public_key"]
    options = {**registration_options(client, token), "challenge": options["challenge"]}
    credential = SoftAuthenticator().create(options, origin=origin_of(services))
    response = client.post(PASSKEYS, json={"credential": credential}, headers=bearer(token))
    assert response.status_code == 400


def test_the_sign_in_challenge_names_no_account_and_no_credential(client, services):
    enrolled(client, services)
    options = client.post(CHALLENGE).json()["public_key"]
    assert options["allowCredentials"] == []
    assert set(options) == {"challenge", "timeout", "rpId", "allowCredentials", "userVerification"}


def test_a_passkey_is_removed_while_totp_remains(client, services):
    _, token, _ = enrolled(client, services)
    (passkey,) = client.get(PASSKEYS, headers=bearer(token)).json()["passkeys"]
    assert client.delete(f"{PASSKEYS}/{passkey['id']}", headers=bearer(token)).status_code == 200
    assert client.get(PASSKEYS, headers=bearer(token)).json()["passkeys"] == []


def test_the_last_second_factor_cannot_be_removed(client, services):
    user, token, _ = enrolled(client, services)
    with services.db.write() as session:
        session.execute(
            sa.text("UPDATE users SET totp_enabled_at = NULL WHERE id = :id"),
            {"id": user.user_id},
        )
    (passkey,) = client.get(PASSKEYS, headers=bearer(token)).json()["passkeys"]
    response = client.delete(f"{PASSKEYS}/{passkey['id']}", headers=bearer(token))
    assert response.status_code == 409
    assert refusal_code(response) == "auth.last_second_factor"


def test_a_passkey_is_renamed(client, services):
    _, token, _ = enrolled(client, services)
    (passkey,) = client.get(PASSKEYS, headers=bearer(token)).json()["passkeys"]
    response = client.patch(
        f"{PASSKEYS}/{passkey['id']}", json={"name": "phone"}, headers=bearer(token)
    )
    assert response.json()["name"] == "phone"


def test_another_users_passkey_is_not_found(client, services):
    _, token, _ = enrolled(client, services)
    (passkey,) = client.get(PASSKEYS, headers=bearer(token)).json()["passkeys"]
    stranger = login(client, services, make_user(services))
    response = client.delete(f"{PASSKEYS}/{passkey['id']}", headers=bearer(stranger))
    assert response.status_code == 404


def test_a_passkey_of_another_account_does_not_sign_this_one_in(client, services):
    _, _, device = enrolled(client, services)
    other, _, _ = enrolled(client, services)
    response = client.post(LOGIN, json=sign_in_body(client, services, other, device))
    assert response.status_code == 401


def test_changes_are_audited(client, services):
    _, token, _ = enrolled(client, services)
    (passkey,) = client.get(PASSKEYS, headers=bearer(token)).json()["passkeys"]
    client.delete(f"{PASSKEYS}/{passkey['id']}", headers=bearer(token))
    with services.db.read() as session:
        actions = set(session.scalars(sa.select(AuditEvent.action)))
    assert {"user.passkey.added", "user.passkey.removed"} <= actions


def test_an_owners_reset_forgets_the_members_passkeys(client, services):
    owner = make_user(services)
    org = make_org(services, owner, "Acme")
    member = make_user(services)
    add_member(services, org, member, grant(org, "deployment-viewer"))
    token = login(client, services, member)
    assert add(client, services, token, SoftAuthenticator()).status_code == 201
    url = f"/api/v1/organizations/{org}/members/{member.user_id}/_reset_second_factor"
    owner_key = key_headers(make_api_key(services, org))
    assert client.post(url, headers=owner_key).status_code == 200

    again = client.post(LOGIN, json={"username": member.email, "password": PASSWORD})
    assert again.json()["mfa_enrollment_required"] is True

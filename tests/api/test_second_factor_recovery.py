"""A lost authenticator: recovery codes can be regenerated (after a current second factor),
and an Organization owner can reset a member's second factor (issue 17 item 7)."""

from __future__ import annotations

import base64

import sqlalchemy as sa

from citadel.audit.models import AuditEvent
from citadel.authn import totp
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

LOGIN = "/api/v1/users/auth/_login"
REGENERATE = "/api/v1/users/auth/mfa/recovery_codes/_regenerate"


def enrolled(client, services):
    """A new user with TOTP enrolled through the API: (user, session headers, seed, codes)."""
    user = make_user(services, with_totp=False)
    headers = bearer(login(client, services, user))
    text = client.post("/api/v1/users/auth/mfa/totp", headers=headers).json()["secret"]
    seed = base64.b32decode(text + "=" * (-len(text) % 8))
    code = totp.code_at(seed, totp.counter_at(services.clock.now()))
    confirmed = client.post(
        "/api/v1/users/auth/mfa/totp/_confirm", json={"code": code}, headers=headers
    )
    assert confirmed.status_code == 200, confirmed.text
    return user, headers, seed, confirmed.json()["recovery_codes"]


def next_code(services, seed: bytes, steps: int = 1) -> str:
    return totp.code_at(seed, totp.counter_at(services.clock.now()) + steps)


def sign_in_with(client, user, second_factor: str) -> int:
    body = {"username": user.email, "password": PASSWORD, "totp_code": second_factor}
    return client.post(LOGIN, json=body).status_code


def actions(services, target: str) -> list[tuple[str, str]]:
    with services.db.read() as session:
        rows = session.scalars(
            sa.select(AuditEvent).where(AuditEvent.target_id == target).order_by(AuditEvent.seq)
        )
        return [(e.action, e.outcome) for e in rows]


# --- regenerating recovery codes ---------------------------------------------------------------


def test_new_recovery_codes_replace_the_old_ones(client, services):
    user, headers, seed, old = enrolled(client, services)

    response = client.post(REGENERATE, json={"code": next_code(services, seed)}, headers=headers)

    assert response.status_code == 200
    new = response.json()["recovery_codes"]
    assert len(new) == 10
    assert not set(new) & set(old)
    assert sign_in_with(client, user, old[0]) == 401
    assert sign_in_with(client, user, new[0]) == 200
    assert ("user.recovery_codes.regenerated", "success") in actions(services, user.user_id)


def test_an_old_recovery_code_proves_the_factor_once(client, services):
    _user, headers, _seed, old = enrolled(client, services)

    response = client.post(REGENERATE, json={"code": old[3]}, headers=headers)

    assert response.status_code == 200
    again = client.post(REGENERATE, json={"code": old[3]}, headers=headers)
    assert again.status_code == 401


def test_a_wrong_code_regenerates_nothing_and_is_audited(client, services):
    user, headers, _seed, old = enrolled(client, services)

    response = client.post(REGENERATE, json={"code": "000000"}, headers=headers)

    assert response.status_code == 401
    assert response.json()["errors"][0]["fields"] == ["body.code"]
    assert sign_in_with(client, user, old[0]) == 200  # the old codes still work
    assert ("user.recovery_codes.regenerated", "failure") in actions(services, user.user_id)


# --- an owner resets a member's second factor --------------------------------------------------


def reset(client, org: str, user_id: str, headers: dict):
    url = f"/api/v1/organizations/{org}/members/{user_id}/_reset_second_factor"
    return client.post(url, headers=headers)


def test_a_reset_member_is_signed_out_and_enrols_again(client, services):
    owner = make_user(services)
    org = make_org(services, owner, "Acme")
    member = make_user(services)
    add_member(services, org, member, grant(org, "deployment-viewer"))
    member_session = bearer(login(client, services, member))
    owner_key = key_headers(make_api_key(services, org))

    assert reset(client, org, member.user_id, owner_key).status_code == 200

    assert client.get("/api/v1/users/auth", headers=member_session).status_code == 401
    body = {"username": member.email, "password": PASSWORD, "totp_code": member.code(services)}
    again = client.post(LOGIN, json=body)  # the old seed counts for nothing now
    assert again.status_code == 200
    assert again.json()["mfa_enrollment_required"] is True
    assert ("org.member.second_factor_reset", "success") in actions(services, member.user_id)


def test_a_member_of_another_organization_is_not_reset_by_one_owner(client, services):
    owner, elsewhere_owner = make_user(services), make_user(services)
    org = make_org(services, owner, "Acme")
    elsewhere = make_org(services, elsewhere_owner, "Elsewhere")
    member = make_user(services)
    add_member(services, org, member)
    add_member(services, elsewhere, member)

    response = reset(client, org, member.user_id, key_headers(make_api_key(services, org)))

    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == (
        "organization.second_factor_reset_other_organizations"
    )
    assert sign_in_with(client, member, member.code(services)) == 200  # untouched
    assert ("org.member.second_factor_reset", "failure") in actions(services, member.user_id)


def test_someone_outside_the_organization_is_not_found(client, services):
    owner, stranger = make_user(services), make_user(services)
    org = make_org(services, owner, "Acme")
    response = reset(client, org, stranger.user_id, key_headers(make_api_key(services, org)))
    assert response.status_code == 404
    assert response.json()["errors"][0]["fields"] == ["path.user_id"]

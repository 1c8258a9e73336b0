"""Invitations: bound to one email, single use, expiring, roles within the inviter's power;
a new account proves its address with the code only the invitation email carries."""

import stat

import pytest

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
from tests.fixtures.mail import email_code, invitation_link, mailed_to


def _invite(client, org, key, emails, **extra):
    return client.post(
        f"/api/v1/organizations/{org}/invitations",
        json={"emails": emails, **extra},
        headers=key_headers(key),
    )


def _joining(services, email: str) -> dict:
    """What the invited person sends to create their account: a password and the code from
    the email they received (read from the maildir the control plane delivered to)."""
    return {"password": PASSWORD, "email_code": email_code(services.settings.data_dir, email)}


def _setup(services):
    owner = make_user(services)
    org = make_org(services, owner)
    return org, make_api_key(services, org)


def test_a_new_person_accepts_and_joins_with_the_invited_roles(client, services):
    org, key = _setup(services)
    roles = {"deployment": [{"role_id": "deployment-viewer", "organization_id": org, "all": True}]}
    [inv] = _invite(client, org, key, ["New@Example.com"], role_assignments=roles).json()[
        "invitations"
    ]
    assert inv["email"] == "new@example.com"
    accepted = client.post(
        f"/api/v1/organizations/invitations/{inv['token']}/_accept",
        json=_joining(services, "new@example.com"),
    )
    assert accepted.status_code == 200
    assert accepted.json()["mfa_enrollment_required"] is True
    members = client.get(f"/api/v1/organizations/{org}/members", headers=key_headers(key)).json()
    joined = [m for m in members["members"] if m["email"] == "new@example.com"]
    assert joined[0]["role_assignments"]["deployment"][0]["role_id"] == "deployment-viewer"


def test_an_invitation_is_accepted_only_once(client, services):
    org, key = _setup(services)
    [inv] = _invite(client, org, key, ["once@example.com"]).json()["invitations"]
    url = f"/api/v1/organizations/invitations/{inv['token']}/_accept"
    joining = _joining(services, "once@example.com")
    assert client.post(url, json=joining).status_code == 200
    assert client.post(url, json=joining).status_code == 404


def test_an_expired_invitation_admits_nobody(client, services):
    org, key = _setup(services)
    [inv] = _invite(client, org, key, ["late@example.com"], expires_in="1h").json()["invitations"]
    services.clock.advance(hours=2)
    response = client.post(
        f"/api/v1/organizations/invitations/{inv['token']}/_accept",
        json=_joining(services, "late@example.com"),
    )
    assert response.status_code == 410


def test_an_existing_account_must_sign_in_as_the_invited_email(client, services):
    org, key = _setup(services)
    invited, someone_else = make_user(services), make_user(services)
    [inv] = _invite(client, org, key, [invited.email]).json()["invitations"]
    url = f"/api/v1/organizations/invitations/{inv['token']}/_accept"
    assert client.post(url, json={"password": PASSWORD}).status_code == 403
    wrong = bearer(login(client, services, someone_else))
    assert client.post(url, headers=wrong).status_code == 403
    right = bearer(login(client, services, invited))
    assert client.post(url, headers=right).status_code == 200


def test_lists_show_handles_not_acceptance_tokens(client, services):
    org, key = _setup(services)
    [inv] = _invite(client, org, key, ["a@example.com"]).json()["invitations"]
    listed = client.get(f"/api/v1/organizations/{org}/invitations", headers=key_headers(key)).json()
    [row] = listed["invitations"]
    assert inv["token"].startswith(row["token"] + "_")
    assert client.get(f"/api/v1/organizations/invitations/{row['token']}").status_code == 404


def test_reinviting_refreshes_and_the_old_token_stops_working(client, services):
    org, key = _setup(services)
    [first] = _invite(client, org, key, ["r@example.com"]).json()["invitations"]
    [second] = _invite(client, org, key, ["r@example.com"]).json()["invitations"]
    assert first["token"] != second["token"]
    assert client.get(f"/api/v1/organizations/invitations/{first['token']}").status_code == 404
    assert client.get(f"/api/v1/organizations/invitations/{second['token']}").status_code == 200


def test_inviting_an_existing_member_names_the_email(client, services):
    owner = make_user(services)
    org = make_org(services, owner)
    key = make_api_key(services, org)
    response = _invite(client, org, key, ["x@example.com", owner.email])
    assert response.status_code == 400
    assert response.json()["errors"][0]["fields"] == ["body.emails[1]"]


def test_a_scoped_admin_cannot_invite_with_roles_beyond_their_scope(client, services):
    owner, admin = make_user(services), make_user(services)
    org = make_org(services, owner)
    add_member(services, org, admin, grant(org, "deployment-admin", "d1" * 16))
    roles = {"organization": [{"role_id": "organization-admin", "organization_id": org}]}
    response = client.post(
        f"/api/v1/organizations/{org}/invitations",
        json={"emails": ["p@example.com"], "role_assignments": roles},
        headers=bearer(login(client, services, admin)),
    )
    assert response.status_code == 403


def test_deleting_an_invitation_revokes_its_token(client, services):
    org, key = _setup(services)
    [inv] = _invite(client, org, key, ["d@example.com"]).json()["invitations"]
    handle = inv["token"].rsplit("_", 1)[0]
    deleted = client.delete(
        f"/api/v1/organizations/{org}/invitations/{handle}", headers=key_headers(key)
    )
    assert deleted.status_code == 200
    assert client.get(f"/api/v1/organizations/invitations/{inv['token']}").status_code == 404


def test_the_acceptance_token_never_reaches_the_audit_log(client, services):
    org, key = _setup(services)
    [inv] = _invite(client, org, key, ["t@example.com"]).json()["invitations"]
    client.post(
        f"/api/v1/organizations/invitations/{inv['token']}/_accept",
        json=_joining(services, "t@example.com"),
    )
    events = client.get(f"/api/v1/organizations/{org}/audit-events", headers=key_headers(key)).text
    secret = inv["token"].rsplit("_", 1)[1]
    assert secret not in events


# --- email ownership (issue 17 item 5) ---------------------------------------------------------


def test_the_invited_address_gets_an_email_with_the_link_and_the_code(client, services):
    org, key = _setup(services)
    [inv] = _invite(client, org, key, ["ana@example.com"]).json()["invitations"]

    (mail,) = mailed_to(services.settings.data_dir, "ana@example.com")
    link = invitation_link(services.settings.data_dir, "ana@example.com")
    assert mail["Subject"].startswith("Invitation to ")
    assert link.startswith(
        f"{services.settings.control_plane_url}/invitations/{inv['token']}?code="
    )
    assert email_code(services.settings.data_dir, "ana@example.com") not in str(inv)
    maildir = services.settings.data_dir / "mail"
    assert stat.S_IMODE(maildir.stat().st_mode) == 0o700


@pytest.mark.parametrize("code", [None, "", "wrong-code", "x" * 64])
def test_the_inviter_cannot_create_the_invited_persons_account(client, services, code):
    """Email squatting: an inviter holds the token, not the invited mailbox. Without the
    email's code no account is created, so the address's real owner is not locked out."""
    org, key = _setup(services)
    [inv] = _invite(client, org, key, ["victim@example.com"]).json()["invitations"]
    url = f"/api/v1/organizations/invitations/{inv['token']}/_accept"
    body = {"password": PASSWORD} | ({} if code is None else {"email_code": code})

    refused = client.post(url, json=body)

    assert refused.status_code == 403
    error = refused.json()["errors"][0]
    assert error["code"] == "organization.invitation_email_not_proven"
    assert error["fields"] == ["body.email_code"]
    events = client.get(f"/api/v1/organizations/{org}/audit-events", headers=key_headers(key))
    (failure,) = [
        e
        for e in events.json()["events"]
        if e["action"] == "org.invitation.accepted" and e["outcome"] == "failure"
    ]
    assert failure["details"]["reason"] == "email_not_proven"
    assert client.post(url, json=_joining(services, "victim@example.com")).status_code == 200


def test_a_refreshed_invitation_needs_the_new_emails_code(client, services):
    org, key = _setup(services)
    _invite(client, org, key, ["re@example.com"])
    old_code = email_code(services.settings.data_dir, "re@example.com")
    [inv] = _invite(client, org, key, ["re@example.com"]).json()["invitations"]
    url = f"/api/v1/organizations/invitations/{inv['token']}/_accept"

    stale = client.post(url, json={"password": PASSWORD, "email_code": old_code})

    assert stale.status_code == 403
    assert client.post(url, json=_joining(services, "re@example.com")).status_code == 200

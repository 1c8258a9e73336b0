"""Invitations: bound to one email, single use, expiring, roles within the inviter's power."""

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


def _invite(client, org, key, emails, **extra):
    return client.post(
        f"/api/v1/organizations/{org}/invitations",
        json={"emails": emails, **extra},
        headers=key_headers(key),
    )


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
        f"/api/v1/organizations/invitations/{inv['token']}/_accept", json={"password": PASSWORD}
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
    assert client.post(url, json={"password": PASSWORD}).status_code == 200
    assert client.post(url, json={"password": PASSWORD}).status_code == 404


def test_an_expired_invitation_admits_nobody(client, services):
    org, key = _setup(services)
    [inv] = _invite(client, org, key, ["late@example.com"], expires_in="1h").json()["invitations"]
    services.clock.advance(hours=2)
    response = client.post(
        f"/api/v1/organizations/invitations/{inv['token']}/_accept", json={"password": PASSWORD}
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
        f"/api/v1/organizations/invitations/{inv['token']}/_accept", json={"password": PASSWORD}
    )
    events = client.get(f"/api/v1/organizations/{org}/audit-events", headers=key_headers(key)).text
    secret = inv["token"].rsplit("_", 1)[1]
    assert secret not in events

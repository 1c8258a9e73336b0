"""The first sign-in and key flow end to end in process."""

from tests.fixtures.builders import (
    bearer,
    key_headers,
    login,
    make_api_key,
    make_org,
    make_user,
)


def test_owner_signs_in_with_totp_and_lists_members(client, services):
    owner = make_user(services)
    org = make_org(services, owner)
    token = login(client, services, owner)
    assert token["mfa_enrollment_required"] is False
    response = client.get(f"/api/v1/organizations/{org}/members", headers=bearer(token))
    assert response.status_code == 200
    [member] = response.json()["members"]
    assert member["user_id"] == owner.user_id
    assert member["role_assignments"]["organization"][0]["role_id"] == "organization-admin"


def test_api_key_answers_with_its_expiry_header(client, services):
    owner = make_user(services)
    org = make_org(services, owner)
    key = make_api_key(services, org)
    response = client.get(f"/api/v1/organizations/{org}", headers=key_headers(key))
    assert response.status_code == 200
    assert response.json()["id"] == org
    assert response.headers["x-elastic-api-key-expiration"].startswith("20")

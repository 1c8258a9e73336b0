"""Cloud API keys: shown once, bounded by their creator, expiring, revocable."""

from tests.fixtures.builders import (
    add_member,
    bearer,
    grant,
    key_headers,
    login,
    make_api_key,
    make_org,
    make_user,
)

KEYS = "/api/v1/users/auth/keys"


def _owner_session(client, services):
    owner = make_user(services)
    org = make_org(services, owner)
    return org, bearer(login(client, services, owner))


def test_the_secret_is_returned_on_create_only(client, services):
    org, auth = _owner_session(client, services)
    created = client.post(KEYS, json={"description": "ci"}, headers=auth)
    assert created.status_code == 201
    body = created.json()
    assert body["key"].startswith("cit_live_")
    fetched = client.get(f"{KEYS}/{body['id']}", headers=auth).json()
    assert "key" not in fetched or fetched["key"] is None
    listed = client.get(KEYS, headers=auth).json()["keys"]
    assert all(k.get("key") is None for k in listed)
    assert (
        client.get(f"/api/v1/organizations/{org}", headers=key_headers(body["key"])).status_code
        == 200
    )


def test_default_expiry_is_ninety_days(client, services):
    _, auth = _owner_session(client, services)
    body = client.post(KEYS, json={"description": "ci"}, headers=auth).json()
    from datetime import datetime

    created = datetime.fromisoformat(body["creation_date"].replace("Z", "+00:00"))
    expires = datetime.fromisoformat(body["expiration_date"].replace("Z", "+00:00"))
    assert (expires - created).days == 90


def test_never_expiring_keys_need_the_org_setting(client, services):
    org, auth = _owner_session(client, services)
    refused = client.post(KEYS, json={"description": "x", "expiration": "never"}, headers=auth)
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["fields"] == ["body.expiration"]
    client.put(
        f"/api/v1/organizations/{org}", json={"allow_never_expiring_api_keys": True}, headers=auth
    )
    allowed = client.post(KEYS, json={"description": "x", "expiration": "never"}, headers=auth)
    assert allowed.status_code == 201
    assert allowed.json().get("expiration_date") is None


def test_more_than_a_year_is_refused(client, services):
    _, auth = _owner_session(client, services)
    response = client.post(KEYS, json={"description": "x", "expiration": "366d"}, headers=auth)
    assert response.status_code == 400


def test_an_expired_key_stops_working_and_leaves_the_list(client, services):
    org, auth = _owner_session(client, services)
    key = client.post(KEYS, json={"description": "short", "expiration": "1h"}, headers=auth).json()
    services.clock.advance(hours=1, seconds=1)
    assert (
        client.get(f"/api/v1/organizations/{org}", headers=key_headers(key["key"])).status_code
        == 401
    )
    auth = bearer(login(client, services, _any_owner(services, org)))
    assert key["id"] not in [k["id"] for k in client.get(KEYS, headers=auth).json()["keys"]]


def _any_owner(services, org):
    owner = make_user(services)
    add_member(services, org, owner, grant(org, "organization-admin"))
    return owner


def test_a_deleted_key_stops_working_at_once(client, services):
    org, auth = _owner_session(client, services)
    key = client.post(KEYS, json={"description": "x"}, headers=auth).json()
    assert client.delete(f"{KEYS}/{key['id']}", headers=auth).status_code == 200
    assert (
        client.get(f"/api/v1/organizations/{org}", headers=key_headers(key["key"])).status_code
        == 401
    )


def test_bulk_delete_is_all_or_nothing(client, services):
    _, auth = _owner_session(client, services)
    key = client.post(KEYS, json={"description": "x"}, headers=auth).json()
    response = client.request(
        "DELETE", KEYS, json={"keys": [key["id"], "nosuchkey123"]}, headers=auth
    )
    assert response.status_code == 404
    assert client.get(f"{KEYS}/{key['id']}", headers=auth).status_code == 200


def test_a_key_with_a_bad_checksum_is_refused(client, services):
    org, _ = _owner_session(client, services)
    key = make_api_key(services, org)
    tampered = key[:-1] + ("a" if key[-1] != "a" else "b")
    response = client.get(f"/api/v1/organizations/{org}", headers=key_headers(tampered))
    assert response.status_code == 401


def test_a_key_with_a_wrong_secret_but_valid_checksum_is_refused(client, services):
    from citadel.authn import api_key_format as fmt

    org, _ = _owner_session(client, services)
    real = fmt.parse_key(make_api_key(services, org))
    forged_body = fmt.PREFIX + real.key_id + "A" * fmt.SECRET_LEN
    forged = forged_body + fmt.checksum(forged_body)
    assert (
        client.get(f"/api/v1/organizations/{org}", headers=key_headers(forged)).status_code == 401
    )


def test_only_owners_create_keys(client, services):
    owner, admin = make_user(services), make_user(services)
    org = make_org(services, owner)
    add_member(services, org, admin, grant(org, "deployment-admin"))
    auth = bearer(login(client, services, admin))
    assert client.post(KEYS, json={"description": "x"}, headers=auth).status_code == 403


def test_a_key_cannot_carry_roles_in_another_organization(client, services):
    _, auth = _owner_session(client, services)
    other_owner = make_user(services)
    other = make_org(services, other_owner)
    body = {
        "description": "x",
        "role_assignments": {
            "organization": [{"role_id": "organization-admin", "organization_id": other}]
        },
    }
    response = client.post(KEYS, json=body, headers=auth)
    assert response.status_code == 403


def test_a_viewer_key_cannot_mint_keys(client, services):
    org, _ = _owner_session(client, services)
    viewer_key = make_api_key(services, org, grant(org, "deployment-viewer"))
    response = client.post(KEYS, json={"description": "x"}, headers=key_headers(viewer_key))
    assert response.status_code == 403


def test_last_use_time_and_address_are_recorded(client, services):
    org, auth = _owner_session(client, services)
    key = client.post(KEYS, json={"description": "x"}, headers=auth).json()
    client.get(f"/api/v1/organizations/{org}", headers=key_headers(key["key"]))
    fetched = client.get(f"{KEYS}/{key['id']}", headers=auth).json()
    assert fetched["last_used_at"] is not None
    assert fetched["last_used_ip"] == "testclient"


def test_keys_in_the_query_string_are_refused(client, services):
    org, _ = _owner_session(client, services)
    key = make_api_key(services, org)
    response = client.get(f"/api/v1/organizations/{org}?api_key={key}")
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "root.credentials_in_url"

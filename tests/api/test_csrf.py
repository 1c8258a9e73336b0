"""Cookie-authenticated changes need the session's CSRF token; bearer tokens do not."""

from tests.fixtures.builders import PASSWORD, make_org, make_user


def _cookie_login(client, services, user):
    body = {"username": user.email, "password": PASSWORD, "totp_code": user.code(services)}
    response = client.post("/api/v1/users/auth/_login", json=body)
    assert response.status_code == 200
    return response.json()["csrf_token"]


def test_cookie_change_without_csrf_token_is_refused(client, services):
    owner = make_user(services)
    org = make_org(services, owner)
    _cookie_login(client, services, owner)
    response = client.put(f"/api/v1/organizations/{org}", json={"name": "Renamed"})
    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "auth.csrf_failed"


def test_cookie_change_with_the_csrf_token_succeeds(client, services):
    owner = make_user(services)
    org = make_org(services, owner)
    csrf = _cookie_login(client, services, owner)
    response = client.put(
        f"/api/v1/organizations/{org}", json={"name": "Renamed"}, headers={"X-CSRF-Token": csrf}
    )
    assert response.status_code == 200
    assert response.json()["name"] == "Renamed"


def test_cross_origin_cookie_change_is_refused_even_with_the_token(client, services):
    owner = make_user(services)
    org = make_org(services, owner)
    csrf = _cookie_login(client, services, owner)
    response = client.put(
        f"/api/v1/organizations/{org}",
        json={"name": "Renamed"},
        headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"},
    )
    assert response.status_code == 403


def test_cookie_reads_need_no_token_and_whoami_returns_it(client, services):
    owner = make_user(services)
    csrf = _cookie_login(client, services, owner)
    me = client.get("/api/v1/users/auth")
    assert me.status_code == 200
    assert me.json()["csrf_token"] == csrf

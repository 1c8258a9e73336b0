"""The organization switcher: a member of several organizations picks the one the console
shows; the remembered choice is checked against their memberships on every request."""

from __future__ import annotations

import pytest

from citadel.console.web import ORG_COOKIE
from tests.console.helpers import post, sign_in
from tests.fixtures.builders import add_member, grant, make_deployment, make_org, make_user


@pytest.fixture
def two_orgs(services, clock):
    """A user who founded "First" (deployment "alpha") and joined "Second" as a viewer
    (deployment "beta")."""
    user = make_user(services)
    first = make_org(services, user, name="First")
    make_deployment(services, first, name="alpha")
    other_owner = make_user(services)
    second = make_org(services, other_owner, name="Second")
    make_deployment(services, second, name="beta")
    clock.advance(seconds=1)  # joined later: "First" is the one they joined first
    add_member(services, second, user, grant(second, "deployment-viewer"))
    return user, first, second


@pytest.fixture
def foreign_org(services):
    """An organization the visitor does not belong to, with a deployment "secret-gamma"."""
    stranger = make_user(services)
    org = make_org(services, stranger, name="Foreign")
    make_deployment(services, org, name="secret-gamma")
    return org


def deployment_names(client) -> str:
    return client.get("/deployments").text.split("<tbody>")[-1]


def test_a_member_of_two_organizations_sees_the_switcher(client, services, two_orgs):
    user, first, second = two_orgs
    sign_in(client, services, user)
    html = client.get("/").text
    assert 'action="/organization"' in html
    assert f'<option value="{first}" selected>First</option>' in html
    assert f'<option value="{second}" >Second</option>' in html


def test_a_member_of_one_organization_sees_no_switcher(client, services):
    user = make_user(services)
    make_org(services, user)
    sign_in(client, services, user)
    assert 'action="/organization"' not in client.get("/").text


def test_switching_shows_the_other_organization(client, services, two_orgs):
    user, _first, second = two_orgs
    csrf = sign_in(client, services, user)
    assert "alpha" in deployment_names(client)
    switched = post(client, "/organization", csrf, organization_id=second)
    assert switched.status_code == 303
    assert switched.headers["location"] == "/?notice=organization_switched"
    cookie = switched.headers["set-cookie"]
    assert cookie.startswith(f"{ORG_COOKIE}={second};")
    assert "HttpOnly" in cookie
    assert "Secure" in cookie
    listing = deployment_names(client)
    assert "beta" in listing
    assert "alpha" not in listing
    assert f'<option value="{second}" selected>Second</option>' in client.get("/").text


def test_the_switch_needs_the_csrf_token(client, services, two_orgs):
    user, _first, second = two_orgs
    sign_in(client, services, user)
    refused = post(client, "/organization", None, organization_id=second)
    assert refused.status_code == 403
    assert "alpha" in deployment_names(client)


def test_switching_to_an_organization_one_is_not_in_is_refused(
    client, services, two_orgs, foreign_org
):
    user, _first, _second = two_orgs
    csrf = sign_in(client, services, user)
    refused = post(client, "/organization", csrf, organization_id=foreign_org)
    assert refused.status_code == 404
    assert "set-cookie" not in refused.headers
    assert "secret-gamma" not in deployment_names(client)


def test_a_forged_cookie_naming_a_foreign_organization_falls_back_to_the_first(
    client, services, two_orgs, foreign_org
):
    user, _first, _second = two_orgs
    sign_in(client, services, user)
    client.cookies.set(ORG_COOKIE, foreign_org)
    listing = deployment_names(client)
    assert "alpha" in listing
    assert "secret-gamma" not in listing
    html = client.get("/").text
    assert "Foreign" not in html
    assert "secret-gamma" not in html
    assert "secret-gamma" not in client.get("/network").text


def test_a_stale_cookie_falls_back_after_the_membership_ends(client, services, clock, two_orgs):
    user, _first, second = two_orgs
    csrf = sign_in(client, services, user)
    post(client, "/organization", csrf, organization_id=second)
    left = post(client, f"/members/{user.user_id}/remove", csrf)  # leave "Second"
    assert left.headers["location"] == "/sign-in?notice=signed_out"  # sessions end on leaving
    clock.advance(seconds=30)  # a fresh TOTP code (a used one is refused)
    sign_in(client, services, user)
    assert client.cookies.get(ORG_COOKIE) == second
    listing = deployment_names(client)
    assert "alpha" in listing
    assert "beta" not in listing

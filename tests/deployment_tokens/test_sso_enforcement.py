"""Under enforced SSO only a sign-in through the organization's IdP mints deployment tokens
(ADR 27), against the real SimpleSAMLphp IdP of `tests/sso`."""

from __future__ import annotations

from citadel.deployment_tokens.claims import audience
from tests.deployment_tokens.helpers import events, mint, served_jwks, verify
from tests.fixtures.builders import add_member, bearer, grant, login, make_deployment, make_user
from tests.sso.test_sign_in import cookie_headers, enforce, sso_sign_in


def test_an_sso_session_mints_a_token_that_says_saml(client, services, clock, acme):
    dep = make_deployment(services, acme.org)
    assert sso_sign_in(client, clock, acme.prefix, "alice").status_code == 303
    response = mint(client, dep, cookie_headers(client))
    assert response.status_code == 200, response.text
    claims = verify(response.json()["token"], served_jwks(client), audience=audience(dep))
    assert claims["amr"] == ["saml"]
    assert claims["sub"] == acme.owner.user_id


def test_under_enforcement_a_password_session_cannot_mint(client, services, clock, acme):
    dep = make_deployment(services, acme.org)
    assert sso_sign_in(client, clock, acme.prefix, "alice").status_code == 303
    assert enforce(client, acme.org, "saml", cookie_headers(client)).status_code == 200
    assert mint(client, dep, cookie_headers(client)).status_code == 200  # the SSO session

    client.cookies.clear()
    carol = make_user(services, email="carol@partner.example")
    password_session = bearer(login(client, services, carol))  # before she was a member
    add_member(services, acme.org, carol, grant(acme.org, "deployment-viewer"))
    refused = mint(client, dep, password_session)

    assert refused.status_code == 403
    assert refused.json()["errors"][0]["code"] == "deployment_token.sso_required"
    (event,) = events(services, "deployment.token.refused")
    assert (event.organization_id, event.actor_id) == (acme.org, carol.user_id)
    assert event.details == {"reason": "sso_required"}


def test_under_enforcement_an_api_key_still_mints(client, services, clock, acme):
    dep = make_deployment(services, acme.org)
    assert sso_sign_in(client, clock, acme.prefix, "alice").status_code == 303
    assert enforce(client, acme.org, "saml", cookie_headers(client)).status_code == 200
    client.cookies.clear()
    response = mint(client, dep, acme.key)
    assert response.status_code == 200
    assert response.json()["roles"] == ["superuser"]

"""The console's SSO pages in process: who may see them, CSRF, form errors naming the field,
the owner check's evaluated result, and "Sign in with SSO". The whole flow against the real
IdP, in Chromium, is test_browser_sso.py."""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from citadel.api.routes.sso_login import REQUEST_COOKIE
from citadel.app import create_app
from citadel.console.pages.sso import SAML_REQUEST_COOKIE
from citadel.domains.models import ClaimedDomain
from citadel.kit.ids import new_id
from citadel.sso.models import SsoConfiguration, SsoIdentity, SsoRoleMapping
from tests.console.helpers import post, sign_in
from tests.fixtures.builders import (
    TestUser,
    add_member,
    grant,
    make_claimed_domain,
    make_org,
    make_sso_configuration,
    make_user,
)
from tests.fixtures.dns_server import dns_server as _dns  # noqa: F401
from tests.sso.idp import make_key_pair

IDP_ENTITY_ID = "https://idp.example/saml/metadata"
IDP_SSO_URL = "https://idp.example/saml/sso"


@pytest.fixture(scope="module")
def idp_certificate() -> str:
    return make_key_pair("idp.example").cert_pem


@pytest.fixture
def owner(services) -> tuple[TestUser, str]:
    user = make_user(services, email="owner@acme.example")
    return user, make_org(services, user)


@pytest.fixture
def csrf(client, services, owner) -> str:
    user, _org = owner
    return sign_in(client, services, user)


def idp_form(certificate: str, **changes: str) -> dict[str, str]:
    fields = {
        "login_prefix": "acme",
        "enabled": "on",
        "idp_entity_id": IDP_ENTITY_ID,
        "idp_sso_url": IDP_SSO_URL,
        "idp_certificate": certificate,
    }
    return {**fields, **changes}


def sso_identity(services, org: str, user: TestUser, groups: list[str]) -> None:
    """The record of an earlier SSO sign-in of `user` with these IdP groups."""
    now = services.clock.now()
    with services.db.write() as session:
        session.add(
            SsoIdentity(
                id=new_id(),
                organization_id=org,
                idp_entity_id=IDP_ENTITY_ID,
                name_id=user.email,
                user_id=user.user_id,
                groups=groups,
                generation=1,
                created_at=now,
                last_sign_in_at=now,
            )
        )


def count(services, model) -> int:
    with services.db.read() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(model)) or 0


def text_of(page_html: str) -> str:
    """The page's text with tags dropped and whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page_html)).split())


def test_a_member_without_sso_manage_gets_403_and_no_sso_link(client, services, owner):
    _user, org = owner
    viewer = make_user(services)
    add_member(services, org, viewer, grant(org, "deployment-viewer"))
    token = sign_in(client, services, viewer)
    assert 'href="/single-sign-on"' not in client.get("/").text
    assert client.get("/single-sign-on").status_code == 403
    forged = post(client, "/single-sign-on/domains", token, domain="acme.example")
    assert forged.status_code == 403
    assert count(services, ClaimedDomain) == 0


def test_an_owner_sees_the_sso_link_and_the_page(client, csrf):
    assert 'href="/single-sign-on"' in client.get("/").text
    page = client.get("/single-sign-on")
    assert page.status_code == 200
    assert "Not configured" in page.text


def test_sso_forms_without_the_csrf_token_are_refused(client, services, csrf, idp_certificate):
    assert post(client, "/single-sign-on/domains", None, domain="acme.example").status_code == 403
    configured = post(client, "/single-sign-on/configuration", None, **idp_form(idp_certificate))
    assert configured.status_code == 403
    assert post(client, "/single-sign-on/enforcement", "0" * 64, enforce="off").status_code == 403
    assert count(services, ClaimedDomain) == 0
    assert count(services, SsoConfiguration) == 0


def test_a_bad_certificate_is_an_error_on_its_field_with_the_input_kept(client, csrf):
    response = post(client, "/single-sign-on/configuration", csrf, **idp_form("not a certificate"))
    assert response.status_code == 400
    field = re.search(r"<textarea id=\"idp_certificate\"[^>]*>", response.text)
    assert field is not None
    assert 'aria-invalid="true"' in field.group(0)
    assert 'aria-describedby="idp_certificate-error"' in field.group(0)
    assert re.search(r'id="idp_certificate-error">Not a PEM X.509 certificate.<', response.text)
    assert f'value="{IDP_ENTITY_ID}"' in response.text


def test_a_login_prefix_in_capitals_is_an_error_on_its_field(client, csrf, idp_certificate):
    response = post(
        client,
        "/single-sign-on/configuration",
        csrf,
        **idp_form(idp_certificate, login_prefix="Acme"),
    )
    assert response.status_code == 400
    assert 'id="login_prefix-error"' in response.text


def test_saving_the_idp_shows_the_sp_details_and_enforcement_waits_for_a_test(
    client, services, owner, csrf, idp_certificate
):
    _user, org = owner
    saved = post(client, "/single-sign-on/configuration", csrf, **idp_form(idp_certificate))
    assert saved.status_code == 303, saved.text
    page = client.get(saved.headers["location"])
    assert "The identity provider was saved." in page.text
    base = services.policies.public_url
    assert f"{base}/sso/saml/{org}/metadata" in page.text  # entity id and metadata URL
    assert f"{base}/sso/saml/{org}/acs" in page.text
    assert f'href="{base}/sso/saml/acme/login?return_to=%2Fsingle-sign-on"' in page.text
    assert "-----BEGIN CERTIFICATE-----" in page.text
    assert "Not tested" in page.text
    assert re.search(r'<button type="button" class="primary" disabled[^>]*>Enforce SSO', page.text)
    refused = post(client, "/single-sign-on/enforcement", csrf, enforce="on")
    assert refused.status_code == 409
    assert "your own successful SSO sign-in" in refused.text


def test_an_sso_sign_in_with_the_current_configuration_enables_enforce(
    client, services, owner, csrf, idp_certificate
):
    user, org = owner
    post(client, "/single-sign-on/configuration", csrf, **idp_form(idp_certificate))
    sso_identity(services, org, user, ["admins"])  # as if the test sign-in had happened
    page = client.get("/single-sign-on").text
    assert "Tested" in page
    assert re.search(r'<button type="submit" class="primary">Enforce SSO', page)


def test_a_domain_claim_shows_the_txt_record_to_publish(client, services, csrf):
    added = post(client, "/single-sign-on/domains", csrf, domain="Acme.Example")
    assert added.status_code == 303, added.text
    page = client.get("/single-sign-on").text
    with services.db.read() as session:
        code = session.scalar(sa.select(ClaimedDomain.verification_code))
    assert "_citadel_domain_challenge.acme.example" in page
    assert code in page
    assert 'action="/single-sign-on/domains/acme.example/verify"' in page
    removed = post(client, "/single-sign-on/domains/acme.example/remove", csrf)
    assert removed.status_code == 303
    assert count(services, ClaimedDomain) == 0


@pytest.fixture
def dns_client(services, dns_server) -> Iterator[TestClient]:
    """The application asking the test's dnsmasq (example.com) for TXT records."""
    policies = dataclasses.replace(
        services.policies, dns_resolver=dns_server.address, dns_timeout_s=1.0
    )
    app = create_app(dataclasses.replace(services, policies=policies))
    with TestClient(app, base_url="https://testserver", client=("127.0.0.1", 50000)) as c:
        yield c


def test_verifying_says_why_it_failed_then_verifies_once_the_code_is_published(
    dns_client, services, dns_server, owner
):
    user, _org = owner
    token = sign_in(dns_client, services, user)
    post(dns_client, "/single-sign-on/domains", token, domain="example.com")
    with services.db.read() as session:
        code = session.scalar(sa.select(ClaimedDomain.verification_code))
    dns_server.publish({"_citadel_domain_challenge.example.com": ["not-the-code"]})
    verify = "/single-sign-on/domains/example.com/verify"

    refused = post(dns_client, verify, token)
    assert refused.status_code == 400
    assert "none is this claim&#39;s verification code" in refused.text
    assert "Last check: wrong code" in refused.text  # the claim remembers why

    dns_server.publish({"_citadel_domain_challenge.example.com": [code]})
    verified = post(dns_client, verify, token)
    assert verified.status_code == 303
    page = dns_client.get(verified.headers["location"]).text
    assert "The domain is verified." in page
    assert '<span class="badge ok">verified</span>' in page


def test_an_invalid_domain_is_an_error_on_its_field(client, csrf):
    response = post(client, "/single-sign-on/domains", csrf, domain="*.example.com")
    assert response.status_code == 400
    assert 'id="domain-error"' in response.text


def test_a_mapping_is_added_listed_and_deleted(client, services, csrf):
    created = post(
        client,
        "/single-sign-on/mappings",
        csrf,
        name="admins",
        match="any",
        groups="admins\nCN=ops,OU=groups",
        role="organization-admin",
    )
    assert created.status_code == 303, created.text
    page = client.get("/single-sign-on").text
    assert "<code>CN=ops,OU=groups</code>" in page
    assert "Organization owner · organization" in text_of(page)
    with services.db.read() as session:
        mapping_id = session.scalar(sa.select(SsoRoleMapping.id))
    deleted = post(client, f"/single-sign-on/mappings/{mapping_id}/delete", csrf)
    assert deleted.status_code == 303
    assert count(services, SsoRoleMapping) == 0


def test_a_mapping_that_leaves_no_owner_shows_the_evaluated_result(client, services, owner, csrf):
    user, org = owner
    sso_identity(services, org, user, ["staff", "viewers"])
    response = post(
        client,
        "/single-sign-on/mappings",
        csrf,
        name="viewers",
        match="any",
        groups="viewers",
        role="deployment-viewer",
        scope="all",
    )
    assert response.status_code == 409
    assert "sso.mapping_leaves_no_owner" in response.text
    table = re.search(r'id="owner-check">.*?</table>', response.text, re.S)
    assert table is not None
    row = text_of(table.group(0))
    assert "owner@acme.example staff , viewers viewers Deployment viewer · all deployments" in row
    assert 'value="viewers"' in response.text  # the form keeps what was typed
    assert count(services, SsoRoleMapping) == 0


def test_the_overview_shows_whether_sso_is_configured(client, services, owner, csrf):
    _user, org = owner
    assert "No identity provider configured." in client.get("/").text
    make_sso_configuration(
        services,
        org,
        idp_entity_id=IDP_ENTITY_ID,
        idp_sso_url=IDP_SSO_URL,
        idp_certificate=make_key_pair("idp.example").cert_pem,
    )
    assert "Identity provider configured, SSO sign-in on." in client.get("/").text


def test_sign_in_with_sso_goes_on_to_the_idp_with_a_request_cookie(client, services, owner):
    _user, org = owner
    make_claimed_domain(services, org, "acme.example", verified=True)
    prefix = make_sso_configuration(
        services,
        org,
        idp_entity_id=IDP_ENTITY_ID,
        idp_sso_url=IDP_SSO_URL,
        idp_certificate=make_key_pair("idp.example").cert_pem,
    )
    assert 'action="/sign-in/sso"' in client.get("/sign-in").text
    response = client.get("/sign-in/sso", params={"login_prefix": prefix, "next": "/members"})
    assert response.status_code == 200
    onwards = re.search(r'<meta http-equiv="refresh" content="0;url=([^"]+)">', response.text)
    assert onwards is not None
    assert html.unescape(onwards.group(1)).startswith(f"{IDP_SSO_URL}?SAMLRequest=")
    assert response.cookies.get(REQUEST_COOKIE)
    assert SAML_REQUEST_COOKIE == REQUEST_COOKIE  # the login URL's own cookie


def test_sign_in_with_an_unknown_prefix_is_a_message_on_the_form(client):
    response = client.get("/sign-in/sso", params={"login_prefix": "nobody"})
    assert response.status_code == 404
    assert 'id="login_prefix-error">No organization signs in with this prefix.<' in response.text
    assert 'value="nobody"' in response.text


def test_sign_in_with_a_malformed_prefix_is_a_message_on_the_form(client):
    response = client.get("/sign-in/sso", params={"login_prefix": "-bad prefix"})
    assert response.status_code == 400
    assert 'id="login_prefix-error"' in response.text

"""Organization SSO end to end: the real control plane (in process) and a real SimpleSAMLphp
IdP, a headless browser following the redirects and posting the IdP's login form.

Each test's organization is "acme" with the verified domain acme.example, an Organization
owner alice@acme.example (password and TOTP) who is also `alice` at the IdP (groups admins
and viewers), and an SP registered at the IdP under its own entity id and ACS URL.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from citadel.audit.models import AuditEvent
from citadel.bootstrap import Services
from citadel.kit.clock import SettableClock
from citadel.sso.login import MAX_UNFINISHED_STARTS
from citadel.sso.models import SsoIdentity
from citadel.users.models import User
from tests.fixtures.builders import (
    TestUser,
    add_member,
    bearer,
    grant,
    key_headers,
    login,
    make_api_key,
    make_claimed_domain,
    make_org,
    make_user,
)
from tests.sso.idp import Idp, SignInResult, log_in_at_idp

ALICE = {"uid": ["alice"], "email": ["alice@acme.example"], "groups": ["admins", "viewers"]}


@dataclass
class Acme:
    org: str
    owner: TestUser
    owner_headers: dict[str, str]
    key: dict[str, str]
    prefix: str
    sso: dict[str, Any]


def catch_up(clock: SettableClock) -> None:
    """The control plane's clock at the real time the IdP stamps its assertions with."""
    clock.advance(seconds=(datetime.now(UTC) - clock.now()).total_seconds())


def configure(client: TestClient, idp: Idp, org: str, headers: dict, prefix: str) -> dict:
    body = {
        "login_prefix": prefix,
        "idp_entity_id": idp.entity_id,
        "idp_sso_url": idp.sso_url,
        "idp_certificates": [idp.idp_keys.cert_pem],
    }
    response = client.put(f"/api/v1/organizations/{org}/sso", json=body, headers=headers)
    assert response.status_code == 200, response.text
    sso = response.json()
    sp = sso["service_provider"]
    idp.register_sp(sp["entity_id"], sp["acs_url"], sp["certificate"])
    return sso


@pytest.fixture
def acme(client: TestClient, services: Services, idp: Idp) -> Acme:
    owner = make_user(services, email="alice@acme.example")
    org = make_org(services, owner, "Acme")
    make_claimed_domain(services, org, "acme.example", verified=True)
    headers = bearer(login(client, services, owner))
    prefix = f"acme-{org.lower()}"[:63]
    key = key_headers(make_api_key(services, org))
    return Acme(org, owner, headers, key, prefix, configure(client, idp, org, headers, prefix))


def map_roles(client: TestClient, acme: Acme, name: str, groups: list[str], roles: dict):
    body = {"name": name, "rule": {"match": "any", "groups": groups}, "role_assignments": roles}
    return client.post(
        f"/api/v1/organizations/{acme.org}/sso/role-mappings", json=body, headers=acme.owner_headers
    )


def owner_role(org: str) -> dict:
    return {"organization": [{"role_id": "organization-admin", "organization_id": org}]}


def deployment_role(org: str, role: str) -> dict:
    return {"deployment": [{"role_id": role, "organization_id": org, "all": True}]}


def start(client: TestClient, prefix: str, **params: str) -> httpx.Response:
    response = client.get(f"/sso/saml/{prefix}/login", params=params, follow_redirects=False)
    assert response.status_code == 303, response.text
    return response


def at_idp(client: TestClient, clock: SettableClock, prefix: str, user: str) -> SignInResult:
    """Start at the login URL (a fresh browser) and log in at the IdP: the form it would post."""
    client.cookies.clear()
    catch_up(clock)
    return log_in_at_idp(start(client, prefix).headers["location"], user)


def post_to_acs(client: TestClient, result: SignInResult, acs_path: str | None = None):
    path = acs_path or urlsplit(result.action).path
    return client.post(path, data=result.form, follow_redirects=False)


def sso_sign_in(client: TestClient, clock: SettableClock, prefix: str, user: str = "alice"):
    """A whole SP-initiated sign-in; the client keeps the session cookie it gets."""
    return post_to_acs(client, at_idp(client, clock, prefix, user))


def whoami(client: TestClient) -> httpx.Response:
    return client.get("/api/v1/users/auth")


def cookie_headers(client: TestClient) -> dict[str, str]:
    """What a cookie session needs for a change: its CSRF token."""
    token = whoami(client).json()["csrf_token"]
    return {"X-CSRF-Token": token}


def roles_of(client: TestClient, acme: Acme, email: str) -> dict:
    members = client.get(f"/api/v1/organizations/{acme.org}/members", headers=acme.key)
    members = members.json()["members"]
    (member,) = [m for m in members if m["email"] == email]
    return member.get("role_assignments", {})


def sso_audit(services: Services, org: str) -> list[AuditEvent]:
    with services.db.read() as session:
        stmt = (
            sa.select(AuditEvent)
            .where(AuditEvent.organization_id == org, AuditEvent.action == "sso.signin")
            .order_by(AuditEvent.seq)
        )
        return list(session.scalars(stmt))


def refusals(services: Services, org: str) -> list[str]:
    return [e.details["reason"] for e in sso_audit(services, org) if e.outcome == "failure"]


def users_named(services: Services, email: str) -> list[User]:
    with services.db.read() as session:
        return list(session.scalars(sa.select(User).where(User.email == email)))


# --- configuration -------------------------------------------------------------------------


def test_the_configuration_shows_the_sp_details_and_never_the_key(client, acme, idp):
    sp = acme.sso["service_provider"]
    assert sp["entity_id"].endswith(f"/sso/saml/{acme.org}/metadata")
    assert sp["acs_url"].endswith(f"/sso/saml/{acme.org}/acs")
    assert sp["login_url"].endswith(f"/sso/saml/{acme.prefix}/login")
    assert sp["certificate"].startswith("-----BEGIN CERTIFICATE-----")
    assert acme.sso["identity_provider"]["entity_id"] == idp.entity_id
    assert "PRIVATE KEY" not in str(acme.sso)
    metadata = client.get(f"/sso/saml/{acme.org}/metadata")
    assert metadata.status_code == 200
    assert sp["entity_id"] in metadata.text
    assert sp["acs_url"] in metadata.text


def test_the_idp_can_be_registered_by_its_metadata_document(client, services, idp):
    owner = make_user(services, email="owner@globex.example")
    org = make_org(services, owner, "Globex")
    headers = bearer(login(client, services, owner))
    document = httpx.get(idp.metadata_url).text
    body = {"login_prefix": f"globex-{org.lower()}"[:63], "idp_metadata": document}
    response = client.put(f"/api/v1/organizations/{org}/sso", json=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["identity_provider"]["entity_id"] == idp.entity_id
    assert response.json()["identity_provider"]["sso_url"] == idp.sso_url


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"login_prefix": "Upper-Case"}, "body.login_prefix"),
        ({"login_prefix": "-edge"}, "body.login_prefix"),
        ({"idp_sso_url": "javascript:alert(1)"}, "body.idp_sso_url"),
        ({"idp_sso_url": "https://user:pw@idp.example/sso"}, "body.idp_sso_url"),
        ({"idp_certificates": ["not a certificate"]}, "body.idp_certificates[0]"),
        ({"idp_entity_id": None}, "body.idp_entity_id"),
        ({"idp_metadata": "<x/>"}, "body.idp_metadata"),
        ({"idp_metadata": '<!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>'}, "body.idp_metadata"),
    ],
)
def test_a_bad_configuration_is_a_400_naming_the_field(client, acme, idp, change, field):
    body = {
        "login_prefix": acme.prefix,
        "idp_entity_id": idp.entity_id,
        "idp_sso_url": idp.sso_url,
        "idp_certificates": [idp.idp_keys.cert_pem],
        **change,
    }
    body = {k: v for k, v in body.items() if v is not None}
    response = client.put(
        f"/api/v1/organizations/{acme.org}/sso", json=body, headers=acme.owner_headers
    )
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["fields"] == [field]


def test_a_login_prefix_belongs_to_one_organization(client, services, acme, idp):
    owner = make_user(services)
    org = make_org(services, owner, "Copycat")
    headers = bearer(login(client, services, owner))
    body = {
        "login_prefix": acme.prefix,
        "idp_entity_id": idp.entity_id,
        "idp_sso_url": idp.sso_url,
        "idp_certificates": [idp.idp_keys.cert_pem],
    }
    response = client.put(f"/api/v1/organizations/{org}/sso", json=body, headers=headers)
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "sso.login_prefix_taken"


def test_an_unknown_login_prefix_is_a_404(client):
    response = client.get("/sso/saml/nobody-here/login", follow_redirects=False)
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "sso.unknown_login_prefix"


# --- signing in ----------------------------------------------------------------------------


def test_first_sign_in_provisions_the_member_with_the_mapped_roles(client, services, clock, acme):
    assert (
        map_roles(
            client, acme, "viewers", ["viewers"], deployment_role(acme.org, "deployment-viewer")
        ).status_code
        == 201
    )

    response = sso_sign_in(client, clock, acme.prefix, "bob")

    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/"
    me = whoami(client).json()
    assert me["email"] == "bob@acme.example"
    assert me["organization_ids"] == [acme.org]
    assert roles_of(client, acme, "bob@acme.example") == deployment_role(
        acme.org, "deployment-viewer"
    )
    (bob,) = users_named(services, "bob@acme.example")
    assert bob.password_hash is None
    with services.db.read() as session:
        identity = session.scalars(
            sa.select(SsoIdentity).where(SsoIdentity.user_id == bob.id)
        ).one()
    assert identity.name_id == "bob"
    assert identity.groups == ["viewers"]
    (event,) = sso_audit(services, acme.org)
    assert event.outcome == "success"
    assert event.details["new_member"] is True


def test_a_second_sign_in_with_changed_groups_changes_the_roles(client, clock, acme, idp):
    map_roles(client, acme, "admins", ["admins"], owner_role(acme.org))
    map_roles(client, acme, "viewers", ["viewers"], deployment_role(acme.org, "deployment-viewer"))
    second_owner(client.app.state.services, acme)
    assert sso_sign_in(client, clock, acme.prefix, "alice").status_code == 303
    both = roles_of(client, acme, "alice@acme.example")
    assert both["organization"][0]["role_id"] == "organization-admin"

    with idp.users_changed(alice={**ALICE, "groups": ["viewers"]}):
        assert sso_sign_in(client, clock, acme.prefix, "alice").status_code == 303

    assert roles_of(client, acme, "alice@acme.example") == deployment_role(
        acme.org, "deployment-viewer"
    )


def second_owner(services: Services, acme: Acme) -> None:
    """Another Organization owner (password), so alice may lose hers through a mapping."""
    add_member(services, acme.org, make_user(services), grant(acme.org, "organization-admin"))


def test_a_missing_groups_attribute_keeps_the_last_groups(client, clock, acme, idp):
    map_roles(client, acme, "viewers", ["viewers"], deployment_role(acme.org, "deployment-viewer"))
    assert sso_sign_in(client, clock, acme.prefix, "bob").status_code == 303

    without_groups = {"uid": ["bob"], "email": ["bob@acme.example"]}
    with idp.users_changed(bob=without_groups):
        assert sso_sign_in(client, clock, acme.prefix, "bob").status_code == 303

    assert roles_of(client, acme, "bob@acme.example") == deployment_role(
        acme.org, "deployment-viewer"
    )


def test_without_mappings_a_sign_in_keeps_the_roles_it_finds(client, clock, acme):
    assert sso_sign_in(client, clock, acme.prefix, "alice").status_code == 303
    assert roles_of(client, acme, "alice@acme.example")["organization"][0]["role_id"] == (
        "organization-admin"
    )


def test_a_sign_in_never_removes_the_last_owner(client, services, clock, acme):
    # alice is the only owner; a mapping that gives her no owner role is refused up front...
    refused = map_roles(
        client, acme, "viewers", ["viewers"], deployment_role(acme.org, "deployment-viewer")
    )
    assert refused.status_code == 201  # alice has not signed in with SSO: she keeps her roles
    # ...and once she signs in, the sign-in keeps her the owner rather than orphan the org.
    assert sso_sign_in(client, clock, acme.prefix, "alice").status_code == 303
    roles = roles_of(client, acme, "alice@acme.example")
    assert {"role_id": "organization-admin", "organization_id": acme.org} in roles["organization"]
    with services.db.read() as session:
        mapped = session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "sso.roles_mapped")
        ).one()
    assert mapped.details["kept_last_owner"] is True


def test_the_return_path_stays_on_this_site(client, clock, acme):
    catch_up(clock)
    for target, expected in [
        ("/deployments?x=1", "/deployments?x=1"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
    ]:
        client.cookies.clear()
        started = start(client, acme.prefix, return_to=target)
        result = log_in_at_idp(started.headers["location"], "alice")
        response = post_to_acs(client, result)
        assert response.status_code == 303, response.text
        assert response.headers["location"] == expected


def test_an_sso_sign_in_invalidates_the_password_until_a_new_one_is_set(
    client, services, clock, acme
):
    assert sso_sign_in(client, clock, acme.prefix, "alice").status_code == 303
    body = {
        "username": acme.owner.email,
        "password": acme.owner.password,
        "totp_code": acme.owner.code(services),
    }
    assert client.post("/api/v1/users/auth/_login", json=body).status_code == 401

    new = {"new_password": "A-Brand-New-Passphrase-77"}
    response = client.post("/api/v1/users/auth/_password", json=new, headers=cookie_headers(client))
    assert response.status_code == 200, response.text

    client.cookies.clear()
    clock.advance(seconds=30)
    body = {
        "username": acme.owner.email,
        "password": new["new_password"],
        "totp_code": acme.owner.code(services),
    }
    assert client.post("/api/v1/users/auth/_login", json=body).status_code == 200


def test_linking_an_account_by_sso_ends_the_sessions_its_password_opened(
    client, services, clock, acme
):
    """Whoever signed in with the account's password before it was linked to the IdP (the
    owner of the address, or someone who squatted it) is signed out, as the password is."""
    assert whoami_with(client, acme.owner_headers).status_code == 200

    assert sso_sign_in(client, clock, acme.prefix, "alice").status_code == 303

    assert whoami_with(client, acme.owner_headers).status_code == 401
    assert whoami(client).status_code == 200  # the SSO session itself
    (event,) = [e for e in sso_audit(services, acme.org) if e.outcome == "success"]
    assert event.details["sessions_ended"] == 1


# --- refusals: each with its reason in the audit log, and no session -----------------------


def assert_refused(response: httpx.Response, client: TestClient) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["errors"][0]["code"] == "sso.saml_refused"
    assert (
        "set-cookie" not in response.headers
        or "citadel_session" not in response.headers["set-cookie"]
    )
    assert whoami(client).status_code == 401


def test_an_email_outside_the_claimed_domains_is_refused(client, services, clock, acme):
    response = sso_sign_in(client, clock, acme.prefix, "dave")
    assert_refused(response, client)
    assert refusals(services, acme.org) == ["email_outside_claimed_domains"]
    assert users_named(services, "dave@elsewhere.example") == []


def test_an_unverified_domain_is_not_a_claimed_one(client, services, clock, idp):
    owner = make_user(services, email="owner@initech.example")
    org = make_org(services, owner, "Initech")
    make_claimed_domain(services, org, "acme.example")  # pending: no TXT record was seen
    headers = bearer(login(client, services, owner))
    prefix = f"initech-{org.lower()}"[:63]
    configure(client, idp, org, headers, prefix)
    assert_refused(sso_sign_in(client, clock, prefix, "bob"), client)
    assert refusals(services, org) == ["email_outside_claimed_domains"]


def test_a_response_without_an_email_is_refused(client, services, clock, acme):
    assert_refused(sso_sign_in(client, clock, acme.prefix, "carol"), client)
    assert refusals(services, acme.org) == ["missing_email"]


def test_a_replayed_response_is_refused(client, services, clock, acme):
    result = at_idp(client, clock, acme.prefix, "bob")
    assert post_to_acs(client, result).status_code == 303
    client.cookies.clear()
    client.cookies.set("__Host-citadel_saml_request", request_id_of(result))
    assert_refused(post_to_acs(client, result), client)
    assert refusals(services, acme.org) == ["replayed"]


def request_id_of(result: SignInResult) -> str:
    """The InResponseTo of the response (what the browser's cookie held)."""
    xml = base64.b64decode(result.form["SAMLResponse"]).decode()
    match = re.search(r'InResponseTo="([^"]+)"', xml)
    assert match
    return match.group(1)


def test_an_unsolicited_response_is_refused(client, services, clock, acme, idp):
    catch_up(clock)
    sp_entity = acme.sso["service_provider"]["entity_id"]
    result = log_in_at_idp(f"{idp.base_url}saml2/idp/SSOService.php?spentityid={sp_entity}", "bob")
    client.cookies.clear()
    assert_refused(post_to_acs(client, result), client)
    assert refusals(services, acme.org) == ["unsolicited"]


def test_a_response_for_another_organizations_sp_is_refused(client, services, clock, acme, idp):
    owner = make_user(services, email="owner@umbrella.example")
    other = make_org(services, owner, "Umbrella")
    make_claimed_domain(services, other, "umbrella.example", verified=True)
    headers = bearer(login(client, services, owner))
    other_prefix = f"umbrella-{other.lower()}"[:63]
    configure(client, idp, other, headers, other_prefix)

    # bob starts at Umbrella's login URL, and his response is posted to Acme's ACS
    result = at_idp(client, clock, other_prefix, "bob")
    acme_acs = urlsplit(acme.sso["service_provider"]["acs_url"]).path
    assert_refused(post_to_acs(client, result, acme_acs), client)
    assert refusals(services, acme.org) == ["unsolicited"]

    # and with a pending Acme request in the cookie, the Umbrella response fails Acme's checks
    start(client, acme.prefix)
    assert_refused(post_to_acs(client, result, acme_acs), client)
    assert refusals(services, acme.org) == ["unsolicited", "unsolicited"]


def test_a_response_after_the_configuration_changed_is_refused(client, services, clock, acme, idp):
    result = at_idp(client, clock, acme.prefix, "bob")
    body = {
        "login_prefix": acme.prefix,
        "idp_entity_id": idp.entity_id,
        "idp_sso_url": idp.sso_url,
        "idp_certificates": [idp.idp_keys.cert_pem, idp.sp_keys.cert_pem],
    }
    changed = client.put(
        f"/api/v1/organizations/{acme.org}/sso", json=body, headers=acme.owner_headers
    )
    assert changed.status_code == 200
    assert changed.json()["generation"] == 2
    assert_refused(post_to_acs(client, result), client)
    assert refusals(services, acme.org) == ["configuration_changed"]


def test_a_tampered_response_is_refused_with_the_check_that_failed(client, services, clock, acme):
    result = at_idp(client, clock, acme.prefix, "bob")
    xml = base64.b64decode(result.form["SAMLResponse"]).decode()
    forged = xml.replace("bob@acme.example", "alice@acme.example")
    form = {**result.form, "SAMLResponse": base64.b64encode(forged.encode()).decode()}
    response = client.post(urlsplit(result.action).path, data=form, follow_redirects=False)
    assert_refused(response, client)
    assert refusals(services, acme.org) == ["signature_invalid"]


def test_a_browser_is_sent_to_the_sign_in_page_with_a_notice_not_the_reason(
    client, services, clock, acme
):
    result = at_idp(client, clock, acme.prefix, "dave")  # outside the claimed domains
    response = client.post(
        urlsplit(result.action).path,
        data=result.form,
        headers={"Accept": "text/html,application/xhtml+xml"},
        follow_redirects=False,
    )
    unknown = client.get(
        "/sso/saml/nobody-here/login", headers={"Accept": "text/html"}, follow_redirects=False
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?notice=sso_refused"
    assert refusals(services, acme.org) == ["email_outside_claimed_domains"]
    assert whoami(client).status_code == 401
    assert unknown.status_code == 303
    assert unknown.headers["location"] == "/sign-in?notice=sso_unknown_prefix"
    notice = client.get("/sign-in?notice=sso_refused")
    assert "Single sign-on did not complete" in notice.text


def test_an_address_that_keeps_starting_sign_ins_is_throttled(client, clock, acme):
    login_url = f"/sso/saml/{acme.prefix}/login"
    started = [
        client.get(login_url, follow_redirects=False).status_code
        for _ in range(MAX_UNFINISHED_STARTS)
    ]

    refused = client.get(login_url, follow_redirects=False)

    assert set(started) == {303}
    assert refused.status_code == 429
    assert refused.json()["errors"][0]["code"] == "sso.too_many_logins"
    assert int(refused.headers["retry-after"]) > 0
    clock.advance(seconds=int(refused.headers["retry-after"]) + 1)
    assert client.get(login_url, follow_redirects=False).status_code == 303


def test_the_acs_wants_a_form(client, acme):
    path = urlsplit(acme.sso["service_provider"]["acs_url"]).path
    response = client.post(path, json={"SAMLResponse": "x"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "sso.invalid_post"


# --- enforcement ---------------------------------------------------------------------------


def enforce(client: TestClient, org: str, method: str | None, headers: dict[str, str]):
    body = {"enforce_authentication_method": method}
    return client.put(f"/api/v1/organizations/{org}", json=body, headers=headers)


def test_enforcement_needs_the_callers_own_sso_sign_in(client, clock, acme, idp):
    refused = enforce(client, acme.org, "saml", acme.owner_headers)  # password session
    assert refused.status_code == 409
    assert refused.json()["errors"][0]["code"] == "organization.sso_not_configured"
    assert enforce(client, acme.org, "saml", acme.key).status_code == 409

    assert sso_sign_in(client, clock, acme.prefix, "alice").status_code == 303
    assert enforce(client, acme.org, "saml", cookie_headers(client)).status_code == 200


def test_enforcement_blocks_password_sign_in_ends_other_sessions_and_breaks_glass(
    client, services, clock, acme
):
    bob = make_user(services, email="bob@partner.example")
    add_member(services, acme.org, bob)
    bob_session = bearer(login(client, services, bob))
    key = key_headers(make_api_key(services, acme.org))
    assert sso_sign_in(client, clock, acme.prefix, "alice").status_code == 303
    sso_cookie = dict(client.cookies)

    assert enforce(client, acme.org, "saml", cookie_headers(client)).status_code == 200

    # bob's password session ended; his password sign-in is refused with a clear error
    client.cookies.clear()
    assert whoami_with(client, bob_session).status_code == 401
    clock.advance(seconds=30)
    body = {"username": bob.email, "password": bob.password, "totp_code": bob.code(services)}
    refused = client.post("/api/v1/users/auth/_login", json=body)
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["code"] == "auth.sso_required"
    # the owner's own password session (from before) ended too; the SSO session lives on
    assert whoami_with(client, acme.owner_headers).status_code == 401
    client.cookies.update(sso_cookie)
    assert whoami(client).json()["organization_ids"] == [acme.org]
    client.cookies.clear()

    # break-glass: an Organization-owner API key turns enforcement off
    assert enforce(client, acme.org, None, key).status_code == 200
    clock.advance(seconds=30)
    body["totp_code"] = bob.code(services)
    assert client.post("/api/v1/users/auth/_login", json=body).status_code == 200
    actions = [e.details for e in events(services, acme.org, "sso.enforcement_changed")]
    assert [(a["before"], a["after"], a["by"]) for a in actions] == [
        (None, "saml", "user"),
        ("saml", None, "api_key"),
    ]


def whoami_with(client: TestClient, headers: dict[str, str]) -> httpx.Response:
    return client.get("/api/v1/users/auth", headers=headers)


def events(services: Services, org: str, action: str) -> list[AuditEvent]:
    with services.db.read() as session:
        stmt = (
            sa.select(AuditEvent)
            .where(AuditEvent.organization_id == org, AuditEvent.action == action)
            .order_by(AuditEvent.seq)
        )
        return list(session.scalars(stmt))


def test_a_password_session_does_not_see_an_enforcing_organization(client, services, clock, acme):
    """A member who joins (or stays signed in) by password sees the organization only after
    signing in through its IdP."""
    assert sso_sign_in(client, clock, acme.prefix, "alice").status_code == 303
    assert enforce(client, acme.org, "saml", cookie_headers(client)).status_code == 200
    client.cookies.clear()
    carol = make_user(services, email="carol@partner.example")
    headers = bearer(login(client, services, carol))  # no membership yet: sign-in allowed
    add_member(services, acme.org, carol)
    me = whoami_with(client, headers).json()
    assert me["organization_ids"] == []
    listed = client.get(f"/api/v1/organizations/{acme.org}", headers=headers)
    assert listed.status_code == 404


def test_sso_cannot_be_turned_off_or_removed_while_enforced(client, clock, acme, idp):
    assert sso_sign_in(client, clock, acme.prefix, "alice").status_code == 303
    assert enforce(client, acme.org, "saml", cookie_headers(client)).status_code == 200
    body = {
        "login_prefix": acme.prefix,
        "enabled": False,
        "idp_entity_id": idp.entity_id,
        "idp_sso_url": idp.sso_url,
        "idp_certificates": [idp.idp_keys.cert_pem],
    }
    turned_off = client.put(
        f"/api/v1/organizations/{acme.org}/sso", json=body, headers=cookie_headers(client)
    )
    assert turned_off.status_code == 409
    assert turned_off.json()["errors"][0]["code"] == "sso.enforcement_on"
    removed = client.delete(f"/api/v1/organizations/{acme.org}/sso", headers=cookie_headers(client))
    assert removed.status_code == 409


# --- role mappings and the owner check -----------------------------------------------------


def test_a_mapping_change_that_leaves_no_owner_is_refused_with_the_evaluated_result(
    client, services, clock, acme
):
    admins = map_roles(client, acme, "admins", ["admins"], owner_role(acme.org))
    assert admins.status_code == 201
    assert sso_sign_in(client, clock, acme.prefix, "alice").status_code == 303
    mapping = admins.json()["id"]
    base = f"/api/v1/organizations/{acme.org}/sso/role-mappings"
    before = client.get(base, headers=acme.key).json()

    demote = {
        "name": "admins",
        "rule": {"match": "any", "groups": ["admins"]},
        "role_assignments": deployment_role(acme.org, "deployment-viewer"),
    }
    changed = client.put(f"{base}/{mapping}", json=demote, headers=acme.key)
    deleted = client.delete(f"{base}/{mapping}", headers=acme.key)
    viewers = client.post(  # alice's password session ended when SSO linked her account
        base,
        json={
            "name": "viewers",
            "rule": {"match": "any", "groups": ["viewers"]},
            "role_assignments": deployment_role(acme.org, "deployment-viewer"),
        },
        headers=acme.key,
    )

    assert changed.status_code == 409, changed.text
    error = changed.json()["errors"][0]
    assert error["code"] == "sso.mapping_leaves_no_owner"
    (alice,) = error["details"]["sso_members"]
    assert alice["email"] == "alice@acme.example"
    assert alice["groups"] == ["admins", "viewers"]
    assert alice["matched"] == ["admins"]
    assert alice["role_assignments"] == deployment_role(acme.org, "deployment-viewer")
    assert before["role_mappings"][0]["name"] == "admins"
    # with no mapping left, sign-ins keep everyone's roles: nothing to check
    assert deleted.status_code == 200
    # a first mapping that would give alice no owner role at her next sign-in is refused
    assert viewers.status_code == 409
    assert viewers.json()["errors"][0]["details"]["sso_members"][0]["matched"] == ["viewers"]


def test_deleting_the_only_owner_mapping_among_others_is_refused(client, clock, acme):
    admins = map_roles(client, acme, "admins", ["admins"], owner_role(acme.org)).json()["id"]
    map_roles(client, acme, "viewers", ["viewers"], deployment_role(acme.org, "deployment-viewer"))
    assert sso_sign_in(client, clock, acme.prefix, "alice").status_code == 303
    base = f"/api/v1/organizations/{acme.org}/sso/role-mappings"
    response = client.delete(f"{base}/{admins}", headers=acme.key)
    assert response.status_code == 409
    assert response.json()["errors"][0]["details"]["sso_members"][0]["matched"] == ["viewers"]
    assert len(client.get(base, headers=acme.key).json()["role_mappings"]) == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "", "rule": {"match": "any", "groups": ["a"]}}, "body.name"),
        ({"name": "x", "rule": {"match": "some", "groups": ["a"]}}, "body.rule.match"),
        ({"name": "x", "rule": {"match": "any", "groups": []}}, "body.rule.groups"),
        ({"name": "x", "rule": {"match": "any", "groups": [""]}}, "body.rule.groups[0]"),
    ],
)
def test_a_malformed_mapping_is_a_400_naming_the_field(client, acme, body, field):
    body = {**body, "role_assignments": deployment_role(acme.org, "deployment-viewer")}
    response = client.post(
        f"/api/v1/organizations/{acme.org}/sso/role-mappings", json=body, headers=acme.owner_headers
    )
    assert response.status_code == 400, response.text
    assert field in response.json()["errors"][0]["fields"][0]


def test_a_mapping_grants_roles_in_its_own_organization_only(client, services, acme):
    elsewhere = make_org(services, make_user(services), "Elsewhere")
    response = map_roles(client, acme, "x", ["x"], owner_role(elsewhere))
    assert response.status_code in (400, 403), response.text


def test_mapping_names_are_unique(client, acme):
    role = deployment_role(acme.org, "deployment-viewer")
    assert map_roles(client, acme, "same", ["a"], role).status_code == 201
    response = map_roles(client, acme, "same", ["b"], role)
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "sso.role_mapping_name_taken"

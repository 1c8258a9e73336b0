"""The console in process: security headers, CSRF, authorization, errors as pages, secrets
shown once. The browser tests (test_browser.py) cover the same flows in Chromium."""

from __future__ import annotations

import base64
import json
import re

import pytest

from citadel.authn import totp
from tests.console.helpers import post, sign_in, token_in
from tests.fixtures.builders import add_member, grant, make_deployment, make_org, make_user
from tests.fixtures.mail import email_code, invitation_link

PAGES = [
    "/",
    "/deployments",
    "/deployments/new",
    "/network",
    "/network/rulesets/new",
    "/members",
    "/api-keys",
    "/audit",
    "/single-sign-on",
]


def test_pages_carry_a_strict_csp_frame_denial_and_hsts(client):
    response = client.get("/sign-in")
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["strict-transport-security"].startswith("max-age=31536000")


@pytest.mark.parametrize("path", PAGES)
def test_every_main_page_renders_without_inline_script_or_style(client, signed_in, path):
    response = client.get(path)
    assert response.status_code == 200, response.text
    html = response.text
    assert re.search(r"<script(?![^>]*\bsrc=)", html) is None
    assert "<style" not in html
    assert " style=" not in html
    assert re.search(r"<[^>]+\son[a-z]+=", html) is None
    assert "content-security-policy" in response.headers


@pytest.mark.parametrize("path", PAGES)
def test_every_input_has_a_label(client, signed_in, path):
    html = client.get(path).text
    ids = set(
        re.findall(
            r'<(?:input|select|textarea)(?![^>]*type="(?:hidden|submit)")[^>]*\bid="([^"]+)"', html
        )
    )
    unlabelled = [i for i in ids if f'for="{i}"' not in html]
    assert unlabelled == []
    bare = re.findall(r'<(?:input|select|textarea)(?![^>]*type="hidden")(?![^>]*\bid=)[^>]*>', html)
    assert bare == []


def test_a_visitor_without_a_session_is_sent_to_sign_in(client):
    response = client.get("/deployments", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?next=%2Fdeployments"


def test_an_ended_session_redirects_to_sign_in_with_a_message(client, services, signed_in, clock):
    clock.advance(seconds=services.policies.session_idle_s + 1)
    response = client.get("/members", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/sign-in?notice=expired")
    assert "Your session has ended" in client.get(response.headers["location"]).text


def test_a_form_post_without_the_csrf_token_is_refused(client, signed_in):
    response = post(
        client, "/api-keys", None, description="k", expiration="1d", role="organization-admin"
    )
    assert response.status_code == 403
    assert "security token" in response.text
    assert "content-security-policy" in response.headers


def test_a_form_post_with_a_wrong_csrf_token_is_refused(client, signed_in):
    response = post(
        client, "/api-keys", "0" * 64, description="k", expiration="1d", role="organization-admin"
    )
    assert response.status_code == 403


def test_a_cross_origin_form_post_is_refused_even_with_the_token(client, signed_in):
    response = client.post(
        "/api-keys",
        data={"csrf_token": signed_in, "description": "k", "role": "organization-admin"},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert response.status_code == 403


def test_the_sign_in_form_needs_its_own_token(client, services, owner):
    user, _ = owner
    client.get("/sign-in")
    response = client.post(
        "/sign-in",
        data={"email": user.email, "password": user.password, "totp_code": user.code(services)},
    )
    assert response.status_code == 403
    assert client.cookies.get("__Host-citadel_session") is None


def test_a_wrong_password_is_a_form_message_not_an_error_page(client, owner):
    user, _ = owner
    page = client.get("/sign-in")
    response = client.post(
        "/sign-in",
        data={"csrf_token": token_in(page.text), "email": user.email, "password": "wrong"},
    )
    assert response.status_code == 401
    assert "The email, password or second factor is not valid." in response.text
    assert 'value="' + user.email + '"' in response.text


def test_an_api_key_secret_is_shown_once(client, signed_in):
    response = post(
        client,
        "/api-keys",
        signed_in,
        description="ci",
        expiration="7d",
        role="deployment-viewer",
        scope="all",
    )
    assert response.status_code == 201
    secret = re.search(r'id="api-key-secret" class="secret">([^<]+)<', response.text).group(1)
    assert secret.startswith("cit_live_")
    listing = client.get("/api-keys").text
    assert "ci" in listing
    assert secret not in listing
    assert secret[9:21] in listing  # the public id is shown, the secret part never again


def test_a_service_error_renders_as_a_form_message(client, signed_in):
    response = post(
        client, "/api-keys", signed_in, description="ci", expiration="2y", role="organization-admin"
    )
    assert response.status_code == 400
    assert "api_key" in response.text or "Expiration" in response.text
    assert 'role="alert"' in response.text


def test_a_revoked_key_leaves_the_list(client, services, signed_in):
    post(
        client,
        "/api-keys",
        signed_in,
        description="temp",
        expiration="1d",
        role="organization-admin",
    )
    key_id = re.search(r'action="/api-keys/([^/]+)/revoke"', client.get("/api-keys").text)
    response = post(client, f"/api-keys/{key_id.group(1)}/revoke", signed_in)
    assert response.status_code == 303
    assert "temp" not in client.get("/api-keys").text


@pytest.fixture
def viewer_session(client, services, owner):
    _, org = owner
    deployment = make_deployment(services, org, name="logs")
    viewer = make_user(services)
    add_member(services, org, viewer, grant(org, "deployment-viewer"))
    return sign_in(client, services, viewer), org, deployment


def test_a_viewer_sees_no_control_they_may_not_use(client, viewer_session):
    _, _, deployment = viewer_session
    html = client.get("/deployments").text
    assert "logs" in html
    assert "Create deployment" not in html
    assert 'href="/api-keys"' not in html
    assert 'href="/audit"' not in html
    detail = client.get(f"/deployments/{deployment}").text
    for control in ("/shutdown", "/delete", "/reset-password", "/filters"):
        assert control not in detail
    members = client.get("/members").text
    assert "Invite members" not in members
    assert "Manage</a>" not in members
    assert "Create IP filter" not in client.get("/network").text


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/api-keys", {"description": "x", "role": "organization-admin"}),
        ("/deployments", {"name": "mine", "region": "local", "size": "1024"}),
        ("/members/invite", {"emails": "x@example.com"}),
        (
            "/network/rulesets",
            {
                "name": "f",
                "type": "ip",
                "region": "local",
                "rules": "10.0.0.0/8",
                "confirmed": "true",
            },
        ),
    ],
)
def test_a_viewer_forging_a_form_with_a_valid_token_gets_403(client, viewer_session, path, fields):
    csrf, _, _ = viewer_session
    response = post(client, path, csrf, **fields)
    assert response.status_code == 403
    assert "Not allowed" in response.text or "not allow" in response.text


def test_a_viewer_forging_a_shutdown_gets_403(client, services, viewer_session):
    csrf, _org, deployment = viewer_session
    response = post(client, f"/deployments/{deployment}/shutdown", csrf)
    assert response.status_code == 403


def test_an_ip_filter_that_blocks_the_visitor_is_created_only_after_a_warning(client, signed_in):
    fields = {"name": "office", "type": "ip", "region": "local", "rules": "203.0.113.0/24 office"}
    warned = post(client, "/network/rulesets", signed_in, **fields)
    assert warned.status_code == 200
    assert "would lock you out" in warned.text
    assert "0 of 0 in use" in client.get("/network").text  # nothing was created yet
    done = post(client, "/network/rulesets", signed_in, confirmed="true", **fields)
    assert done.status_code == 303
    page = client.get(done.headers["location"]).text
    assert "203.0.113.0/24" in page


def test_an_ip_filter_admitting_the_visitor_is_created_without_a_warning(client, signed_in):
    response = post(
        client,
        "/network/rulesets",
        signed_in,
        name="all",
        type="ip",
        region="local",
        rules="0.0.0.0/0\n::/0",
    )
    assert response.status_code == 303


def test_first_sign_in_enrols_totp_and_shows_recovery_codes_once(client, services):
    newcomer = make_user(services, with_totp=False)
    make_org(services, newcomer)
    page = client.get("/sign-in")
    done = client.post(
        "/sign-in",
        data={
            "csrf_token": token_in(page.text),
            "email": newcomer.email,
            "password": newcomer.password,
        },
        follow_redirects=False,
    )
    assert done.headers["location"] == "/enrol"
    assert client.get("/deployments", follow_redirects=False).headers["location"] == "/enrol"
    csrf = token_in(client.get("/enrol").text)
    started = post(client, "/enrol/start", csrf)
    secret = re.search(r'id="totp-secret" class="secret">([^<]+)<', started.text).group(1)
    seed = base64.b32decode(secret + "=" * (-len(secret) % 8))
    code = totp.code_at(seed, totp.counter_at(services.clock.now()))
    confirmed = post(client, "/enrol/confirm", csrf, code=code)
    assert confirmed.status_code == 200
    codes = re.search(r'id="recovery-codes" class="secret">([^<]+)<', confirmed.text).group(1)
    assert len(codes.split()) == 10
    assert client.get("/deployments").status_code == 200


def test_an_invitation_is_accepted_with_a_new_password(client, services, signed_in):
    sent = post(
        client,
        "/members/invite",
        signed_in,
        emails="ana@example.com",
        role="deployment-viewer",
        scope="all",
        expires_in="3d",
    )
    link = re.search(r'class="wrap invite-link">https://[^/]+([^<]+)<', sent.text).group(1)
    assert "ana@example.com" in client.get("/members").text
    assert link not in client.get("/members").text  # the link is shown once
    client.cookies.clear()
    assert "open the link from the invitation email" in client.get(link).text
    mailed = invitation_link(services.settings.data_dir, "ana@example.com")
    code = email_code(services.settings.data_dir, "ana@example.com")
    assert mailed.endswith(f"{link}?code={code}")
    page = client.get(mailed.removeprefix(mailed.split("/invitations/")[0]))
    assert "Join" in page.text
    assert f'name="email_code" value="{code}"' in page.text
    joined = client.post(
        link,
        data={
            "csrf_token": token_in(page.text),
            "email_code": code,
            "password": "a long new password 1",
        },
        follow_redirects=False,
    )
    assert joined.status_code == 303
    assert joined.headers["location"] == "/sign-in?notice=joined"


def test_the_audit_log_filters_exports_and_shows_the_chain_intact(client, signed_in):
    post(
        client,
        "/api-keys",
        signed_in,
        description="audited",
        expiration="1d",
        role="organization-admin",
    )
    page = client.get("/audit?action=api_key.created")
    assert "chain intact" in page.text
    assert "api_key.created" in page.text
    lines = client.get("/audit/export.jsonl?action=api_key.created").text.splitlines()
    assert [json.loads(x)["action"] for x in lines] == ["api_key.created"]
    csv_text = client.get("/audit/export.csv").text
    assert csv_text.splitlines()[0].startswith("seq,occurred_at,action")


def test_sign_out_ends_the_session(client, signed_in):
    response = post(client, "/sign-out", signed_in)
    assert response.headers["location"] == "/sign-in?notice=signed_out"
    assert client.get("/", follow_redirects=False).status_code == 303


def test_a_pending_invitation_is_resent_with_a_new_link_and_revoked(client, signed_in):
    first = post(
        client,
        "/members/invite",
        signed_in,
        emails="bo@example.com",
        role="deployment-editor",
        scope="all",
    )
    old = re.search(r'invite-link">([^<]+)<', first.text).group(1)
    handle = re.search(r"/members/invitations/([^/]+)/resend", client.get("/members").text)
    resent = post(client, f"/members/invitations/{handle.group(1)}/resend", signed_in)
    new = re.search(r'invite-link">([^<]+)<', resent.text).group(1)
    assert new != old
    assert "Deployment editor" in client.get("/members").text
    revoked = post(client, f"/members/invitations/{handle.group(1)}/revoke", signed_in)
    assert revoked.headers["location"] == "/members?notice=invitation_revoked"
    assert "bo@example.com" not in client.get("/members").text


def test_roles_are_added_and_removed_and_a_member_removed(client, services, owner, signed_in):
    _, org = owner
    deployment = make_deployment(services, org, name="metrics")
    member = make_user(services)
    add_member(services, org, member, grant(org, "deployment-viewer"))
    added = post(
        client,
        f"/members/{member.user_id}/roles/add",
        signed_in,
        role="deployment-editor",
        scope="some",
        deployment=deployment,
    )
    assert added.status_code == 303
    page = client.get(f"/members/{member.user_id}").text
    assert "Deployment editor · metrics" in page
    removed = post(
        client,
        f"/members/{member.user_id}/roles/remove",
        signed_in,
        role="deployment-viewer",
        scope="all",
    )
    assert removed.status_code == 303
    assert (
        "Deployment viewer · all deployments" not in client.get(f"/members/{member.user_id}").text
    )
    gone = post(client, f"/members/{member.user_id}/remove", signed_in)
    assert gone.headers["location"] == "/members?notice=member_removed"
    assert member.email not in client.get("/members").text


def test_the_last_owner_cannot_lose_the_owner_role(client, owner, signed_in):
    user, _ = owner
    response = post(
        client, f"/members/{user.user_id}/roles/remove", signed_in, role="organization-admin"
    )
    assert response.status_code == 409
    assert 'role="alert"' in response.text


def test_a_member_page_offers_only_roles_the_visitor_may_grant(client, services, owner):
    _, org = owner
    deployment = make_deployment(services, org, name="scoped")
    admin = make_user(services)
    add_member(services, org, admin, grant(org, "deployment-admin", deployment))
    sign_in(client, services, admin)
    html = client.get("/members").text
    offered = re.findall(
        r'<option value="([a-z-]+)"', html.split('id="inv-role"')[1].split("</select>")[0]
    )
    assert offered == ["deployment-admin", "deployment-editor", "deployment-viewer"]
    assert "All deployments, present and future" in html  # the picker; "all" is refused below
    csrf = token_in(html)
    refused = post(
        client,
        "/members/invite",
        csrf,
        emails="x@example.com",
        role="deployment-viewer",
        scope="all",
    )
    assert refused.status_code == 403


def test_a_deployment_is_shut_down_then_deleted_after_confirmation(
    client, services, owner, signed_in
):
    _, org = owner
    deployment = make_deployment(services, org, name="old")
    page = client.get(f"/deployments/{deployment}").text
    assert "Shut down old" in page
    assert "Delete old" not in page
    assert post(client, f"/deployments/{deployment}/shutdown", signed_in).status_code == 303
    assert "Delete old" in client.get(f"/deployments/{deployment}").text
    deleted = post(client, f"/deployments/{deployment}/delete", signed_in)
    assert deleted.headers["location"] == "/deployments?notice=deployment_deleted"
    assert "old" not in client.get("/deployments").text.split("<tbody>")[-1]


def test_resetting_the_elastic_password_shows_it_once(client, services, owner, signed_in):
    _, org = owner
    deployment = make_deployment(services, org)
    response = post(client, f"/deployments/{deployment}/reset-password", signed_in)
    password = re.search(r'id="elastic-password" class="secret">([^<]+)<', response.text)
    assert password is not None
    assert password.group(1) not in client.get(f"/deployments/{deployment}").text


def test_an_association_that_blocks_the_visitor_asks_before_applying(
    client, services, owner, signed_in
):
    _, org = owner
    deployment = make_deployment(services, org, name="guarded")
    created = post(
        client,
        "/network/rulesets",
        signed_in,
        name="office",
        type="ip",
        region="local",
        rules="203.0.113.0/24",
        confirmed="true",
    )
    ruleset = created.headers["location"].split("/")[-1].split("?")[0]
    warned = post(
        client, f"/network/rulesets/{ruleset}/associate", signed_in, deployment_id=deployment
    )
    assert warned.status_code == 200
    assert "would lock you out" in warned.text
    assert "1 deployment" not in warned.text
    forced = post(
        client,
        f"/network/rulesets/{ruleset}/associate",
        signed_in,
        deployment_id=deployment,
        force="true",
    )
    assert forced.status_code == 303
    detail = client.get(f"/deployments/{deployment}").text
    assert f'href="/network/rulesets/{ruleset}">office' in detail
    network = client.get("/network").text
    assert "1 of 1 in use" in network


def test_editing_a_ruleset_keeps_its_version_history(client, signed_in):
    created = post(
        client,
        "/network/rulesets",
        signed_in,
        name="vpn",
        type="ip",
        region="local",
        rules="127.0.0.1/32 me",
    )
    path = created.headers["location"].split("?")[0]
    updated = post(client, path, signed_in, version="1", name="vpn", rules="127.0.0.0/8 lo")
    assert updated.status_code == 303
    page = client.get(path).text
    assert "version 2" in page
    assert "127.0.0.1/32" in page
    assert "127.0.0.0/8" in page
    stale = post(client, path, signed_in, version="1", name="vpn", rules="127.0.0.0/8")
    assert stale.status_code == 409


def test_a_private_link_filter_is_created_after_the_lockout_warning(client, signed_in):
    fields = {"name": "link", "type": "vpce", "region": "local", "rules": "vpce-0abc123 app vpc"}
    warned = post(client, "/network/rulesets", signed_in, **fields)
    assert "would lock you out" in warned.text  # only private-link traffic would pass
    response = post(client, "/network/rulesets", signed_in, confirmed="true", **fields)
    assert response.status_code == 303
    assert "vpce-0abc123" in client.get(response.headers["location"]).text


def test_the_ca_certificate_downloads_for_members_only(client, services, signed_in):
    from citadel.bootstrap import api_certificate

    api_certificate(services)
    response = client.get("/ca.crt")
    assert response.status_code == 200
    assert response.text.startswith("-----BEGIN CERTIFICATE-----")
    client.cookies.clear()
    assert client.get("/ca.crt", follow_redirects=False).status_code == 303


def test_a_forged_form_is_audited_as_a_denied_request(client, services, viewer_session):
    from citadel.audit.service import EventFilter, list_events

    csrf, org, _ = viewer_session
    post(client, "/api-keys", csrf, description="x", role="organization-admin")
    with services.db.read() as session:
        events = list_events(
            session,
            organization_id=org,
            filters=EventFilter(action="request.denied"),
            after_seq=0,
            limit=10,
        )
        assert [(e.target_id, e.details["code"]) for e in events] == [
            ("POST /api-keys", "organization.invalid_access")
        ]

"""The console's aids to finding one's way: the icon, deployments told apart by a short id,
copyable connection snippets, and an error's code in small print under its message."""

from __future__ import annotations

import html
import re

import pytest

from citadel.console.web import CSP
from tests.console.helpers import post, token_in
from tests.fixtures.builders import make_deployment, make_org, make_user


@pytest.fixture
def twins(services, owner):
    """Two deployments of the organization with the same name."""
    _, org = owner
    return make_deployment(services, org, name="logs"), make_deployment(services, org, name="logs")


def test_the_favicon_is_served_as_an_svg(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert "<svg" in response.text


def test_every_page_points_at_the_favicon(client):
    assert '<link rel="icon" href="/favicon.ico"' in client.get("/sign-in").text


@pytest.mark.parametrize("path", ["/", "/deployments"])
def test_deployments_sharing_a_name_are_listed_with_their_short_ids(client, signed_in, twins, path):
    page = client.get(path).text
    for deployment in twins:
        assert f'<small class="id" title="{deployment}">{deployment[:6]}</small>' in page


@pytest.mark.parametrize("path", ["/members", "/api-keys"])
def test_a_scope_picker_names_each_deployment_with_its_short_id(client, signed_in, twins, path):
    page = client.get(path).text
    for deployment in twins:
        assert re.search(rf'value="{deployment}"> logs \({deployment[:6]}\)</label>', page)


def test_a_role_scope_names_the_deployment_with_its_short_id(client, signed_in, twins):
    first, _ = twins
    post(
        client,
        "/members/invite",
        signed_in,
        emails="ana@example.com",
        role="deployment-viewer",
        scope="some",
        deployment=first,
        expires_in="3d",
    )
    assert f"logs ({first[:6]})</span>" in client.get("/members").text


def test_the_apply_to_picker_names_each_deployment_with_its_short_id(client, signed_in, twins):
    created = post(
        client,
        "/network/rulesets",
        signed_in,
        name="vpn",
        type="ip",
        region="local",
        rules="127.0.0.1/32 me",
    )
    page = client.get(created.headers["location"].split("?")[0]).text
    for deployment in twins:
        assert f'<option value="{deployment}">logs ({deployment[:6]})</option>' in page


def test_the_deployment_page_offers_curl_and_python_snippets(client, services, owner, signed_in):
    _, org = owner
    deployment = make_deployment(services, org)
    page = client.get(f"/deployments/{deployment}").text
    endpoint = re.search(r'<code id="endpoint">([^<]+)</code>', page).group(1)
    cloud_id = re.search(r'<code id="cloud-id">([^<]+)</code>', page).group(1)
    curl = re.search(r'<code id="connect-curl">([^<]+)</code>', page).group(1)
    python = html.unescape(re.search(r'<code id="connect-python">([^<]+)</code>', page).group(1))
    assert curl == f"curl --cacert citadel-ca.crt -u elastic:$ELASTIC_PASSWORD {endpoint}"
    assert f'cloud_id="{html.unescape(cloud_id)}"' in python
    assert 'basic_auth=("elastic", password)' in python
    assert 'ca_certs="citadel-ca.crt"' in python
    assert 'data-copy="connect-curl"' in page
    assert 'data-copy="connect-python"' in page


def test_a_service_error_shows_its_message_with_the_code_in_small_print(client, signed_in):
    response = post(client, "/deployments/" + "0" * 32 + "/shutdown", signed_in)
    assert response.status_code == 404
    alert = re.search(
        r'<div class="error" role="alert" id="form-error">(.+?)</div>', response.text, re.S
    )
    assert alert is not None
    message, code = re.search(
        r"<strong>([^<]+)</strong>\s*<small class=\"code\">([^<]+)</small>", alert.group(1)
    ).groups()
    assert code == "deployments.deployment_not_found"
    assert code not in message


def test_totp_enrolment_shows_the_key_as_a_qr_code_beside_its_link(client, services):
    newcomer = make_user(services, with_totp=False)
    make_org(services, newcomer)
    sign_in_form = client.get("/sign-in")
    client.post(
        "/sign-in",
        data={
            "csrf_token": token_in(sign_in_form.text),
            "email": newcomer.email,
            "password": newcomer.password,
        },
        follow_redirects=False,
    )
    started = post(client, "/enrol/start", token_in(client.get("/enrol").text))
    figure = re.search(r'<figure class="qr" id="totp-qr">(.+?)</figure>', started.text, re.S)
    assert figure is not None
    assert figure.group(1).startswith('<svg width="')
    assert "<title>QR code of the authenticator key</title>" in figure.group(1)
    assert "<script" not in figure.group(1)
    uri = re.search(r'id="totp-uri">([^<]+)<', started.text).group(1)
    assert uri.startswith("otpauth://totp/")
    assert "style=" not in figure.group(1)
    assert started.headers["content-security-policy"] == CSP

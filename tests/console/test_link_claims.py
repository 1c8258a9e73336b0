"""Claimed private-link ids on the network security page: listed, claimed and unclaimed
through the services `POST …/link-ids/_claim` and `_unclaim` call, with their authorization."""

from __future__ import annotations

import re

import pytest

from tests.console.helpers import post, sign_in
from tests.fixtures.builders import add_member, grant, make_org, make_user

AZURE_GUID = "fa2fc8a4-6f7d-4d6b-9f0e-4a6b1b2c3d4e"


@pytest.fixture
def signed_in(client, services, owner):
    return sign_in(client, services, owner[0])


def claims_table(client) -> str:
    html = client.get("/network").text
    found = re.search(r'<table id="claims">.*?</table>', html, re.S)
    return found.group(0) if found else ""


def test_the_network_page_says_when_no_link_id_is_claimed(client, signed_in):
    html = client.get("/network").text
    assert "No link id is claimed." in html
    assert 'action="/network/link-ids/claim"' in html


def test_a_vpc_endpoint_id_is_claimed_and_listed(client, signed_in):
    claimed = post(
        client, "/network/link-ids/claim", signed_in, region="local", link_id="vpce-0abc123"
    )
    assert claimed.status_code == 303
    assert claimed.headers["location"] == "/network?notice=link_claimed"
    table = claims_table(client)
    assert "<code>vpce-0abc123</code>" in table
    assert "AWS PrivateLink" in table
    assert "Unclaim vpce-0abc123" in table


def test_an_azure_endpoint_is_claimed_with_its_name_and_guid(client, signed_in):
    claimed = post(
        client,
        "/network/link-ids/claim",
        signed_in,
        region="local",
        link_id="123456",
        azure_endpoint_name="app-endpoint",
        azure_endpoint_guid=AZURE_GUID,
    )
    assert claimed.status_code == 303
    table = claims_table(client)
    assert "Azure Private Link" in table
    assert f"app-endpoint · {AZURE_GUID}" in table


def test_claiming_an_own_claim_again_says_so(client, signed_in):
    post(client, "/network/link-ids/claim", signed_in, region="local", link_id="vpce-0abc123")
    again = post(
        client, "/network/link-ids/claim", signed_in, region="local", link_id="vpce-0abc123"
    )
    assert again.headers["location"] == "/network?notice=link_already_claimed"
    assert claims_table(client).count("<code>vpce-0abc123</code>") == 1


def test_a_malformed_link_id_is_a_form_message_keeping_the_input(client, signed_in):
    refused = post(client, "/network/link-ids/claim", signed_in, region="local", link_id="vpce-!")
    assert refused.status_code == 400
    assert "A VPC endpoint id looks like" in refused.text
    assert 'value="vpce-!"' in refused.text
    assert "No link id is claimed." in refused.text


def test_a_link_id_another_organization_claimed_is_refused(client, services, signed_in):
    other = make_user(services)
    make_org(services, other, name="Other")
    post(client, "/network/link-ids/claim", signed_in, region="local", link_id="vpce-0abc123")
    client.cookies.clear()
    csrf = sign_in(client, services, other)
    refused = post(client, "/network/link-ids/claim", csrf, region="local", link_id="vpce-0abc123")
    assert refused.status_code == 409
    assert "already claimed" in refused.text
    assert claims_table(client) == ""  # the other organization's claim is not shown here


def test_a_claim_is_unclaimed_after_confirmation(client, signed_in):
    post(client, "/network/link-ids/claim", signed_in, region="local", link_id="vpce-0abc123")
    html = client.get("/network").text
    form_at = html.index('action="/network/link-ids/unclaim"')
    assert html.rfind('<details class="confirm">', 0, form_at) > html.rfind(
        "</details>", 0, form_at
    )
    gone = post(
        client, "/network/link-ids/unclaim", signed_in, region="local", link_id="vpce-0abc123"
    )
    assert gone.headers["location"] == "/network?notice=link_unclaimed"
    assert "No link id is claimed." in client.get("/network").text


def test_an_azure_claim_is_unclaimed_with_its_endpoint(client, signed_in):
    fields = {
        "region": "local",
        "link_id": "123456",
        "azure_endpoint_name": "app-endpoint",
        "azure_endpoint_guid": AZURE_GUID,
    }
    post(client, "/network/link-ids/claim", signed_in, **fields)
    html = client.get("/network").text
    assert f'name="azure_endpoint_guid" value="{AZURE_GUID}"' in html
    gone = post(client, "/network/link-ids/unclaim", signed_in, **fields)
    assert gone.status_code == 303
    assert claims_table(client) == ""


def test_unclaiming_what_the_organization_never_claimed_is_a_message(client, signed_in):
    refused = post(
        client, "/network/link-ids/unclaim", signed_in, region="local", link_id="vpce-0abc123"
    )
    assert refused.status_code == 404
    assert "has not claimed that link id" in refused.text


@pytest.fixture
def viewer_session(client, services, owner):
    user, org = owner
    csrf = sign_in(client, services, user)
    post(client, "/network/link-ids/claim", csrf, region="local", link_id="vpce-0abc123")
    client.cookies.clear()
    viewer = make_user(services)
    add_member(services, org, viewer, grant(org, "deployment-viewer"))
    return sign_in(client, services, viewer)


def test_a_viewer_sees_the_claims_but_no_control(client, viewer_session):
    html = client.get("/network").text
    assert "<code>vpce-0abc123</code>" in html
    assert "/network/link-ids/claim" not in html
    assert "/network/link-ids/unclaim" not in html


@pytest.mark.parametrize("action", ["claim", "unclaim"])
def test_a_viewer_forging_a_claim_change_gets_403(client, viewer_session, action):
    fields = {"region": "local", "link_id": "vpce-0abc123"}
    response = post(client, f"/network/link-ids/{action}", viewer_session, **fields)
    assert response.status_code == 403
    assert "<code>vpce-0abc123</code>" in claims_table(client)


@pytest.mark.parametrize("action", ["claim", "unclaim"])
def test_a_claim_change_without_the_csrf_token_is_refused(client, signed_in, action):
    response = post(client, f"/network/link-ids/{action}", None, region="local", link_id="vpce-1")
    assert response.status_code == 403
    assert "security token" in response.text

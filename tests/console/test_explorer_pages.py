"""The data explorer's pages in process: who may open them and what happens before and when
the deployment cannot be reached (the browser test, test_explorer_browser.py, drives them
against a real deployment behind the real gateway)."""

from __future__ import annotations

import pytest

from tests.console.helpers import post, sign_in
from tests.fixtures.builders import add_member, grant, make_deployment, make_org, make_user


@pytest.fixture
def deployment(services, owner) -> str:
    return make_deployment(services, owner[1], name="orders")


def test_the_deployment_page_links_to_its_explorer_while_it_runs(client, signed_in, deployment):
    page = client.get(f"/deployments/{deployment}").text
    assert f'href="/deployments/{deployment}/explorer">Open data explorer</a>' in page


def test_a_stopped_deployment_offers_no_explorer(client, services, owner, signed_in):
    stopped = make_deployment(services, owner[1], stopped=True)
    assert "Open data explorer" not in client.get(f"/deployments/{stopped}").text


def test_another_organizations_deployment_is_not_found(client, services, signed_in):
    stranger = make_user(services)
    theirs = make_deployment(services, make_org(services, stranger, "Other"))
    for path in ("", "/query", "/indices/orders", "/security/users"):
        answer = client.get(f"/deployments/{theirs}/explorer{path}")
        assert answer.status_code == 404, path
        assert "<h1>Not found</h1>" in answer.text
    answer = post(client, f"/deployments/{theirs}/explorer/query", signed_in, index="x", body="{}")
    assert answer.status_code == 404


def test_a_member_outside_the_deployments_scope_gets_404(client, services, owner, deployment):
    _, org = owner
    other = make_deployment(services, org, name="other")
    member = make_user(services)
    add_member(services, org, member, grant(org, "deployment-viewer", other))
    sign_in(client, services, member)
    assert client.get(f"/deployments/{deployment}/explorer").status_code == 404


def test_an_unreachable_deployment_is_a_502_page_that_shows_no_token(client, signed_in, deployment):
    """In process there is no gateway to reach (nor a platform CA to check it against)."""
    answer = client.get(f"/deployments/{deployment}/explorer")
    assert answer.status_code == 502
    assert "explorer.deployment_unreachable" in answer.text
    assert "eyJ" not in answer.text  # the minted token stays in the request to the gateway


def test_a_filter_that_does_not_admit_the_browser_closes_the_explorer(
    client, signed_in, deployment
):
    """The client is 127.0.0.1; the gateway would see the control plane, so the console
    applies the deployment's filters to the browser itself, before minting a token."""
    fields = {"name": "office", "type": "ip", "region": "local", "rules": "203.0.113.0/24"}
    made = post(client, "/network/rulesets", signed_in, confirmed="true", **fields)
    ruleset = made.headers["location"].rsplit("/", 1)[1]
    post(client, f"/deployments/{deployment}/filters", signed_in, ruleset_id=ruleset, force="true")
    answer = client.get(f"/deployments/{deployment}/explorer")
    assert answer.status_code == 403
    assert "explorer.traffic_filtered" in answer.text
    assert "(127.0.0.1)" in answer.text

    fields = {"name": "here", "type": "ip", "region": "local", "rules": "127.0.0.1/32"}
    made = post(client, "/network/rulesets", signed_in, **fields)
    ruleset = made.headers["location"].rsplit("/", 1)[1]
    post(client, f"/deployments/{deployment}/filters", signed_in, ruleset_id=ruleset)
    assert client.get(f"/deployments/{deployment}/explorer").status_code == 502  # on to the gateway


@pytest.mark.parametrize(
    "path", ["/query", "/security/users", "/security/role-mappings", "/security/users/x/delete"]
)
def test_every_explorer_form_needs_the_csrf_token(client, signed_in, deployment, path):
    answer = post(client, f"/deployments/{deployment}/explorer{path}", None, username="x")
    assert answer.status_code == 403


def test_only_users_and_role_mappings_can_be_deleted_here(client, signed_in, deployment):
    answer = post(client, f"/deployments/{deployment}/explorer/security/roles/x/delete", signed_in)
    assert answer.status_code == 404


def test_the_documents_of_an_api_name_are_not_asked_for(client, signed_in, deployment):
    answer = client.get(f"/deployments/{deployment}/explorer/indices/_security")
    assert answer.status_code == 400
    assert "only runs _search" in answer.text

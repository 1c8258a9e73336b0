"""The console's Security audit page of a deployment, in process: events with filters and
export, the settings form (CSRF, errors named on the page), who sees what; the same CSP and
labelling rules as every console page."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from tests.console.helpers import post, sign_in
from tests.deployment_audit.conftest import audit_event, minutes_ago, ship
from tests.fixtures.builders import add_member, grant, make_deployment, make_user


def page_of(deployment: str) -> str:
    return f"/deployments/{deployment}/security/audit"


def member_session(client, services, org: str, role: str, *ids: str) -> str:
    user = make_user(services)
    add_member(services, org, user, grant(org, role, *ids))
    return sign_in(client, services, user)


@pytest.fixture
def trail(services, deployment) -> str:
    ship(
        services,
        deployment,
        [
            audit_event(
                "authentication_failed",
                at=minutes_ago(services, 3),
                user="mallory",
                request_id="r3",
            ),
            audit_event(
                "access_denied",
                at=minutes_ago(services, 2),
                user="bob",
                indices=["secrets"],
                request_id="r2",
            ),
            audit_event(
                "access_granted", at=minutes_ago(services, 1), user="alice", request_id="r1"
            ),
        ],
        dropped=4,
    )
    return deployment


def test_the_page_lists_events_newest_first_with_the_dropped_count(client, services, org, trail):
    member_session(client, services, org, "organization-admin")

    html = client.get(page_of(trail)).text

    assert html.index("alice") < html.index("bob") < html.index("mallory")
    assert "4 events dropped by the node" in html


def test_the_filters_narrow_the_events(client, services, org, trail):
    member_session(client, services, org, "organization-admin")

    html = client.get(page_of(trail), params={"action": "access_denied"}).text
    table = html[html.index('id="audit-events"') :]

    assert "bob" in table
    assert "alice" not in table
    assert "mallory" not in table
    assert 'href="/deployments/' in html
    assert "export.ndjson?action=access_denied" in html


def test_the_export_holds_every_match_as_the_node_wrote_it(client, services, org, deployment):
    member_session(client, services, org, "deployment-editor")
    now = services.clock.now()
    events = [audit_event(at=now - timedelta(seconds=i), request_id=f"e{i}") for i in range(1002)]
    ship(services, deployment, events)

    answer = client.get(page_of(deployment) + "/export.ndjson")

    assert answer.status_code == 200
    assert "attachment" in answer.headers["content-disposition"]
    assert "content-security-policy" in answer.headers
    assert [json.loads(line) for line in answer.text.splitlines()] == events


def test_the_page_has_no_inline_script_or_style_and_labels_every_input(
    client, services, org, trail
):
    member_session(client, services, org, "organization-admin")

    response = client.get(page_of(trail))

    html = response.text
    assert "content-security-policy" in response.headers
    assert re.search(r"<script(?![^>]*\bsrc=)", html) is None
    assert "<style" not in html
    assert " style=" not in html
    assert re.search(r"<[^>]+\son[a-z]+=", html) is None
    ids = re.findall(
        r'<(?:input|select|textarea)(?![^>]*type="(?:hidden|submit)")[^>]*\bid="([^"]+)"', html
    )
    assert ids
    assert [i for i in ids if f'for="{i}"' not in html] == []


def test_an_admin_saves_the_settings(client, services, org, deployment):
    csrf = member_session(client, services, org, "deployment-admin")

    saved = client.post(
        page_of(deployment) + "/settings",
        data={
            "csrf_token": csrf,
            "enabled": "on",
            "include": ["access_denied", "authentication_failed"],
            "exclude": ["access_granted"],
            "ignore_filters": '{"kibana": {"users": ["kibana_system"]}}',
        },
    )

    assert saved.status_code == 200
    assert 'id="saved"' in saved.text
    settings = client.get(
        f"/api/v1/deployments/{deployment}/security/audit/settings",
        params={"organization_id": org},
    ).json()
    assert settings["enabled"] is True
    assert settings["include"] == ["access_denied", "authentication_failed"]
    assert settings["exclude"] == ["access_granted"]
    assert settings["ignore_filters"] == {"kibana": {"users": ["kibana_system"]}}


@pytest.mark.parametrize(
    ("ignore_filters", "message"),
    [
        ("{not json", "not JSON"),
        ('{"ops": {"hosts": ["x"]}}', "is not a filter"),
    ],
)
def test_invalid_ignore_filters_are_shown_on_the_page(
    client, services, org, deployment, ignore_filters, message
):
    csrf = member_session(client, services, org, "deployment-admin")

    answer = post(
        client, page_of(deployment) + "/settings", csrf, enabled="on", ignore_filters=ignore_filters
    )

    assert answer.status_code == 400
    assert message in answer.text
    assert 'aria-invalid="true"' in answer.text
    assert ignore_filters.replace('"', "&#34;") in answer.text  # the form keeps what was typed


def test_the_settings_form_needs_the_csrf_token(client, services, org, deployment):
    member_session(client, services, org, "deployment-admin")

    answer = post(client, page_of(deployment) + "/settings", None, enabled="on")

    assert answer.status_code == 403


def test_an_editor_reads_but_gets_no_settings_form(client, services, org, trail):
    csrf = member_session(client, services, org, "deployment-editor")

    html = client.get(page_of(trail)).text

    assert "alice" in html
    assert 'action="' + page_of(trail) + '/settings"' not in html
    assert 'id="audit-settings"' in html
    refused = post(client, page_of(trail) + "/settings", csrf, enabled="on")
    assert refused.status_code == 403


def test_a_viewer_is_refused_and_not_shown_the_link(client, services, org, trail):
    member_session(client, services, org, "deployment-viewer")

    assert client.get(page_of(trail)).status_code == 403
    assert client.get(page_of(trail) + "/export.ndjson").status_code == 403
    assert 'id="security-audit-link"' not in client.get(f"/deployments/{trail}").text


def test_the_deployment_page_links_to_the_trail(client, services, org, trail):
    member_session(client, services, org, "deployment-editor")

    assert 'id="security-audit-link"' in client.get(f"/deployments/{trail}").text


def test_an_admin_of_another_deployment_gets_not_found(client, services, org, trail):
    other = make_deployment(services, org, name="other")
    member_session(client, services, org, "deployment-admin", other)

    assert client.get(page_of(trail)).status_code == 404
    assert client.get(page_of(trail) + "/export.ndjson").status_code == 404

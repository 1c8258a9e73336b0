"""The projects pages in process: the list beside deployments, create with the `admin`
password shown once, the project page (endpoints, Cloud ID, phase), its traffic filters with
the lockout warning, reset of credentials, delete; CSP, labels, CSRF and authorization as on
the other pages. The browser test (test_projects_browser.py) takes the same flow in Chromium."""

from __future__ import annotations

import re

import pytest

from citadel.bootstrap import Services
from citadel.contract.messages import ObservedState, StatusReport
from citadel.deployments.internal import pending_password
from citadel.deployments.models import Deployment
from citadel.use_cases.internal import report_status
from tests.console.helpers import post, sign_in
from tests.fixtures.builders import (
    SystemUnits,
    add_member,
    grant,
    key_headers,
    make_api_key,
    make_user,
)

ONCE = re.compile(r'name="once_token" value="([0-9a-f]{32})"')


def _password_of(services: Services, project_id: str) -> str | None:
    with services.db.read() as session:
        ctx = services.context(session, services.system_caller())
        return pending_password(ctx, session.get(Deployment, project_id))


def create(client, csrf: str, **fields: str):
    """Post the create form as the browser would (with the form's own one-time token)."""
    form = client.get("/projects/new").text
    data = {"type": "elasticsearch", "name": "shop", "region": "local", **fields}
    data["once_token"] = ONCE.search(form).group(1)
    return post(client, "/projects", csrf, **data)


def created_id(response) -> str:
    found = re.search(r'href="/projects/[a-z]+/([a-z0-9]{32})"', response.text)
    assert found, response.text
    return found.group(1)


def observed_running(services: Services, project_id: str) -> None:
    """The allocator reports the project's instance running (as over the internal API)."""
    with SystemUnits(services).write() as ctx:
        report = StatusReport(observed_state=ObservedState.RUNNING, healthy=True)
        report_status(ctx, project_id, report)


def make_filter(client, services: Services, org: str, source: str) -> str:
    """A serverless IP filter of the organization, made through the API."""
    answer = client.post(
        "/api/v1/serverless/traffic-filters",
        json={
            "name": f"allow {source}",
            "type": "ip",
            "region": "local",
            "rules": [{"source": source}],
        },
        headers=key_headers(make_api_key(services, org)),
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


@pytest.fixture
def project(client, signed_in) -> str:
    made = create(client, signed_in)
    assert made.status_code == 201, made.text
    return created_id(made)


def test_the_list_and_the_create_form_render_under_the_strict_csp(client, signed_in, project):
    for path in ("/projects", "/projects/new", f"/projects/elasticsearch/{project}"):
        response = client.get(path)
        assert response.status_code == 200, response.text
        html = response.text
        assert re.search(r"<script(?![^>]*\bsrc=)", html) is None
        assert " style=" not in html
        assert re.search(r"<[^>]+\son[a-z]+=", html) is None
        assert "content-security-policy" in response.headers
        ids = re.findall(
            r'<(?:input|select)(?![^>]*type="(?:hidden|submit)")[^>]*\bid="([^"]+)"', html
        )
        assert [i for i in ids if f'for="{i}"' not in html] == []


def test_projects_sit_beside_deployments_in_the_navigation(client, signed_in):
    html = client.get("/projects").text
    nav = html.split('aria-label="Main"')[1].split("</nav>")[0]
    assert nav.index('href="/deployments"') < nav.index('href="/projects"')
    assert 'href="/projects" aria-current="page"' in nav


def test_create_shows_the_admin_password_once(client, services, signed_in):
    made = create(client, signed_in, name="shop", alias="storefront")

    assert made.status_code == 201, made.text
    project_id = created_id(made)
    shown = re.search(r'id="project-password" class="secret">([^<]+)<', made.text).group(1)
    assert shown == _password_of(services, project_id)
    page = client.get(f"/projects/elasticsearch/{project_id}").text
    assert shown not in page
    assert f"storefront-{project_id[:6]}.es.local." in page
    assert 'id="cloud-id">shop:' in page
    assert "initializing" in page
    assert "shop" in client.get("/projects").text


def test_the_same_create_form_posted_twice_makes_one_project(client, signed_in):
    form = client.get("/projects/new").text
    data = {"type": "security", "name": "siem", "region": "local"}
    data["once_token"] = ONCE.search(form).group(1)

    first = post(client, "/projects", signed_in, **data)
    again = post(client, "/projects", signed_in, **data)

    assert first.status_code == 201, first.text
    assert again.status_code == 303
    assert again.headers["location"] == "/projects?notice=project_already_created"
    assert client.get("/projects").text.count('href="/projects/security/') == 1


def test_search_power_of_an_observability_project_is_an_error_on_the_form(client, signed_in):
    made = create(client, signed_in, type="observability", name="logs", search_power="100")

    assert made.status_code == 400
    assert 'id="form-error"' in made.text
    assert 'value="logs"' in made.text  # the form is filled again


def test_an_out_of_range_search_power_is_refused(client, signed_in):
    made = create(client, signed_in, search_power="5")

    assert made.status_code == 400
    assert "search_power" in made.text


def test_an_observability_project_shows_its_four_endpoints(client, signed_in):
    made = create(client, signed_in, type="observability", name="logs")
    page = client.get(f"/projects/observability/{created_id(made)}").text

    for key in ("elasticsearch", "kibana", "apm", "ingest"):
        assert f'id="endpoint-{key}"' in page


def test_the_status_poll_says_the_phase_and_no_secret(client, signed_in, project):
    answer = client.get(f"/projects/elasticsearch/{project}/status")

    assert answer.status_code == 200
    assert answer.json() == {
        "status": "initializing",
        "healthy": False,
        "locked": False,
        "final": False,
        "detail": "",
    }


def test_a_project_under_another_type_is_not_found(client, signed_in, project):
    assert client.get(f"/projects/security/{project}").status_code == 404
    assert client.get(f"/projects/nosuchtype/{project}").status_code == 404


def test_reset_credentials_shows_the_new_password_once(client, services, signed_in, project):
    page = client.get(f"/projects/elasticsearch/{project}").text
    once = ONCE.search(page).group(1)

    reset = post(
        client, f"/projects/elasticsearch/{project}/reset-credentials", signed_in, once_token=once
    )
    again = post(
        client, f"/projects/elasticsearch/{project}/reset-credentials", signed_in, once_token=once
    )

    assert reset.status_code == 200, reset.text
    shown = re.search(r'id="project-password" class="secret">([^<]+)<', reset.text).group(1)
    assert shown == _password_of(services, project)
    assert again.status_code == 303
    assert _password_of(services, project) == shown  # the reload reset nothing


def test_delete_leaves_the_project_deleting(client, signed_in, project):
    done = post(client, f"/projects/elasticsearch/{project}/delete", signed_in)

    assert done.status_code == 303
    assert done.headers["location"] == "/projects?notice=project_deleted"
    assert client.get(f"/projects/elasticsearch/{project}/status").json()["status"] == "deleting"
    page = client.get(f"/projects/elasticsearch/{project}").text
    for control in ("/reset-credentials", "/delete", "/filters", "/resume"):
        assert control not in page  # nothing to change while it is being deleted


def test_a_filter_admitting_the_visitor_is_attached_and_detached(
    client, services, owner, signed_in, project
):
    filter_id = make_filter(client, services, owner[1], "127.0.0.0/8")

    attached = post(
        client, f"/projects/elasticsearch/{project}/filters", signed_in, filter_id=filter_id
    )
    page = client.get(attached.headers["location"]).text
    detached = post(
        client, f"/projects/elasticsearch/{project}/filters/detach", signed_in, filter_id=filter_id
    )

    assert attached.status_code == 303, attached.text
    assert 'id="project-filters"' in page
    assert "allow 127.0.0.0/8" in page.split('id="project-filters"')[1]
    assert detached.status_code == 303
    after = client.get(f"/projects/elasticsearch/{project}").text
    assert 'id="project-filters"' not in after


def test_a_filter_that_would_lock_the_visitor_out_is_applied_only_after_a_warning(
    client, services, owner, signed_in, project
):
    observed_running(services, project)  # reachable: a filter now may lock someone out
    filter_id = make_filter(client, services, owner[1], "203.0.113.0/24")

    warned = post(
        client, f"/projects/elasticsearch/{project}/filters", signed_in, filter_id=filter_id
    )
    forced = post(
        client,
        f"/projects/elasticsearch/{project}/filters",
        signed_in,
        filter_id=filter_id,
        force="true",
    )

    assert 'id="lockout-warning"' in warned.text
    assert forced.status_code == 303, forced.text
    page = client.get(f"/projects/elasticsearch/{project}").text
    assert "allow 203.0.113.0/24" in page.split('id="project-filters"')[1]


@pytest.fixture
def viewer(client, services, owner, signed_in):
    """A member who is `elasticsearch-viewer` of one project only (signed in instead of the
    owner); yields (their CSRF token, the project they see, one they do not)."""
    seen = created_id(create(client, signed_in, name="seen"))
    hidden = created_id(create(client, signed_in, name="hidden"))
    user = make_user(services)
    add_member(services, owner[1], user, grant(owner[1], "elasticsearch-viewer", seen))
    client.cookies.clear()
    return sign_in(client, services, user), seen, hidden


def test_a_viewer_sees_their_project_and_no_control(client, viewer):
    _, seen, hidden = viewer

    listing = client.get("/projects").text
    page = client.get(f"/projects/elasticsearch/{seen}").text

    assert "seen" in listing
    assert hidden not in listing
    assert "Create project" not in listing
    for control in ("/reset-credentials", "/delete", "/filters", "/resume"):
        assert control not in page
    assert client.get(f"/projects/elasticsearch/{hidden}").status_code == 404


def test_a_viewer_forging_a_reset_or_a_create_gets_403(client, services, viewer):
    csrf, seen, _ = viewer

    reset = post(client, f"/projects/elasticsearch/{seen}/reset-credentials", csrf)
    made = post(client, "/projects", csrf, type="elasticsearch", name="mine", region="local")

    assert reset.status_code == 403
    assert made.status_code == 403


def test_a_form_without_the_csrf_token_is_refused(client, signed_in, project):
    response = post(client, f"/projects/elasticsearch/{project}/delete", None, go="1")

    assert response.status_code == 403
    assert client.get(f"/projects/elasticsearch/{project}/status").json()["status"] != "deleting"

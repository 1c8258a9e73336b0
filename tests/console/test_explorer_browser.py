"""The data explorer in a real browser (Debian's Chromium through Playwright) against one
`citadel up` for the module: a real deployment behind the real gateway, the console minting
each visitor's deployment token and calling the deployment through the gateway with it.

- A member with deployment-viewer on deployment A opens A's explorer from A's page, sees its
  indices and documents (escaped JSON), runs a query with a terms aggregation and sees it as a
  table and bars; a write through the query runner is refused (it only runs `_search`); an
  error of the deployment is shown with its Elasticsearch error type; A's explorer of another
  deployment B (not in the member's scope) is a 404.
- The Organization owner (organization-admin: `superuser` there) sees the deployment's own
  users, roles, role mappings and API keys; the viewer sees no such tab and gets 403.
- No page ever holds the token (a JWT starts with `eyJ`).

Screenshots of the explorer go to a temporary directory, or to CITADEL_CONSOLE_SCREENSHOTS
(docs/console.md: how docs/screenshots/ is made).
"""

from __future__ import annotations

import json
import os
import re
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.console.browser import (
    DESKTOP,
    PHONE,
    Person,
    console_up,
    csrf_of,
    new_context,
    sign_in,
)
from tests.console.test_browser_layout import FITS
from tests.fixtures.mail import invitation_link

pytestmark = pytest.mark.e2e
OWNER = Person("owner@example.com", "e2e owner password 123")
VIEWER = Person("vera@example.com", "vera's long password 42")
ORDERS = [
    {"order": n, "status": status, "amount": 10 * n, "note": "plain"}
    for n, status in enumerate(["paid"] * 6 + ["open"] * 4 + ["refunded"] * 2, start=1)
]
HOSTILE = {"order": 99, "status": "open", "amount": 1, "note": "<script>alert('x')</script>"}
TERMS_QUERY = json.dumps(
    {"size": 0, "aggs": {"by_status": {"terms": {"field": "status"}}}}, indent=2
)


@dataclass
class Explorer:
    """The running platform, its browser, and the two deployments the module made."""

    base_url: str
    browser: Browser
    data_dir: Path
    a: str = ""
    b: str = ""
    endpoint: str = ""  # deployment A's, as its Connect section shows it


def explorer_of(deployment_id: str) -> str:
    return f"/deployments/{deployment_id}/explorer"


@pytest.fixture(scope="module")
def platform(
    tmp_path_factory: pytest.TempPathFactory, template_data_dir: Path, postgres_url: str | None
) -> Iterator[Explorer]:
    tmp = tmp_path_factory.mktemp("explorer")
    with console_up(tmp, template_data_dir, postgres_url) as (base_url, browser):
        yield Explorer(base_url, browser, tmp / "data")


@pytest.fixture(scope="module")
def owner_context(platform: Explorer) -> Iterator[BrowserContext]:
    context = new_context(platform.browser, platform.base_url)
    page = context.new_page()
    sign_in(page, Person(OWNER.email, OWNER.password))
    page.close()
    yield context
    context.close()


def create_deployment(page: Page, name: str) -> tuple[str, str]:
    """A deployment made through the form: (its id, the `elastic` password)."""
    page.goto("/deployments/new")
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Create deployment").click()
    password = page.locator("#elastic-password").inner_text().strip()
    path = page.get_by_role("link", name="Open the deployment").get_attribute("href") or ""
    return path.rsplit("/", 1)[1], password


def load_orders(endpoint: str, password: str, ca_file: Path) -> None:
    """The `orders` index, filled as a customer would: through the gateway, as `elastic`."""
    trust = ssl.create_default_context(cafile=str(ca_file))
    with httpx.Client(
        base_url=endpoint, verify=trust, auth=("elastic", password), timeout=30
    ) as es:
        for _attempt in range(60):  # the gateway learns of a new deployment within a poll or two
            try:
                if es.get("/").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(1)
        mappings = {
            "properties": {
                "status": {"type": "keyword"},
                "order": {"type": "long"},
                "amount": {"type": "long"},
                "note": {"type": "text"},
            }
        }
        assert es.put("/orders", json={"mappings": mappings}).status_code == 200
        lines = []
        for doc in [*ORDERS, HOSTILE]:
            lines += [json.dumps({"index": {"_id": str(doc["order"])}}), json.dumps(doc)]
        done = es.post(
            "/orders/_bulk",
            params={"refresh": "true"},
            content="\n".join(lines) + "\n",
            headers={"content-type": "application/x-ndjson"},
        )
        assert done.status_code == 200, done.text
        assert not done.json()["errors"], done.text


@pytest.fixture(scope="module")
def deployments(platform: Explorer, owner_context: BrowserContext) -> Explorer:
    """Deployment A (healthy, with an `orders` index) and deployment B."""
    page = owner_context.new_page()
    platform.a, password = create_deployment(page, "orders-a")
    platform.b, _ = create_deployment(page, "other-b")
    page.goto(f"/deployments/{platform.a}")
    expect(page.locator("#deployment-status")).to_have_text("healthy", timeout=120_000)
    platform.endpoint = page.locator("#endpoint").inner_text().strip()
    page.close()
    load_orders(platform.endpoint, password, platform.data_dir / "pki" / "ca.crt")
    return platform


@pytest.fixture(scope="module")
def viewer_context(
    deployments: Explorer, owner_context: BrowserContext
) -> Iterator[BrowserContext]:
    """A member invited with deployment-viewer on deployment A only, signed in."""
    page = owner_context.new_page()
    page.goto("/members")
    page.get_by_label("Emails (separated by spaces)").fill(VIEWER.email)
    page.get_by_label("Role").select_option("deployment-viewer")
    page.get_by_label("Only these deployments:").check()
    page.locator(f'input[name="deployment"][value="{deployments.a}"]').check()
    page.get_by_role("button", name="Send invitations").click()
    expect(page.locator(".invite-link")).to_have_count(1)
    page.close()

    context = new_context(deployments.browser, deployments.base_url)
    guest = context.new_page()
    guest.goto(invitation_link(deployments.data_dir, VIEWER.email))
    guest.get_by_label("Your name").fill("Vera")
    guest.get_by_label("Choose a password").fill(VIEWER.password)
    guest.get_by_role("button", name="Create my account and join").click()
    expect(guest.get_by_role("status")).to_contain_text("You joined the organization")
    sign_in(guest, Person(VIEWER.email, VIEWER.password))
    guest.close()
    yield context
    context.close()


@pytest.fixture
def viewer(viewer_context: BrowserContext) -> Iterator[Page]:
    page = viewer_context.new_page()
    yield page
    page.close()


@pytest.fixture
def owner(owner_context: BrowserContext, deployments: Explorer) -> Iterator[Page]:
    page = owner_context.new_page()
    yield page
    page.close()


def tabs(page: Page) -> list[str]:
    return (
        page.get_by_role("navigation", name="Data explorer").get_by_role("link").all_inner_texts()
    )


def assert_no_token(page: Page) -> None:
    assert "eyJ" not in page.content(), "a JWT is in the page"
    assert "eyJ" not in page.url


def test_a_viewer_opens_the_explorer_and_sees_the_indices(deployments, viewer):
    """(Elasticsearch's `viewer` role may see index metadata: `_cat/indices` lists them.)"""
    viewer.goto(f"/deployments/{deployments.a}")
    viewer.get_by_role("link", name="Open data explorer").click()
    expect(viewer.get_by_role("heading", level=1)).to_have_text("Indices")
    expect(viewer.locator("#explorer-identity")).to_contain_text("viewer")
    row = viewer.get_by_role("row", name=re.compile(r"^orders"))
    expect(row.locator('td[data-label="Documents"]')).to_have_text(str(len(ORDERS) + 1))
    expect(row.locator('td[data-label="Size"]')).to_contain_text(re.compile(r"\d+(\.\d)? (B|KiB)"))
    assert_no_token(viewer)
    row.get_by_role("link", name="orders", exact=True).click()
    expect(viewer.get_by_role("heading", level=1)).to_have_text("Documents of orders")


def test_an_owner_sees_each_index_with_its_health_count_and_size(deployments, owner):
    owner.goto(explorer_of(deployments.a))
    row = owner.get_by_role("row", name=re.compile(r"^orders"))
    expect(row.locator('td[data-label="Documents"]')).to_have_text(str(len(ORDERS) + 1))
    expect(row.locator('td[data-label="Health"] .badge')).to_have_text(re.compile("green|yellow"))
    expect(row.locator('td[data-label="Size"]')).to_contain_text(re.compile(r"\d+(\.\d)? (B|KiB)"))
    row.get_by_role("link", name="Query orders").click()
    expect(owner.get_by_label("Index")).to_have_value("orders")


def test_a_viewer_reads_the_documents_of_an_index_as_escaped_json(deployments, viewer):
    viewer.goto(explorer_of(deployments.a) + "/indices/orders")
    expect(viewer.locator("#documents-range")).to_contain_text(
        f"Documents 1 to {len(ORDERS) + 1} of {len(ORDERS) + 1}."
    )
    hostile = viewer.locator("li", has=viewer.get_by_role("heading", name="Document 99"))
    expect(hostile.locator("pre.json")).to_contain_text('"note": "<script>alert(\'x\')</script>"')
    assert viewer.locator("main script").count() == 0  # shown as text, never run
    assert json.loads(hostile.locator("pre.json").inner_text()) == HOSTILE
    assert_no_token(viewer)


def test_a_viewer_runs_a_terms_aggregation_and_sees_a_table_and_bars(deployments, viewer, tmp_path):
    viewer.goto(explorer_of(deployments.a) + "/query?index=orders")
    expect(viewer.get_by_label("Index")).to_have_value("orders")
    viewer.get_by_label("Search request (Elasticsearch query DSL, JSON)").fill(TERMS_QUERY)
    viewer.get_by_role("button", name="Run query").click()

    expect(viewer.locator("#hits-summary")).to_contain_text(f"{len(ORDERS) + 1} matching, 0 shown")
    table = viewer.locator("table.aggregation-table")
    rows = [r.split("\t") for r in table.locator("tbody tr").all_inner_texts()]
    assert rows == [["paid", "6"], ["open", "5"], ["refunded", "2"]]
    chart = viewer.get_by_role("img", name="Documents per bucket of by_status")
    expect(chart.locator("rect")).to_have_count(3)
    widths = [chart.locator("rect").nth(i).get_attribute("width") for i in range(3)]
    assert widths == [
        "85.0%",
        f"{round(5 / 6 * 100 * 0.85, 2)}%",
        f"{round(2 / 6 * 100 * 0.85, 2)}%",
    ]
    assert_no_token(viewer)
    target = Path(os.environ.get("CITADEL_CONSOLE_SCREENSHOTS") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(path=str(target / "explorer-query.png"), full_page=True)


def test_hits_are_a_table_of_escaped_documents(deployments, viewer):
    viewer.goto(explorer_of(deployments.a) + "/query?index=orders")
    query = {"query": {"match": {"note": "script"}}}
    viewer.get_by_label("Search request (Elasticsearch query DSL, JSON)").fill(json.dumps(query))
    viewer.get_by_role("button", name="Run query").click()
    expect(viewer.locator("#hits-summary")).to_contain_text("1 matching, 1 shown")
    cell = viewer.locator("#hits tbody tr td[data-label=Source] pre")
    assert json.loads(cell.inner_text()) == HOSTILE


def test_a_write_through_the_query_runner_is_refused(deployments, viewer):
    viewer.goto(explorer_of(deployments.a) + "/query")
    viewer.get_by_label("Index").fill("orders/_delete_by_query")
    viewer.get_by_label("Search request (Elasticsearch query DSL, JSON)").fill(
        '{"query": {"match_all": {}}}'
    )
    with viewer.expect_response(re.compile(r"/explorer/query$")) as answered:
        viewer.get_by_role("button", name="Run query").click()
    assert answered.value.status == 400
    alert = viewer.get_by_role("alert")
    expect(alert).to_contain_text("the query runner only runs _search")
    expect(alert).to_contain_text("root.invalid_data")
    expect(viewer.get_by_label("Index")).to_have_attribute("aria-invalid", "true")

    viewer.goto(explorer_of(deployments.a) + "/indices/orders")  # every document is still there
    expect(viewer.locator("#documents-range")).to_contain_text(f"of {len(ORDERS) + 1}.")
    no_token = viewer.request.post(
        explorer_of(deployments.a) + "/query",
        form={"index": "orders", "body": "{}"},
        max_redirects=0,
    )
    assert no_token.status == 403  # the form's CSRF token is required


def test_an_error_of_the_deployment_is_shown_with_its_type(deployments, viewer):
    viewer.goto(explorer_of(deployments.a) + "/query?index=no-such-index")
    viewer.get_by_role("button", name="Run query").click()
    alert = viewer.get_by_role("alert")
    expect(alert).to_contain_text("no such index")
    expect(alert.locator("small.code")).to_have_text("index_not_found_exception")


def test_a_viewer_cannot_open_the_explorer_of_a_deployment_outside_their_scope(deployments, viewer):
    answer = viewer.goto(explorer_of(deployments.b))
    assert answer is not None
    assert answer.status == 404
    expect(viewer.get_by_role("heading", level=1)).to_have_text("Not found")
    forged = viewer.request.post(
        explorer_of(deployments.b) + "/query",
        form={"csrf_token": csrf_of(viewer), "index": "orders", "body": "{}"},
        max_redirects=0,
    )
    assert forged.status == 404


def test_the_owner_sees_the_deployments_own_security_and_a_viewer_does_not(
    deployments, owner, viewer, tmp_path
):
    owner.goto(explorer_of(deployments.a))
    expect(owner.locator("#explorer-identity")).to_contain_text("superuser")
    assert tabs(owner) == ["Indices", "Query", "Users", "Roles", "Role mappings", "API keys"]
    for name in ("Users", "Roles", "Role mappings", "API keys"):
        owner.get_by_role("navigation", name="Data explorer").get_by_role("link", name=name).click()
        expect(owner.get_by_role("heading", level=1)).to_have_text(name)
        expect(owner.locator("main table")).to_be_visible()
        assert_no_token(owner)
    owner.goto(explorer_of(deployments.a) + "/security/roles")
    expect(owner.get_by_role("row", name=re.compile(r"^superuser"))).to_have_count(1)

    viewer.goto(explorer_of(deployments.a))
    assert tabs(viewer) == ["Indices", "Query"]
    answer = viewer.goto(explorer_of(deployments.a) + "/security/users")
    assert answer is not None
    assert answer.status == 403
    expect(viewer.get_by_role("alert")).to_contain_text("manage_security")
    viewer.goto(explorer_of(deployments.a))
    forged = viewer.request.post(
        explorer_of(deployments.a) + "/security/users",
        form={"csrf_token": csrf_of(viewer), "username": "mine", "password": "secret123"},
        max_redirects=0,
    )
    assert forged.status == 403


def test_the_owner_adds_and_deletes_a_user_and_a_role_mapping(deployments, owner, tmp_path):
    owner.goto(explorer_of(deployments.a) + "/security/users")
    owner.get_by_label("Username").fill("analyst")
    owner.get_by_label("Password").fill("analyst password 1")
    owner.get_by_label("Roles").fill("viewer")
    owner.get_by_label("Full name (optional)").fill("Ann Alyst")
    owner.get_by_role("button", name="Add user").click()
    expect(owner.locator("#security-done")).to_have_text("The user analyst was saved.")
    row = owner.get_by_role("row", name=re.compile(r"^analyst"))
    expect(row.locator('td[data-label="Roles"]')).to_have_text("viewer")
    expect(owner.get_by_label("Password")).to_have_value("")  # never filled in again
    target = Path(os.environ.get("CITADEL_CONSOLE_SCREENSHOTS") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    owner.screenshot(path=str(target / "explorer-users.png"), full_page=True)

    trust = ssl.create_default_context(cafile=str(deployments.data_dir / "pki" / "ca.crt"))
    with httpx.Client(verify=trust) as client:  # the new user signs in to the deployment
        # (_authenticate: Elasticsearch's viewer holds no cluster privilege, so not GET /)
        answer = client.get(
            deployments.endpoint + "/_security/_authenticate",
            auth=("analyst", "analyst password 1"),
        )
        assert answer.status_code == 200
        assert answer.json()["roles"] == ["viewer"]

    row.get_by_text("Delete", exact=True).click()
    row.get_by_role("button", name="Delete analyst").click()
    expect(owner.locator("#security-done")).to_have_text("The user analyst was deleted.")
    expect(owner.get_by_role("row", name=re.compile(r"^analyst"))).to_have_count(0)

    owner.goto(explorer_of(deployments.a) + "/security/role-mappings")
    owner.get_by_label("Name").fill("staff")
    owner.get_by_label("Roles").fill("viewer")
    owner.get_by_label("When the user's").select_option("groups")
    owner.get_by_label("matches").fill("staff-*")
    owner.get_by_role("button", name="Add role mapping").click()
    expect(owner.locator("#security-done")).to_have_text("The role mapping staff was saved.")
    row = owner.get_by_role("row", name=re.compile(r"^staff"))
    assert json.loads(row.locator('td[data-label="Rules"] pre').inner_text()) == {
        "field": {"groups": "staff-*"}
    }
    row.get_by_text("Delete", exact=True).click()
    row.get_by_role("button", name="Delete staff").click()
    expect(owner.locator("#security-done")).to_have_text("The role mapping staff was deleted.")


def test_a_refused_user_is_shown_with_the_deployments_reason(deployments, owner):
    owner.goto(explorer_of(deployments.a) + "/security/users")
    owner.get_by_label("Username").fill("shorty")
    owner.get_by_label("Password").fill("abc")
    owner.get_by_role("button", name="Add user").click()
    alert = owner.get_by_role("alert")
    expect(alert.locator("small.code")).to_have_text("action_request_validation_exception")
    expect(owner.get_by_label("Username")).to_have_value("shorty")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "390"])
def test_every_explorer_page_fits_the_screen(deployments, owner_context, viewport):
    """The console's layout check (test_browser_layout.FITS): no page scrolls sideways, and
    every table cell lies within the viewport or a table container and shows its content."""
    context = deployments.browser.new_context(
        base_url=deployments.base_url,
        ignore_https_errors=True,
        viewport=viewport,
        storage_state=owner_context.storage_state(),
    )
    page = context.new_page()
    base = explorer_of(deployments.a)
    found: dict[str, list[str]] = {}
    paths = ["", "/indices/orders", *(f"/security/{k}" for k in ("users", "roles", "api-keys"))]
    for path in paths:
        page.goto(base + path)
        expect(page.locator("main h1")).to_be_visible()
        if problems := page.evaluate(FITS):
            found[path] = problems[:5]
    page.goto(base + "/query?index=orders")
    page.get_by_label("Search request (Elasticsearch query DSL, JSON)").fill(TERMS_QUERY)
    page.get_by_role("button", name="Run query").click()
    expect(page.locator("table.aggregation-table")).to_be_visible()
    if problems := page.evaluate(FITS):
        found["/query"] = problems[:5]
    context.close()
    assert not found, f"at {viewport['width']} px: {found}"

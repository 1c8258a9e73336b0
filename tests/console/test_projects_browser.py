"""The projects pages in a real browser (Debian's Chromium through Playwright) against
`citadel up`: the owner opens Projects beside Deployments, creates an Elasticsearch project
(type, region, name, alias, search power), copies the `admin` password shown once, watches the
project become `initialized`, applies a serverless traffic filter (after the lockout warning),
resets the credentials (a new password shown once), makes an Observability project beside it
and deletes the first; every page fits a 390 px phone screen as well as a laptop's.

Screenshots (projects-list.png, project-create.png, project-page.png) go to a temporary
directory, or to CITADEL_CONSOLE_SCREENSHOTS (docs/console.md: how docs/screenshots/ is made).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.console.browser import PHONE, Person, console_up, csrf_of, new_context, sign_in
from tests.console.test_browser_layout import FITS

pytestmark = pytest.mark.e2e
OWNER = Person("owner@example.com", "e2e owner password 123")


def nav(page: Page, name: str):
    """A link of the main navigation."""
    return page.get_by_role("navigation", name="Main").get_by_role("link", name=name)


def fits_at(page: Page, path: str) -> list[str]:
    """What on the page at `path` is wider than the screen (nothing: it fits)."""
    page.goto(path)
    expect(page.locator("main h1")).to_be_visible()
    return page.evaluate(FITS)


def serverless_ip_filter(page: Page, name: str, source: str) -> str:
    """A serverless IP filter made through the API with the page's session (as the console's
    own scripts would call it): its id."""
    answer = page.request.post(
        "/api/v1/serverless/traffic-filters",
        data={"name": name, "type": "ip", "region": "local", "rules": [{"source": source}]},
        headers={"x-csrf-token": csrf_of(page)},
    )
    assert answer.status == 201, answer.text()
    return answer.json()["id"]


def test_an_owner_creates_watches_filters_resets_and_deletes_a_project(
    tmp_path: Path, template_data_dir: Path, postgres_url: str | None
):
    shots = Path(os.environ.get("CITADEL_CONSOLE_SCREENSHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    with console_up(tmp_path, template_data_dir, postgres_url) as (base_url, browser):
        laptop = new_context(browser, base_url)
        page = laptop.new_page()
        sign_in(page, Person(OWNER.email, OWNER.password))

        nav(page, "Projects").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Serverless projects")
        page.get_by_role("link", name="Create project").click()
        page.get_by_role("radio", name=re.compile("^Elasticsearch")).check()
        page.get_by_label("Name", exact=True).fill("product search")
        page.get_by_label("Alias (optional)").fill("products")
        page.get_by_label("Search power (Elasticsearch projects)").fill("100")
        page.screenshot(path=str(shots / "project-create.png"), full_page=True)
        page.get_by_role("button", name="Create project").click()

        password = page.locator("#project-password").inner_text()
        assert len(password) >= 20
        page.get_by_role("link", name="Open the project").click()
        expect(page.locator("#deployment-status")).to_have_text("initialized", timeout=120_000)
        expect(page.locator("#cloud-id")).to_contain_text("product search:")
        expect(page.locator("#endpoint-elasticsearch")).to_contain_text(
            re.compile(r"^https://products-[a-z0-9]{6}\.es\.local\.")
        )
        assert password not in page.content()  # shown once
        project_path = page.url.removeprefix(base_url)

        # A filter that would block the browser's address warns first; one that admits it
        # applies at once.
        serverless_ip_filter(page, "office only", "203.0.113.0/24")
        serverless_ip_filter(page, "loopback", "127.0.0.0/8")
        page.reload()
        page.get_by_label("Add a filter").select_option(label="office only (IP addresses)")
        page.get_by_role("button", name="Apply").click()
        expect(page.locator("#lockout-warning")).to_contain_text("would lock you out")
        page.get_by_role("link", name="Cancel").click()
        expect(page.locator("#project-filters")).to_have_count(0)
        page.get_by_label("Add a filter").select_option(label="loopback (IP addresses)")
        page.get_by_role("button", name="Apply").click()
        expect(page.get_by_role("status")).to_contain_text("now applies to the project")
        expect(page.locator("#project-filters")).to_contain_text("loopback")
        expect(page.locator("#project-filters")).not_to_contain_text("office only")
        page.screenshot(path=str(shots / "project-page.png"), full_page=True)

        # Reset credentials: a new password, shown once.
        page.get_by_text("Reset credentials", exact=True).click()
        page.get_by_role("button", name="Reset the password of product search").click()
        fresh = page.locator("#project-password").inner_text()
        assert len(fresh) >= 20
        assert fresh != password

        # An Observability project beside it: no search power, four endpoints.
        page.goto("/projects/new")
        page.get_by_role("radio", name=re.compile("^Observability")).check()
        page.get_by_label("Name", exact=True).fill("app logs")
        page.get_by_role("button", name="Create project").click()
        page.get_by_role("link", name="Open the project").click()
        for key in ("elasticsearch", "kibana", "apm", "ingest"):
            expect(page.locator(f"#endpoint-{key}")).to_contain_text("https://app-logs-")

        nav(page, "Projects").click()
        expect(page.get_by_role("row", name=re.compile("product search"))).to_contain_text(
            "initialized"
        )
        expect(page.get_by_role("row", name=re.compile("app logs"))).to_contain_text(
            "Observability"
        )
        page.screenshot(path=str(shots / "projects-list.png"), full_page=True)

        pages = ["/projects", "/projects/new", project_path]
        problems = {path: fits_at(page, path) for path in pages}
        assert not any(problems.values()), f"at 1280 px: {problems}"
        phone = new_context(browser, base_url, viewport=PHONE, storage_state=laptop.storage_state())
        small = phone.new_page()
        problems = {path: fits_at(small, path) for path in pages}
        assert not any(problems.values()), f"at 390 px: {problems}"

        # Delete behind its confirmation, on the phone.
        small.goto(project_path)
        small.get_by_text("Delete", exact=True).click()
        small.get_by_role("button", name="Delete product search").click()
        expect(small.get_by_role("status")).to_have_text("The project is being deleted.")
        phone.close()
        laptop.close()

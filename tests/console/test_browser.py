"""The console in a real browser: Debian's Chromium, headless, driven by Playwright against
one `citadel up` per module (its ports from the e2e fixtures, so xdist workers never share).

Screenshots of each main page at 1280 px go to a temporary directory, or to the directory
named by CITADEL_CONSOLE_SCREENSHOTS (docs/console.md: how docs/screenshots/ is made).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from tests.console.browser import (
    PHONE,
    Person,
    console_up,
    csrf_of,
    new_context,
    sign_in,
)
from tests.fixtures.mail import invitation_link

pytestmark = pytest.mark.e2e
OWNER = Person("owner@example.com", "e2e owner password 123")


def nav(page: Page, name: str) -> Locator:
    """A link of the main navigation."""
    return page.get_by_role("navigation", name="Main").get_by_role("link", name=name)


@dataclass
class Console:
    """A running `citadel up` and the browser that talks to its console."""

    base_url: str
    browser: Browser
    owner: Person
    data_dir: Path


@pytest.fixture(scope="module")
def console(
    tmp_path_factory: pytest.TempPathFactory, template_data_dir: Path, postgres_url: str | None
) -> Iterator[Console]:
    tmp = tmp_path_factory.mktemp("console")
    with console_up(tmp, template_data_dir, postgres_url) as (base_url, browser):
        yield Console(base_url, browser, Person(OWNER.email, OWNER.password), tmp / "data")


@pytest.fixture(scope="module")
def owner_context(console: Console) -> Iterator[BrowserContext]:
    """A browser profile of the Organization owner, who enrolled TOTP at the first sign-in
    (codes are single-use, so the module signs the owner in as rarely as it can)."""
    context = new_context(console.browser, console.base_url)
    page = context.new_page()
    page.goto("/deployments")
    expect(page).to_have_url(re.compile(r"/sign-in\?next=%2Fdeployments$"))
    sign_in(page, console.owner)
    page.close()
    yield context
    context.close()


@pytest.fixture
def owner_page(owner_context: BrowserContext) -> Iterator[Page]:
    page = owner_context.new_page()
    page.goto("/")
    yield page
    page.close()


def test_sign_in_with_password_and_totp(console, owner_context):
    context = new_context(console.browser, console.base_url)
    page = context.new_page()
    assert console.owner.seed is not None  # enrolled at the owner's first sign-in
    sign_in(page, console.owner)  # password and a TOTP code
    expect(page.get_by_role("heading", level=1)).to_have_text("Citadel")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/sign-in$"))
    context.close()


def test_a_wrong_code_is_a_message_on_the_form(console, owner_page):
    context = new_context(console.browser, console.base_url)
    page = context.new_page()
    page.goto("/sign-in")
    page.get_by_label("Email").fill(console.owner.email)
    page.get_by_label("Password").fill(console.owner.password)
    page.get_by_label("Authenticator code or recovery code").fill("000000")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not valid")
    expect(page.get_by_label("Email")).to_have_value(console.owner.email)
    context.close()


def test_create_a_deployment_and_watch_it_become_healthy(owner_page):
    page = owner_page
    nav(page, "Deployments").click()
    page.get_by_role("link", name="Create deployment").click()
    page.get_by_label("Name").fill("search-ui")
    page.get_by_role("button", name="Create deployment").click()
    password = page.locator("#elastic-password").inner_text()
    assert len(password) >= 20
    page.get_by_role("link", name="Open the deployment").click()
    expect(page.locator("#deployment-status")).to_have_text("healthy", timeout=120_000)
    expect(page.locator("#cloud-id")).to_contain_text("search-ui:")
    assert password not in page.content()  # the password was shown once
    nav(page, "Deployments").click()
    expect(page.get_by_role("row", name=re.compile("search-ui"))).to_contain_text("healthy")


def test_an_ip_filter_that_would_lock_the_browser_out_is_warned_about(owner_page):
    page = owner_page
    nav(page, "Network security").click()
    page.get_by_role("link", name="Create IP filter").click()
    page.get_by_label("Name", exact=True).fill("office only")
    page.get_by_label("Sources, one per line").fill("203.0.113.0/24 office")
    page.get_by_role("button", name="Create filter").click()
    warning = page.locator("#lockout-warning")
    expect(warning).to_contain_text("would lock you out")
    expect(warning).to_contain_text("127.0.0.1")
    page.get_by_role("button", name="Create anyway").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("office only")
    expect(page.get_by_label("Sources, one per line")).to_have_value("203.0.113.0/24 office")


def test_invite_a_member_who_accepts_in_another_browser(console, owner_page):
    page = owner_page
    nav(page, "Members").click()
    page.get_by_label("Emails (separated by spaces)").fill("ana@example.com")
    page.get_by_label("Role").select_option("deployment-viewer")
    page.get_by_role("button", name="Send invitations").click()
    shown = page.locator(".invite-link").first.inner_text()
    expect(page.get_by_role("row", name=re.compile("ana@example.com"))).to_be_visible()
    mailed = invitation_link(console.data_dir, "ana@example.com")
    assert mailed.startswith(shown + "?code=")  # the page's link lacks the email's code

    other = new_context(console.browser, console.base_url)
    guest = other.new_page()
    guest.goto(shown)
    expect(guest.get_by_role("main")).to_contain_text("open the link from the invitation email")
    guest.goto(mailed)
    expect(guest.get_by_role("heading", level=1)).to_have_text("Join Citadel")
    guest.get_by_label("Your name").fill("Ana")
    guest.get_by_label("Choose a password").fill("ana's long password 42")
    guest.get_by_role("button", name="Create my account and join").click()
    expect(guest.get_by_role("status")).to_contain_text("You joined the organization")
    ana = Person("ana@example.com", "ana's long password 42")
    sign_in(guest, ana)
    expect(guest.get_by_role("heading", level=1)).to_have_text("Citadel")
    other.close()

    page.goto("/members")  # not a reload: that would post the invitation again
    expect(page.get_by_role("row", name=re.compile("ana@example.com"))).to_contain_text(
        "Deployment viewer"
    )


def test_create_and_revoke_an_api_key(owner_page):
    page = owner_page
    nav(page, "API keys").click()
    page.get_by_label("Name").fill("ci pipeline")
    page.get_by_label("Expires after").select_option("30d")
    page.get_by_label("Role").select_option("deployment-editor")
    page.get_by_role("button", name="Create key").click()
    secret = page.locator("#api-key-secret").inner_text()
    assert secret.startswith("cit_live_")
    row = page.get_by_role("row", name=re.compile("ci pipeline"))
    expect(row).to_contain_text("Deployment editor")
    page.goto("/api-keys")
    assert secret not in page.content()
    row = page.get_by_role("row", name=re.compile("ci pipeline"))
    row.get_by_text("Revoke", exact=True).click()
    row.get_by_role("button", name="Revoke ci pipeline").click()
    expect(page.get_by_role("status")).to_have_text("The API key was revoked.")
    expect(page.get_by_role("row", name=re.compile("ci pipeline"))).to_have_count(0)


def test_a_viewer_sees_no_forbidden_control_and_forged_posts_get_403(console, owner_page):
    page = owner_page
    nav(page, "Members").click()
    page.get_by_label("Emails (separated by spaces)").fill("vic@example.com")
    page.get_by_label("Role").select_option("deployment-viewer")
    page.get_by_role("button", name="Send invitations").click()
    expect(page.locator(".invite-link")).to_have_count(1)

    context = new_context(console.browser, console.base_url)
    viewer = context.new_page()
    viewer.goto(invitation_link(console.data_dir, "vic@example.com"))  # the emailed link
    viewer.get_by_label("Choose a password").fill("vic's long password 42")
    viewer.get_by_role("button", name="Create my account and join").click()
    sign_in(viewer, Person("vic@example.com", "vic's long password 42"))

    expect(nav(viewer, "API keys")).to_have_count(0)
    expect(nav(viewer, "Audit log")).to_have_count(0)
    expect(nav(viewer, "SSO")).to_have_count(0)
    viewer.goto("/deployments")
    expect(viewer.get_by_role("link", name="Create deployment")).to_have_count(0)
    viewer.goto("/members")
    expect(viewer.get_by_role("button", name="Send invitations")).to_have_count(0)
    viewer.goto("/network")
    expect(viewer.get_by_role("link", name="Create IP filter")).to_have_count(0)
    assert viewer.locator("form[method=post] button").all_inner_texts() == ["Sign out"]

    token = csrf_of(viewer)
    forged = viewer.request.post(
        "/api-keys",
        form={"csrf_token": token, "description": "mine", "role": "organization-admin"},
        max_redirects=0,
    )
    assert forged.status == 403
    forged = viewer.request.post(
        "/deployments", form={"csrf_token": token, "name": "mine"}, max_redirects=0
    )
    assert forged.status == 403
    no_token = viewer.request.post("/api-keys", form={"description": "mine"}, max_redirects=0)
    assert no_token.status == 403
    bad_token = viewer.request.post(
        "/api-keys", form={"csrf_token": "0" * 64, "description": "mine"}, max_redirects=0
    )
    assert bad_token.status == 403
    context.close()


MAIN_PAGES = {
    "overview": "/",
    "deployments": "/deployments",
    "deployment-create": "/deployments/new",
    "network-security": "/network",
    "traffic-filter-create": "/network/rulesets/new",
    "members": "/members",
    "api-keys": "/api-keys",
    "audit-log": "/audit",
}


def test_main_pages_at_1280_and_390_pixels(console, owner_page, tmp_path):
    target = Path(os.environ.get("CITADEL_CONSOLE_SCREENSHOTS") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    page = owner_page
    page.goto("/api-keys")  # something in each list
    page.get_by_label("Name").fill("nightly backup")
    page.get_by_label("Role").select_option("deployment-viewer")
    page.get_by_role("button", name="Create key").click()
    page.goto("/members")
    page.get_by_label("Emails (separated by spaces)").fill("sam@example.com")
    page.get_by_label("Role").select_option("deployment-editor")
    page.get_by_role("button", name="Send invitations").click()
    page.goto("/deployments")
    first = page.locator("table a").first
    pages = dict(MAIN_PAGES)
    if first.count():
        pages["deployment"] = first.get_attribute("href") or "/deployments"
    page.goto("/network")
    ruleset = page.locator("table a").first
    if ruleset.count():
        pages["traffic-filter"] = ruleset.get_attribute("href") or "/network"
    for name, path in pages.items():
        page.goto(path)
        expect(page.locator("main h1")).to_be_visible()
        page.screenshot(path=str(target / f"{name}.png"), full_page=True)
    signed_out = new_context(console.browser, console.base_url)
    login = signed_out.new_page()
    login.goto("/sign-in")
    login.screenshot(path=str(target / "sign-in.png"), full_page=True)
    signed_out.close()

    phone = console.browser.new_context(
        base_url=console.base_url,
        ignore_https_errors=True,
        viewport=PHONE,
        storage_state=page.context.storage_state(),
    )
    small = phone.new_page()
    for path in pages.values():
        small.goto(path)
        overflow = small.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        wide = small.evaluate(
            "[...document.querySelectorAll('body *')].filter(e => !e.closest('.table-wrap'))"
            ".filter(e => e.getBoundingClientRect().right"
            " > document.documentElement.clientWidth).map(e => e.tagName + '.' + e.className)"
            ".slice(0, 5)"
        )
        assert overflow <= 0, f"{path} scrolls sideways at 390 px: {wide}"
    small.goto("/")
    small.screenshot(path=str(target / "overview-390.png"), full_page=True)
    small.goto("/members")  # tables stack their rows into cards below 640 px
    small.screenshot(path=str(target / "members-390.png"), full_page=True)
    phone.close()


def test_keyboard_focus_is_visible(owner_page):
    page = owner_page
    page.goto("/api-keys")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", "")

"""A deployment's Realms pages in a real browser (Debian's Chromium through Playwright) against
`citadel up`: from the deployment page the owner adds a SAML realm (pasting the IdP's
metadata) and an OpenID Connect realm, sees a refused setting beside its input, replaces the
OIDC realm keeping its secret, and deletes the SAML realm (its name as long as names go)
after confirming; every page fits a 390 px phone screen as well as a laptop's.

A screenshot of the list goes to a temporary directory, or to CITADEL_CONSOLE_SCREENSHOTS
(docs/console.md: how docs/screenshots/ is made).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.api.test_deployment_realms import IDP_ENTITY_ID, idp_metadata
from tests.console.browser import PHONE, Person, console_up, new_context, sign_in
from tests.console.test_browser_layout import FITS

pytestmark = pytest.mark.e2e
OWNER = Person("owner@example.com", "e2e owner password 123")
SECRET = "browser-oidc-client-secret-93b1"
SAML_NAME = "customer-analytics-production-eu-west-primary-archive-saml-idp01"  # 64, the most
LONG_SP = (
    "https://kibana.customer-analytics-production-eu-west.research-and-development.example.com"
)


def create_deployment(page: Page, name: str) -> str:
    """A deployment made through the form: its id."""
    page.goto("/deployments/new")
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Create deployment").click()
    path = page.get_by_role("link", name="Open the deployment").get_attribute("href") or ""
    return path.rsplit("/", 1)[1]


def fits(page: Page) -> list[str]:
    """What on the page is wider than the screen (nothing: it fits)."""
    return page.evaluate(FITS)


def add_saml(page: Page) -> None:
    page.get_by_role("link", name="Add a SAML realm").click()
    page.get_by_label("Realm name").fill(SAML_NAME)
    page.get_by_label("Order").fill("1")
    page.get_by_label("IdP entity ID").fill(IDP_ENTITY_ID)
    page.get_by_label("IdP metadata XML").fill(idp_metadata())
    page.get_by_label("SP entity ID").fill(LONG_SP + "/")
    page.get_by_label("Assertion consumer service URL").fill(
        LONG_SP + "/api/security/saml/callback"
    )
    page.get_by_label("Principal attribute").fill("nameid")
    page.get_by_label("Groups attribute").fill("groups")
    page.get_by_role("button", name="Add realm").click()


def add_oidc(page: Page, issuer: str) -> None:
    page.get_by_role("link", name="Add an OpenID Connect realm").click()
    page.get_by_label("Realm name").fill("corp-oidc")
    page.get_by_label("Order").fill("2")
    page.get_by_label("Issuer").fill(issuer)
    page.get_by_label("Authorization endpoint").fill("https://op.example.com/authorize")
    page.get_by_label("Token endpoint").fill("https://op.example.com/token")
    page.get_by_label("JWK set URL").fill("https://op.example.com/jwks")
    page.get_by_label("Client ID").fill("kibana")
    page.get_by_label("Client secret").fill(SECRET)
    page.get_by_label("Redirect URI").fill(LONG_SP + "/api/security/oidc/callback")
    page.get_by_label("Principal claim").fill("email")
    page.get_by_role("button", name="Add realm").click()


def test_an_owner_manages_a_deployments_realms_on_a_phone_and_a_laptop(
    tmp_path: Path, template_data_dir: Path, postgres_url: str | None
):
    with console_up(tmp_path, template_data_dir, postgres_url) as (base_url, browser):
        laptop = new_context(browser, base_url)
        page = laptop.new_page()
        sign_in(page, Person(OWNER.email, OWNER.password))
        deployment = create_deployment(page, "realms")
        realms = f"/deployments/{deployment}/security/realms"

        page.goto(f"/deployments/{deployment}")
        page.get_by_role("link", name="Realms", exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Realms")
        expect(page.locator("#no-realms")).to_be_visible()

        add_saml(page)
        expect(page.locator("#done")).to_contain_text("The realm was added")

        # A plain-http issuer is refused by the service; the message sits under the input.
        add_oidc(page, "http://op.example.com")
        issuer = page.get_by_label("Issuer")
        expect(issuer).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#op-issuer-error")).to_contain_text("must be an https URL")
        expect(page.get_by_label("Client ID")).to_have_value("kibana")  # kept as typed
        expect(page.get_by_label("Client secret")).to_have_value("")  # never echoed
        issuer.fill("https://op.example.com")
        page.get_by_label("Client secret").fill(SECRET)
        page.get_by_role("button", name="Add realm").click()
        expect(page.locator("#done")).to_contain_text("The realm was added")

        table = page.locator("#realms")
        expect(table.locator("tbody tr")).to_have_count(2)
        expect(page.locator("#realm-corp-oidc")).to_contain_text("secret set")
        assert SECRET not in page.content()

        # Replace the OIDC realm without typing its secret again.
        page.get_by_role("link", name="Edit corp-oidc").click()
        expect(page.locator("#secret-set")).to_be_visible()
        page.get_by_label("Groups claim").fill("groups")
        page.get_by_role("button", name="Save corp-oidc").click()
        expect(page.locator("#done")).to_contain_text("The realm was saved")
        expect(page.locator("#realm-corp-oidc")).to_contain_text("secret set")

        shots = Path(os.environ.get("CITADEL_CONSOLE_SCREENSHOTS") or tmp_path / "shots")
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / "deployment-realms.png"), full_page=True)
        problems = {path: fits_at(page, path) for path in pages_of(realms)}
        assert not any(problems.values()), f"at 1280 px: {problems}"

        phone = new_context(browser, base_url, viewport=PHONE, storage_state=laptop.storage_state())
        small = phone.new_page()
        problems = {path: fits_at(small, path) for path in pages_of(realms)}
        assert not any(problems.values()), f"at 390 px: {problems}"

        # Delete behind its confirmation, on the phone.
        small.goto(realms)
        row = small.locator(f"#realm-{SAML_NAME}")
        row.get_by_text("Delete", exact=True).click()
        row.get_by_role("button", name=f"Delete {SAML_NAME}").click()
        expect(small.locator("#done")).to_contain_text("The realm was deleted")
        expect(small.locator("#realms tbody tr")).to_have_count(1)
        phone.close()
        laptop.close()


def pages_of(realms: str) -> list[str]:
    new = [f"{realms}/new/saml", f"{realms}/new/oidc"]
    return [realms, *new, f"{realms}/corp-oidc/edit", f"{realms}/{SAML_NAME}/edit"]


def fits_at(page: Page, path: str) -> list[str]:
    page.goto(path)
    expect(page.locator("main h1")).to_be_visible()
    return fits(page)

"""Organization SSO set up in the console, in Chromium, against a real `citadel up`, the real
SimpleSAMLphp IdP and a real DNS server (dnsmasq): claim and verify a domain, register the IdP
by its metadata file, give the IdP the SP details, map its `admins` group to Organization
owner, test the sign-in on the IdP's own login page, enforce, and see the password refused.

Its own `citadel up` (enforcing SSO ends the owner's password sessions, which the other
browser tests use). A screenshot of the SSO page goes to CITADEL_CONSOLE_SCREENSHOTS when set.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, FilePayload, Page, expect

from tests.console.browser import PHONE, Person, console_up, new_context, sign_in
from tests.fixtures.dns_server import DnsServer, dnsmasq_binary
from tests.sso.conftest import idp as _idp  # noqa: F401 (the real IdP fixture)
from tests.sso.idp import PASSWORDS, Idp

pytestmark = pytest.mark.e2e
OWNER = Person("owner@example.com", "e2e owner password 123")


@pytest.fixture
def dns() -> Iterator[DnsServer]:
    server = DnsServer(dnsmasq_binary(), ("acme.example",))
    server.publish({})
    yield server
    server.stop()


def log_in_at_the_idp(page: Page, username: str) -> None:
    """The IdP's own HTML login page; its auto-submitting form then posts to our ACS."""
    expect(page.locator('input[name="username"]')).to_be_visible()
    page.locator('input[name="username"]').fill(username)
    page.locator('input[name="password"]').fill(PASSWORDS[username])
    page.locator('input[name="password"]').press("Enter")


def assert_fits(phone: BrowserContext) -> None:
    """The SSO page (long URLs, certificates) and the sign-in page do not scroll sideways at
    390 px."""
    page = phone.new_page()
    for path in ("/single-sign-on", "/sign-in"):
        page.goto(path)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} scrolls sideways at 390 px"
    phone.close()


def test_configure_test_and_enforce_sso_in_the_console(
    tmp_path: Path, template_data_dir: Path, postgres_url: str | None, idp: Idp, dns: DnsServer
):
    resolver = f"{dns.address[0]}:{dns.address[1]}"
    with console_up(tmp_path, template_data_dir, postgres_url, CITADEL_DNS_RESOLVER=resolver) as (
        base_url,
        browser,
    ):
        context = new_context(browser, base_url)
        page = context.new_page()
        sign_in(page, OWNER)  # password, then the second factor's enrolment
        page.get_by_role("navigation", name="Main").get_by_role("link", name="SSO").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Single sign-on")

        # 1. claim acme.example, publish its TXT record in DNS, verify
        page.get_by_label("Domain", exact=True).fill("acme.example")
        page.get_by_role("button", name="Add domain").click()
        expect(page.get_by_role("status")).to_contain_text("The domain was added.")
        name = page.locator("#txt-name-1").inner_text()
        value = page.locator("#txt-value-1").inner_text()
        dns.publish({name: [value]})
        page.get_by_role("button", name="Verify acme.example").click()
        expect(page.get_by_role("status")).to_have_text("The domain is verified.")
        expect(page.locator("#domain-1")).to_contain_text("verified")

        # 2. the IdP by its metadata file (read into the form by console.js)
        page.get_by_label("Login prefix").fill("acme")
        metadata: FilePayload = {
            "name": "idp-metadata.xml",
            "mimeType": "application/samlmetadata+xml",
            "buffer": httpx.get(idp.metadata_url).content,
        }
        page.get_by_label("Metadata file").set_input_files(files=[metadata])
        expect(page.get_by_label("Metadata XML")).to_have_value(re.compile("EntityDescriptor"))
        page.get_by_role("button", name="Save identity provider").click()
        expect(page.get_by_role("status")).to_have_text("The identity provider was saved.")
        expect(page.get_by_label("IdP entity ID")).to_have_value(idp.entity_id)

        # 3. the SP details, given to the IdP as its owner would
        entity_id = page.locator("#sp-entity-id").inner_text()
        acs_url = page.locator("#sp-acs-url").inner_text()
        assert acs_url == f"{base_url}/sso/saml/{entity_id.split('/')[-2]}/acs"
        expect(page.locator("#sp-login-url")).to_have_text(f"{base_url}/sso/saml/acme/login")
        idp.register_sp(entity_id, acs_url, page.locator("#sp-certificate").text_content() or "")

        # 4. the IdP's admins are Organization owners
        page.get_by_label("Name", exact=True).fill("admins")
        page.get_by_label("Group patterns, one per line").fill("admins")
        page.locator("#mapping-role").select_option("organization-admin")
        page.get_by_role("button", name="Add role mapping").click()
        expect(page.get_by_role("status")).to_have_text("The role mapping was added.")
        expect(page.get_by_role("row", name=re.compile("admins"))).to_contain_text(
            "Organization owner"
        )

        # 5. enforcing waits for a test sign-in; alice signs in at the IdP, in this tab
        expect(page.get_by_role("button", name="Enforce SSO")).to_be_disabled()
        page.get_by_role("link", name="Test sign-in").click()
        log_in_at_the_idp(page, "alice")
        page.wait_for_url(f"{base_url}/single-sign-on")
        expect(page.locator(".who .email")).to_contain_text("alice@acme.example")
        expect(page.locator("#test-sign-in")).to_contain_text("Tested")

        # 6. enforce
        page.get_by_role("button", name="Enforce SSO").click()
        expect(page.get_by_role("status")).to_contain_text("SSO is enforced")
        expect(page.locator("#sso-state")).to_contain_text("Enforced")
        expect(page.get_by_role("button", name="Stop enforcing SSO")).to_be_enabled()
        target = Path(os.environ.get("CITADEL_CONSOLE_SCREENSHOTS") or tmp_path)
        target.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(target / "sso.png"), full_page=True)
        assert_fits(new_context(browser, base_url, PHONE, context.storage_state()))

        # the owner's password is refused now; "Sign in with SSO" by the prefix works
        other = new_context(browser, base_url)
        visitor = other.new_page()
        visitor.goto("/sign-in")
        visitor.get_by_label("Email").fill(OWNER.email)
        visitor.get_by_label("Password").fill(OWNER.password)
        visitor.get_by_label("Authenticator code or recovery code").fill(OWNER.fresh_code())
        visitor.get_by_role("button", name="Sign in", exact=True).click()
        expect(visitor.get_by_role("alert")).to_contain_text("auth.sso_required")
        visitor.get_by_label("Your organization's login prefix").fill("acme")
        visitor.get_by_role("button", name="Continue with SSO").click()
        log_in_at_the_idp(visitor, "alice")
        visitor.wait_for_url(f"{base_url}/")
        expect(visitor.locator(".who .email")).to_contain_text("alice@acme.example")
        other.close()
        context.close()

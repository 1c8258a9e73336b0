"""Passkeys in Chromium with its virtual authenticator (CTAP2, internal, resident keys, user
verification), against a real `citadel up`: add a passkey in the console, sign out, sign in
with the password and the passkey (no TOTP code), with the passkey alone (passwordless), and
the refusals once the passkey is removed from the account. The console is reached at
`https://localhost:<port>`: WebAuthn refuses an IP address as the relying party, and
`localhost` is the default public host name (ADR 25)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import CDPSession, Page, expect

from tests.console.browser import Person, console_up, new_context, sign_in

pytestmark = pytest.mark.e2e
OWNER = Person("owner@example.com", "e2e owner password 123")


def add_virtual_authenticator(page: Page) -> tuple[CDPSession, str]:
    """Chromium's virtual authenticator for this page: a platform authenticator that stores
    discoverable credentials and verifies its user without asking."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    made = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, str(made["authenticatorId"])


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("You are signed out.")


def sign_in_with_passkey(page: Page, person: Person) -> None:
    page.goto("/sign-in")
    page.get_by_label("Email").fill(person.email)
    page.get_by_label("Password").fill(person.password)
    page.get_by_role("button", name="Use a passkey instead of a code").click()


def test_add_a_passkey_and_sign_in_with_it_instead_of_a_code(
    tmp_path: Path, template_data_dir: Path, postgres_url: str | None
):
    with console_up(tmp_path, template_data_dir, postgres_url) as (base_url, browser):
        localhost = base_url.replace("https://127.0.0.1:", "https://localhost:")
        page = new_context(browser, localhost).new_page()
        sign_in(page, OWNER)  # password, then the TOTP enrolment
        cdp, authenticator_id = add_virtual_authenticator(page)

        page.goto("/security")
        page.get_by_role("link", name="Passkeys").click()
        expect(page.locator("#passkeys-none")).to_be_visible()
        page.get_by_label("Name").fill("laptop")
        page.get_by_role("button", name="Add a passkey").click()
        expect(page.get_by_role("status")).to_contain_text("The passkey was added")
        expect(page.locator("#passkeys")).to_contain_text("laptop")

        sign_out(page)
        sign_in_with_passkey(page, OWNER)
        expect(page.get_by_role("link", name="Overview")).to_be_visible()
        page.goto("/security/passkeys")
        expect(page.locator("#passkeys td").nth(2)).not_to_have_text("—")  # last used: now

        sign_out(page)  # passwordless: the device verifies its user, no email or password
        page.goto("/sign-in")
        page.get_by_role("button", name="Use a passkey alone").click()
        expect(page.locator(".who .email")).to_contain_text(OWNER.email)
        page.goto("/security/passkeys")

        page.get_by_role("button", name="Remove laptop").click()
        expect(page.get_by_role("status")).to_have_text("The passkey was removed.")
        sign_out(page)
        held = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})
        assert len(held["credentials"]) == 1  # the refusal is the account's, not the device's
        sign_in_with_passkey(page, OWNER)  # the device still offers it; the account refuses
        expect(page.get_by_role("alert")).to_contain_text(
            "The email, password or second factor is not valid"
        )
        expect(page.get_by_role("link", name="Overview")).to_have_count(0)
        page.get_by_role("button", name="Use a passkey alone").click()
        expect(page.get_by_role("alert")).to_contain_text(
            "The email, password or second factor is not valid"
        )
        expect(page.get_by_role("link", name="Overview")).to_have_count(0)

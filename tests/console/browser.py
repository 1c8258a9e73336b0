"""Driving the console in Debian's Chromium (headless, through Playwright) against a real
`citadel up`: launching, signing in with a second factor, reading values off pages."""

from __future__ import annotations

import base64
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    ViewportSize,
    expect,
    sync_playwright,
)

from citadel.authn import totp
from citadel.models import ALL_TABLES
from tests.e2e.conftest import citadel_up

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}


@dataclass
class Person:
    """Someone who signs in to the console; keeps their TOTP seed and last used step."""

    email: str
    password: str
    seed: bytes | None = None
    last_step: int = field(default=-1)

    def fresh_code(self) -> str:
        """A code the server has not seen yet (codes are single-use, one step either side)."""
        assert self.seed is not None
        while True:
            now = int(time.time()) // 30
            for step in (now, now + 1):
                if step > self.last_step:
                    self.last_step = step
                    return totp.code_at(self.seed, step)
            time.sleep(1)


@contextmanager
def console_up(
    tmp: Path, template_data_dir: Path, postgres_url: str | None, **env: str
) -> Iterator[tuple[str, Browser]]:
    """`citadel up` (with `env`) on a copy of the template data directory, and Chromium:
    yields the console's base URL and the browser."""
    data_dir = tmp / "data"
    shutil.copytree(template_data_dir, data_dir)
    if postgres_url is not None:  # this worker's database: start from empty tables
        engine = sa.create_engine(postgres_url)
        names = ", ".join(f'"{t.__tablename__}"' for t in ALL_TABLES)
        with engine.begin() as conn:
            conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        engine.dispose()
    with (
        citadel_up(data_dir, postgres_url, tmp, **env) as (_endpoints, port, _),
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS
        )
        yield f"https://127.0.0.1:{port}", browser
        browser.close()


def new_context(
    browser: Browser,
    base_url: str,
    viewport: ViewportSize | None = None,
    storage_state: Any = None,
) -> BrowserContext:
    """A fresh browser profile (own cookies, or those of `storage_state`) for the console; the
    platform CA is not in Chromium's store, so its certificate errors are ignored for this
    test origin only."""
    context = browser.new_context(
        base_url=base_url,
        ignore_https_errors=True,
        viewport=viewport or DESKTOP,
        storage_state=storage_state,
    )
    context.set_default_timeout(20_000)
    return context


def sign_in(page: Page, person: Person) -> None:
    """The sign-in form; enrols TOTP at the first sign-in and keeps the seed."""
    page.goto("/sign-in")
    page.get_by_label("Email").fill(person.email)
    page.get_by_label("Password").fill(person.password)
    if person.seed is not None:
        page.get_by_label("Authenticator code or recovery code").fill(person.fresh_code())
    page.get_by_role("button", name="Sign in").click()
    if person.seed is None:
        enrol(page, person)
    expect(page.get_by_role("link", name="Overview")).to_be_visible()


def enrol(page: Page, person: Person) -> list[str]:
    """First sign-in: show the key, type a code from it, read the recovery codes."""
    page.wait_for_url("**/enrol")
    page.get_by_role("button", name="Show my new authenticator key").click()
    expect(page.locator("#totp-qr svg")).to_be_visible()  # drawn on the server, CSP unchanged
    expect(page.locator("#totp-uri")).to_contain_text("otpauth://totp/")
    secret = page.locator("#totp-secret").inner_text().strip()
    person.seed = base64.b32decode(secret + "=" * (-len(secret) % 8))
    page.get_by_label("Current 6-digit code from the app").fill(person.fresh_code())
    page.get_by_role("button", name="Turn on").click()
    codes = page.locator("#recovery-codes").inner_text().split()
    assert len(codes) == 10
    page.get_by_role("link", name="Continue to the console").click()
    return codes


def csrf_of(page: Page) -> str:
    """The CSRF token in the page's forms."""
    return page.locator('input[name="csrf_token"]').first.get_attribute("value") or ""

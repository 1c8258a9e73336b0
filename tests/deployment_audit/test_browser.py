"""A deployment's security audit trail end to end, in a real browser (Debian's Chromium
through Playwright) against `citadel up`: the owner turns recording on in the console's
Security audit page, a client then signs in to the deployment through the gateway (once with
a wrong password, then right), the node records the events, the allocator ships them, and
the page shows them, filters them and exports them.

A screenshot of the page goes to a temporary directory, or to CITADEL_CONSOLE_SCREENSHOTS
(docs/console.md: how docs/screenshots/ is made).
"""

from __future__ import annotations

import json
import os
import re
import ssl
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.console.browser import Person, console_up, new_context, sign_in

pytestmark = pytest.mark.e2e
OWNER = Person("owner@example.com", "e2e owner password 123")


def create_deployment(page: Page, name: str) -> tuple[str, str]:
    """A deployment made through the form: (its id, the `elastic` password)."""
    page.goto("/deployments/new")
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Create deployment").click()
    password = page.locator("#elastic-password").inner_text().strip()
    path = page.get_by_role("link", name="Open the deployment").get_attribute("href") or ""
    return path.rsplit("/", 1)[1], password


def until_answers(es: httpx.Client) -> None:
    """The gateway learns of a new deployment within a poll or two."""
    for _attempt in range(60):
        try:
            if es.get("/").status_code in (200, 401):
                return
        except httpx.TransportError:
            pass
        time.sleep(1)
    raise AssertionError("the deployment never answered through the gateway")


def test_recording_turned_on_in_the_console_shows_the_nodes_events(
    tmp_path: Path, template_data_dir: Path, postgres_url: str | None
):
    with console_up(tmp_path, template_data_dir, postgres_url) as (base_url, browser):
        context = new_context(browser, base_url)
        page = context.new_page()
        sign_in(page, Person(OWNER.email, OWNER.password))
        deployment, password = create_deployment(page, "audited")
        page.goto(f"/deployments/{deployment}")
        expect(page.locator("#deployment-status")).to_have_text("healthy", timeout=120_000)
        endpoint = page.locator("#endpoint").inner_text().strip()

        page.get_by_role("link", name="Security audit trail").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Security audit")
        expect(page.locator("#audit-state")).to_contain_text("Not recording")
        page.get_by_label("Record the security audit trail").check()
        for event in ("authentication_failed", "authentication_success", "access_granted"):
            page.locator(f"#include-{event}").check()
        page.get_by_role("button", name="Save settings").click()
        expect(page.get_by_role("status")).to_contain_text("The audit settings were saved")
        expect(page.locator("#audit-state")).to_contain_text("Recording")

        trust = ssl.create_default_context(cafile=str(tmp_path / "data" / "pki" / "ca.crt"))
        with httpx.Client(base_url=endpoint, verify=trust, timeout=30) as es:
            until_answers(es)
            deadline = time.monotonic() + 90
            while True:  # the node reads its new settings within a second or two of the allocator
                assert es.get("/", auth=("elastic", "not the password")).status_code == 401
                assert es.get("/", auth=("elastic", password)).status_code == 200
                page.reload()
                shown = " ".join(page.locator("#audit-events tbody tr").all_inner_texts())
                # The allocator ships what the node has buffered every second or two, so one
                # round's events may arrive in two batches: wait for both kinds.
                if all(e in shown for e in ("authentication_failed", "authentication_success")):
                    break
                assert time.monotonic() < deadline, "no event reached the console"
                time.sleep(2)

        table = page.locator("#audit-events")
        expect(table).to_contain_text("authentication_failed")
        expect(table).to_contain_text("elastic")
        expect(table).to_contain_text("authentication_success")

        page.get_by_label("Event", exact=True).select_option("authentication_failed")
        page.get_by_role("button", name="Filter").click()
        events = page.locator("#audit-events tbody tr")
        expect(events.first).to_contain_text("authentication_failed")
        assert all("authentication_failed" in row for row in events.all_inner_texts())

        with page.expect_download() as download:
            page.get_by_role("link", name="Export JSON lines").click()
        lines = Path(download.value.path()).read_text().splitlines()
        exported = [json.loads(line) for line in lines]
        assert exported
        assert {e["event.action"] for e in exported} == {"authentication_failed"}
        assert all(e["user.name"] == "elastic" for e in exported)

        shots = Path(os.environ.get("CITADEL_CONSOLE_SCREENSHOTS") or tmp_path / "shots")
        shots.mkdir(parents=True, exist_ok=True)
        page.goto(f"/deployments/{deployment}/security/audit")
        page.screenshot(path=str(shots / "deployment-security-audit.png"), full_page=True)
        assert re.search(r"eyJ", page.content()) is None  # no token in the page
        context.close()

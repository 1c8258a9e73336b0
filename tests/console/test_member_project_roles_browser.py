"""The role picker's project roles in a real browser (Debian's Chromium through Playwright)
against `citadel up`, with JavaScript turned off: the owner invites someone as Elasticsearch
viewer of one project by choosing the role, "Only these projects" and the project's box, and
the pending invitation says so; the picker with its project boxes fits a phone's screen."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

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

pytestmark = pytest.mark.e2e
OWNER = Person("owner@example.com", "e2e owner password 123")


def test_an_owner_invites_a_viewer_of_one_project_without_javascript(
    tmp_path: Path, template_data_dir: Path, postgres_url: str | None
):
    with console_up(tmp_path, template_data_dir, postgres_url) as (base_url, browser):
        signed = new_context(browser, base_url)
        page = signed.new_page()
        sign_in(page, Person(OWNER.email, OWNER.password))
        page.goto("/members")
        made = {}
        for name in ("shop", "docs"):
            answer = page.request.post(
                "/api/v1/serverless/projects/elasticsearch",
                data={"name": name, "region_id": "local"},
                headers={"x-csrf-token": csrf_of(page)},
            )
            assert answer.status == 201, answer.text()
            made[name] = answer.json()["id"]

        no_script = browser.new_context(
            base_url=base_url,
            ignore_https_errors=True,
            viewport=DESKTOP,
            storage_state=signed.storage_state(),
            java_script_enabled=False,
        )
        plain = no_script.new_page()
        plain.goto("/members")
        plain.get_by_label("Emails (separated by spaces)").fill("ana@example.com")
        plain.get_by_label("Role").select_option("elasticsearch-viewer")
        plain.get_by_label("Only these projects:").check()
        plain.get_by_label(f"shop ({made['shop'][:6]})").check()
        plain.get_by_role("button", name="Send invitations").click()
        expect(plain.locator(".invite-link")).to_have_count(1)

        row = plain.get_by_role("row", name=re.compile("ana@example.com"))
        expect(row).to_contain_text(f"Elasticsearch viewer · shop ({made['shop'][:6]})")
        expect(row).not_to_contain_text("docs")
        no_script.close()

        phone = new_context(browser, base_url, PHONE, storage_state=signed.storage_state())
        small = phone.new_page()
        small.goto("/members")
        expect(small.get_by_role("group", name="Elasticsearch projects")).to_be_visible()
        assert small.evaluate(FITS) == []  # the picker's project boxes fit a 390 px screen
        phone.close()
        signed.close()

"""Driving the console through the in-process app: forms, CSRF tokens, signing in."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from citadel.bootstrap import Services
from tests.fixtures.builders import TestUser

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def token_in(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = _TOKEN.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def sign_in(client: TestClient, services: Services, user: TestUser) -> str:
    """Sign in through the console's form; returns the session's CSRF token."""
    page = client.get("/sign-in")
    form: dict[str, Any] = {
        "csrf_token": token_in(page.text),
        "email": user.email,
        "password": user.password,
    }
    if user.totp_secret is not None:
        form["totp_code"] = user.code(services)
    done = client.post("/sign-in", data=form, follow_redirects=False)
    assert done.status_code == 303, done.text
    return token_in(client.get("/members").text)


def post(client: TestClient, path: str, csrf: str | None, **fields: Any) -> Any:
    """A form post (with the CSRF token unless None), redirects not followed."""
    data = dict(fields)
    if csrf is not None:
        data["csrf_token"] = csrf
    return client.post(path, data=data, follow_redirects=False)

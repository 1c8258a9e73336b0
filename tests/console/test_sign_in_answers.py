"""The console's sign-in form answers every failed first step alike (ADR 22): no password
oracle through the page either."""

from __future__ import annotations

import re

from tests.console.helpers import token_in
from tests.fixtures.builders import PASSWORD

_VARYING = re.compile(r'name="csrf_token" value="[^"]+"')


def test_every_failed_sign_in_shows_the_same_page(client, services, owner):
    user, _ = owner
    wrong_code = "000000" if user.code(services) != "000000" else "111111"
    attempts = [
        {"email": "nobody@example.com", "password": "wrong password!!"},
        {"email": user.email, "password": "wrong password!!"},
        {"email": user.email, "password": PASSWORD},
        {"email": user.email, "password": PASSWORD, "totp_code": wrong_code},
    ]
    pages = set()
    for form in attempts:
        form = form | {"csrf_token": token_in(client.get("/sign-in").text)}
        response = client.post("/sign-in", data=form, follow_redirects=False)
        assert response.status_code == 401
        shown = _VARYING.sub("", response.text).replace(form["email"], "EMAIL")
        pages.add(shown)
    assert len(pages) == 1

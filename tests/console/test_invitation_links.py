"""Invitation links in the console: at the configured public URL; without one, at the origin
the inviter reached the control plane at, if its certificate names that host; never at a host
an arbitrary Host header names (Host-header injection would hand the token to that host)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from citadel.app import create_app
from citadel.bootstrap import Services
from tests.console.helpers import sign_in
from tests.fixtures.builders import make_org, make_user

_LINK = re.compile(r'class="wrap invite-link">([^<]+)<')


def invite(client: TestClient, csrf: str, email: str, host: str | None = None) -> str:
    """Invite `email` through the members page (as reached at `host`); the link it shows."""
    headers = {"host": host} if host else None
    sent = client.post(
        "/members/invite",
        data={
            "csrf_token": csrf,
            "emails": email,
            "role": "deployment-viewer",
            "scope": "all",
            "expires_in": "3d",
        },
        headers=headers,
        follow_redirects=False,
    )
    assert sent.status_code == 200, sent.text
    found = _LINK.search(sent.text)
    assert found, "the page shows no invitation link"
    return found.group(1)


def test_a_link_uses_the_origin_the_inviter_reached_when_the_certificate_names_it(
    client, signed_in
):
    link = invite(client, signed_in, "ana@example.com", host="localhost:8443")
    assert re.fullmatch(r"https://localhost:8443/invitations/inv_[0-9a-f]{32}_\w{43}", link)


def test_a_link_ignores_a_host_header_the_certificate_does_not_name(client, signed_in):
    link = invite(client, signed_in, "ana@example.com", host="evil.example:8443")
    assert link.startswith("https://127.0.0.1:8443/invitations/inv_")  # where it listens
    assert "evil.example" not in link


def test_a_link_ignores_a_named_host_on_another_port(client, signed_in):
    link = invite(client, signed_in, "ana@example.com", host="localhost:4444")
    assert link.startswith("https://127.0.0.1:8443/invitations/inv_")


def test_a_resent_link_follows_the_same_rule(client, signed_in):
    invite(client, signed_in, "ana@example.com", host="localhost:8443")
    members = client.get("/members").text
    handle = re.search(r'action="/members/invitations/(inv_[0-9a-f]{32})/resend"', members)
    assert handle
    once = re.search(r'name="once_token" value="([0-9a-f]{32})"', members[handle.end() :])
    assert once
    resent = client.post(
        f"/members/invitations/{handle.group(1)}/resend",
        data={"csrf_token": signed_in, "once_token": once.group(1)},
        headers={"host": "evil.example"},
        follow_redirects=False,
    )
    assert resent.status_code == 200, resent.text
    link = _LINK.search(resent.text)
    assert link
    assert link.group(1).startswith("https://127.0.0.1:8443/invitations/inv_")


@pytest.fixture
def public_client(services: Services) -> Iterator[TestClient]:
    """The console of a control plane whose operator configured `public_url`."""
    settings = services.settings.model_copy(update={"public_url": "https://citadel.example.org/"})
    app = create_app(dataclasses.replace(services, settings=settings))
    with TestClient(app, base_url="https://testserver", client=("127.0.0.1", 50000)) as c:
        yield c


def test_a_configured_public_url_wins(public_client, services):
    user = make_user(services)
    make_org(services, user)
    csrf = sign_in(public_client, services, user)
    link = invite(public_client, csrf, "ana@example.com", host="localhost:8443")
    assert link.startswith("https://citadel.example.org/invitations/inv_")

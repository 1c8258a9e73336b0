"""Forms that mint a secret carry a one-time token: reloading the page that showed the secret
(the browser posts the form again) shows a notice instead of minting a second key or link."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from citadel.console.form_tokens import AlreadySubmitted, SpentFormTokens, new_token
from tests.console.helpers import post

_ONCE = re.compile(r'name="once_token" value="([0-9a-f]{32})"')


def once_token_in(html: str, after: str = "") -> str:
    """The one-time token of the first such form after `after` on the page."""
    found = _ONCE.search(html, html.index(after) if after else 0)
    assert found, "no form with a one-time token"
    return found.group(1)


def key_rows(client) -> int:
    return len(re.findall(r'<tr id="key-', client.get("/api-keys").text))


def invitation_link(html: str) -> str:
    found = re.search(r'class="wrap invite-link">([^<]+)<', html)
    assert found, "no invitation link shown"
    return found.group(1)


def test_the_api_key_form_carries_a_fresh_one_time_token_each_time(client, signed_in):
    first = once_token_in(client.get("/api-keys").text)
    second = once_token_in(client.get("/api-keys").text)
    assert first != second


def test_reposting_the_api_key_form_shows_a_notice_and_mints_no_second_key(client, signed_in):
    fields = {"description": "ci", "expiration": "7d", "role": "organization-admin"}
    token = once_token_in(client.get("/api-keys").text)
    created = post(client, "/api-keys", signed_in, once_token=token, **fields)
    assert created.status_code == 201
    assert 'id="api-key-secret"' in created.text
    again = post(client, "/api-keys", signed_in, once_token=token, **fields)
    assert again.status_code == 303
    assert again.headers["location"] == "/api-keys?notice=key_already_created"
    shown = client.get(again.headers["location"]).text
    assert "That form was already sent" in shown
    assert 'id="api-key-secret"' not in shown
    assert key_rows(client) == 1


def test_the_page_showing_a_new_key_offers_a_new_token_for_the_next_key(client, signed_in):
    fields = {"description": "one", "expiration": "7d", "role": "organization-admin"}
    token = once_token_in(client.get("/api-keys").text)
    created = post(client, "/api-keys", signed_in, once_token=token, **fields)
    following = once_token_in(created.text)
    assert following != token
    second = post(client, "/api-keys", signed_in, once_token=following, **fields)
    assert second.status_code == 201
    assert key_rows(client) == 2


def test_a_refused_api_key_form_can_be_sent_again_with_the_same_token(client, signed_in):
    token = once_token_in(client.get("/api-keys").text)
    refused = post(
        client,
        "/api-keys",
        signed_in,
        once_token=token,
        description="ci",
        expiration="2y",
        role="organization-admin",
    )
    assert refused.status_code == 400
    fixed = post(
        client,
        "/api-keys",
        signed_in,
        once_token=token,
        description="ci",
        expiration="7d",
        role="organization-admin",
    )
    assert fixed.status_code == 201


def test_reposting_the_invite_form_keeps_the_first_link_working(client, signed_in):
    fields = {"emails": "ana@example.com", "role": "deployment-viewer", "scope": "all"}
    token = once_token_in(client.get("/members").text, 'action="/members/invite"')
    sent = post(client, "/members/invite", signed_in, once_token=token, **fields)
    assert sent.status_code == 200
    link = invitation_link(sent.text)
    again = post(client, "/members/invite", signed_in, once_token=token, **fields)
    assert again.headers["location"] == "/members?notice=invitations_already_sent"
    assert "That form was already sent" in client.get(again.headers["location"]).text
    client.cookies.clear()
    assert "Join" in client.get(link.removeprefix("https://testserver")).text  # not replaced


def test_reposting_a_resend_form_does_not_replace_the_link_again(client, signed_in):
    post(client, "/members/invite", signed_in, emails="bo@example.com", role="deployment-viewer")
    members = client.get("/members").text
    handle = re.search(r"/members/invitations/([^/]+)/resend", members).group(1)
    token = once_token_in(members, f"/members/invitations/{handle}/resend")
    path = f"/members/invitations/{handle}/resend"
    resent = post(client, path, signed_in, once_token=token)
    link = invitation_link(resent.text)
    again = post(client, path, signed_in, once_token=token)
    assert again.headers["location"] == "/members?notice=invitations_already_sent"
    client.cookies.clear()
    assert "Join" in client.get(link.removeprefix("https://testserver")).text


def test_each_resend_form_has_its_own_token(client, signed_in):
    post(client, "/members/invite", signed_in, emails="a@example.com b@example.com")
    members = client.get("/members").text
    pending = members[members.index("Pending invitations") :]
    tokens = _ONCE.findall(pending)
    assert len(tokens) == 2
    assert tokens[0] != tokens[1]


def test_a_spent_token_is_forgotten_after_a_day(services):
    spent = SpentFormTokens(services.db, keep=timedelta(days=1))
    now = datetime(2026, 11, 29, tzinfo=UTC)
    token = new_token()
    with spent.spend("u1", token, now):
        pass
    with pytest.raises(AlreadySubmitted), spent.spend("u1", token, now + timedelta(hours=23)):
        pass
    with spent.spend("u1", token, now + timedelta(days=1)):
        pass


def test_a_token_is_spent_per_visitor(services):
    spent = SpentFormTokens(services.db)
    now = datetime(2026, 11, 29, tzinfo=UTC)
    token = new_token()
    with spent.spend("u1", token, now):
        pass
    with spent.spend("u2", token, now):
        pass


def test_a_token_is_given_back_when_the_form_was_not_acted_on(services):
    spent = SpentFormTokens(services.db)
    now = datetime(2026, 11, 29, tzinfo=UTC)
    token = new_token()
    with pytest.raises(ValueError, match="refused"), spent.spend("u1", token, now):
        raise ValueError("refused")
    with spent.spend("u1", token, now):
        pass


def test_a_token_spent_through_one_replica_is_spent_for_another(services):
    """Two control planes over one database (ADR 32): each app has its own `SpentFormTokens`."""
    now = datetime(2026, 11, 29, tzinfo=UTC)
    token = new_token()
    with SpentFormTokens(services.db).spend("u1", token, now):
        pass
    with pytest.raises(AlreadySubmitted), SpentFormTokens(services.db).spend("u1", token, now):
        pass

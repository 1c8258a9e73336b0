"""The console's pages for a lost second factor: your own new recovery codes, and an
owner's reset of a member's second factor."""

from __future__ import annotations

import re

from tests.console.helpers import post
from tests.fixtures.builders import add_member, grant, make_user

CODES = re.compile(r'id="recovery-codes" class="secret">([^<]+)<')


def test_new_recovery_codes_after_a_current_code(client, services, owner, signed_in):
    user, _org = owner
    assert "Get new recovery codes" in client.get("/security").text

    done = post(client, "/security/recovery-codes", signed_in, code=user.code(services, step=1))

    assert done.status_code == 200
    assert len(CODES.search(done.text).group(1).split()) == 10
    assert done.headers["cache-control"] == "no-store"


def test_a_wrong_code_gets_no_codes_and_says_why(client, services, signed_in):
    refused = post(client, "/security/recovery-codes", signed_in, code="000000")

    assert refused.status_code == 401
    assert CODES.search(refused.text) is None
    assert "auth.invalid_mfa_code" in refused.text


def test_an_owner_resets_a_members_second_factor(client, services, owner, signed_in):
    _user, org = owner
    member = make_user(services)
    add_member(services, org, member, grant(org, "deployment-viewer"))
    page = client.get(f"/members/{member.user_id}")
    assert "Reset their second factor" in page.text

    done = post(client, f"/members/{member.user_id}/reset-second-factor", signed_in)

    assert done.status_code == 303
    assert done.headers["location"] == f"/members/{member.user_id}?notice=second_factor_reset"
    body = {"username": member.email, "password": member.password}
    signed = client.post("/api/v1/users/auth/_login", json=body).json()
    assert signed["mfa_enrollment_required"] is True

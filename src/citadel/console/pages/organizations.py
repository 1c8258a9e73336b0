"""The organization switcher: a member of several organizations picks the one the console
shows. The choice is a cookie, checked against the visitor's memberships on every request
(`web.chosen_organization`), so a forged or stale one only falls back to the first."""

from __future__ import annotations

from fastapi import Response

from citadel.console.routing import console_router
from citadel.console.web import ORG_COOKIE, PostedForm, SignedIn, redirect
from citadel.errors import NotFound

router = console_router()
REMEMBER_S = 30 * 24 * 3600


@router.post("/organization")
def switch(visitor: SignedIn, form: PostedForm) -> Response:
    """Show another organization the visitor belongs to (remembered in this browser)."""
    chosen = form.get("organization_id")[:32]
    if chosen not in {org_id for org_id, _ in visitor.organizations}:
        raise NotFound("You are not a member of that organization.")
    response = redirect("/", "organization_switched")
    response.set_cookie(
        ORG_COOKIE,
        chosen,
        max_age=REMEMBER_S,
        path="/",
        secure=True,
        httponly=True,
        samesite="lax",
    )
    return response

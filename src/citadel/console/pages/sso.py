"""Organization SSO in the console: domains, IdP registration, SP details, test sign-in,
role mappings and enforcement.

This module is the slot for that work (issue 9, SSO part, built with `citadel.sso`): the
navigation already links here for whoever may manage SSO. Until then the page says so.
"""

from __future__ import annotations

from fastapi import Request, Response

from citadel.authz.decide import Target
from citadel.authz.permissions import Permission
from citadel.console.routing import console_router
from citadel.console.web import SignedIn, org_of, page

router = console_router()


@router.get("/single-sign-on")
def sso_page(request: Request, visitor: SignedIn) -> Response:
    """Single sign-on settings (placeholder until the SSO pages land)."""
    org = org_of(visitor)
    with visitor.read() as ctx:
        ctx.authorize(Permission.SSO_MANAGE, Target.organization(org))
    return page(request, visitor, "sso.html")

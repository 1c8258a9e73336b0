"""Your own sign-in security: new recovery codes after a current second factor."""

from __future__ import annotations

from fastapi import Request, Response

from citadel.console.routing import console_router
from citadel.console.web import PostedForm, SignedIn, page
from citadel.errors import CitadelError
from citadel.signin import service

router = console_router()


@router.get("/security")
def show(request: Request, visitor: SignedIn) -> Response:
    """Your second factor, and the form that replaces your recovery codes."""
    return page(request, visitor, "security.html")


@router.post("/security/recovery-codes")
def regenerate(request: Request, visitor: SignedIn, form: PostedForm) -> Response:
    """Ten new recovery codes, shown in this response only; the old ones stop working."""
    try:
        with visitor.write() as ctx:
            codes = service.regenerate_recovery_codes(ctx, form.get("code").strip()[:16])
    except CitadelError as exc:
        return page(request, visitor, "security.html", status=exc.status, error=exc)
    return page(request, visitor, "security.html", recovery_codes=codes)  # no-store, as every page

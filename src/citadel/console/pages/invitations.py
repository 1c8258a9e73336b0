"""Accepting an invitation: the link's token is the capability; a new person chooses a
password, someone with an account signs in first (as the invited email)."""

from __future__ import annotations

from fastapi import Request, Response

from citadel.console.pages.signin import (
    check_pre_session,
    pre_session_token,
    with_pre_session,
)
from citadel.console.routing import console_router
from citadel.console.web import (
    SESSION_COOKIE,
    AnyForm,
    Redirect,
    Visitor,
    anonymous,
    check_session_form,
    page,
    parse,
    redirect,
    signed_in_visitor,
)
from citadel.errors import CitadelError
from citadel.invitations import service
from citadel.invitations.schemas import AcceptInvitationIn
from citadel.orgs.service import load as load_org
from citadel.users.service import find_by_email

router = console_router()


def _optional_visitor(request: Request) -> Visitor | None:
    if not request.cookies.get(SESSION_COOKIE):
        return None
    try:
        return signed_in_visitor(request)
    except Redirect:
        return None


def _page(
    request: Request,
    token: str,
    *,
    email_code: str | None,
    error: CitadelError | None = None,
    status: int = 200,
) -> Response:
    visitor = _optional_visitor(request)
    form_token = pre_session_token(request)
    with anonymous(request).read() as ctx:
        row = service.find_by_token(ctx, token)
        org = load_org(ctx.session, row.organization_id)
        has_account = find_by_email(ctx.session, row.email) is not None
        expired = row.expires_at <= ctx.clock.now()
    response = page(
        request,
        visitor,
        "invitation.html",
        status=status,
        error=error,
        invitation=row,
        organization=org,
        has_account=has_account,
        expired=expired,
        token=token,
        email_code=email_code,
        form_token=form_token,
        signed_in_as=visitor.email if visitor else None,
    )
    return with_pre_session(response, form_token)


@router.get("/invitations/{token}")
def show(request: Request, token: str) -> Response:
    """The invitation this link accepts; the email's link adds the code a new account needs."""
    return _page(request, token[:128], email_code=_code(request.query_params.get("code")))


@router.post("/invitations/{token}")
def accept(request: Request, token: str, form: AnyForm) -> Response:
    """Join: signed in as the invited person, or as a new account with a password."""
    token = token[:128]
    visitor = _optional_visitor(request)
    if visitor is not None:
        check_session_form(request, form)
    else:
        check_pre_session(request, form)
    email_code = _code(form.get("email_code"))
    try:
        password = form.get("password") or None
        fields = {"password": password, "name": form.text("name"), "email_code": email_code}
        body = parse(AcceptInvitationIn, fields)
        with (visitor or anonymous(request)).write() as ctx:
            service.accept(ctx, token, body)
    except CitadelError as exc:
        return _page(request, token, email_code=email_code, error=exc, status=exc.status)
    return redirect("/") if visitor else redirect("/sign-in", "joined")


def _code(text: str | None) -> str | None:
    """An email code as the link or the form carries it (bounded; the service checks it)."""
    return text[:64] if text else None

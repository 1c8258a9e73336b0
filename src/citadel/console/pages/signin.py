"""Signing in (password and second factor), TOTP enrolment with recovery codes, signing out.

Forms shown before there is a session (sign-in, accepting an invitation) are protected by a
double-submit token: a random value in a `__Host-` cookie that the form must repeat.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request, Response

from citadel.console.qr import qr_svg
from citadel.console.routing import console_router
from citadel.console.web import (
    CSRF_FIELD,
    PAGE_HEADERS,
    AnyForm,
    Enrolling,
    PostedForm,
    anonymous,
    page,
    parse,
    redirect,
)
from citadel.errors import CitadelError
from citadel.signin import service
from citadel.signin.errors import CsrfFailed
from citadel.signin.schemas import LoginIn
from citadel.use_cases.signin import sign_in as sign_in_and_notify
from citadel.web.cookies import clear_session_cookie, set_session_cookie
from citadel.web.passkeys import relying_party_of
from citadel.web.session import cross_origin

router = console_router()
PRE_SESSION_COOKIE = "__Host-citadel_form"


def safe_next(target: str | None) -> str | None:
    """A local path to return to after signing in; anything else is dropped."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


def pre_session_token(request: Request) -> str:
    """The double-submit token of a visitor without a session (new when missing)."""
    given = request.cookies.get(PRE_SESSION_COOKIE, "")
    return given if len(given) == 43 else secrets.token_urlsafe(32)


def with_pre_session(response: Response, token: str) -> Response:
    response.set_cookie(
        PRE_SESSION_COOKIE, token, path="/", secure=True, httponly=True, samesite="strict"
    )
    return response


def check_pre_session(request: Request, form: AnyForm) -> None:
    """Refuse a pre-session form whose token does not repeat the cookie's, or that another
    origin posted."""
    cookie = request.cookies.get(PRE_SESSION_COOKIE, "")
    given = form.get(CSRF_FIELD)
    if not cookie or not hmac.compare_digest(cookie.encode(), given.encode()):
        raise CsrfFailed("The form expired; reload the page and try again.")
    if cross_origin(request):  # `Origin: null` included, as for every other form
        raise CsrfFailed("Cross-origin form posts are refused.")


def sign_in_page(
    request: Request,
    *,
    error: CitadelError | None = None,
    status: int = 200,
    values: dict[str, str] | None = None,
    sso: bool = False,
) -> Response:
    """The sign-in page; `sso` when `error` belongs to the "Sign in with SSO" form."""
    token = pre_session_token(request)
    response = page(
        request,
        None,
        "signin.html",
        status=status,
        form_token=token,
        error=error,
        values=values or {},
        next=safe_next(request.query_params.get("next")),
        sso_failed=sso,
    )
    return with_pre_session(response, token)


@router.get("/sign-in")
def show_sign_in(request: Request) -> Response:
    """The sign-in form."""
    return sign_in_page(request)


@router.post("/sign-in")
def sign_in(request: Request, form: AnyForm) -> Response:
    """Email, password and second factor in; the session cookie out."""
    try:
        check_pre_session(request, form)
        body = parse(
            LoginIn,
            {
                "username": form.get("email"),
                "password": form.get("password"),
                "totp_code": form.text("totp_code"),
                "passkey_assertion": form.text("passkey_assertion"),
            },
        )
        visitor = anonymous(request)
        issued = sign_in_and_notify(
            visitor,
            visitor.services.mailer,
            body,
            rp=relying_party_of(request),
            passkey_binding=request.cookies.get(PRE_SESSION_COOKIE, ""),
        )
    except CitadelError as exc:
        return sign_in_page(request, error=exc, status=exc.status, values=form.values())
    landing = "/enrol" if issued.row.mfa_enrollment_only else safe_next(form.get("next")) or "/"
    response = redirect(landing)
    set_session_cookie(response, issued)
    return response


@router.post("/sign-out")
def sign_out(request: Request, visitor: Enrolling, form: PostedForm) -> Response:
    """End this session."""
    with visitor.write() as ctx:
        service.sign_out(ctx)
    response = redirect("/sign-in", "signed_out")
    clear_session_cookie(response)
    return response


@router.get("/enrol")
def show_enrolment(request: Request, visitor: Enrolling) -> Response:
    """The second-factor enrolment a new account must do first."""
    if visitor.principal is not None and not visitor.principal.mfa_enrollment_only:
        return redirect("/")
    return page(request, visitor, "enrol.html", step="start")


@router.post("/enrol/start")
def start_enrolment(request: Request, visitor: Enrolling, form: PostedForm) -> Response:
    """A new seed for the authenticator app, shown in this response only."""
    try:
        with visitor.write() as ctx:
            secret, uri = service.start_totp_enrollment(ctx)
    except CitadelError as exc:
        return page(request, visitor, "enrol.html", status=exc.status, step="start", error=exc)
    qr = qr_svg(uri, title="QR code of the authenticator key")
    return page(request, visitor, "enrol.html", step="confirm", secret=secret, uri=uri, qr=qr)


@router.post("/enrol/confirm")
def confirm_enrolment(request: Request, visitor: Enrolling, form: PostedForm) -> Response:
    """Turn the second factor on with a current code; the recovery codes are shown once."""
    try:
        with visitor.write() as ctx:
            codes = service.confirm_totp_enrollment(ctx, form.get("code").strip())
    except CitadelError as exc:
        return page(request, visitor, "enrol.html", status=exc.status, step="start", error=exc)
    response = page(request, visitor, "enrol.html", step="done", recovery_codes=codes)
    response.headers.update(PAGE_HEADERS)
    return response

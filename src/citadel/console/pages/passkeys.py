"""Passkeys in the console: the list on `/security/passkeys`, adding one (the browser's
`navigator.credentials.create()`, driven by `static/passkeys.js`), renaming and removing;
and the sign-in challenge the sign-in form asks for before its passkey button posts (ADR 25).

The JSON routes take the same urlencoded form posts as every page (the session's CSRF token,
or the pre-session token on the sign-in page), so no new way in is opened.
"""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from citadel.console.pages.signin import (
    PRE_SESSION_COOKIE,
    check_pre_session,
    safe_next,
    sign_in_page,
)
from citadel.console.routing import console_router
from citadel.console.web import (
    PAGE_HEADERS,
    AnyForm,
    PostedForm,
    SignedIn,
    Visitor,
    anonymous,
    page,
    redirect,
)
from citadel.errors import BadRequest, CitadelError
from citadel.signin import passkeys
from citadel.web.cookies import set_session_cookie
from citadel.web.passkeys import relying_party_of

router = console_router()
MAX_NAME = 64


def _page(request: Request, visitor: Visitor, *, error: CitadelError | None = None) -> Response:
    with visitor.read() as ctx:
        rows = passkeys.list_passkeys(ctx)
    status = error.status if error else 200
    return page(request, visitor, "passkeys.html", status=status, passkeys=rows, error=error)


def _json(data: dict[str, object], status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers=PAGE_HEADERS)


@router.get("/security/passkeys")
def show(request: Request, visitor: SignedIn) -> Response:
    """Your passkeys, and the button that adds one."""
    return _page(request, visitor)


@router.post("/security/passkeys/options")
def registration_options(request: Request, visitor: SignedIn, form: PostedForm) -> Response:
    """The options `navigator.credentials.create()` needs (JSON), for this session."""
    with visitor.write() as ctx:
        options = passkeys.registration_options(ctx, relying_party_of(request))
    return _json({"public_key": options})


@router.post("/security/passkeys")
def add(request: Request, visitor: SignedIn, form: PostedForm) -> Response:
    """Store the passkey the browser just created."""
    name = (form.text("name") or "Passkey")[:MAX_NAME]
    try:
        with visitor.write() as ctx:
            passkeys.add_passkey(ctx, relying_party_of(request), form.get("credential"), name)
    except CitadelError as exc:
        return _page(request, visitor, error=exc)
    return redirect("/security/passkeys", "passkey_added")


@router.post("/security/passkeys/{passkey_id}/rename")
def rename(request: Request, visitor: SignedIn, form: PostedForm, passkey_id: str) -> Response:
    try:
        name = form.text("name")
        if name is None or len(name) > MAX_NAME:
            raise BadRequest(f"name: 1 to {MAX_NAME} characters", fields=["name"])
        with visitor.write() as ctx:
            passkeys.rename_passkey(ctx, passkey_id[:32], name)
    except CitadelError as exc:
        return _page(request, visitor, error=exc)
    return redirect("/security/passkeys", "passkey_renamed")


@router.post("/security/passkeys/{passkey_id}/remove")
def remove(request: Request, visitor: SignedIn, form: PostedForm, passkey_id: str) -> Response:
    try:
        with visitor.write() as ctx:
            passkeys.remove_passkey(ctx, passkey_id[:32])
    except CitadelError as exc:
        return _page(request, visitor, error=exc)
    return redirect("/security/passkeys", "passkey_removed")


@router.post("/sign-in/passkey")
def sign_in_options(request: Request, form: AnyForm) -> Response:
    """The options `navigator.credentials.get()` needs before the sign-in form posts: the
    same for everyone, the challenge bound to this browser's pre-session token."""
    try:
        check_pre_session(request, form)
    except CitadelError as exc:
        return _json({"errors": [{"code": exc.code, "message": exc.message}]}, exc.status)
    binding = request.cookies.get(PRE_SESSION_COOKIE, "")
    with anonymous(request).write() as ctx:
        options = passkeys.sign_in_options(ctx, relying_party_of(request), binding=binding)
    return _json({"public_key": options})


@router.post("/sign-in/passkey-only")
def sign_in_with_passkey(request: Request, form: AnyForm) -> Response:
    """Passwordless: the passkey's assertion (user verified) for this browser's challenge."""
    try:
        check_pre_session(request, form)
        with anonymous(request).write() as ctx:
            issued = passkeys.sign_in_with_passkey(
                ctx,
                relying_party_of(request),
                form.get("passkey_assertion"),
                binding=request.cookies.get(PRE_SESSION_COOKIE, ""),
            )
    except CitadelError as exc:
        return sign_in_page(request, error=exc, status=exc.status)
    response = redirect(safe_next(form.get("next")) or "/")
    set_session_cookie(response, issued)
    return response

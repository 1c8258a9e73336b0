"""Reading the session cookie (or bearer token) and checking a change's CSRF token and origin.

The API takes the token from the `X-CSRF-Token` header, the console from a form field; both
compare it with `citadel.signin.service.csrf_token` of the session, in constant time.
"""

from __future__ import annotations

import hmac

from starlette.requests import Request

from citadel.authn.principal import Principal
from citadel.bootstrap import Services
from citadel.signin.service import csrf_token, touch_session, verify_session

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def session_principal(services: Services, token: str, *, via_cookie: bool) -> Principal | None:
    """The principal of a live session token, or None; a session in use is touched (idle
    timeout) in its own short write."""
    now = services.clock.now()
    with services.db.read() as session:
        verified = verify_session(
            session,
            services.keyring,
            now,
            token,
            idle_s=services.policies.session_idle_s,
            via_cookie=via_cookie,
        )
    if verified is None:
        return None
    if verified.needs_touch:
        with services.db.write() as session:
            touch_session(session, verified.principal.credential_id, now)
    return verified.principal


def session_csrf_token(services: Services, session_token: str) -> str:
    """The CSRF token a change made with this session must carry."""
    return csrf_token(services.keyring, session_token)


def csrf_matches(expected: str | None, given: str) -> bool:
    """Whether the token sent is the session's (constant time); no session, no match."""
    return bool(expected) and hmac.compare_digest((expected or "").encode(), given.encode())


def own_origin(request: Request) -> str:
    """This application's origin as the browser names it (`https://host:port`)."""
    return f"{request.url.scheme}://{request.url.netloc}"


def cross_origin(request: Request) -> bool:
    """Whether the request says it comes from another origin (no `Origin` header: it does not).

    `Origin: null` is foreign, for the console as for the API: it is what an opaque origin
    sends (a sandboxed frame, a `data:` page, a cross-origin redirect). A same-origin form post
    names its origin because every response says `Referrer-Policy: same-origin` (under
    `no-referrer` browsers send `null` on every form post)."""
    origin = request.headers.get("origin")
    if not origin:
        return False
    return origin.rstrip("/") != own_origin(request)

"""The cookies both edges set: the session (one cookie for the API and the console) and the
AuthnRequest ID of an SSO sign-in in progress."""

from __future__ import annotations

from starlette.responses import Response

from citadel.signin.service import IssuedSession

SESSION_COOKIE = "__Host-citadel_session"
SAML_REQUEST_COOKIE = "__Host-citadel_saml_request"
"""The AuthnRequest ID of an SSO sign-in in progress (SameSite=None: the IdP posts cross-site);
set for both the console's "Sign in with SSO" and the API's login URL."""


def set_session_cookie(response: Response, issued: IssuedSession) -> None:
    """The session cookie of a sign-in (password or SSO), living as long as the session."""
    max_age = int((issued.row.expires_at - issued.row.created_at).total_seconds())
    response.set_cookie(
        SESSION_COOKIE,
        issued.token,
        max_age=max_age,
        path="/",
        secure=True,
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(response: Response) -> None:
    """Tell the browser to drop the session cookie (signing out)."""
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="lax")


def remember_login_request(response: Response, request_id: str, lifetime_s: int) -> None:
    """Give the browser the ID of the AuthnRequest its sign-in answers (the ACS reads it)."""
    response.set_cookie(
        SAML_REQUEST_COOKIE,
        request_id,
        max_age=lifetime_s,
        path="/",
        secure=True,
        httponly=True,
        samesite="none",
    )


def forget_login_request(response: Response) -> None:
    """Drop the AuthnRequest ID once its response was consumed."""
    response.delete_cookie(
        SAML_REQUEST_COOKIE, path="/", secure=True, httponly=True, samesite="none"
    )

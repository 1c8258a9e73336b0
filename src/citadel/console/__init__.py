"""The web console: server-rendered pages over the same services, with the same authorization.

Invariants (ADR 14):

- Every page calls the domain services directly with a `Context` for the signed-in visitor;
  the services authorize, exactly as for the API. Templates only hide what the pure
  `citadel.authz.decide` says the visitor may not use; hiding is never the protection.
- The session is the API's (`__Host-citadel_session` cookie, server-side). Every form
  carries the session's CSRF token (derived from the session token, never stored) and every
  POST is refused with 403 without it.
- A secret (API key, `elastic` password, TOTP seed, recovery codes, invitation link) appears
  in exactly one response: the one that created it.
- Responses carry a strict Content-Security-Policy: no inline script or style.
- A form that mints a secret carries a one-time token (`form_tokens`): posting it again mints
  nothing. The organization shown (`ORG_COOKIE`) is a preference checked against the
  visitor's memberships on every request, never an authority.
"""

from citadel.console.app import install

__all__ = ["install"]

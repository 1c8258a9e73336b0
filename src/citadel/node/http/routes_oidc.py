"""``_security/oidc/prepare``, ``authenticate`` and ``logout``: the OpenID Connect flow for a
custom web application, in Elasticsearch's request and response shapes (see
`citadel.node.security.oidc_realm`). Each needs ``manage_oidc`` (held by ``manage_security``
and ``all``), as in Elasticsearch: the caller is the application, not the user signing in.
A sign-in is audited as the user's ``authentication_success``, or ``authentication_failed``
of ``<OIDC Token>`` in the realm named (if any).
"""

from __future__ import annotations

from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.router import Router, cluster
from citadel.node.http.routes_tokens import string_fields
from citadel.node.security.audit import AuditTrail
from citadel.node.security.errors import ValidationFailed
from citadel.node.security.oidc_realm import (
    MAX_PARAM_CHARS,
    TOKEN_PRINCIPAL,
    OidcFailed,
    OidcRealms,
    OpUnreachable,
    egress_dir_of,
)
from citadel.node.services import NodeServices

MANAGE_OIDC = cluster("manage_oidc")
_PREPARE_FIELDS = ("realm", "iss", "login_hint", "state", "nonce")
_AUTHENTICATE_FIELDS = ("redirect_uri", "state", "nonce", "realm")
_LOGOUT_FIELDS = ("token", "refresh_token")
MAX_REDIRECT_CHARS = 8192


def register(router: Router, services: NodeServices) -> None:
    """Add these routes to `router`."""
    config = services.security_config
    realms = OidcRealms(
        lambda: config.current().oidc,
        services.realm,  # type: ignore[arg-type]
        services.tokens,  # type: ignore[arg-type]
        egress_dir=egress_dir_of(config.path),
    )
    config.on_change(lambda _security: realms.jwks.forget())
    api = OidcRoutes(realms, services.audit)
    router.add("POST", "/_security/oidc/prepare", api.prepare, MANAGE_OIDC)
    router.add("POST", "/_security/oidc/authenticate", api.authenticate, MANAGE_OIDC)
    router.add("POST", "/_security/oidc/logout", api.logout, MANAGE_OIDC)


class OidcRoutes:
    """The handlers, over the node's OIDC realms."""

    def __init__(self, realms: OidcRealms, audit: AuditTrail) -> None:
        self.realms = realms
        self.audit = audit

    def prepare(self, request: NodeRequest) -> NodeResponse:
        """``POST /_security/oidc/prepare``: ``{redirect, state, nonce, realm}``."""
        body = string_fields(request, _PREPARE_FIELDS, what="oidc_prepare_authentication")
        problems = []
        if not body.get("realm") and not body.get("iss"):
            problems.append("one of [realm, issuer] must be provided")
        if body.get("realm") and body.get("iss"):
            problems.append("only one of [realm, issuer] can be provided in the same request")
        if body.get("login_hint") and not body.get("iss"):
            problems.append("login_hint can only be provided with an issuer")
        problems += _too_long(body, MAX_PARAM_CHARS)
        if problems:
            raise ValidationFailed(*problems)
        return NodeResponse(
            body=self.realms.prepare(
                realm=body.get("realm") or None,
                issuer=body.get("iss") or None,
                login_hint=body.get("login_hint") or None,
                state=body.get("state") or None,
                nonce=body.get("nonce") or None,
            )
        )

    def authenticate(self, request: NodeRequest) -> NodeResponse:
        """``POST /_security/oidc/authenticate``: ``{username, access_token, refresh_token,
        expires_in, authentication}``; 401 for any failed sign-in."""
        body = string_fields(request, _AUTHENTICATE_FIELDS, what="oidc_authenticate")
        problems = [
            f"{name} parameter is missing"
            for name in ("state", "nonce", "redirect_uri")
            if not body.get(name)
        ]
        problems += _too_long(body, MAX_PARAM_CHARS, redirect_uri=MAX_REDIRECT_CHARS)
        if problems:
            raise ValidationFailed(*problems)
        try:
            signed_in = self.realms.authenticate(
                redirect_uri=body["redirect_uri"],
                state=body["state"],
                nonce=body["nonce"],
                realm=body.get("realm") or None,
            )
        except (OidcFailed, OpUnreachable):
            # the user's sign-in failed (not the application's own credentials)
            self.audit.authentication_failed(
                request, principal=TOKEN_PRINCIPAL, realm=body.get("realm") or None
            )
            raise
        self.audit.authentication_success(signed_in.identity, request)
        return NodeResponse(body=signed_in.body)

    def logout(self, request: NodeRequest) -> NodeResponse:
        """``POST /_security/oidc/logout``: the tokens invalidated, ``{redirect}`` to the OP."""
        body = string_fields(request, _LOGOUT_FIELDS, what="oidc_logout")
        if not body.get("token"):
            raise ValidationFailed("token is missing")
        return NodeResponse(
            body=self.realms.logout(
                token=body["token"], refresh_token=body.get("refresh_token") or None
            )
        )


def _too_long(body: dict[str, str], limit: int, **limits: int) -> list[str]:
    return [
        f"[{name}] may not be longer than [{limits.get(name, limit)}] characters"
        for name, value in body.items()
        if len(value) > limits.get(name, limit)
    ]

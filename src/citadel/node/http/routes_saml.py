"""``_security/saml/prepare``, ``authenticate``, ``logout``, ``invalidate``, ``complete_logout``
and ``metadata/{realm}``: the SAML flow for a custom web application, in Elasticsearch's request
and response shapes (see `citadel.node.security.saml_realm`). Each needs ``manage_saml`` (held
by ``manage_security`` and ``all``), as in Elasticsearch: the caller is the application, not
the user signing in. A sign-in is audited as the user's ``authentication_success``, or
``authentication_failed`` of ``<SAML Token>`` in the realm named (if any).
"""

from __future__ import annotations

from typing import Any

from citadel.node.errors import IllegalArgument, Unauthenticated, XContentParseError
from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.router import Router, cluster
from citadel.node.http.routes_tokens import string_fields
from citadel.node.security.audit import AuditTrail
from citadel.node.security.errors import ValidationFailed
from citadel.node.security.saml_realm import MAX_IDS, TOKEN_PRINCIPAL, SamlRealms
from citadel.node.services import NodeServices

MANAGE_SAML = cluster("manage_saml")
_PREPARE_FIELDS = ("realm", "acs", "relay_state")
_LOGOUT_FIELDS = ("token", "refresh_token")
_INVALIDATE_FIELDS = ("realm", "acs", "query_string")


def register(router: Router, services: NodeServices) -> None:
    """Add these routes to `router`."""
    config = services.security_config
    realms = SamlRealms(
        lambda: config.current().saml,
        services.realm,  # type: ignore[arg-type]
        services.tokens,  # type: ignore[arg-type]
        services.clock,
        services.store,
    )
    config.on_change(realms.realms_changed)
    api = SamlRoutes(realms, services.audit)
    router.add("POST", "/_security/saml/prepare", api.prepare, MANAGE_SAML)
    router.add("POST", "/_security/saml/authenticate", api.authenticate, MANAGE_SAML)
    router.add("POST", "/_security/saml/logout", api.logout, MANAGE_SAML)
    router.add("POST", "/_security/saml/invalidate", api.invalidate, MANAGE_SAML)
    router.add("POST", "/_security/saml/complete_logout", api.complete_logout, MANAGE_SAML)
    router.add("GET", "/_security/saml/metadata/{realm}", api.metadata, MANAGE_SAML)


class SamlRoutes:
    """The handlers, over the node's SAML realms."""

    def __init__(self, realms: SamlRealms, audit: AuditTrail) -> None:
        self.realms = realms
        self.audit = audit

    def prepare(self, request: NodeRequest) -> NodeResponse:
        """``POST /_security/saml/prepare``: ``{realm, id, redirect}``."""
        body = string_fields(request, _PREPARE_FIELDS, what="saml_prepare_authn_request")
        if bool(body.get("realm")) == bool(body.get("acs")):
            raise ValidationFailed("one and only one of [realm, acs] must be provided")
        return NodeResponse(
            body=self.realms.prepare(
                realm=body.get("realm") or None,
                acs=body.get("acs") or None,
                relay_state=body.get("relay_state") or None,
            )
        )

    def authenticate(self, request: NodeRequest) -> NodeResponse:
        """``POST /_security/saml/authenticate``: ``{username, access_token, refresh_token,
        realm, expires_in, authentication}``; 401 for any refused response."""
        body = _authenticate_body(request)
        problems = []
        if not body.get("content"):
            problems.append("content is missing")
        if not body.get("ids"):
            problems.append("ids is missing")
        if problems:
            raise ValidationFailed(*problems)
        try:
            signed_in = self.realms.authenticate(
                content=body["content"], ids=body["ids"], realm=body.get("realm") or None
            )
        except Unauthenticated:
            # the user's sign-in failed (not the application's own credentials)
            self.audit.authentication_failed(
                request, principal=TOKEN_PRINCIPAL, realm=body.get("realm") or None
            )
            raise
        self.audit.authentication_success(signed_in.identity, request)
        return NodeResponse(body=signed_in.body)

    def logout(self, request: NodeRequest) -> NodeResponse:
        """``POST /_security/saml/logout``: the tokens invalidated, ``{redirect}`` to the IdP."""
        body = string_fields(request, _LOGOUT_FIELDS, what="saml_logout")
        if not body.get("token"):
            raise ValidationFailed("token is missing")
        return NodeResponse(
            body=self.realms.logout(
                token=body["token"], refresh_token=body.get("refresh_token") or None
            )
        )

    def invalidate(self, request: NodeRequest) -> NodeResponse:
        """``POST /_security/saml/invalidate``: an IdP-started logout; ``{invalidated, realm,
        redirect}``; 401 for a LogoutRequest refused."""
        body = string_fields(request, _INVALIDATE_FIELDS, what="saml_invalidate")
        problems = []
        if not body.get("query_string"):
            problems.append("query_string is missing")
        if bool(body.get("realm")) == bool(body.get("acs")):
            problems.append("one and only one of [realm, acs] must be provided")
        if problems:
            raise ValidationFailed(*problems)
        return NodeResponse(
            body=self.realms.invalidate(
                realm=body.get("realm") or None,
                acs=body.get("acs") or None,
                query_string=body["query_string"].lstrip("?"),
            )
        )

    def complete_logout(self, request: NodeRequest) -> NodeResponse:
        """``POST /_security/saml/complete_logout``: ``{}`` when the IdP's LogoutResponse
        verifies; 401 otherwise. Only the HTTP-Redirect binding (``query_string``)."""
        body = _body(request, "saml_complete_logout", ("realm", "ids", "query_string", "content"))
        if body.get("content"):
            raise IllegalArgument(
                "a LogoutResponse sent with the HTTP-POST binding (content) is not supported by "
                "this node; the realm's IdP must answer with the HTTP-Redirect binding"
            )
        problems = [
            f"{name} is missing" for name in ("realm", "ids", "query_string") if not body.get(name)
        ]
        if problems:
            raise ValidationFailed(*problems)
        self.realms.complete_logout(
            realm=body["realm"], ids=body["ids"], query_string=body["query_string"].lstrip("?")
        )
        return NodeResponse(body={})

    def metadata(self, request: NodeRequest) -> NodeResponse:
        """``GET /_security/saml/metadata/{realm}``: ``{metadata}``, the SP's XML."""
        return NodeResponse(body=self.realms.metadata(request.params["realm"]))


def _authenticate_body(request: NodeRequest) -> dict[str, Any]:
    """``{content: str, ids: [str], realm?: str}``; Elasticsearch's parse error otherwise."""
    return _body(request, "saml_authenticate", ("content", "ids", "realm"))


def _body(request: NodeRequest, what: str, names: tuple[str, ...]) -> dict[str, Any]:
    """An object of only `names`, each a string but ``ids`` (a string or an array of them);
    Elasticsearch's parse error otherwise."""
    body = request.json(required=True)
    if not isinstance(body, dict):
        raise XContentParseError(f"[{what}] expected an object")
    out: dict[str, Any] = {}
    for key, value in body.items():
        if key not in names:
            raise XContentParseError(f"[{what}] unknown field [{key}]")
        if value is None:
            continue
        if key == "ids":
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise XContentParseError(f"[{what}] field [ids] must be an array of strings")
            if len(value) > MAX_IDS:
                raise ValidationFailed(f"ids holds more than {MAX_IDS} request ids")
        elif not isinstance(value, str):
            raise XContentParseError(f"[{what}] field [{key}] must be a string")
        out[key] = value
    return out

"""``POST`` and ``DELETE /_security/oauth2/token``: the node's bearer tokens, in Elasticsearch's
shapes (see `citadel.node.security.tokens`).

Both need ``manage_token`` (held by ``manage_security`` and ``all``), as in Elasticsearch: the
caller is usually an application acting for its users. A token request that breaks a rule is
answered in OAuth 2.0's error shape (``{"error": "invalid_request" | "unsupported_grant_type"
| "invalid_grant", "error_description"}``, 400) as Elasticsearch does; a wrong password is the
realm's usual 401. ``grant_type: _kerberos`` is refused with a 400 naming it: the node has no
Kerberos realm.
"""

from __future__ import annotations

from typing import Any

from citadel.node.errors import IllegalArgument, XContentParseError
from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.router import Router, cluster
from citadel.node.security.errors import ValidationFailed
from citadel.node.security.realm import Realm
from citadel.node.security.tokens import (
    InvalidRequest,
    TokenQuery,
    TokenService,
    UnsupportedGrantType,
)
from citadel.node.services import NodeServices

MANAGE_TOKEN = cluster("manage_token")
_GRANT_FIELDS = ("grant_type", "scope", "username", "password", "refresh_token", "kerberos_ticket")
_INVALIDATE_FIELDS = ("token", "refresh_token", "realm_name", "username")
_GRANT_TYPES = ("password", "client_credentials", "refresh_token", "_kerberos")
#: The fields each grant type refuses (Elasticsearch's ``CreateTokenRequest.validate``).
_NOT_FOR = {
    "password": ("kerberos_ticket", "refresh_token"),
    "refresh_token": ("username", "password", "kerberos_ticket"),
    "client_credentials": ("username", "password", "kerberos_ticket", "refresh_token"),
}


def register(router: Router, services: NodeServices) -> None:
    """Add these routes to `router`."""
    api = TokenRoutes(services.tokens, services.realm)  # type: ignore[arg-type]
    router.add("POST", "/_security/oauth2/token", api.create, MANAGE_TOKEN)
    router.add("DELETE", "/_security/oauth2/token", api.invalidate, MANAGE_TOKEN)


class TokenRoutes:
    """The handlers, over the token service and the realm (for the password grant)."""

    def __init__(self, tokens: TokenService, realm: Realm) -> None:
        self.tokens = tokens
        self.realm = realm

    def create(self, request: NodeRequest) -> NodeResponse:
        """``POST /_security/oauth2/token``: an access token (and a refresh token, except for
        ``client_credentials``)."""
        body = string_fields(request, _GRANT_FIELDS, what="token_request")
        grant_type = body.get("grant_type")
        if grant_type == "_kerberos":
            raise IllegalArgument(
                "grant_type [_kerberos] is not supported by this node: it has no Kerberos realm"
            )
        problems = _grant_problems(grant_type, body)
        if problems:
            numbered = "".join(f"{i}: {p};" for i, p in enumerate(problems, 1))
            error = UnsupportedGrantType if "grant_type" in numbered else InvalidRequest
            raise error(f"Validation Failed: {numbered}")
        if grant_type == "password":
            identity = self.realm.with_password(body["username"], body["password"])
            answer = self.tokens.issue(identity)
        elif grant_type == "client_credentials":
            answer = self.tokens.issue(request.identity, refresh=False)
        else:
            answer = self.tokens.refresh(body["refresh_token"])
        if "scope" in body:
            answer = {**answer, "scope": body["scope"]}
        return NodeResponse(body=answer)

    def invalidate(self, request: NodeRequest) -> NodeResponse:
        """``DELETE /_security/oauth2/token``: by ``token``, ``refresh_token``, or every token
        of ``realm_name`` and/or ``username``; 404 when a named token is unknown."""
        body = string_fields(request, _INVALIDATE_FIELDS, what="invalidate_token_request")
        if "token" in body and "refresh_token" in body:
            raise IllegalArgument("only one of [token, refresh_token] may be sent per request")
        one = "token" in body or "refresh_token" in body
        problems = []
        if body.get("realm_name") or body.get("username"):
            if one:
                problems.append(
                    "token string must not be provided when realm name or username is specified"
                )
        elif not one:
            problems.append(
                "token string must be provided when not specifying a realm name or a username"
            )
        if problems:
            raise ValidationFailed(*problems)
        result = self.tokens.invalidate(
            TokenQuery(
                token=body.get("token"),
                refresh_token=body.get("refresh_token"),
                realm_name=body.get("realm_name") or None,
                username=body.get("username") or None,
            )
        )
        found = result["invalidated_tokens"] + result["previously_invalidated_tokens"]
        return NodeResponse(status=404 if one and not found else 200, body=result)


def _grant_problems(grant_type: str | None, body: dict[str, Any]) -> list[str]:
    if grant_type is None:
        return ["grant_type is missing"]
    if grant_type not in _GRANT_TYPES:
        return [f"grant_type [{grant_type}] is not supported"]
    problems = [
        f"[{name}] is not supported for grant_type [{grant_type}]"
        for name in _NOT_FOR[grant_type]
        if name in body
    ]
    if grant_type == "password":
        problems += [
            f"{name} is missing" for name in ("username", "password") if not body.get(name)
        ]
    if grant_type == "refresh_token" and not body.get("refresh_token"):
        problems.append("refresh_token is missing")
    return problems


def string_fields(request: NodeRequest, names: tuple[str, ...], *, what: str) -> dict[str, str]:
    """The body as an object of only `names`, each a string (nulls dropped); Elasticsearch's
    parse error otherwise."""
    body = request.json(required=True)
    if not isinstance(body, dict):
        raise XContentParseError(f"[{what}] expected an object")
    out = {}
    for key, value in body.items():
        if key not in names:
            raise XContentParseError(f"[{what}] unknown field [{key}]")
        if value is None:
            continue
        if not isinstance(value, str):
            raise XContentParseError(f"[{what}] field [{key}] must be a string")
        out[key] = value
    return out

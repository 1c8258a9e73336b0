"""The served OpenAPI document says what the API answers, and how a caller authenticates.

Each route declares its success body (its return annotation, or `responses` for a second
success status); the error statuses follow from the route itself, so they are not listed
route by route:

- every route may answer 400 (an invalid request, credentials in the URL) and 401 (a
  credential that is presented but not valid, or none where one is needed);
- 403 where an access dependency decides (every route but a public read: a change with a
  session cookie also needs its CSRF token);
- 404 where the path names something (`{...}`);
- 409 and 413 on changes (a conflict with the current state; a body over the size limit).

A route that answers more (410, 429, 503...) adds `responses=errors(...)`. Every error has
the one body, `BasicFailedReply` (`api.errors`). The security schemes are the three ways to
present a credential; a public route lists them as optional.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from citadel.api import errors as error_rendering
from citadel.api.deps import SAFE_METHODS, SESSION_COOKIE

REPLY = {"application/json": {"schema": {"$ref": "#/components/schemas/BasicFailedReply"}}}

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "ApiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "An API key: `Authorization: ApiKey <key>`.",
    },
    "Bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "The token `POST /users/auth/_login` answers: `Authorization: Bearer "
        "<token>`.",
    },
    "Session": {
        "type": "apiKey",
        "in": "cookie",
        "name": SESSION_COOKIE,
        "description": "The console's session cookie; a change also needs the session's "
        "`X-CSRF-Token` header.",
    },
}
CREDENTIALS: list[dict[str, list[str]]] = [{name: []} for name in SECURITY_SCHEMES]

DESCRIPTIONS = {
    400: "The request is invalid (`root.invalid_data`, or the route's own code).",
    401: "No credential where one is needed, or one that is not valid (`root.unauthenticated`).",
    403: "The caller may not do this (or a session change lacks its CSRF token).",
    404: "What the path names does not exist, or the caller may not see it.",
    409: "The change conflicts with the current state.",
    410: "It existed and is gone (expired).",
    413: "The body is too large (`root.request_too_large`).",
    429: "Too many attempts; `Retry-After` says when to try again.",
    503: "An outside service (key manager, DNS) did not answer; nothing changed.",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for the error statuses a route answers beyond those the rules give."""
    return {status: {"description": DESCRIPTIONS[status]} for status in statuses}


def error_statuses(method: str, path: str, access_kind: str | None) -> list[int]:
    """The error statuses a route answers by the rules of this module's docstring."""
    statuses = [400, 401]
    changes = method.upper() not in SAFE_METHODS
    if access_kind != "public" or changes:
        statuses.append(403)
    if "{" in path:
        statuses.append(404)
    if changes:
        statuses += [409, 413]
    return statuses


def describe(app: FastAPI, document: dict[str, Any]) -> dict[str, Any]:
    """Add the security schemes, each operation's security and its error responses."""
    components = document.setdefault("components", {})
    components["securitySchemes"] = SECURITY_SCHEMES
    kinds = _access_kinds(app)
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            kind = kinds.get((method.upper(), path))
            operation["security"] = CREDENTIALS if kind != "public" else [{}, *CREDENTIALS]
            responses = operation.setdefault("responses", {})
            for status in error_statuses(method, path, kind):
                responses.setdefault(str(status), {"description": DESCRIPTIONS[status]})
            for status, response in responses.items():
                if int(status) >= 400:
                    response["content"] = REPLY
    return document


def _access_kinds(app: FastAPI) -> dict[tuple[str, str], str | None]:
    """(METHOD, path) → the kind of the route's access dependency (None: it has none)."""
    kinds: dict[tuple[str, str], str | None] = {}
    for context in iter_route_contexts(app.routes):
        if not isinstance(context.original_route, APIRoute):
            continue
        kind = _access_kind(context.dependant)
        for method in context.methods or ():
            kinds[(method, context.path or "")] = kind
    return kinds


def _access_kind(dependant: Any) -> str | None:
    pending = list(dependant.dependencies)
    while pending:
        current = pending.pop()
        access = getattr(current.call, "access", None)
        if access is not None:
            return str(access.kind)
        pending.extend(current.dependencies)
    return None


def install(app: FastAPI) -> None:
    """Serve the honest document at the app's `openapi_url`."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = error_rendering.document(FastAPI.openapi(app))
            app.openapi_schema = describe(app, document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

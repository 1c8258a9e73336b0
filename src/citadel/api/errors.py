"""Rendering every error once, as ``{"errors": [{"code", "message", "fields"}]}``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from citadel.errors import BadRequest, CitadelError, TooManyRequests
from citadel.log import get_logger

log = get_logger(__name__)


def error_body(
    code: str,
    message: str,
    fields: list[str] | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The one error shape (``details`` only where an error carries structured facts)."""
    element: dict[str, Any] = {"code": code, "message": message}
    if fields:
        element["fields"] = fields
    if details:
        element["details"] = details
    return {"errors": [element]}


def render(exc: CitadelError) -> JSONResponse:
    """The response for a typed error."""
    headers = {"x-cloud-error-codes": exc.code}
    if isinstance(exc, TooManyRequests):
        headers["Retry-After"] = str(exc.retry_after)
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'ApiKey realm="citadel", Bearer realm="citadel"'
    return JSONResponse(
        error_body(exc.code, exc.message, exc.fields, exc.details),
        status_code=exc.status,
        headers=headers,
    )


def field_path(loc: tuple[Any, ...]) -> str:
    """``("body", "emails", 0)`` → ``body.emails[0]``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "body"


def _is_json(content_type: str | None) -> bool:
    """Whether FastAPI reads the body as JSON: application/json or +json (strictly, none is not)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class UnsupportedContentType(BadRequest):
    code = "root.unsupported_content_type"


class InvalidJson(BadRequest):
    code = "root.invalid_json_request"
    default_message = "The body is not valid JSON."


def _validation(exc: RequestValidationError, content_type: str | None) -> CitadelError:
    """The typed error of a request FastAPI could not validate."""
    errors = exc.errors()
    unread = any(
        tuple(e.get("loc", ()))[:1] == ("body",) and e.get("type") != "missing" for e in errors
    )
    if unread and not _is_json(content_type):
        # A JSON body sent as a form (curl -d) or text is never read: say why, not "not a dict".
        given = (content_type or "").split(";", 1)[0].strip()
        said = f"this request said '{given}'" if given else "this request named none"
        return UnsupportedContentType(
            f"The body must be JSON sent with 'Content-Type: application/json'; {said}.",
            fields=["header.content-type"],
        )
    if any(e.get("type") == "json_invalid" for e in errors):
        return InvalidJson(fields=["body"])
    fields = list(dict.fromkeys(field_path(tuple(e.get("loc", ()))) for e in errors))
    first = errors[0] if errors else {}
    message = f"{field_path(tuple(first.get('loc', ())))}: {first.get('msg', 'invalid')}"
    return BadRequest(message, fields=fields)


_HTTP_CODES: dict[int, tuple[str, str, list[str] | None]] = {
    400: ("root.invalid_json_request", "The body could not be read as JSON.", ["body"]),
    404: ("root.not_found", "No such route.", None),
    405: ("root.method_not_allowed", "This method is not allowed here.", None),
    413: ("root.request_too_large", "The body is too large.", ["body"]),
}


_ERROR_SCHEMAS: dict[str, Any] = {
    "BasicFailedReplyElement": {
        "type": "object",
        "required": ["code", "message"],
        "properties": {
            "code": {"type": "string"},
            "message": {"type": "string"},
            "fields": {"type": "array", "items": {"type": "string"}},
            "details": {"type": "object", "description": "Structured facts (our addition)."},
        },
    },
    "BasicFailedReply": {
        "type": "object",
        "required": ["errors"],
        "properties": {
            "errors": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/BasicFailedReplyElement"},
            }
        },
    },
}


def document(openapi: dict[str, Any]) -> dict[str, Any]:
    """Describe invalid requests as they are answered (400 ``BasicFailedReply``), not as 422."""
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas.update(_ERROR_SCHEMAS)
    for operations in openapi.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            if responses.pop("422", None) is not None:
                responses["400"] = {
                    "description": "The request is invalid (code: `root.invalid_data`).",
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/BasicFailedReply"}
                        }
                    },
                }
    return openapi


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> str:
    """The methods some route of the request's path answers (Starlette names only the first
    route's, and the console serves `GET` and `POST` of one path as two routes)."""
    routes = request.app.router.routes
    allowed = [
        method
        for method in _METHODS
        if any(r.matches({**request.scope, "method": method})[0] is Match.FULL for r in routes)
    ]
    return ", ".join(allowed)


def install(app: FastAPI, on_error: Any) -> None:
    """Register the handlers; `on_error(request, exc)` audits denied and failed requests."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(CitadelError)
    def _citadel(request: Request, exc: CitadelError) -> JSONResponse:
        on_error(request, exc)
        return render(exc)

    @app.exception_handler(RequestValidationError)
    def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        refused = _validation(exc, request.headers.get("content-type"))
        on_error(request, refused)  # a bad create or change is a refused attempt, audited
        return render(refused)

    @app.exception_handler(StarletteHTTPException)
    def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code, message, fields = _HTTP_CODES.get(
            exc.status_code, ("root.http_error", str(exc.detail), None)
        )
        headers = {"x-cloud-error-codes": code}
        if exc.status_code == 405:  # a 405 says which methods the path has
            headers["Allow"] = allowed_methods(request) or (exc.headers or {}).get("Allow", "")
        return JSONResponse(
            error_body(code, message, fields), status_code=exc.status_code, headers=headers
        )

    @app.exception_handler(Exception)
    def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.error("request.crashed", error_type=type(exc).__name__, exc_info=exc)
        return JSONResponse(
            error_body("root.internal_error", "Something went wrong on our side."),
            status_code=500,
        )

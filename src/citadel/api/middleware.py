"""Pure ASGI middleware: request identity, client address, security headers, body limit."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Sequence
from typing import Any

import structlog
from starlette.exceptions import HTTPException

from citadel.kit.net import Network, client_address
from citadel.log import get_logger

log = get_logger(__name__)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_FEATURES_OFF = (
    "accelerometer",
    "autoplay",
    "camera",
    "display-capture",
    "fullscreen",
    "geolocation",
    "gyroscope",
    "magnetometer",
    "microphone",
    "midi",
    "payment",
    "screen-wake-lock",
    "usb",
    "xr-spatial-tracking",
)
_FEATURES_SELF = ("publickey-credentials-create", "publickey-credentials-get")
PERMISSIONS_POLICY = ", ".join(
    [f"{feature}=()" for feature in _FEATURES_OFF]
    + [f"{feature}=(self)" for feature in _FEATURES_SELF]
)
"""No page of the control plane uses a powerful browser feature, so every one is off, except
WebAuthn for this origin alone (passkeys, ADR 25; never in a frame of another site)."""
_SECURITY_HEADERS = [
    (b"strict-transport-security", b"max-age=31536000; includeSubDomains"),
    (b"x-content-type-options", b"nosniff"),
    # same-origin, not no-referrer: under no-referrer a browser sends `Origin: null` on every
    # form post, and the console refuses that as it refuses any foreign origin
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
    (b"x-frame-options", b"DENY"),
    (b"permissions-policy", PERMISSIONS_POLICY.encode()),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


class RequestContextMiddleware:
    """Gives each request an id and a client address, binds them to logs, adds headers."""

    def __init__(
        self,
        app: Any,
        *,
        trusted_proxies: Sequence[Network],
        max_body: int,
        quiet_success: bool = False,
    ) -> None:
        """`quiet_success`: a request answered below 400 logs its line at debug, not info
        (the internal API, polled by every allocator and gateway: a poll is not news)."""
        self.app = app
        self.trusted = tuple(trusted_proxies)
        self.max_body = max_body
        self.quiet_success = quiet_success

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        given = headers.get("x-request-id", "")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        client = scope.get("client")
        peer = client[0] if client else None
        source_ip = client_address(peer, headers.get("x-forwarded-for"), self.trusted)
        scope.setdefault("state", {})
        scope["state"]["request_id"] = request_id
        scope["state"]["source_ip"] = source_ip
        structlog.contextvars.bind_contextvars(request_id=request_id)

        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            await _too_large(send, request_id)
            return

        received = 0

        async def limited_receive() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise BodyTooLarge()
            return message

        started = time.perf_counter()
        status = 0

        async def send_with_headers(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                own = {k.lower() for k, _ in message.get("headers", [])}
                # a response that says how it may be cached (the JWK Set, a static file) keeps
                # its own cache-control; every other one is no-store
                security = [
                    h for h in _SECURITY_HEADERS if h[0] != b"cache-control" or h[0] not in own
                ]
                extra = [*security, (b"x-request-id", request_id.encode())]
                expires = scope["state"].get("api_key_expires_at")
                if "api_key_expires_at" in scope["state"]:
                    value = expires.isoformat() if expires else "never"
                    extra.append((b"x-elastic-api-key-expiration", value.encode()))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except BodyTooLarge:
            status = 413
            await _too_large(send, request_id)
        finally:
            route = scope.get("route")
            emit = log.debug if self.quiet_success and 0 < status < 400 else log.info
            emit(
                "http.request",
                method=scope["method"],
                route=getattr(route, "path", "unmatched"),  # the template: no ids, no tokens
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
                source_ip=source_ip,
            )
            structlog.contextvars.unbind_contextvars("request_id")


class BodyTooLarge(HTTPException):
    """The streamed body went over the limit (rendered as 413 by the error handlers)."""

    def __init__(self) -> None:
        super().__init__(status_code=413, detail="The body is too large.")


async def _too_large(send: Any, request_id: str) -> None:
    body = json.dumps(
        {
            "errors": [
                {
                    "code": "root.request_too_large",
                    "message": "The body is too large.",
                    "fields": ["body"],
                }
            ]
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-cloud-error-codes", b"root.request_too_large"),
                (b"x-request-id", request_id.encode()),
                *_SECURITY_HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})

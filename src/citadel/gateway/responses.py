"""The gateway's own answers: small JSON errors in the platform's error shape, and the
traffic-filter refusal in exactly the shape Elastic Cloud documents."""

from __future__ import annotations

import json
from enum import StrEnum
from http import HTTPStatus


class RejectCode(StrEnum):
    """Every code the gateway answers with by itself (`error_response`) and logs as the reason
    of a ``gateway.rejected`` event. The values are part of the gateway's output: never change
    one."""

    MALFORMED = "request.malformed"
    UPGRADE = "request.upgrade"
    URI_TOO_LONG = "request.uri_too_long"
    TOO_MANY_HEADERS = "request.too_many_headers"
    HEADER_TOO_LARGE = "request.header_too_large"
    HTTP_VERSION = "request.http_version"
    METHOD_NOT_ALLOWED = "request.method_not_allowed"
    TARGET = "request.target"
    EXPECTATION = "request.expectation"
    FRAMING = "request.framing"
    HOST = "request.host"
    HEADER_TIMEOUT = "request.header_timeout"
    BODY_TIMEOUT = "request.body_timeout"
    MISDIRECTED = "request.misdirected"
    DEPLOYMENT_NOT_FOUND = "deployment.not_found"
    DEPLOYMENT_NOT_RUNNING = "deployment.not_running"
    DEPLOYMENT_LOCKED = "deployment.locked"
    UPSTREAM_TIMEOUT = "upstream.timeout"
    UPSTREAM_UNAVAILABLE = "upstream.unavailable"
    UPSTREAM_PROTOCOL_ERROR = "upstream.protocol_error"


_JSON = b"application/json; charset=utf-8"
TRAFFIC_FILTER_BODY = (
    b'{"ok":false,"message":"Forbidden due to traffic filtering. Please see the Elastic '
    b'documentation on Traffic Filtering for more information."}'
)


def error_response(
    status: int, code: RejectCode, message: str, *, request_id: str, close: bool
) -> bytes:
    """A complete HTTP/1.1 response: `{"errors":[{"code","message"}]}`."""
    body = json.dumps({"errors": [{"code": code.value, "message": message}]}).encode()
    return _response(status, _JSON, body, request_id=request_id, close=close)


def traffic_filter_response(*, request_id: str, close: bool) -> bytes:
    """The 403 for a client no associated ruleset admits (Elastic's documented body)."""
    return _response(
        403, b"application/json", TRAFFIC_FILTER_BODY, request_id=request_id, close=close
    )


def _response(
    status: int, content_type: bytes, body: bytes, *, request_id: str, close: bool
) -> bytes:
    head = [
        b"HTTP/1.1 %d %s" % (status, HTTPStatus(status).phrase.encode()),
        b"content-type: " + content_type,
        b"content-length: %d" % len(body),
        b"x-request-id: " + request_id.encode(),
        b"cache-control: no-store",
    ]
    if close:
        head.append(b"connection: close")
    return b"\r\n".join(head) + b"\r\n\r\n" + body

"""The gateway's own answers: small JSON errors in the platform's error shape."""

from __future__ import annotations

import json
from http import HTTPStatus

_JSON = b"application/json; charset=utf-8"


def error_response(status: int, code: str, message: str, *, request_id: str, close: bool) -> bytes:
    """A complete HTTP/1.1 response: `{"errors":[{"code","message"}]}`."""
    body = json.dumps({"errors": [{"code": code, "message": message}]}).encode()
    head = [
        b"HTTP/1.1 %d %s" % (status, HTTPStatus(status).phrase.encode()),
        b"content-type: " + _JSON,
        b"content-length: %d" % len(body),
        b"x-request-id: " + request_id.encode(),
        b"cache-control: no-store",
    ]
    if close:
        head.append(b"connection: close")
    return b"\r\n".join(head) + b"\r\n\r\n" + body

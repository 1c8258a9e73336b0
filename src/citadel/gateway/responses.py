"""The gateway's own answers, in Elasticsearch's error shape with Citadel's wording.

Every answer the gateway gives by itself on the data path (no node involved) has the body an
Elasticsearch client already knows how to read::

    {"error": {"root_cause": [{"type": T, "reason": R}], "type": T, "reason": R}, "status": N}

``type`` is the `RejectCode` (``deployment.not_found``), the value an official client shows as
the error (``NotFoundError(404, 'deployment.not_found', ...)``); ``reason`` says what happened
and what to do. The bodies are rendered once per distinct (status, code, reason) and the
traffic-filter refusal is a pre-split template the client's address is joined into, so an
answer costs the gateway no JSON encoding per request.
"""

from __future__ import annotations

import json
from enum import StrEnum
from functools import lru_cache
from http import HTTPStatus

from citadel.traffic_filters.matching import Client


class RejectCode(StrEnum):
    """Every code the gateway answers with by itself (`error_response`, the ``type`` of its
    error body) and logs as the reason of a ``gateway.rejected`` event. The values are part of
    the gateway's output: never change one."""

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
    TRAFFIC_FILTERED = "traffic_filter.blocked"
    DEPLOYMENT_NOT_FOUND = "deployment.not_found"
    DEPLOYMENT_NOT_RUNNING = "deployment.not_running"
    DEPLOYMENT_LOCKED = "deployment.locked"
    UPSTREAM_TIMEOUT = "upstream.timeout"
    UPSTREAM_UNAVAILABLE = "upstream.unavailable"
    UPSTREAM_PROTOCOL_ERROR = "upstream.protocol_error"
    # Limits (issue 17): what one client address or one slow body may hold.
    TOO_MANY_CONNECTIONS = "client.too_many_connections"
    TOO_MANY_REQUESTS = "client.too_many_requests"
    DEPLOYMENT_BUSY = "deployment.busy"
    BODY_TOO_SLOW = "request.body_too_slow"
    # Credentials and names that are missing or ambiguous (issue 17.2, 17.10).
    MISSING_CREDENTIALS = "security.missing_credentials"
    DUPLICATE_AUTHORIZATION = "security.duplicate_authorization"
    DUPLICATE_FOUND_CLUSTER = "request.duplicate_found_cluster"
    # Serverless projects (issue 19): what a project's hosts do not serve, and waking it.
    KIBANA_NOT_SERVED = "project.kibana_not_served"
    INGEST_ONLY = "project.ingest_only"
    INGEST_METHOD = "project.ingest_method_not_allowed"
    PROJECT_WAKE_BUSY = "project.wake_busy"
    PROJECT_WAKE_TIMEOUT = "project.wake_timeout"
    PROJECT_WAKE_FAILED = "project.wake_failed"


# The challenge Elasticsearch sends with a 401: what a client may authenticate with.
WWW_AUTHENTICATE = b'www-authenticate: Basic realm="security" charset="UTF-8", ApiKey'
RETRY_AFTER = b"retry-after: 1"


_JSON = b"application/json"


def error_body(status: int, code: RejectCode, reason: str) -> bytes:
    """The Elasticsearch error document for one of the gateway's own answers."""
    return _error_body(status, code, reason)


@lru_cache(maxsize=256)  # the reasons are constants, plus one per distinct lock detail
def _error_body(status: int, code: RejectCode, reason: str) -> bytes:
    cause = {"type": code.value, "reason": reason}
    error = {"root_cause": [cause], **cause}
    return json.dumps({"error": error, "status": status}, separators=(",", ":")).encode()


def error_response(
    status: int,
    code: RejectCode,
    message: str,
    *,
    request_id: str,
    close: bool,
    headers: tuple[bytes, ...] = (),
) -> bytes:
    """A complete HTTP/1.1 response whose body is `error_body`, with extra header lines
    (``name: value``) such as `WWW_AUTHENTICATE`."""
    return _response(
        status,
        _JSON,
        _error_body(status, code, message),
        request_id=request_id,
        close=close,
        headers=headers,
    )


# The refusal's reason, split where the client is named: built once, joined per answer.
_FILTERED_REASON = (
    "Traffic from {client} is not allowed by this deployment's traffic filters; an "
    "organization admin can add a rule that admits it."
)
_FILTERED_PARTS = error_body(403, RejectCode.TRAFFIC_FILTERED, _FILTERED_REASON).split(b"{client}")


def traffic_filter_body(client: Client) -> bytes:
    """The 403 body for a client no associated ruleset admits, naming the client."""
    # An address's normalised text has nothing to escape.
    who = b"this client" if client.ip is None else client.ip.encode()
    if client.endpoint:
        # The endpoint id comes from a PROXY header: escaped as a JSON string's content.
        endpoint = json.dumps(client.endpoint)[1:-1].encode()
        who += b" through private endpoint " + endpoint
    return who.join(_FILTERED_PARTS)


def traffic_filter_response(client: Client, *, request_id: str, close: bool) -> bytes:
    """The 403 for a client no associated ruleset admits."""
    return _response(403, _JSON, traffic_filter_body(client), request_id=request_id, close=close)


def _response(
    status: int,
    content_type: bytes,
    body: bytes,
    *,
    request_id: str,
    close: bool,
    headers: tuple[bytes, ...] = (),
) -> bytes:
    head = [
        b"HTTP/1.1 %d %s" % (status, HTTPStatus(status).phrase.encode()),
        b"content-type: " + content_type,
        b"content-length: %d" % len(body),
        b"x-request-id: " + request_id.encode(),
        b"cache-control: no-store",
        *headers,
    ]
    if close:
        head.append(b"connection: close")
    return b"\r\n".join(head) + b"\r\n\r\n" + body

"""The gateway's own error codes keep the values clients and access logs already see."""

from __future__ import annotations

import json

from citadel.gateway.proxy import UpstreamFailure
from citadel.gateway.responses import RejectCode, error_response


def test_reject_codes_keep_their_values() -> None:
    assert {code.value for code in RejectCode} == {
        "request.malformed",
        "request.upgrade",
        "request.uri_too_long",
        "request.too_many_headers",
        "request.header_too_large",
        "request.http_version",
        "request.method_not_allowed",
        "request.target",
        "request.expectation",
        "request.framing",
        "request.host",
        "request.header_timeout",
        "request.body_timeout",
        "request.misdirected",
        "deployment.not_found",
        "deployment.not_running",
        "deployment.locked",
        "upstream.timeout",
        "upstream.unavailable",
        "upstream.protocol_error",
    }


def test_upstream_failures_keep_their_access_log_reasons() -> None:
    assert {reason.value for reason in UpstreamFailure} == {
        "upstream_connect_timeout",
        "upstream_connect_failed",
        "upstream_closed",
        "upstream_protocol_error",
    }


def test_an_error_response_carries_the_code_as_plain_text() -> None:
    response = error_response(
        431, RejectCode.HEADER_TOO_LARGE, "Request headers too large.", request_id="r1", close=True
    )
    head, body = response.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert json.loads(body) == {
        "errors": [{"code": "request.header_too_large", "message": "Request headers too large."}]
    }

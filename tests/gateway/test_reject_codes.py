"""The gateway's own error codes keep the values clients and access logs already see."""

from __future__ import annotations

import json

from citadel.gateway.proxy import UpstreamFailure
from citadel.gateway.responses import RejectCode, error_response, traffic_filter_body
from citadel.traffic_filters.matching import Client


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
        "traffic_filter.blocked",
        "deployment.not_found",
        "deployment.not_running",
        "deployment.locked",
        "upstream.timeout",
        "upstream.unavailable",
        "upstream.protocol_error",
        "client.too_many_connections",
        "client.too_many_requests",
        "deployment.busy",
        "request.body_too_slow",
        "security.missing_credentials",
        "security.duplicate_authorization",
        "request.duplicate_found_cluster",
        "project.kibana_not_served",
        "project.ingest_only",
        "project.ingest_method_not_allowed",
        "project.wake_busy",
        "project.wake_timeout",
        "project.wake_failed",
    }


def test_upstream_failures_keep_their_access_log_reasons() -> None:
    assert {reason.value for reason in UpstreamFailure} == {
        "upstream_connect_timeout",
        "upstream_connect_failed",
        "upstream_closed",
        "upstream_protocol_error",
    }


def test_an_error_response_is_an_elasticsearch_error_typed_by_its_code() -> None:
    reason = "The request headers are larger than the gateway accepts."
    response = error_response(431, RejectCode.HEADER_TOO_LARGE, reason, request_id="r1", close=True)
    head, body = response.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert b"\r\ncontent-type: application/json\r\n" in head
    cause = {"type": "request.header_too_large", "reason": reason}
    assert json.loads(body) == {"error": {"root_cause": [cause], **cause}, "status": 431}


def test_the_traffic_filter_refusal_names_the_client_and_its_endpoint() -> None:
    body = json.loads(traffic_filter_body(Client.of("::ffff:203.0.113.9", 'vpce-"x"')))
    reason = (
        'Traffic from 203.0.113.9 through private endpoint vpce-"x" is not allowed by this '
        "deployment's traffic filters; an organization admin can add a rule that admits it."
    )
    cause = {"type": "traffic_filter.blocked", "reason": reason}
    assert body == {"error": {"root_cause": [cause], **cause}, "status": 403}


def test_the_traffic_filter_refusal_of_an_unparsable_address() -> None:
    body = json.loads(traffic_filter_body(Client.of("not-an-address")))
    assert body["error"]["reason"].startswith("Traffic from this client is not allowed")

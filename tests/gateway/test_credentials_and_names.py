"""Issue 17.2 and 17.10, gateway side: an anonymous body never reaches a node; duplicate
credentials or cluster names are refused, never first- or last-wins; a TLS server name that
names neither the gateway nor the deployment is misdirected; the gateway's 405 says Allow."""

from __future__ import annotations

import json

from tests.gateway.conftest import RECORDER_ID, RUNNING_ID
from tests.gateway.harness import Pki, RecordingNode, RunningGateway, raw_exchange

RECORDER_HOST = b"Host: recorder.local.citadel.localhost\r\n"
AUTH = b"Authorization: ApiKey a2V5\r\n"


def _split(answer: bytes) -> tuple[int, bytes, dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 "), answer[:120]
    return int(head[9:12]), head.lower(), json.loads(body) if body else {}


def test_a_body_without_credentials_is_refused_401_before_any_node_sees_it(
    gateway: RunningGateway, pki: Pki, recorder: RecordingNode
) -> None:
    answer = raw_exchange(
        gateway.port,
        pki.node_tls.ca,
        b"POST /anonymous-body/_doc HTTP/1.1\r\n" + RECORDER_HOST + b"Content-Length: 13\r\n"
        b'Content-Type: application/json\r\nConnection: close\r\n\r\n{"big":"no"}\n',
    )
    status, head, body = _split(answer)
    assert status == 401
    assert b'\r\nwww-authenticate: basic realm="security" charset="utf-8", apikey' in head
    assert body["status"] == 401
    assert body["error"]["type"] == "security.missing_credentials"
    assert body["error"]["root_cause"][0]["type"] == "security.missing_credentials"
    assert not [r for r in recorder.received if b"/anonymous-body" in r]


def test_a_chunked_body_without_credentials_is_refused_too(
    gateway: RunningGateway, pki: Pki, recorder: RecordingNode
) -> None:
    answer = raw_exchange(
        gateway.port,
        pki.node_tls.ca,
        b"POST /anonymous-chunks HTTP/1.1\r\n" + RECORDER_HOST + b"Transfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    )
    assert _split(answer)[0] == 401
    assert not [r for r in recorder.received if b"/anonymous-chunks" in r]


def test_a_bodiless_request_without_credentials_is_forwarded_for_the_node_to_answer(
    gateway: RunningGateway, pki: Pki, recorder: RecordingNode
) -> None:
    answer = raw_exchange(
        gateway.port,
        pki.node_tls.ca,
        b"GET /anonymous-get HTTP/1.1\r\n" + RECORDER_HOST + b"Connection: close\r\n\r\n",
    )
    assert _split(answer)[0] == 200
    assert [r for r in recorder.received if b"/anonymous-get" in r]


def test_a_real_node_behind_the_gateway_never_gets_an_anonymous_bulk(
    gateway: RunningGateway, pki: Pki
) -> None:
    host = f"Host: {RUNNING_ID}.local.citadel.localhost\r\n".encode()
    body = b'{"index":{"_index":"anon"}}\n{"a":1}\n'
    answer = raw_exchange(
        gateway.port,
        pki.node_tls.ca,
        b"POST /_bulk HTTP/1.1\r\n" + host + b"Content-Type: application/x-ndjson\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body),
    )
    status, _, payload = _split(answer)
    assert status == 401
    assert payload["error"]["type"] == "security.missing_credentials"


def test_two_authorization_headers_are_refused_401_and_nothing_is_forwarded(
    gateway: RunningGateway, pki: Pki, recorder: RecordingNode
) -> None:
    answer = raw_exchange(
        gateway.port,
        pki.node_tls.ca,
        b"GET /two-credentials HTTP/1.1\r\n"
        + RECORDER_HOST
        + b"Authorization: Basic ZWxhc3RpYzp4\r\n"
        b"Authorization: ApiKey a2V5\r\nConnection: close\r\n\r\n",
    )
    status, head, body = _split(answer)
    assert status == 401
    assert b"\r\nwww-authenticate: " in head
    assert body["error"]["type"] == "security.duplicate_authorization"
    assert not [r for r in recorder.received if b"/two-credentials" in r]


def test_two_x_found_cluster_headers_are_refused_400_whatever_their_order(
    gateway: RunningGateway, pki: Pki, recorder: RecordingNode
) -> None:
    for first, second in ((RECORDER_ID, RUNNING_ID), (RUNNING_ID, RECORDER_ID)):
        answer = raw_exchange(
            gateway.port,
            pki.node_tls.ca,
            b"GET /two-clusters HTTP/1.1\r\nHost: gateway\r\n"
            + AUTH
            + f"X-Found-Cluster: {first}\r\nX-Found-Cluster: {second}\r\n".encode()
            + b"Connection: close\r\n\r\n",
        )
        status, _, body = _split(answer)
        assert status == 400
        assert body["error"]["type"] == "request.duplicate_found_cluster"
    assert not [r for r in recorder.received if b"/two-clusters" in r]


def test_the_gateways_405_names_the_methods_it_allows(gateway: RunningGateway, pki: Pki) -> None:
    answer = raw_exchange(
        gateway.port,
        pki.node_tls.ca,
        b"TRACE / HTTP/1.1\r\n" + RECORDER_HOST + b"Connection: close\r\n\r\n",
    )
    status, head, _ = _split(answer)
    assert status == 405
    assert b"\r\nallow: get, head, post, put, delete, patch, options" in head


def test_an_sni_naming_an_unknown_deployment_with_a_known_host_is_misdirected(
    gateway: RunningGateway, pki: Pki, recorder: RecordingNode
) -> None:
    answer = raw_exchange(
        gateway.port,
        pki.node_tls.ca,
        b"GET /unknown-sni HTTP/1.1\r\n" + RECORDER_HOST + AUTH + b"Connection: close\r\n\r\n",
        sni="0123456789abcdef0123456789abcdef.local.citadel.localhost",
    )
    status, _, body = _split(answer)
    assert status == 421
    assert body["error"]["type"] == "request.misdirected"
    assert not [r for r in recorder.received if b"/unknown-sni" in r]


def test_an_sni_naming_an_unknown_deployment_with_x_found_cluster_is_misdirected(
    gateway: RunningGateway, pki: Pki, recorder: RecordingNode
) -> None:
    answer = raw_exchange(
        gateway.port,
        pki.node_tls.ca,
        b"GET /unknown-sni-cluster HTTP/1.1\r\nHost: gateway\r\n"
        + AUTH
        + f"X-Found-Cluster: {RECORDER_ID}\r\nConnection: close\r\n\r\n".encode(),
        sni="elsewhere.local.citadel.localhost",
    )
    assert _split(answer)[0] == 421


def test_the_gateways_own_names_as_sni_route_by_host(
    gateway: RunningGateway, pki: Pki, recorder: RecordingNode
) -> None:
    for sni in ("localhost", "local.citadel.localhost"):
        answer = raw_exchange(
            gateway.port,
            pki.node_tls.ca,
            b"GET /own-sni HTTP/1.1\r\n" + RECORDER_HOST + b"Connection: close\r\n\r\n",
            sni=sni,
        )
        assert _split(answer)[0] == 200, sni

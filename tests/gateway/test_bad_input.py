"""Bad input: a clear 4xx or a closed connection, nothing misreadable forwarded, no crash."""

from __future__ import annotations

import socket
import ssl
import time

import httpx
import pytest

from tests.gateway.conftest import RECORDER_ID
from tests.gateway.harness import Pki, RecordingNode, RunningGateway, raw_exchange

HOST = b"Host: recorder.local.citadel.localhost\r\n"


def _status(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:80]
    return int(answer[9:12])


@pytest.mark.parametrize(
    ("name", "request_bytes", "status"),
    [
        (
            "content-length-and-transfer-encoding",
            b"POST /smuggle-1 HTTP/1.1\r\n" + HOST + b"Content-Length: 4\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\n\r\n",
            400,
        ),
        (
            "transfer-encoding-then-content-length",
            b"POST /smuggle-2 HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n"
            b"Content-Length: 4\r\n\r\n0\r\n\r\n",
            400,
        ),
        (
            "two-content-lengths",
            b"POST /smuggle-3 HTTP/1.1\r\n" + HOST + b"Content-Length: 3\r\n"
            b"Content-Length: 30\r\n\r\nabc",
            400,
        ),
        (
            "two-equal-content-lengths",
            b"POST /smuggle-4 HTTP/1.1\r\n" + HOST + b"Content-Length: 3\r\n"
            b"Content-Length: 3\r\n\r\nabc",
            400,
        ),
        (
            "signed-content-length",
            b"POST /smuggle-5 HTTP/1.1\r\n" + HOST + b"Content-Length: +3\r\n\r\nabc",
            400,
        ),
        (
            "transfer-encoding-not-chunked",
            b"POST /smuggle-6 HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: gzip, chunked\r\n\r\n"
            b"0\r\n\r\n",
            400,
        ),
        (
            "transfer-encoding-with-space-before-colon",
            b"POST /smuggle-7 HTTP/1.1\r\n" + HOST + b"Transfer-Encoding : chunked\r\n\r\n"
            b"0\r\n\r\n",
            400,
        ),
        (
            "obsolete-line-folding",
            b"GET /fold HTTP/1.1\r\n" + HOST + b"X-Long: first\r\n second\r\n\r\n",
            400,
        ),
        ("bare-lf", b"GET /bare-lf HTTP/1.1\n" + HOST.replace(b"\r", b"") + b"\n", 400),
        ("bare-lf-in-headers", b"GET /bare-lf-2 HTTP/1.1\r\nX: a\nY: b\r\n" + HOST + b"\r\n", 400),
        ("invalid-method", b"G@T /bad-method HTTP/1.1\r\n" + HOST + b"\r\n", 400),
        ("unknown-method", b"FROB /frob HTTP/1.1\r\n" + HOST + b"\r\n", 400),
        ("trace", b"TRACE /trace HTTP/1.1\r\n" + HOST + b"\r\n", 405),
        ("propfind", b"PROPFIND /propfind HTTP/1.1\r\n" + HOST + b"\r\n", 405),
        ("http-2-preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400),
        ("http-0.9", b"GET /\r\n\r\n", 505),
        ("absolute-form", b"GET http://evil/abs HTTP/1.1\r\n" + HOST + b"\r\n", 400),
        ("no-host", b"GET /no-host HTTP/1.1\r\n\r\n", 400),
        ("two-hosts", b"GET /two-hosts HTTP/1.1\r\n" + HOST + HOST + b"\r\n", 400),
        ("control-char", b"GET /ctl HTTP/1.1\r\n" + HOST + b"X: a\x01b\r\n\r\n", 400),
        (
            "websocket-upgrade",
            b"GET /upgrade HTTP/1.1\r\n"
            + HOST
            + b"Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            400,
        ),
        (
            "header-too-large",
            b"GET /big HTTP/1.1\r\n" + HOST + b"X-Big: " + b"a" * 20000 + b"\r\n\r\n",
            431,
        ),
        (
            "too-many-headers",
            b"GET /many HTTP/1.1\r\n"
            + HOST
            + b"".join(b"X-H%d: v\r\n" % i for i in range(150))
            + b"\r\n",
            431,
        ),
        (
            "bad-chunk-size",
            b"POST /chunk HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n"
            b"\r\nzz\r\nabc\r\n0\r\n\r\n",
            400,
        ),
    ],
)
def test_bad_requests_are_refused_and_never_forwarded(
    gateway: RunningGateway,
    pki: Pki,
    recorder: RecordingNode,
    name: str,
    request_bytes: bytes,
    status: int,
) -> None:
    before = len(recorder.received)
    answer = raw_exchange(gateway.port, pki.node_tls.ca, request_bytes)
    assert _status(answer) == status, name
    assert b"connection: close" in answer.lower()
    forwarded = recorder.received[before:]
    assert not [r for r in forwarded if b"/admin" in r or b"smuggle" in r or b"/fold" in r]
    _still_serving(gateway, pki)


def test_a_chunked_body_with_a_smuggled_request_after_it_is_served_in_order(
    gateway: RunningGateway, pki: Pki, recorder: RecordingNode
) -> None:
    """Pipelined requests are each re-framed: the second is a request, never body bytes."""
    request = (
        b"POST /pipe-1 HTTP/1.1\r\n" + HOST + b"Authorization: ApiKey a2V5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\n\r\n"
        b"GET /pipe-2 HTTP/1.1\r\n" + HOST + b"Connection: close\r\n\r\n"
    )
    answer = raw_exchange(gateway.port, pki.node_tls.ca, request)
    assert answer.count(b"HTTP/1.1 200 OK") == 2
    heads = [r for r in recorder.received if b"/pipe-" in r]
    assert [h.split(b" ")[1] for h in heads] == [b"/pipe-1", b"/pipe-2"]


def test_a_slow_client_is_closed_after_the_header_timeout(
    gateway: RunningGateway, pki: Pki
) -> None:
    ctx = ssl.create_default_context(cafile=str(pki.node_tls.ca))
    with (
        socket.create_connection(("127.0.0.1", gateway.port), timeout=15) as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as conn,
    ):
        for byte in b"GET / HTTP/1.1\r\nHost: recorder.local.citadel.localhost\r\nX-Sl":
            conn.sendall(bytes([byte]))
            time.sleep(0.005)
        received = b""
        while True:  # stalls now; the gateway must close
            part = conn.recv(65536)
            if not part:
                break
            received += part
    assert received == b"" or _status(received) == 408
    _still_serving(gateway, pki)


def test_a_silent_connection_does_not_block_others(gateway: RunningGateway, pki: Pki) -> None:
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=15):
        _still_serving(gateway, pki)


def test_a_body_shorter_than_its_content_length_times_out(
    gateway: RunningGateway, pki: Pki
) -> None:
    request = b"POST /short HTTP/1.1\r\n" + HOST + b"Content-Length: 10\r\n\r\nabc"
    answer = raw_exchange(gateway.port, pki.node_tls.ca, request, timeout=30)
    # the request head was forwarded; the node waits for the body; the gateway gives up
    assert _status(answer) == 408
    _still_serving(gateway, pki)


def _still_serving(gateway: RunningGateway, pki: Pki) -> None:
    with httpx.Client(
        verify=ssl.create_default_context(cafile=str(pki.node_tls.ca)), timeout=10
    ) as c:
        response = c.get(
            f"https://127.0.0.1:{gateway.port}/alive", headers={"X-Found-Cluster": RECORDER_ID}
        )
    assert response.status_code == 200

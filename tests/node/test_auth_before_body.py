"""The node authenticates on the headers before it reads a body (issue 17.2).

An unauthenticated client must not make the node read (and hold) a body of up to 100 MiB:
a request that announces a body costlier than what uvicorn buffers anyway (over 64 KiB, of
unknown length, or content-coded) on a route that needs credentials is answered 401 before
the first byte of the body is asked for. In process through the ASGI app (the app never calls
``receive``), and against a real `citadel node` over TLS (the 401 arrives while the client
has sent a few bytes of a declared 100 MiB body, so the node did not wait for the rest).
"""

from __future__ import annotations

import asyncio
import base64
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest

from citadel.node.http.app import MAX_BODY, PREREAD, NodeApp
from tests.node.builders import ELASTIC
from tests.node.process import RunningNode, Tls, make_tls, start_node

DECLARED = 100 * 1024 * 1024
WRONG = ("elastic", "not-the-password")


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def call_without_body(
    app: NodeApp, method: str, path: str, headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes, int]:
    """Call the ASGI app; the body is never sent. Returns status, headers, body and how many
    times the app asked for the body."""
    asked = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal asked
        asked += 1
        await asyncio.Event().wait()  # the body never comes: a read would hang the test
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    asyncio.run(asyncio.wait_for(app(scope, receive, send), timeout=60))
    start, body = sent[0], sent[1]
    got = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], got, body["body"], asked


BODY_HEADERS = {"content-type": "application/json", "content-length": str(DECLARED)}


@pytest.mark.parametrize(
    "authorization",
    [None, basic(*WRONG), "ApiKey " + base64.b64encode(b"nokey:nosecret").decode(), "Bearer x"],
    ids=["none", "wrong-password", "unknown-api-key", "unknown-scheme"],
)
def test_a_body_without_valid_credentials_is_refused_before_it_is_read(
    node_app: NodeApp, authorization: str | None
) -> None:
    headers = dict(BODY_HEADERS)
    if authorization is not None:
        headers["authorization"] = authorization
    status, got, body, asked = call_without_body(node_app, "POST", "/logs/_doc", headers)
    assert status == 401
    assert b"security_exception" in body
    assert "www-authenticate" in got
    assert asked == 0


def test_a_chunked_body_without_credentials_is_refused_before_it_is_read(
    node_app: NodeApp,
) -> None:
    headers = {"content-type": "application/json", "transfer-encoding": "chunked"}
    status, _, _, asked = call_without_body(node_app, "POST", "/_bulk", headers)
    assert status == 401
    assert asked == 0


@pytest.mark.parametrize(
    "headers",
    [
        {"content-length": str(PREREAD + 1)},
        {"content-length": "100", "content-encoding": "gzip"},
        {"content-length": "not-a-number"},
    ],
    ids=["over-the-preread-window", "content-coded", "unparsable-length"],
)
def test_a_costly_body_is_refused_before_it_is_read(
    node_app: NodeApp, headers: dict[str, str]
) -> None:
    headers = {"content-type": "application/json", **headers}
    status, _, _, asked = call_without_body(node_app, "POST", "/logs/_doc", headers)
    assert status == 401
    assert asked == 0


def test_valid_credentials_still_read_the_body(node_app: NodeApp) -> None:
    from tests.node.builders import client_of

    with client_of(node_app, ELASTIC) as es:
        created = es.post("/logs/_doc", json={"message": "hello"})
        assert created.status_code == 201
        # a declared body over the limit from an authenticated caller is still a 413
        status, _, _, asked = call_without_body(
            node_app,
            "POST",
            "/logs/_doc",
            {**BODY_HEADERS, "content-length": str(MAX_BODY + 1), "authorization": basic(*ELASTIC)},
        )
        assert status == 413
        assert asked == 0


# -- a real node over TLS ------------------------------------------------------------------------


@pytest.fixture
def tls(tmp_path: Path) -> Tls:
    return make_tls(tmp_path / "tls")


@pytest.fixture
def node(tmp_path: Path, tls: Tls):
    running = start_node(tmp_path / "data", tls)
    yield running
    running.stop()


def post_headers_and_a_few_bytes(node: RunningNode, authorization: str | None) -> bytes:
    """Send the head of a POST declaring 100 MiB and 1 byte of body; what the node answers
    (the read gives up after 60 s only so a broken node cannot hang the suite)."""
    ctx = ssl.create_default_context(cafile=str(node.tls.ca))
    host, port = node.url.removeprefix("https://").split(":")
    head = [
        "POST /logs/_doc HTTP/1.1",
        f"Host: {host}",
        "Content-Type: application/json",
        f"Content-Length: {DECLARED}",
    ]
    if authorization is not None:
        head.append(f"Authorization: {authorization}")
    with (
        socket.create_connection((host, int(port)), timeout=60) as raw,
        ctx.wrap_socket(raw, server_hostname=host) as conn,
    ):
        conn.sendall(("\r\n".join(head) + "\r\n\r\n{").encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = conn.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


@pytest.mark.parametrize("authorization", [None, basic(*WRONG)], ids=["none", "wrong-password"])
def test_a_real_node_answers_401_while_the_declared_body_is_still_unsent(
    node: RunningNode, authorization: str | None
) -> None:
    answer = post_headers_and_a_few_bytes(node, authorization)
    assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]
    with node.client(auth=ELASTIC) as es:  # and the node serves on
        assert es.get("/").status_code == 200

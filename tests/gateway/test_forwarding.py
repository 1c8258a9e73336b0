"""A real gateway in front of a real node (unix socket, mTLS): what clients see."""

from __future__ import annotations

import base64
import json
import socket
import ssl

import httpx

from citadel.gateway.routing import Route, RouteTable
from tests.gateway.conftest import ALIAS, PASSWORD, RECORDER_ID, RUNNING_ID, STOPPED_ID
from tests.gateway.harness import Pki, RecordingNode, RunningGateway, raw_exchange

HOST = f"{RUNNING_ID}.local.citadel.localhost"


def test_get_root_through_the_gateway(through: httpx.Client) -> None:
    response = through.get("/")
    assert response.status_code == 200
    assert response.headers["x-elastic-product"] == "Elasticsearch"
    assert len(response.headers["x-request-id"]) == 16
    assert "tagline" in response.json()


def test_bulk_then_search_through_the_gateway(through: httpx.Client) -> None:
    lines = []
    for i in range(200):
        lines.append(json.dumps({"index": {"_index": "gw-books", "_id": str(i)}}))
        lines.append(json.dumps({"title": f"book number {i}", "n": i}))
    body = ("\n".join(lines) + "\n").encode()
    bulk = through.post(
        "/_bulk?refresh=true", content=body, headers={"Content-Type": "application/x-ndjson"}
    )
    assert bulk.status_code == 200, bulk.text
    assert bulk.json()["errors"] is False
    found = through.post(
        "/gw-books/_search", json={"query": {"match": {"title": "number"}}, "size": 3}
    )
    assert found.status_code == 200
    assert found.json()["hits"]["total"]["value"] == 200


def test_a_chunked_request_body_is_forwarded(through: httpx.Client) -> None:
    def parts():
        yield b'{"title": '
        yield b'"streamed"}'

    response = through.put(
        "/gw-chunked/_doc/1?refresh=true",
        content=parts(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code in (200, 201), response.text
    assert through.get("/gw-chunked/_doc/1").json()["_source"] == {"title": "streamed"}


def test_head_requests_keep_the_connection_usable(through: httpx.Client) -> None:
    through.put("/gw-head")
    assert through.head("/gw-head").status_code == 200
    assert through.head("/gw-missing").status_code == 404
    assert through.get("/").status_code == 200


def test_wrong_credentials_are_the_node_s_answer(through: httpx.Client) -> None:
    assert through.get("/", auth=("elastic", "wrong")).status_code == 401


def test_routing_by_alias_in_host(gateway: RunningGateway, pki: Pki) -> None:
    with _client(gateway, pki, {"Host": f"{ALIAS}.local.citadel.localhost:9243"}) as c:
        assert c.get("/").status_code == 200


def test_routing_by_x_found_cluster(gateway: RunningGateway, pki: Pki) -> None:
    with _client(gateway, pki, {"X-Found-Cluster": RUNNING_ID}) as c:
        assert c.get("/").status_code == 200


def test_routing_by_sni(gateway: RunningGateway, pki: Pki) -> None:
    request = (
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic "
        + _basic()
        + b"\r\nConnection: close\r\n\r\n"
    )
    answer = raw_exchange(gateway.port, pki.node_tls.ca, request, sni=f"{ALIAS}.local.{_domain()}")
    assert answer.startswith(b"HTTP/1.1 200 ")


def test_unknown_deployment_is_404_json(gateway: RunningGateway, pki: Pki) -> None:
    with _client(gateway, pki, {"Host": "nothing.local.citadel.localhost"}) as c:
        response = c.get("/")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["type"] == "deployment.not_found"


def test_the_connection_stays_open_after_a_404(gateway: RunningGateway, pki: Pki) -> None:
    request = (
        b"POST /x HTTP/1.1\r\nHost: nothing.local.citadel.localhost\r\nContent-Length: 5\r\n"
        b"\r\nhello"
        b"GET /after-404 HTTP/1.1\r\nHost: recorder.local.citadel.localhost\r\n"
        b"Connection: close\r\n\r\n"
    )
    answer = raw_exchange(gateway.port, pki.node_tls.ca, request)
    assert answer.startswith(b"HTTP/1.1 404 ")
    assert answer.count(b"HTTP/1.1 200 OK") == 1


def test_no_routing_information_is_404_json(gateway: RunningGateway, pki: Pki) -> None:
    with _client(gateway, pki, {}) as c:
        assert c.get("/").status_code == 404


def test_stopped_deployment_is_503_json(gateway: RunningGateway, pki: Pki) -> None:
    with _client(gateway, pki, {"X-Found-Cluster": STOPPED_ID}) as c:
        response = c.post("/_bulk", content=b"{}\n")
        assert response.status_code == 503
        assert response.json()["error"]["type"] == "deployment.not_running"
        # the connection stays usable for the next request
        assert c.get("/", headers={"X-Found-Cluster": RUNNING_ID}).status_code == 200


def test_an_unreachable_node_is_502_json(gateway: RunningGateway, pki: Pki) -> None:
    snapshot = gateway.keeper.table
    gone = Route("e" * 32, None, "local", "running", "/nonexistent/node.sock")
    gateway.keeper.table = RouteTable.compile(
        snapshot.version, snapshot.domain, (*snapshot.routes, gone)
    )
    try:
        with _client(gateway, pki, {"X-Found-Cluster": "e" * 32}) as c:
            response = c.get("/")
    finally:
        gateway.keeper.table = snapshot
    assert response.status_code == 502
    assert response.json()["error"]["type"] == "upstream.unavailable"


def test_the_node_never_sees_a_client_supplied_forwarded_for(
    gateway: RunningGateway, pki: Pki, recorder: RecordingNode
) -> None:
    headers = {
        "X-Found-Cluster": RECORDER_ID,
        "X-Forwarded-For": "10.0.0.1",
        "X-Real-IP": "10.0.0.1",
        "Forwarded": "for=10.0.0.1",
        "Connection": "keep-alive, X-Secret-Hop",
        "X-Secret-Hop": "1",
        "X-Request-Id": "client-chosen",
    }
    with _client(gateway, pki, headers) as c:
        response = c.get("/forwarded-check")
    assert response.status_code == 200
    head = next(r for r in recorder.received if b"/forwarded-check" in r).lower()
    assert b"10.0.0.1" not in head
    assert b"x-secret-hop" not in head
    assert b"client-chosen" not in head
    assert head.count(b"x-forwarded-for: 127.0.0.1\r\n") == 1
    assert response.headers["x-request-id"].encode() in head


def test_a_chunked_body_reaches_the_node_re_framed(
    gateway: RunningGateway, pki: Pki, recorder: RecordingNode
) -> None:
    request = (
        b"POST /chunk-check HTTP/1.1\r\nHost: recorder.local.citadel.localhost\r\n"
        b"Authorization: ApiKey a2V5\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n"
    )
    answer = raw_exchange(gateway.port, pki.node_tls.ca, request)
    assert answer.startswith(b"HTTP/1.1 200 ")
    forwarded = next(r for r in recorder.received if b"/chunk-check" in r)
    assert forwarded.endswith(b"\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
    assert b"ext=1" not in forwarded
    assert b"x-trailer" not in forwarded.lower()


def test_tls_below_1_2_is_refused(gateway: RunningGateway, pki: Pki) -> None:
    ctx = ssl.create_default_context(cafile=str(pki.node_tls.ca))
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    try:
        raw_exchange_with(ctx, gateway.port)
    except (ssl.SSLError, OSError):
        return
    raise AssertionError("a TLS 1.1 handshake succeeded")


def raw_exchange_with(ctx: ssl.SSLContext, port: int) -> None:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as conn,
    ):
        conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        conn.recv(10)


def _client(gateway: RunningGateway, pki: Pki, headers: dict[str, str]) -> httpx.Client:
    return httpx.Client(
        base_url=f"https://127.0.0.1:{gateway.port}",
        verify=ssl.create_default_context(cafile=str(pki.node_tls.ca)),
        auth=("elastic", PASSWORD),
        headers=headers,
        timeout=15,
    )


def _basic() -> bytes:
    return base64.b64encode(f"elastic:{PASSWORD}".encode())


def _domain() -> str:
    return "citadel.localhost"


def test_expect_100_continue_is_answered_by_the_gateway(
    gateway: RunningGateway, pki: Pki, recorder: RecordingNode
) -> None:
    request = (
        b"POST /expect-check HTTP/1.1\r\nHost: recorder.local.citadel.localhost\r\n"
        b"Authorization: ApiKey a2V5\r\nExpect: 100-continue\r\nContent-Length: 2\r\n"
        b"Connection: close\r\n\r\n{}"
    )
    answer = raw_exchange(gateway.port, pki.node_tls.ca, request)
    assert answer.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 ")
    forwarded = next(r for r in recorder.received if b"/expect-check" in r)
    assert b"expect:" not in forwarded.lower()
    assert forwarded.endswith(b"\r\n\r\n{}")


def test_an_http_1_0_request_is_answered_and_closed(gateway: RunningGateway, pki: Pki) -> None:
    request = b"GET /v10 HTTP/1.0\r\nHost: recorder.local.citadel.localhost\r\n\r\n"
    answer = raw_exchange(gateway.port, pki.node_tls.ca, request)
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert b"connection: close" in answer.lower()

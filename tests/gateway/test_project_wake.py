"""A request for a stopped project is held while the control plane wakes it.

The test plays the control plane's internal API (the other side of the contract): when the
gateway's wake call arrives it starts a real node where the snapshot says the project's node
listens, and answers as the control plane does. The gateway, the node, TLS and the contract
client are the real ones.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvloop

from citadel.contract.client import ComponentTls, ControlPlane
from citadel.contract.messages import CONTRACT_HEADER, CONTRACT_VERSION
from citadel.gateway.activity import ProjectRequests
from citadel.gateway.proxy import Gateway, Limits, run, server_ssl_context, upstream_ssl_context
from citadel.gateway.snapshot import SnapshotKeeper
from tests.gateway.conftest import PASSWORD
from tests.gateway.harness import (
    KEY_PASSWORD,
    Pki,
    RecordingNode,
    RunningGateway,
    connect_from,
    write_snapshot,
)
from tests.node.process import RunningNode, free_port, start_node

PROJECT_ID = "c" * 32
ALIAS = "idle-cccccc"
HOST = f"{ALIAS}.es.local.citadel.localhost"
WAKE_PATH = re.compile(r"^/internal/v1/projects/([0-9a-f]{32})/wake$")


@dataclass
class InternalApi:
    """What the fake-free control plane does when the gateway calls: `mode` is ``start``
    (start the node, answer stopped), ``never`` (answer, start nothing), ``fail`` (500),
    ``locked`` (answer that the project's key is unavailable) or ``gone`` (404)."""

    url: str
    mode: str = "start"
    data_dir: Path | None = None
    tls: object = None
    before_start: Callable[[], None] | None = None  # what goes first (an old node's end)
    wakes: list[str] = field(default_factory=list)
    activity: list[dict] = field(default_factory=list)
    nodes: list[RunningNode] = field(default_factory=list)


@pytest.fixture
def internal_api(pki: Pki) -> Iterator[InternalApi]:
    api = InternalApi("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            wake = WAKE_PATH.match(self.path)
            if wake is not None:
                api.wakes.append(wake.group(1))
                if api.mode == "fail":
                    return self._answer(500, {"errors": [{"code": "internal.error"}]})
                if api.mode == "locked":
                    return self._answer(200, {"state": "locked"})
                if api.mode == "gone":  # deleted meanwhile: the control plane's 404
                    return self._answer(404, {"errors": [{"code": "projects.not_found"}]})
                if api.mode == "start" and api.data_dir is not None and not api.nodes:
                    if api.before_start is not None:
                        api.before_start()
                    api.nodes.append(
                        start_node(
                            api.data_dir,
                            pki.node_tls,
                            elastic_password=PASSWORD,
                            mode="unix",
                            client_ca=True,
                            wait=False,
                        )
                    )
                return self._answer(200, {"state": "stopped"})
            if self.path == "/internal/v1/gateway/activity":
                api.activity.append(json.loads(body))
                return self._answer(200, {})
            return self._answer(404, {"errors": [{"code": "not_found"}]})

        def _answer(self, status: int, document: dict) -> None:
            data = json.dumps(document).encode()
            self.send_response(status)
            self.send_header(CONTRACT_HEADER, str(CONTRACT_VERSION))
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            return

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(pki.node_tls.cert), str(pki.node_tls.key))
    ctx.load_verify_locations(str(pki.node_tls.ca))
    ctx.verify_mode = ssl.CERT_REQUIRED
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api.url = f"https://127.0.0.1:{server.server_address[1]}"
    yield api
    server.shutdown()
    server.server_close()
    for node in api.nodes:
        node.stop()


def _plane(pki: Pki, url: str) -> ControlPlane:
    tls = ComponentTls(pki.node_tls.ca, pki.node_tls.client_cert, pki.node_tls.client_key)
    return ControlPlane(url, tls)


def _project(node_socket: Path, *, state: str = "stopped", rulesets: list[str] | None = None):
    return {
        "id": PROJECT_ID,
        "region": "local",
        "state": state,
        "node_socket": str(node_socket),
        "rulesets": rulesets or [],
        "project": {"type": "elasticsearch", "alias": ALIAS, "apps": ["es", "kb"], "wake": True},
    }


def _gateway(
    pki: Pki, tmp_path: Path, api: InternalApi, deployments: list[dict], **limits: Any
) -> RunningGateway:
    snapshot = tmp_path / "gateway" / "snapshot.json"
    rulesets = {"office": {"type": "ip", "sources": ["10.0.0.0/8"]}}
    write_snapshot(snapshot, deployments, rulesets=rulesets)
    running = RunningGateway(
        pki,
        snapshot,
        Limits(header_timeout_s=2.0, connect_timeout_s=2.0, upstream_timeout_s=30.0, **limits),
    )
    plane = _plane(pki, api.url)
    running.call(lambda: running.gateway.waker.bind(plane, plane.client()))
    return running


def _client(pki: Pki, gateway: RunningGateway, host: str = HOST) -> httpx.Client:
    return httpx.Client(
        base_url=f"https://127.0.0.1:{gateway.port}",
        verify=ssl.create_default_context(cafile=str(pki.node_tls.ca)),
        auth=("elastic", PASSWORD),
        headers={"Host": host},
        timeout=30,
    )


def test_requests_for_a_stopped_project_are_held_woken_once_and_answered(
    pki: Pki, tmp_path: Path, internal_api: InternalApi
) -> None:
    data_dir = tmp_path / "p"
    internal_api.data_dir = data_dir
    node_socket = data_dir.parent / f"{data_dir.name}.sock"  # where start_node listens
    gateway = _gateway(pki, tmp_path, internal_api, [_project(node_socket)], wake_timeout_s=30)
    try:

        def get_root() -> httpx.Response:
            with _client(pki, gateway) as client:
                return client.get("/")

        def index_one() -> httpx.Response:
            with _client(pki, gateway) as client:
                return client.put("/held/_doc/1", json={"message": "held while waking"})

        started = time.monotonic()
        with ThreadPoolExecutor(4) as pool:
            answers = [pool.submit(get_root) for _ in range(3)] + [pool.submit(index_one)]
            responses = [answer.result(60) for answer in answers]
        elapsed = time.monotonic() - started
        assert [r.status_code for r in responses[:3]] == [200, 200, 200]
        assert "version" in responses[0].json()
        assert responses[3].status_code == 201, responses[3].text  # its body waited too
        assert internal_api.wakes == [PROJECT_ID]  # one wake for every held request
        assert elapsed < 30
        with _client(pki, gateway) as client:
            found = client.get("/held/_doc/1").json()
        assert found["_source"] == {"message": "held while waking"}
        assert internal_api.wakes == [PROJECT_ID]  # the node answers: no second wake
        stats = gateway.call(lambda: gateway.gateway.stats.snapshot())
        assert stats["wakes"] == {"ready": 1}
        assert stats["held_requests"] == 5
        assert stats["held_now"] == 0
        seen = gateway.call(lambda: gateway.gateway.activity.take())
        assert list(seen) == [PROJECT_ID]  # forwarded: the idle clock restarts
    finally:
        gateway.stop()


def test_a_node_that_fails_the_connection_after_accepting_is_woken_again(
    pki: Pki, tmp_path: Path, internal_api: InternalApi
) -> None:
    """The snapshot says stopped but the old node still accepts (it is stopping): the request
    goes there, the connection fails before anything is sent, and the request is held again
    with a wake call, which starts the node anew."""
    data_dir = tmp_path / "p"
    node_socket = data_dir.parent / f"{data_dir.name}.sock"
    dying = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dying.bind(str(node_socket))
    dying.listen(8)

    def accept_and_drop() -> None:
        while True:
            try:
                conn, _ = dying.accept()
            except OSError:
                return
            conn.close()

    threading.Thread(target=accept_and_drop, daemon=True).start()

    def old_node_gone() -> None:
        dying.shutdown(socket.SHUT_RDWR)
        dying.close()
        node_socket.unlink()

    internal_api.data_dir = data_dir
    internal_api.before_start = old_node_gone
    gateway = _gateway(pki, tmp_path, internal_api, [_project(node_socket)], wake_timeout_s=30)
    try:
        with _client(pki, gateway) as client:
            response = client.get("/")
        assert response.status_code == 200
        assert "version" in response.json()
        assert internal_api.wakes == [PROJECT_ID]
        stats = gateway.call(lambda: gateway.gateway.stats.snapshot())
        assert stats["held_requests"] == 2  # held, sent to the dying node, held again
        assert stats["wakes"] == {"ready": 1}
    finally:
        gateway.stop()


def test_past_the_per_project_cap_a_request_is_answered_503_with_retry_after(
    pki: Pki, tmp_path: Path, internal_api: InternalApi
) -> None:
    internal_api.mode = "never"
    gateway = _gateway(
        pki,
        tmp_path,
        internal_api,
        [_project(tmp_path / "never.sock")],
        wake_timeout_s=2.0,
        max_held_per_project=1,
    )
    try:
        with ThreadPoolExecutor(1) as pool, _client(pki, gateway) as first_client:
            first = pool.submit(first_client.get, "/")
            _wait_for(lambda: gateway.call(lambda: gateway.gateway.waker.held_total) == 1)
            with _client(pki, gateway) as client:
                busy = client.get("/")
            assert busy.status_code == 503
            assert busy.headers["retry-after"] == "1"
            assert busy.json()["error"]["type"] == "project.wake_busy"
            timed_out = first.result(30)
        assert timed_out.status_code == 503
        assert timed_out.headers["retry-after"] == "1"
        assert timed_out.json()["error"]["type"] == "project.wake_timeout"
        assert internal_api.wakes == [PROJECT_ID]
        stats = gateway.call(lambda: gateway.gateway.stats.snapshot())
        assert stats["wakes"] == {"timed_out": 1}
    finally:
        gateway.stop()


def test_a_client_that_leaves_gives_its_held_place_back(
    pki: Pki, tmp_path: Path, internal_api: InternalApi
) -> None:
    internal_api.mode = "never"
    gateway = _gateway(
        pki, tmp_path, internal_api, [_project(tmp_path / "never.sock")], wake_timeout_s=30
    )
    try:
        ctx = ssl.create_default_context(cafile=str(pki.node_tls.ca))
        with connect_from("127.0.0.1", gateway.port) as raw:
            conn = ctx.wrap_socket(raw, server_hostname="localhost")
            auth = base64.b64encode(f"elastic:{PASSWORD}".encode()).decode()
            conn.sendall(
                f"GET / HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Basic {auth}\r\n\r\n".encode()
            )
            _wait_for(lambda: gateway.call(lambda: gateway.gateway.waker.held_total) == 1)
            conn.close()
        _wait_for(lambda: gateway.call(lambda: gateway.gateway.waker.held_total) == 0)
    finally:
        gateway.stop()


def test_a_wake_the_control_plane_refuses_is_answered_503_at_once(
    pki: Pki, tmp_path: Path, internal_api: InternalApi
) -> None:
    internal_api.mode = "fail"
    gateway = _gateway(
        pki, tmp_path, internal_api, [_project(tmp_path / "never.sock")], wake_timeout_s=30
    )
    try:
        started = time.monotonic()
        with _client(pki, gateway) as client:
            response = client.get("/")
        assert time.monotonic() - started < 10
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert response.json()["error"]["type"] == "project.wake_failed"
    finally:
        gateway.stop()


@pytest.mark.parametrize("mode", ["locked", "gone"])
def test_a_project_that_will_not_run_is_not_running(
    pki: Pki, tmp_path: Path, internal_api: InternalApi, mode: str
) -> None:
    internal_api.mode = mode
    gateway = _gateway(pki, tmp_path, internal_api, [_project(tmp_path / "never.sock")])
    try:
        with _client(pki, gateway) as client:
            response = client.get("/")
        assert response.status_code == 503
        assert response.json()["error"]["type"] == "deployment.not_running"
        assert "project" in response.json()["error"]["reason"]
    finally:
        gateway.stop()


def test_a_filtered_client_never_wakes_a_project(
    pki: Pki, tmp_path: Path, internal_api: InternalApi
) -> None:
    project = _project(tmp_path / "never.sock", rulesets=["office"])
    gateway = _gateway(pki, tmp_path, internal_api, [project])
    try:
        with _client(pki, gateway) as client:
            response = client.get("/")
        assert response.status_code == 403
        assert response.json()["error"]["type"] == "traffic_filter.blocked"
        assert internal_api.wakes == []
        taken, _ = gateway.call(lambda: gateway.gateway.denied.take())
        ((project_id, event),) = taken  # the same decision event as a deployment's
        assert project_id == PROJECT_ID
        assert event["event.action"] == "connection_denied"
        assert event["rule"] == "BLOCKED_BY_IP_FILTER"
    finally:
        gateway.stop()


def test_an_anonymous_request_never_wakes_a_project(
    pki: Pki, tmp_path: Path, internal_api: InternalApi
) -> None:
    gateway = _gateway(pki, tmp_path, internal_api, [_project(tmp_path / "never.sock")])
    try:
        with _client(pki, gateway) as client:
            response = client.get("/", auth=None)
        assert response.status_code == 401  # what the node would answer
        assert response.headers["www-authenticate"].startswith("Basic")
        assert response.json()["error"]["type"] == "security.missing_credentials"
        assert internal_api.wakes == []
    finally:
        gateway.stop()


def test_kibana_and_ingest_are_answered_by_the_gateway_as_elasticsearch_would(
    pki: Pki, tmp_path: Path, internal_api: InternalApi
) -> None:
    recorder = RecordingNode(pki, tmp_path / "recorder.sock")
    project = {
        "id": PROJECT_ID,
        "region": "local",
        "state": "running",
        "node_socket": str(recorder.path),
        "project": {
            "type": "observability",
            "alias": "obs",
            "apps": ["es", "kb", "apm", "ingest"],
        },
    }
    gateway = _gateway(pki, tmp_path, internal_api, [project])
    try:
        with _client(pki, gateway, "obs.kb.local.citadel.localhost") as client:
            kibana = client.get("/app/discover")
        assert kibana.status_code == 404
        assert kibana.json()["error"]["type"] == "project.kibana_not_served"
        assert "Kibana is not part of Citadel" in kibana.json()["error"]["reason"]
        with _client(pki, gateway, "obs.ingest.local.citadel.localhost") as client:
            search = client.post("/logs-app-default/_search", json={})
            wrong_method = client.get("/logs-app-default/_bulk")
            bulk = client.post(
                "/_bulk",
                content=b'{"create":{"_index":"logs-app-default"}}\n{"message":"hi"}\n',
                headers={"content-type": "application/x-ndjson"},
            )
        assert search.status_code == 400
        assert search.json()["error"]["type"] == "project.ingest_only"
        assert search.json()["status"] == 400
        assert wrong_method.status_code == 405
        assert wrong_method.headers["allow"] == "POST, PUT"
        assert wrong_method.json()["error"]["type"] == "project.ingest_method_not_allowed"
        assert bulk.status_code == 200
        with _client(pki, gateway, "obs.es.local.citadel.localhost") as client:
            assert client.post("/logs-app-default/_search", json={}).status_code == 200
        heads = [r.split(b"\r\n", 1)[0] for r in recorder.received]
        assert heads == [b"POST /_bulk HTTP/1.1", b"POST /logs-app-default/_search HTTP/1.1"]
    finally:
        gateway.stop()
        recorder.close()


def test_the_served_gateway_wakes_through_its_control_plane_and_reports_activity(
    pki: Pki, tmp_path: Path, internal_api: InternalApi
) -> None:
    """`proxy.run` as the gateway root calls it: the wake and the activity report go to the
    control plane it reports to."""
    data_dir = tmp_path / "p"
    internal_api.data_dir = data_dir
    snapshot = tmp_path / "gateway" / "snapshot.json"
    write_snapshot(snapshot, [_project(data_dir.parent / f"{data_dir.name}.sock")])
    tls = pki.node_tls
    gateway = Gateway(
        SnapshotKeeper(snapshot, interval_s=0.1),
        upstream_ssl_context(str(tls.ca), str(tls.client_cert), str(tls.client_key), None),
        limits=Limits(wake_timeout_s=30),
        node_server_name="localhost",
    )
    server_ssl = server_ssl_context(str(pki.gateway_cert), str(pki.gateway_key), KEY_PASSWORD)
    port = free_port()
    loop = uvloop.new_event_loop()
    serving = loop.create_task(
        run(gateway, "127.0.0.1", port, server_ssl, reports_to=_plane(pki, internal_api.url))
    )
    thread = threading.Thread(
        target=lambda: loop.run_until_complete(asyncio.gather(serving, return_exceptions=True)),
        daemon=True,
    )
    thread.start()
    try:
        _wait_for(lambda: _listening(port))
        with httpx.Client(
            base_url=f"https://127.0.0.1:{port}",
            verify=ssl.create_default_context(cafile=str(tls.ca)),
            auth=("elastic", PASSWORD),
            headers={"Host": HOST},
            timeout=30,
        ) as client:
            assert client.get("/").status_code == 200
        assert internal_api.wakes == [PROJECT_ID]
        _wait_for(lambda: bool(internal_api.activity))  # within the 2 s report interval
        ((seen,),) = [report["projects"] for report in internal_api.activity]
        assert seen["project_id"] == PROJECT_ID
        assert abs(seen["last_request_at"] - time.time()) < 10
    finally:
        loop.call_soon_threadsafe(serving.cancel)
        thread.join(10)


def _listening(port: int) -> bool:
    try:
        with connect_from("127.0.0.1", port, timeout=1):
            return True
    except OSError:
        return False


def test_activity_is_posted_over_mtls_and_kept_when_a_post_fails(
    pki: Pki, internal_api: InternalApi
) -> None:
    plane = _plane(pki, internal_api.url)
    unreachable = _plane(pki, "https://127.0.0.1:9")
    clock = iter([1_000.0, 1_005.0, 1_003.0]).__next__
    requests = ProjectRequests(clock=clock)
    requests.forwarded("p1")
    requests.forwarded("p2")

    async def run(to: ControlPlane, until: float) -> None:
        async with to.client() as client:
            task = asyncio.ensure_future(requests.report_forever(to, client, interval_s=0.05))
            await asyncio.sleep(until)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(run(unreachable, 0.3))
    requests.forwarded("p1")  # a request at 1,003 while the post failed: the later one stays
    asyncio.run(run(plane, 0.5))
    assert internal_api.activity == [
        {
            "projects": [
                {"project_id": "p1", "last_request_at": 1_003.0},
                {"project_id": "p2", "last_request_at": 1_005.0},
            ]
        }
    ]  # posted once; nothing new since: nothing posted again


def _wait_for(condition, within_s: float = 10.0) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)

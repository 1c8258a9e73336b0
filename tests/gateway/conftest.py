"""One real node (unix socket, mTLS) and one real gateway in front of it, per module."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from citadel.gateway.proxy import Limits
from tests.gateway.harness import Pki, RecordingNode, RunningGateway, make_pki, write_snapshot
from tests.node.process import RunningNode, start_node

RUNNING_ID = "a" * 32
STOPPED_ID = "b" * 32
RECORDER_ID = "f" * 32
ALIAS = "logs"
PASSWORD = "gateway-test-password"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[RunningNode]:
    data_dir = tmp_path_factory.mktemp("deployments") / RUNNING_ID
    running = start_node(
        data_dir,
        pki.node_tls,
        elastic_password=PASSWORD,
        mode="unix",
        client_ca=True,
    )
    yield running
    running.stop()


@pytest.fixture(scope="module")
def recorder(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[RecordingNode]:
    recording = RecordingNode(pki, tmp_path_factory.mktemp("recorder") / "node.sock")
    yield recording
    recording.close()


@pytest.fixture(scope="module")
def snapshot_path(
    tmp_path_factory: pytest.TempPathFactory, node: RunningNode, recorder: RecordingNode
) -> Path:
    path = tmp_path_factory.mktemp("gateway") / "snapshot.json"
    write_snapshot(
        path,
        [
            {
                "id": RUNNING_ID,
                "alias": ALIAS,
                "region": "local",
                "state": "running",
                "node_socket": str(node.unix_socket),
            },
            {
                "id": RECORDER_ID,
                "alias": "recorder",
                "region": "local",
                "state": "running",
                "node_socket": str(recorder.path),
            },
            {
                "id": STOPPED_ID,
                "alias": None,
                "region": "local",
                "state": "stopped",
                "node_socket": "/nonexistent/node.sock",
            },
        ],
    )
    return path


@pytest.fixture(scope="module")
def gateway(pki: Pki, snapshot_path: Path) -> Iterator[RunningGateway]:
    limits = Limits(
        header_timeout_s=1.0, body_timeout_s=1.0, connect_timeout_s=2.0, upstream_timeout_s=10.0
    )
    running = RunningGateway(pki, snapshot_path, limits)
    yield running
    running.stop()


@pytest.fixture
def through(gateway: RunningGateway, pki: Pki) -> Iterator[httpx.Client]:
    """An HTTPS client of the gateway, as `elastic`, routed by Host."""
    with httpx.Client(
        base_url=f"https://127.0.0.1:{gateway.port}",
        verify=ssl.create_default_context(cafile=str(pki.node_tls.ca)),
        auth=("elastic", PASSWORD),
        headers={"Host": f"{RUNNING_ID}.local.citadel.localhost"},
        timeout=15,
    ) as client:
        yield client

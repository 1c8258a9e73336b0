"""The snapshot: validated, persisted atomically, kept when the control plane is down."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from citadel.gateway.routing import Route, RouteTable
from citadel.gateway.snapshot import (
    ControlPlane,
    SnapshotError,
    SnapshotKeeper,
    load_snapshot,
    parse_snapshot,
    save_snapshot,
)

DOC = {
    "version": 3,
    "domain": "citadel.localhost",
    "deployments": [
        {
            "id": "a" * 32,
            "alias": "logs",
            "region": "local",
            "state": "running",
            "node_socket": "/d/a/node.sock",
        }
    ],
}


def test_parse_compiles_the_routes() -> None:
    table = parse_snapshot(DOC)
    assert table.version == 3
    assert table.by_host("logs.local.citadel.localhost") == Route(
        "a" * 32, "logs", "local", "running", "/d/a/node.sock"
    )


@pytest.mark.parametrize(
    "doc",
    [[], {"version": "1", "domain": "d", "deployments": []}, {**DOC, "deployments": [{"id": 1}]}],
)
def test_parse_rejects_malformed_documents(doc: object) -> None:
    with pytest.raises(SnapshotError):
        parse_snapshot(doc)


def test_save_then_load_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "gateway" / "snapshot.json"
    save_snapshot(path, parse_snapshot(DOC))
    assert json.loads(path.read_text())["version"] == 3
    assert load_snapshot(path) == parse_snapshot(DOC)
    assert path.stat().st_mode & 0o777 == 0o600
    assert not path.with_suffix(".tmp").exists()


def test_a_corrupt_file_loads_as_none(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.json"
    path.write_text("{not json")
    assert load_snapshot(path) is None


def test_the_keeper_serves_the_persisted_snapshot_when_the_control_plane_is_down(
    tmp_path: Path,
) -> None:
    path = tmp_path / "snapshot.json"
    save_snapshot(path, parse_snapshot(DOC))
    down = ControlPlane("https://127.0.0.1:9", tmp_path / "ca", tmp_path / "c", tmp_path / "k")
    keeper = SnapshotKeeper(path, down)

    async def fetch() -> bool:
        async with httpx.AsyncClient(timeout=1) as client:
            return await keeper.fetch_once(client)

    assert asyncio.run(fetch()) is False
    assert keeper.table.version == 3
    assert keeper.table.by_id("a" * 32) is not None


def test_the_keeper_installs_and_persists_a_fetched_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.json"
    newer = {**DOC, "version": 4}
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=newer))
    plane = ControlPlane("https://cp:8444", tmp_path / "ca", tmp_path / "c", tmp_path / "k")
    keeper = SnapshotKeeper(path, plane)

    async def fetch() -> bool:
        async with httpx.AsyncClient(transport=transport) as client:
            return await keeper.fetch_once(client)

    assert asyncio.run(fetch()) is True
    assert keeper.table.version == 4
    assert load_snapshot(path) == keeper.table


def test_the_keeper_rereads_the_file_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.json"
    keeper = SnapshotKeeper(path)
    assert keeper.table.routes == ()
    save_snapshot(path, parse_snapshot(DOC))
    keeper.reload_file()
    assert isinstance(keeper.table, RouteTable)
    assert keeper.table.version == 3


def test_routes_url_accepts_either_base() -> None:
    p = Path("x")
    assert ControlPlane("https://h:8444", p, p, p).routes_url == "https://h:8444/internal/v1/routes"
    assert (
        ControlPlane("https://h:8444/internal/v1/", p, p, p).routes_url
        == "https://h:8444/internal/v1/routes"
    )

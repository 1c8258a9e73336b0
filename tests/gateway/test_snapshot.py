"""The snapshot: validated, persisted atomically, kept when the control plane is down."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from citadel.contract.client import ComponentTls
from citadel.contract.messages import CONTRACT_HEADER, CONTRACT_VERSION, RoutesSnapshot
from citadel.gateway.routing import Route, RouteTable
from citadel.gateway.snapshot import (
    ControlPlane,
    SnapshotError,
    SnapshotKeeper,
    load_snapshot,
    parse_snapshot,
    save_snapshot,
)
from citadel.traffic_filters.matching import Client, Verdict

V = {CONTRACT_HEADER: str(CONTRACT_VERSION)}  # what every answer of the control plane says


def _tls(tmp_path: Path) -> ComponentTls:
    return ComponentTls(tmp_path / "ca", tmp_path / "c", tmp_path / "k")


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
    down = ControlPlane("https://127.0.0.1:9", _tls(tmp_path))
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
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=newer, headers=V))
    plane = ControlPlane("https://cp:8444", _tls(tmp_path))
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
    assert (
        ControlPlane("https://h:8444", ComponentTls(p, p, p)).routes_url
        == "https://h:8444/internal/v1/routes"
    )
    assert (
        ControlPlane("https://h:8444/internal/v1/", ComponentTls(p, p, p)).routes_url
        == "https://h:8444/internal/v1/routes"
    )


FILTERED_DOC = {
    **DOC,
    "deployments": [{**DOC["deployments"][0], "rulesets": ["office", "link"]}],
    "rulesets": {
        "office": {"type": "ip", "sources": ["10.0.0.0/8", "::1"]},
        "link": {"type": "vpce", "sources": ["aws:vpce-0123"]},
    },
}


def _keeper(tmp_path: Path) -> SnapshotKeeper:
    plane = ControlPlane("https://cp:8444", _tls(tmp_path))
    return SnapshotKeeper(tmp_path / "snapshot.json", plane)


def _serving(doc: dict) -> httpx.MockTransport:
    """A control plane that answers every fetch with `doc`."""
    return httpx.MockTransport(lambda r: httpx.Response(200, json=doc, headers=V))


def _fetch_with(keeper: SnapshotKeeper, transport: httpx.MockTransport) -> bool:
    async def fetch() -> bool:
        async with httpx.AsyncClient(transport=transport) as client:
            return await keeper.fetch_once(client)

    return asyncio.run(fetch())


def test_parse_compiles_each_deployments_filter() -> None:
    table = parse_snapshot(FILTERED_DOC)
    route = table.by_id("a" * 32)
    assert route is not None
    assert route.rulesets == ("office", "link")
    deployment_filter = table.filter_for("a" * 32)
    assert deployment_filter.filtering
    assert deployment_filter.decide(Client.of("10.9.9.9")) is Verdict.ALLOWED_BY_IP_FILTER
    assert deployment_filter.decide(Client.of("::1")) is Verdict.ALLOWED_BY_IP_FILTER
    linked = Client.of("192.0.2.1", "aws:vpce-0123")
    assert deployment_filter.decide(linked) is Verdict.ALLOWED_BY_PRIVATE_LINK
    assert not deployment_filter.decide(Client.of("192.0.2.1")).allowed


def test_a_snapshot_without_rulesets_means_no_filters() -> None:
    table = parse_snapshot(DOC)
    assert table.rulesets == {}
    assert not table.filter_for("a" * 32).filtering


@pytest.mark.parametrize(
    "rulesets",
    [
        [],
        {"office": []},
        {"office": {"type": "ip"}},
        {"office": {"type": "ip", "sources": [10]}},
    ],
)
def test_parse_rejects_malformed_rulesets(rulesets: object) -> None:
    with pytest.raises(SnapshotError):
        parse_snapshot({**FILTERED_DOC, "rulesets": rulesets})


def test_filters_survive_save_and_load(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.json"
    save_snapshot(path, parse_snapshot(FILTERED_DOC))
    loaded = load_snapshot(path)
    assert loaded == parse_snapshot(FILTERED_DOC)
    assert loaded is not None
    assert not loaded.filter_for("a" * 32).decide(Client.of("192.0.2.1")).allowed


def test_installing_compares_ruleset_content_not_only_routes(tmp_path: Path) -> None:
    keeper = SnapshotKeeper(tmp_path / "snapshot.json")
    keeper.install(parse_snapshot(FILTERED_DOC), persist=False)
    widened = {
        **FILTERED_DOC,
        "rulesets": {
            **FILTERED_DOC["rulesets"],
            "office": {"type": "ip", "sources": ["0.0.0.0/0"]},
        },
    }
    keeper.install(parse_snapshot(widened), persist=False)
    assert keeper.table.filter_for("a" * 32).decide(Client.of("192.0.2.1")).allowed


def test_a_fetch_sends_the_version_tag_and_a_304_keeps_the_table(tmp_path: Path) -> None:
    seen: list[str | None] = []

    def plane(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("if-none-match"))
        if request.headers.get("if-none-match") == '"3"':
            return httpx.Response(304, headers=V)
        return httpx.Response(200, json=FILTERED_DOC, headers={**V, "etag": '"3"'})

    keeper = _keeper(tmp_path)
    assert _fetch_with(keeper, httpx.MockTransport(plane)) is True
    installed = keeper.table
    assert _fetch_with(keeper, httpx.MockTransport(plane)) is True
    assert seen == [None, '"3"']
    assert keeper.table is installed  # nothing parsed, compiled or installed again


def test_without_an_etag_the_version_is_the_tag(tmp_path: Path) -> None:
    seen: list[str | None] = []

    def plane(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("if-none-match"))
        return httpx.Response(200, json=FILTERED_DOC, headers=V)

    keeper = _keeper(tmp_path)
    _fetch_with(keeper, httpx.MockTransport(plane))
    installed = keeper.table
    _fetch_with(keeper, httpx.MockTransport(plane))
    assert seen == [None, '"3"']
    assert keeper.table is installed  # the same body again: not recompiled


def test_a_failed_fetch_after_a_304_still_keeps_the_table(tmp_path: Path) -> None:
    keeper = _keeper(tmp_path)
    _fetch_with(keeper, _serving(FILTERED_DOC))
    assert _fetch_with(keeper, httpx.MockTransport(lambda r: httpx.Response(503))) is False
    assert keeper.table.filter_for("a" * 32).filtering


def test_a_snapshot_whose_rules_do_not_compile_is_refused(tmp_path: Path) -> None:
    keeper = _keeper(tmp_path)
    _fetch_with(keeper, _serving(FILTERED_DOC))
    broken = {**FILTERED_DOC, "version": 4, "rulesets": {"office": {"type": "ip", "sources": 1}}}
    assert _fetch_with(keeper, _serving(broken)) is False
    assert keeper.table.version == 3


def test_clients_url_sits_beside_routes() -> None:
    p = Path("x")
    plane = ControlPlane("https://h:8444", ComponentTls(p, p, p))
    assert plane.clients_url == "https://h:8444/internal/v1/gateway/clients"


def test_a_snapshot_of_another_contract_version_is_refused(tmp_path: Path) -> None:
    keeper = _keeper(tmp_path)
    newer = {**FILTERED_DOC, "version": 4}
    other = {CONTRACT_HEADER: str(CONTRACT_VERSION + 1)}

    fetched = _fetch_with(
        keeper, httpx.MockTransport(lambda r: httpx.Response(200, json=newer, headers=other))
    )

    assert fetched is False
    assert keeper.table.version == 0


def test_every_fetch_says_the_contract_version(tmp_path: Path) -> None:
    seen: list[str | None] = []

    def plane(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get(CONTRACT_HEADER))
        return httpx.Response(200, json=DOC, headers=V)

    _fetch_with(_keeper(tmp_path), httpx.MockTransport(plane))
    assert seen == [str(CONTRACT_VERSION)]


def test_a_persisted_snapshot_is_the_contracts_document(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.json"
    save_snapshot(path, parse_snapshot(FILTERED_DOC))
    assert RoutesSnapshot.model_validate_json(path.read_bytes()).version == 3

"""``_cat/snapshots`` on a real `citadel node`: the snapshots of ``found-snapshots`` as
``GET _snapshot/found-snapshots/_all`` lists them, as a table.

The test plays the allocator over the node's internal routes (`tests.node.snapshot_node`):
it completes the node's jobs and pushes the catalog, one entry of which failed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from citadel.contract.snapshot_jobs import JobKind, SnapshotEntry
from tests.node.process import ELASTIC_PASSWORD, RunningNode, make_tls, start_node
from tests.node.snapshot_node import Allocator, start_snapshot_node

REPO = "/_snapshot/found-snapshots"
CAT = "/_cat/snapshots"


class Deployment:
    """A node with the platform's snapshot defaults, an ``elastic`` client, the allocator."""

    def __init__(self, root: Path) -> None:
        (root / "tls").mkdir(parents=True)
        self.data = root / "data"
        self.node: RunningNode = start_snapshot_node(self.data, make_tls(root / "tls"))
        self.es = self.node.client(auth=("elastic", ELASTIC_PASSWORD))
        self.allocator = Allocator(self.node, self.data, [])

    def close(self) -> None:
        self.es.close()
        self.node.stop()

    def snapshot(self, name: str, body: dict | None = None) -> SnapshotEntry:
        """Create `name` and complete its job as the allocator; the catalog entry."""
        answer = self.es.put(f"{REPO}/{name}", json=body or {})
        assert answer.json() == {"accepted": True}, answer.text
        (job,) = [j for j in self.allocator.jobs() if j.kind is JobKind.CREATE]
        return self.allocator.complete_create(job)


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    d = Deployment(tmp_path)
    try:
        yield d
    finally:
        d.close()


def _index(es: httpx.Client, index: str) -> None:
    assert es.put(f"/{index}/_doc/1", json={"title": index}).status_code == 201
    assert es.post(f"/{index}/_refresh").status_code == 200


def _error(answer: httpx.Response) -> tuple[int, str, str]:
    error = answer.json()["error"]
    return answer.status_code, error["type"], error["reason"]


def _hms(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%H:%M:%S")


def test_the_table_lists_the_catalog_and_the_snapshot_in_progress(deployment):
    es = deployment.es
    _index(es, "books")
    _index(es, "films")
    first = deployment.snapshot("first", {"indices": "books"})
    second = deployment.snapshot("second")
    broken = SnapshotEntry(
        name="broken",
        uuid="broken-uuid",
        state="FAILED",
        start_time=second.end_time,
        end_time=second.end_time + 2.5,
        indices=("books",),
        reason="the repository was unreachable",
    )
    deployment.allocator.catalog.append(broken)
    deployment.allocator.push_catalog()
    assert es.put(f"{REPO}/running", json={}).json() == {"accepted": True}

    rows = es.get(f"{CAT}/found-snapshots", params={"format": "json"}).json()
    listed = es.get(f"{REPO}/_all").json()["snapshots"]
    text = es.get(f"{CAT}/found-snapshots", params={"v": "true"})
    everywhere = es.get(CAT, params={"format": "json", "h": "id"}).json()

    assert [r["id"] for r in rows] == ["first", "second", "broken", "running"]
    assert [r["id"] for r in rows] == [s["snapshot"] for s in listed]
    by_id = {r["id"]: r for r in rows}
    assert by_id["first"] == {
        "id": "first",
        "repository": "found-snapshots",
        "status": "SUCCESS",
        "start_epoch": str(int(first.start_time)),
        "start_time": _hms(first.start_time),
        "end_epoch": str(int(first.end_time)),
        "end_time": _hms(first.end_time),
        "duration": by_id["first"]["duration"],
        "indices": "1",
        "successful_shards": "1",
        "failed_shards": "0",
        "total_shards": "1",
    }
    assert by_id["first"]["duration"].endswith(("ms", "s", "m"))
    assert (by_id["second"]["indices"], by_id["second"]["total_shards"]) == ("2", "2")
    assert by_id["broken"]["status"] == "FAILED"
    assert (by_id["broken"]["failed_shards"], by_id["broken"]["successful_shards"]) == ("1", "0")
    assert by_id["broken"]["duration"] == "2.5s"
    assert by_id["running"]["status"] == "IN_PROGRESS"
    assert (by_id["running"]["end_epoch"], by_id["running"]["end_time"]) == ("0", "00:00:00")
    assert by_id["running"]["total_shards"] == "0"
    assert text.headers["content-type"].startswith("text/plain")
    header, *lines = text.text.splitlines()
    assert header.split() == [
        "id",
        "repository",
        "status",
        "start_epoch",
        "start_time",
        "end_epoch",
        "end_time",
        "duration",
        "indices",
        "successful_shards",
        "failed_shards",
        "total_shards",
    ]
    assert [line.split()[0] for line in lines] == ["first", "second", "broken", "running"]
    assert everywhere == [{"id": r["id"]} for r in rows]


def test_columns_sorting_and_the_reason_column(deployment):
    es = deployment.es
    _index(es, "books")
    deployment.snapshot("a-snap")
    deployment.snapshot("b-snap")
    broken = SnapshotEntry(
        name="c-snap",
        uuid="c-uuid",
        state="FAILED",
        start_time=time.time(),
        end_time=time.time() + 1,
        reason="the repository was unreachable",
    )
    deployment.allocator.catalog.append(broken)
    deployment.allocator.push_catalog()

    chosen = es.get(
        f"{CAT}/found-snapshots",
        params={"h": "id,s,r,i", "s": "id:desc", "format": "json"},
    ).json()
    millis = es.get(f"{CAT}/found-snapshots", params={"h": "id,dur", "time": "ms"})
    unknown = es.get(f"{CAT}/found-snapshots", params={"sort": "name"})

    assert chosen == [
        {"id": "c-snap", "s": "FAILED", "r": "the repository was unreachable", "i": "0"},
        {"id": "b-snap", "s": "SUCCESS", "r": None, "i": "1"},
        {"id": "a-snap", "s": "SUCCESS", "r": None, "i": "1"},
    ]
    durations = dict(line.split() for line in millis.text.splitlines())
    assert durations["c-snap"] == "1000"
    assert all(value.isdigit() for value in durations.values())
    assert _error(unknown)[:2] == (400, "illegal_argument_exception")


def test_another_repository_is_missing(deployment):
    es = deployment.es

    other = es.get(f"{CAT}/my-repo")
    listed = es.get(f"{CAT}/found-snapshots,my-repo")
    empty = es.get(f"{CAT}/found-snapshots", params={"format": "json"})

    assert _error(other) == (404, "repository_missing_exception", "[my-repo] missing")
    assert _error(listed) == (404, "repository_missing_exception", "[my-repo] missing")
    assert empty.json() == []


def test_without_the_platform_defaults_the_repository_is_missing(tmp_path):
    (tmp_path / "tls").mkdir()
    node = start_node(tmp_path / "data", make_tls(tmp_path / "tls"))
    try:
        with node.client(auth=("elastic", ELASTIC_PASSWORD)) as es:
            named = es.get(f"{CAT}/found-snapshots")
            everywhere = es.get(CAT, params={"format": "json"})
    finally:
        node.stop()

    assert _error(named) == (404, "repository_missing_exception", "[found-snapshots] missing")
    assert everywhere.json() == []

"""The allocator's side of snapshots (ADR 30).

The jobs as the worker runs them, on directories in the contract's layout (staged by the
test as the node stages them) and a real directory repository: create, restore, delete, a
create that fails; the summary the allocator reports; the restore before a first start.

End to end (`test_a_snapshot_taken_through_the_node_restores_into_a_new_deployment`): a REAL
sandboxed node on a REAL encrypted volume, the allocator with its snapshot worker against the
stand-in control plane: documents indexed, ``PUT _snapshot/found-snapshots/s1
?wait_for_completion=true``, the repository holding it encrypted, then a new deployment
restored from it before its first start serving the documents.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from citadel.contract.client import ControlPlane
from citadel.contract.messages import (
    Allocation,
    DesiredState,
    RestoredFrom,
    RestoreSource,
    SnapshotDefaults,
    SnapshotRepository,
    data_key_context,
    to_json,
)
from citadel.contract.snapshot_jobs import (
    RESTORE_DIR,
    RESTORE_INITIAL,
    STAGED_FILE,
    STAGING_DIR,
    JobKind,
    SnapshotEntry,
    SnapshotJob,
)
from citadel.kit.deployment_dirs import DeploymentDirs
from citadel.kit.ids import new_id
from citadel.runtime.allocator import Allocator
from citadel.runtime.sandbox import BubblewrapSandbox
from citadel.runtime.snapshot_restore import restore_before_first_start, snapshot_argv
from citadel.runtime.snapshot_worker import SnapshotWorker, summarize
from citadel.snapshots.errors import SnapshotNotFound, SnapshotUnreadable
from citadel.snapshots.format import blobs_prefix, snapshots_prefix
from citadel.snapshots.keys import snapshot_key
from citadel.snapshots.repository import FilesystemRepository
from citadel.snapshots.store import list_snapshots, write_snapshot
from tests.runtime.conftest import sandbox_uid
from tests.runtime.standin import StandInControlPlane, stand_in
from tests.runtime.test_allocator import PASSWORD, Running, allocating, wait_until
from tests.snapshots.conftest import (
    MotoS3,
    files_under,
    moto_s3_server,  # noqa: F401
    stage,
)

BOOKS = {"_0.cfs": b"MARKER-BOOK-SEGMENT " * 100, "meta.json": b'{"MARKER": "meta"}'}


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[StandInControlPlane]:
    found = stand_in(tmp_path)
    yield found
    found.stop()


@pytest.fixture
def worker(plane: StandInControlPlane, tmp_path: Path) -> Iterator[SnapshotWorker]:
    tls = plane.component("allocator")
    control_plane = ControlPlane(plane.url, tls)
    allocator = Allocator(
        data_dir=tmp_path,
        control_plane=control_plane,
        key_provider=plane.provider,
        sandbox=BubblewrapSandbox(),
        client_tls=tls,
    )
    yield SnapshotWorker(allocator)
    control_plane.close()


def job(kind: JobKind, uuid: str, **fields: object) -> SnapshotJob:
    return SnapshotJob(
        job_id=f"{kind.value[0]}{os.urandom(6).hex()}",
        kind=kind,
        snapshot=str(fields.pop("snapshot", "s1")),
        uuid=uuid,
        created_at=time.time(),
        **fields,
    )


def volume_of(worker: SnapshotWorker, dep_id: str) -> Path:
    mount = DeploymentDirs.of(worker.allocator.data_dir, dep_id).data
    mount.mkdir(parents=True, exist_ok=True)
    return mount


def test_a_create_job_stores_the_staged_directory_and_a_restore_job_brings_it_back(
    worker: SnapshotWorker, tmp_path: Path
) -> None:
    dep_id = new_id()
    key = snapshot_key(os.urandom(32), dep_id)
    repo = FilesystemRepository(tmp_path / "repository")
    mount = volume_of(worker, dep_id)
    staged = stage(mount / STAGING_DIR, uuid="Uu-1_abc", indices={"books": dict(BOOKS)})

    created = worker.execute(repo, key, dep_id, job(JobKind.CREATE, "Uu-1_abc"))
    assert created.ok, created.reason
    assert created.snapshot is not None
    assert (created.snapshot.name, created.snapshot.state) == ("snap-1", "SUCCESS")
    assert all(b"MARKER" not in data for data in files_under(repo.root).values())

    restore = job(JobKind.RESTORE, "Uu-1_abc", indices=("books",))
    assert worker.execute(repo, key, dep_id, restore).ok
    restored = mount / RESTORE_DIR / restore.job_id
    assert (restored / STAGED_FILE).is_file()
    index_files = {k: v for k, v in files_under(staged).items() if k.startswith("files/")}
    assert {k: v for k, v in files_under(restored).items() if k != STAGED_FILE} == index_files

    deleted = worker.execute(repo, key, dep_id, job(JobKind.DELETE, "Uu-1_abc"))
    assert deleted.ok
    assert repo.list(blobs_prefix(dep_id)) == []
    assert repo.list(snapshots_prefix(dep_id)) == []


def test_a_create_that_cannot_be_stored_is_a_failed_snapshot_with_its_reason(
    worker: SnapshotWorker, tmp_path: Path
) -> None:
    dep_id = new_id()
    key = snapshot_key(os.urandom(32), dep_id)
    repo = FilesystemRepository(tmp_path / "repository")
    mount = volume_of(worker, dep_id)
    staged = stage(mount / STAGING_DIR, uuid="bad", indices={"books": dict(BOOKS)}, policy="p")
    (staged / "files" / "escape").symlink_to("/etc/hostname")

    result = worker.execute(repo, key, dep_id, job(JobKind.CREATE, "bad"))
    assert not result.ok
    assert "symbolic link" in result.reason or "not a file" in result.reason
    entries = list_snapshots(repo, key, dep_id)
    assert [(e.uuid, e.state, e.policy) for e in entries] == [("bad", "FAILED", "p")]
    assert entries[0].reason == result.reason
    assert summarize(entries).healthy is False


def test_a_create_while_the_repository_is_unavailable_fails_with_the_reason(
    worker: SnapshotWorker, tmp_path: Path
) -> None:
    dep_id = new_id()
    key = snapshot_key(os.urandom(32), dep_id)
    (tmp_path / "not-a-directory").write_bytes(b"")
    repo = FilesystemRepository(tmp_path / "not-a-directory" / "repository")
    stage(volume_of(worker, dep_id) / STAGING_DIR, uuid="u1", indices={"b": dict(BOOKS)})
    result = worker.execute(repo, key, dep_id, job(JobKind.CREATE, "u1"))
    assert not result.ok
    assert result.reason == "the snapshot repository is unavailable"  # where: in the log
    assert result.snapshot is None  # nowhere to record it: the node records the failure


def test_a_restore_of_a_snapshot_not_in_the_repository_fails(
    worker: SnapshotWorker, tmp_path: Path
) -> None:
    dep_id = new_id()
    key = snapshot_key(os.urandom(32), dep_id)
    result = worker.execute(
        FilesystemRepository(tmp_path / "repository"), key, dep_id, job(JobKind.RESTORE, "nope")
    )
    assert not result.ok
    assert "no successful snapshot" in result.reason


def test_job_ids_from_the_node_cannot_point_outside_its_volume(
    worker: SnapshotWorker, tmp_path: Path
) -> None:
    dep_id = new_id()
    key = snapshot_key(os.urandom(32), dep_id)
    result = worker.execute(
        FilesystemRepository(tmp_path / "repository"),
        key,
        dep_id,
        job(JobKind.CREATE, "..", snapshot="s"),
    )
    assert not result.ok


def entry(name: str, state: str, start: float, policy: str | None = None) -> SnapshotEntry:
    return SnapshotEntry(
        name=name, uuid=name, state=state, start_time=start, end_time=start + 1, policy=policy
    )


def test_the_summary_counts_and_names_the_latest_success() -> None:
    entries = [
        entry("a", "SUCCESS", 1.0, "p"),
        entry("b", "SUCCESS", 2.0),
        entry("c", "FAILED", 3.0),
    ]
    summary = summarize(entries)
    assert (summary.count, summary.latest_success_name, summary.latest_success_at) == (3, "b", 2.0)
    assert summary.healthy  # the failed one was taken on demand, not by the policy
    assert not summarize([*entries, entry("d", "FAILED", 4.0, "p")]).healthy
    assert summarize([*entries, entry("d", "FAILED", 4.0, "p"), entry("e", "SUCCESS", 5.0, "p")])
    assert not summarize(entries, last_policy_failed=True).healthy
    empty = summarize([])  # no snapshots yet: healthy, nothing latest
    assert (empty.count, empty.healthy, empty.latest_success_at) == (0, True, None)


def allocation(dep_id: str, **fields: object) -> Allocation:
    return Allocation(id=dep_id, desired_state=DesiredState.RUNNING, sandbox_uid=200_000, **fields)


def test_the_node_gets_its_schedule_only_with_a_repository() -> None:
    repo = SnapshotRepository(path="/srv/snapshots")
    with_snapshots = allocation("d1", snapshots=SnapshotDefaults(interval_s=600))
    assert snapshot_argv(with_snapshots, repo) == [
        "--snapshot-interval-s",
        "600",
        "--snapshot-retention-max-count",
        "100",
        "--snapshot-retention-expire-after-s",
        str(30 * 86400),
    ]
    assert snapshot_argv(with_snapshots, None) == []
    assert snapshot_argv(allocation("d1"), repo) == []


def test_a_fresh_volume_is_filled_from_the_source_snapshot_before_the_first_start(
    tmp_path: Path,
) -> None:
    source, data_key = new_id(), os.urandom(32)
    repo = SnapshotRepository(path=str(tmp_path / "repository"))
    staged = stage(tmp_path / "staging", name="nightly", indices={"books": dict(BOOKS)})
    write_snapshot(
        FilesystemRepository(tmp_path / "repository"),
        snapshot_key(data_key, source),
        source,
        staged,
    )
    wants = allocation(new_id(), restore=RestoreSource(deployment_id=source, snapshot="nightly"))
    mount = tmp_path / "mount"
    mount.mkdir()
    keys_asked: list[str] = []

    def source_key() -> bytes:
        keys_asked.append(source)
        return snapshot_key(data_key, source)

    restored = restore_before_first_start(wants, mount, repo, source_key)
    assert restored == RestoredFrom(snapshot="nightly", taken_at=1_700_000_000.0)
    initial = mount / RESTORE_DIR / RESTORE_INITIAL
    assert (initial / STAGED_FILE).is_file()
    assert (initial / "store" / "node.db").exists() is False  # include_security not asked
    # the files are waiting: nothing is fetched again; once the node has started, neither
    assert restore_before_first_start(wants, mount, repo, source_key) is None
    (initial / STAGED_FILE).unlink()
    (mount / "node.db").write_bytes(b"started")
    assert restore_before_first_start(wants, mount, repo, source_key) is None
    assert keys_asked == [source]


def test_a_restore_with_the_wrong_source_key_or_no_snapshot_fails(tmp_path: Path) -> None:
    source, data_key = new_id(), os.urandom(32)
    repo = SnapshotRepository(path=str(tmp_path / "repository"))
    write_snapshot(
        FilesystemRepository(tmp_path / "repository"),
        snapshot_key(data_key, source),
        source,
        stage(tmp_path / "staging"),
    )
    wants = allocation(new_id(), restore=RestoreSource(deployment_id=source))
    (tmp_path / "m1").mkdir()
    with pytest.raises(SnapshotUnreadable):
        restore_before_first_start(
            wants, tmp_path / "m1", repo, lambda: snapshot_key(os.urandom(32), source)
        )
    other = allocation(new_id(), restore=RestoreSource(deployment_id=new_id()))
    (tmp_path / "m2").mkdir()
    with pytest.raises(SnapshotNotFound):
        restore_before_first_start(other, tmp_path / "m2", repo, lambda: os.urandom(32))


def test_a_deployment_brought_back_before_its_first_snapshot_starts_empty(
    tmp_path: Path,
) -> None:
    dep_id = new_id()
    itself = allocation(dep_id, restore=RestoreSource(deployment_id=dep_id))
    repo = SnapshotRepository(path=str(tmp_path / "repository"))
    assert restore_before_first_start(itself, tmp_path, repo, lambda: os.urandom(32)) is None
    assert not (tmp_path / RESTORE_DIR / RESTORE_INITIAL / STAGED_FILE).exists()


# -- end to end: a real node on a real volume, its allocator and snapshot worker -----------


@pytest.fixture
def snapshotting(
    sandbox: BubblewrapSandbox, volumes_here: None, short_dir: Path
) -> Iterator[tuple[Running, SnapshotWorker]]:
    """The allocator over the stand-in with a directory repository, and its snapshot worker
    on its own thread."""
    with allocating(sandbox, short_dir) as running:
        running.plane.repository = SnapshotRepository(path=str(short_dir / "repository"))
        worker = SnapshotWorker(running.allocator, interval_s=0.2)
        stop = threading.Event()
        thread = worker.start(stop)
        try:
            yield running, worker
        finally:
            stop.set()
            thread.join(timeout=60)


def place(running: Running, dep_id: str, **fields: object) -> None:
    """A running deployment with `fields` (contract JSON) set before the allocator sees it."""
    running.plane.allocate(dep_id, sandbox_uid(), state="stopped", password=PASSWORD)
    running.plane.allocations[dep_id].update(fields, desired_state="running")
    running.plane.version += 1
    wait_until(
        lambda: (running.plane.last_report(dep_id) or {}).get("observed_state") == "running",
        timeout=60,
    )


def test_a_snapshot_taken_through_the_node_restores_into_a_new_deployment(
    snapshotting: tuple[Running, SnapshotWorker],
) -> None:
    running, _ = snapshotting
    source = new_id()
    place(running, source, snapshots=to_json(SnapshotDefaults()))
    with running.node(source) as node:
        for n in range(5):
            answer = node.put(
                f"/secret-books/_doc/{n}",
                params={"refresh": "true"},
                json={"title": f"MARKER-DOCUMENT-{n}", "n": n},
            )
            assert answer.status_code in (200, 201), answer.text
        taken = node.put(
            "/_snapshot/found-snapshots/s1",
            params={"wait_for_completion": "true"},
            json={"indices": "secret-books"},
        )
        assert taken.status_code == 200, taken.text
        assert taken.json()["snapshot"]["state"] == "SUCCESS"
        listed = node.get("/_snapshot/found-snapshots/_all").json()["snapshots"]
        assert [s["snapshot"] for s in listed] == ["s1"]

    # the repository holds it, encrypted: no document, index or snapshot name in any byte
    root = running.data_dir / "repository"
    stored = files_under(root)
    assert any(k.startswith(f"{source}/snapshots/") for k in stored)
    assert any(k.startswith(f"{source}/blobs/") for k in stored)
    for name, data in stored.items():
        for marker in (b"MARKER-DOCUMENT", b"secret-books", b"SQLite format 3"):
            assert marker not in data, (marker, name)
        assert "secret-books" not in name
        assert "s1" not in name.split("/")
    # and the allocator reports it (info.snapshots)
    wait_until(
        lambda: (
            ((running.plane.last_report(source) or {}).get("snapshots") or {}).get(
                "latest_success_name"
            )
            == "s1"
        )
    )

    restored = new_id()
    wrapped = running.plane.allocations[source]["wrapped_data_key"]
    restore = RestoreSource.model_validate(
        {
            "deployment_id": source,
            "snapshot": "s1",
            "wrapped_data_key": wrapped,
            "key_path": running.plane.allocations[source]["key_path"],
        }
    )
    place(running, restored, restore=to_json(restore))
    with running.node(restored) as node:
        found = node.get("/secret-books/_search", params={"q": "title:MARKER", "size": 10}).json()
        assert found["hits"]["total"]["value"] == 5, found
        titles = sorted(h["_source"]["title"] for h in found["hits"]["hits"])
        assert titles == [f"MARKER-DOCUMENT-{n}" for n in range(5)]
    reports = [r for i, r in running.plane.reports if i == restored and r.get("restored_from")]
    assert reports[0]["restored_from"]["snapshot"] == "s1"
    assert len(reports) == 1  # reported once


def test_a_snapshot_deleted_through_the_node_leaves_nothing_in_the_repository(
    snapshotting: tuple[Running, SnapshotWorker],
) -> None:
    running, _ = snapshotting
    dep_id = new_id()
    place(running, dep_id, snapshots=to_json(SnapshotDefaults()))
    with running.node(dep_id) as node:
        node.put("/books/_doc/1", params={"refresh": "true"}, json={"title": "one"})
        taken = node.put(
            "/_snapshot/found-snapshots/s1", params={"wait_for_completion": "true"}, json={}
        )
        assert taken.status_code == 200, taken.text
        root = running.data_dir / "repository"
        assert files_under(root / dep_id)
        deleted = node.delete("/_snapshot/found-snapshots/s1")
        assert deleted.status_code == 200, deleted.text
    assert files_under(root / dep_id) == {}


def test_a_restore_whose_source_key_does_not_unwrap_fails_the_start_with_the_reason(
    snapshotting: tuple[Running, SnapshotWorker],
) -> None:
    """A source data key the key provider refuses (wrapped for another context, as a revoked
    customer key is refused): the allocator cannot derive the snapshot key, the node never
    starts, the report says why."""
    running, _ = snapshotting
    source = new_id()
    refused = running.plane.provider.wrap(os.urandom(32), context=data_key_context(new_id()))
    restore = RestoreSource(
        deployment_id=source,
        wrapped_data_key=refused,
        key_path=running.plane.provider.describe().key_path,
    )
    target = new_id()
    running.plane.allocate(target, sandbox_uid(), state="stopped", password=PASSWORD)
    running.plane.allocations[target].update(restore=to_json(restore), desired_state="running")
    running.plane.version += 1
    report = wait_until(
        lambda: (r := running.plane.last_report(target)) and r["observed_state"] == "failed" and r
    )
    assert isinstance(report, dict)
    assert report["detail"].startswith("could not start: restore failed:"), report
    assert "key is unavailable" in report["detail"]
    assert running.allocator.node_pid(target) is None


def test_snapshots_in_s3_are_encrypted_and_restore_into_a_new_deployment(
    snapshotting: tuple[Running, SnapshotWorker], moto_s3: MotoS3
) -> None:
    """The same through an S3 repository (moto's server on loopback, a stand-in for S3): the
    allocator gets the bucket and its credentials in the allocations."""
    running, _ = snapshotting
    bucket = moto_s3.new_bucket()
    running.plane.repository = moto_s3.repository(bucket, prefix="platform/")
    running.plane.version += 1
    source = new_id()
    place(running, source, snapshots=to_json(SnapshotDefaults()))
    with running.node(source) as node:
        for n in range(3):
            node.put(
                f"/s3-books/_doc/{n}",
                params={"refresh": "true"},
                json={"title": f"MARKER-S3-DOCUMENT-{n}"},
            )
        taken = node.put(
            "/_snapshot/found-snapshots/nightly",
            params={"wait_for_completion": "true"},
            json={},
        )
        assert taken.status_code == 200, taken.text
    objects = moto_s3.objects(bucket)
    assert any(k.startswith(f"platform/{source}/snapshots/") for k in objects)
    for name, data in objects.items():
        assert b"MARKER-S3-DOCUMENT" not in data, name
        assert b"s3-books" not in data, name
        assert "s3-books" not in name

    restored = new_id()
    restore = RestoreSource.model_validate(
        {
            "deployment_id": source,
            "wrapped_data_key": running.plane.allocations[source]["wrapped_data_key"],
            "key_path": running.plane.allocations[source]["key_path"],
        }
    )  # no snapshot named: the latest successful one
    place(running, restored, restore=to_json(restore))
    with running.node(restored) as node:
        found = node.get("/s3-books/_search", params={"size": 10}).json()
        assert found["hits"]["total"]["value"] == 3, found

"""Writing, listing, fetching and deleting encrypted snapshots, on a real directory and on S3
(moto's server on loopback, a stand-in for S3): dedup, verification, no plaintext, keys that
belong to one deployment, deletion with garbage collection, the latest snapshot."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from citadel.contract.snapshot_jobs import STAGED_FILE, StagedSnapshot
from citadel.snapshots.errors import (
    SnapshotCorrupt,
    SnapshotNotFound,
    SnapshotUnreadable,
    UnsafeStaging,
)
from citadel.snapshots.format import CHUNK_BYTES, blobs_prefix, snapshots_prefix
from citadel.snapshots.keys import snapshot_key
from citadel.snapshots.repository import FilesystemRepository, Repository
from citadel.snapshots.store import (
    delete_all,
    delete_snapshot,
    fetch_snapshot,
    list_snapshots,
    write_failed,
    write_snapshot,
)
from tests.snapshots.conftest import Where, data_key, files_under, stage

DEP = "d0a1b2c3d4e5f60718293a4b5c6d7e8f"
OTHER = "f0e1d2c3b4a5968778695a4b3c2d1e0f"
BOOKS = {
    "_0.cfs": b"segment zero MARKER-BOOK-CONTENT-0001 " * 50,
    "_1.cfs": b"segment one MARKER-BOOK-CONTENT-0002 " * 50,
    "translog-1.tlog": b"translog MARKER-TRANSLOG-0003",
}
FILMS = {"_0.cfs": b"films segment MARKER-FILM-CONTENT-0004 " * 20}


def two_indices() -> dict[str, dict[str, bytes]]:
    return {"secret-books-index": dict(BOOKS), "secret-films-index": dict(FILMS)}


def blobs(repo: Repository, dep: str = DEP) -> list[str]:
    return repo.list(blobs_prefix(dep))


def staged_files(root: Path) -> dict[str, bytes]:
    return {k: v for k, v in files_under(root).items() if k != STAGED_FILE}


def test_a_snapshot_comes_back_file_for_file(where: Where, tmp_path: Path) -> None:
    key = snapshot_key(data_key(), DEP)
    staged = stage(tmp_path / "staging", name="nightly", indices=two_indices(), policy="p")
    entry = write_snapshot(where.repository, key, DEP, staged)
    assert (entry.name, entry.state, entry.policy) == ("nightly", "SUCCESS", "p")
    assert set(entry.indices) == {"secret-books-index", "secret-films-index"}
    assert entry.file_count == 5
    assert entry.size_bytes == entry.new_bytes == sum(len(v) for v in staged_files(staged).values())
    assert list_snapshots(where.repository, key, DEP) == [entry]

    target = tmp_path / "restore" / "job-1"
    fetched = fetch_snapshot(
        where.repository, key, DEP, None, target, include_store=True, within=tmp_path
    )
    assert staged_files(target) == staged_files(staged)
    assert StagedSnapshot.model_validate_json((target / STAGED_FILE).read_bytes()) == fetched
    assert fetched == StagedSnapshot.model_validate_json((staged / STAGED_FILE).read_bytes())


def test_a_second_snapshot_of_unchanged_files_writes_no_new_blobs(
    where: Where, tmp_path: Path
) -> None:
    key = snapshot_key(data_key(), DEP)
    write_snapshot(where.repository, key, DEP, stage(tmp_path / "a", indices=two_indices()))
    before = blobs(where.repository)
    second = write_snapshot(
        where.repository, key, DEP, stage(tmp_path / "b", name="snap-2", indices=two_indices())
    )
    assert blobs(where.repository) == before
    assert second.new_bytes == 0
    assert second.size_bytes > 0
    assert [e.name for e in list_snapshots(where.repository, key, DEP)] == ["snap-1", "snap-2"]


def test_only_a_changed_file_adds_a_blob(fs_repo: FilesystemRepository, tmp_path: Path) -> None:
    key = snapshot_key(data_key(), DEP)
    write_snapshot(fs_repo, key, DEP, stage(tmp_path / "a", indices=two_indices()))
    before = set(blobs(fs_repo))
    changed = two_indices()
    changed["secret-books-index"]["_2.cfs"] = b"a new segment"
    entry = write_snapshot(fs_repo, key, DEP, stage(tmp_path / "b", indices=changed))
    assert len(set(blobs(fs_repo)) - before) == 1
    assert entry.new_bytes == len(b"a new segment")


def test_a_file_larger_than_a_chunk_is_stored_in_several_blobs(
    fs_repo: FilesystemRepository, tmp_path: Path
) -> None:
    key = snapshot_key(data_key(), DEP)
    big = os.urandom(CHUNK_BYTES) + os.urandom(CHUNK_BYTES // 2)
    staged = stage(tmp_path / "a", indices={"big": {"_0.cfs": big}}, store=None)
    write_snapshot(fs_repo, key, DEP, staged)
    assert len(blobs(fs_repo)) == 2
    fetch_snapshot(fs_repo, key, DEP, None, tmp_path / "r" / "x", within=tmp_path)
    assert staged_files(tmp_path / "r" / "x") == staged_files(staged)


class CorruptingRepository(FilesystemRepository):
    """A disk that flips a bit in the first blob it stores (the outside world failing)."""

    corrupted: str | None = None

    def put(self, key: str, data: bytes) -> None:
        if self.corrupted is None and "/blobs/" in key:
            self.corrupted = key
            data = data[:-1] + bytes([data[-1] ^ 1])
        super().put(key, data)


def test_verification_catches_a_blob_damaged_as_it_was_stored(tmp_path: Path) -> None:
    repo = CorruptingRepository(tmp_path / "repository")
    key = snapshot_key(data_key(), DEP)
    with pytest.raises(SnapshotCorrupt):
        write_snapshot(repo, key, DEP, stage(tmp_path / "a", indices=two_indices()))
    assert repo.corrupted is not None
    assert repo.list(snapshots_prefix(DEP)) == []  # the manifest was removed
    assert blobs(repo) == []  # and every blob it alone referenced, the damaged one too
    # the next snapshot stores the blob again instead of deduplicating the damaged one
    write_snapshot(repo, key, DEP, stage(tmp_path / "b", indices=two_indices()))
    fetch_snapshot(repo, key, DEP, None, tmp_path / "r" / "x", within=tmp_path)


def test_a_blob_damaged_in_the_repository_fails_the_restore(
    fs_repo: FilesystemRepository, tmp_path: Path
) -> None:
    key = snapshot_key(data_key(), DEP)
    write_snapshot(fs_repo, key, DEP, stage(tmp_path / "a", indices=two_indices()))
    for name in blobs(fs_repo):  # every blob: the store's is not fetched without include_store
        victim = fs_repo.root / name
        data = bytearray(victim.read_bytes())
        data[20] ^= 0x80
        victim.write_bytes(bytes(data))
    with pytest.raises(SnapshotCorrupt):
        fetch_snapshot(fs_repo, key, DEP, None, tmp_path / "r" / "x", within=tmp_path)
    assert not (tmp_path / "r" / "x" / STAGED_FILE).exists()  # never marked complete


def test_the_repository_holds_no_plaintext(where: Where, tmp_path: Path) -> None:
    key = snapshot_key(data_key(), DEP)
    staged = stage(
        tmp_path / "a",
        name="MARKER-SNAPSHOT-NAME",
        indices=two_indices(),
        store=b"SQLite format 3\x00 MARKER-STORE-USERS",
        metadata={"taken_by": "MARKER-USER-METADATA"},
    )
    write_snapshot(where.repository, key, DEP, staged)
    write_failed(
        where.repository,
        key,
        DEP,
        StagedSnapshot(name="MARKER-FAILED-NAME", uuid="f1", start_time=1.0),
        "MARKER-FAILURE-REASON",
    )
    objects = where.objects()
    assert len(objects) >= 7
    markers = [
        b"MARKER",
        b"secret-books-index",
        b"secret-films-index",
        b"_0.cfs",
        b"translog",
        b"node.db",
        b"SQLite format 3",
        b"snapshot.json",
    ]
    for name, data in objects.items():
        for marker in markers:
            assert marker not in data, (marker, name)
            assert marker.decode() not in name, (marker, name)
    for index_marker in (b"MARKER-BOOK-CONTENT-0001", b"MARKER-STORE-USERS"):
        assert index_marker in b"".join(staged_files(staged).values())  # the markers were there


def test_another_deployments_key_reads_nothing(where: Where, tmp_path: Path) -> None:
    the_data_key = data_key()
    key = snapshot_key(the_data_key, DEP)
    write_snapshot(where.repository, key, DEP, stage(tmp_path / "a", indices=two_indices()))
    same_data_key_other_id = snapshot_key(the_data_key, OTHER)
    other_data_key = snapshot_key(data_key(), DEP)
    for wrong in (same_data_key_other_id, other_data_key):
        with pytest.raises(SnapshotUnreadable):
            list_snapshots(where.repository, wrong, DEP)
        with pytest.raises(SnapshotUnreadable):
            fetch_snapshot(where.repository, wrong, DEP, None, tmp_path / "r" / "x")
    assert list_snapshots(where.repository, key, OTHER) == []  # nothing of its own there


def test_a_manifest_moved_to_another_deployment_does_not_open(
    fs_repo: FilesystemRepository, tmp_path: Path
) -> None:
    the_data_key = data_key()
    write_snapshot(fs_repo, snapshot_key(the_data_key, DEP), DEP, stage(tmp_path / "a", uuid="u1"))
    fs_repo.put(f"{OTHER}/snapshots/u1", fs_repo.get(f"{DEP}/snapshots/u1"))
    with pytest.raises(SnapshotUnreadable):
        list_snapshots(fs_repo, snapshot_key(the_data_key, OTHER), OTHER)


def test_deleting_a_snapshot_collects_the_blobs_only_it_referenced(
    where: Where, tmp_path: Path
) -> None:
    key = snapshot_key(data_key(), DEP)
    first = write_snapshot(
        where.repository, key, DEP, stage(tmp_path / "a", indices=two_indices(), store=b"one")
    )
    only_books = {"secret-books-index": dict(BOOKS)}
    write_snapshot(
        where.repository,
        key,
        DEP,
        stage(tmp_path / "b", name="snap-2", indices=only_books, store=b"two"),
    )
    assert len(blobs(where.repository)) == 6  # 3 books + 1 film + 2 stores

    assert delete_snapshot(where.repository, key, DEP, first.uuid) == first
    assert len(blobs(where.repository)) == 4  # the film and the first store went
    assert [e.name for e in list_snapshots(where.repository, key, DEP)] == ["snap-2"]
    fetch_snapshot(where.repository, key, DEP, "snap-2", tmp_path / "r" / "x", within=tmp_path)

    assert delete_snapshot(where.repository, key, DEP, "snap-2") is not None
    assert blobs(where.repository) == []
    assert delete_snapshot(where.repository, key, DEP, "snap-2") is None  # already gone


def test_the_latest_is_the_newest_successful_snapshot(
    fs_repo: FilesystemRepository, tmp_path: Path
) -> None:
    key = snapshot_key(data_key(), DEP)
    old = write_snapshot(
        fs_repo, key, DEP, stage(tmp_path / "a", name="old", start_time=100.0, store=b"old")
    )
    new = write_snapshot(
        fs_repo, key, DEP, stage(tmp_path / "b", name="new", start_time=200.0, store=b"new")
    )
    write_failed(
        fs_repo, key, DEP, StagedSnapshot(name="broken", uuid="b1", start_time=300.0), "disk full"
    )
    states = [(e.name, e.state) for e in list_snapshots(fs_repo, key, DEP)]
    assert states == [("old", "SUCCESS"), ("new", "SUCCESS"), ("broken", "FAILED")]

    def fetched(which: str | None) -> str:
        target = tmp_path / "r" / "x"
        fetch_snapshot(fs_repo, key, DEP, which, target, include_store=True, within=tmp_path)
        return (target / "store" / "node.db").read_text()

    assert fetched(None) == "new"
    assert fetched("latest") == "new"
    assert fetched("old") == "old"
    assert fetched(old.uuid) == "old"
    assert fetched(new.uuid) == "new"
    for missing in ("broken", "nope"):
        with pytest.raises(SnapshotNotFound):
            fetched(missing)


def test_no_successful_snapshot_is_not_found(fs_repo: FilesystemRepository, tmp_path: Path) -> None:
    key = snapshot_key(data_key(), DEP)
    with pytest.raises(SnapshotNotFound):
        fetch_snapshot(fs_repo, key, DEP, None, tmp_path / "r" / "x")


def test_a_restore_of_chosen_indices_fetches_their_files_and_not_the_store(
    fs_repo: FilesystemRepository, tmp_path: Path
) -> None:
    key = snapshot_key(data_key(), DEP)
    staged = stage(tmp_path / "a", indices=two_indices())
    write_snapshot(fs_repo, key, DEP, staged)
    target = tmp_path / "r" / "x"
    fetched = fetch_snapshot(
        fs_repo, key, DEP, None, target, indices=("secret-films-index",), within=tmp_path
    )
    assert [i.name for i in fetched.indices] == ["secret-films-index"]
    assert fetched.store is None
    films = fetched.indices[0].files
    assert sorted(staged_files(target)) == sorted(films)
    written = json.loads((target / STAGED_FILE).read_text())
    assert [i["name"] for i in written["indices"]] == ["secret-films-index"]
    with pytest.raises(SnapshotNotFound):
        fetch_snapshot(fs_repo, key, DEP, None, target, indices=("no-such-index",))


def test_a_link_in_the_staged_directory_is_refused(
    fs_repo: FilesystemRepository, tmp_path: Path
) -> None:
    secret = tmp_path / "host-secret"
    secret.write_bytes(b"root's secret")
    staged = stage(tmp_path / "volume" / ".snapshots", indices=two_indices())
    (staged / "files" / "leak").symlink_to(secret)
    with pytest.raises(UnsafeStaging):
        write_snapshot(fs_repo, snapshot_key(data_key(), DEP), DEP, staged)
    assert fs_repo.list(snapshots_prefix(DEP)) == []


def test_a_staging_directory_that_is_a_link_is_not_followed(
    fs_repo: FilesystemRepository, tmp_path: Path
) -> None:
    elsewhere = stage(tmp_path / "outside", uuid="u1")
    (tmp_path / "volume" / ".snapshots").mkdir(parents=True)
    (tmp_path / "volume" / ".snapshots" / "u1").symlink_to(elsewhere)
    with pytest.raises(UnsafeStaging):
        write_snapshot(
            fs_repo,
            snapshot_key(data_key(), DEP),
            DEP,
            tmp_path / "volume" / ".snapshots" / "u1",
            within=tmp_path / "volume",
        )


def test_a_restore_target_that_is_a_link_is_replaced_not_followed(
    fs_repo: FilesystemRepository, tmp_path: Path
) -> None:
    key = snapshot_key(data_key(), DEP)
    write_snapshot(fs_repo, key, DEP, stage(tmp_path / "a", indices=two_indices()))
    host_dir = tmp_path / "host-etc"
    host_dir.mkdir()
    volume = tmp_path / "volume"
    (volume / ".restore").mkdir(parents=True)
    (volume / ".restore" / "job-1").symlink_to(host_dir)
    fetch_snapshot(fs_repo, key, DEP, None, volume / ".restore" / "job-1", within=volume)
    assert list(host_dir.iterdir()) == []
    target = volume / ".restore" / "job-1"
    assert not target.is_symlink()
    assert (target / STAGED_FILE).is_file()


def test_delete_all_removes_one_deployments_snapshots_only(where: Where, tmp_path: Path) -> None:
    key, other_key = snapshot_key(data_key(), DEP), snapshot_key(data_key(), OTHER)
    write_snapshot(where.repository, key, DEP, stage(tmp_path / "a", indices=two_indices()))
    write_snapshot(where.repository, other_key, OTHER, stage(tmp_path / "b", store=b"x"))
    delete_all(where.repository, DEP)
    assert all(not k.startswith(DEP) for k in where.objects())
    assert where.repository.list(f"{DEP}/") == []
    assert len(list_snapshots(where.repository, other_key, OTHER)) == 1

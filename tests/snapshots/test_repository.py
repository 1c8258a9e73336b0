"""The repositories themselves: a directory (atomic writes, modes, pruning) and S3 through
boto3 against moto's server on loopback (a stand-in for S3)."""

from __future__ import annotations

import socket
import stat
from pathlib import Path

import pytest

from citadel.contract.messages import SnapshotRepository
from citadel.snapshots.errors import BlobMissing, RepositoryUnavailable
from citadel.snapshots.repository import (
    FilesystemRepository,
    S3Repository,
    open_repository,
)
from tests.snapshots.conftest import MotoS3, Where


def test_objects_are_put_got_listed_and_deleted(where: Where) -> None:
    repo = where.repository
    repo.put("dep/blobs/ab/abc", b"one")
    repo.put("dep/blobs/cd/cde", b"two")
    repo.put("dep/snapshots/u1", b"three")
    repo.put("other/snapshots/u2", b"four")
    assert repo.get("dep/blobs/ab/abc") == b"one"
    assert repo.exists("dep/snapshots/u1")
    assert not repo.exists("dep/snapshots/u9")
    assert repo.list("dep/blobs/") == ["dep/blobs/ab/abc", "dep/blobs/cd/cde"]
    assert repo.list("dep/") == ["dep/blobs/ab/abc", "dep/blobs/cd/cde", "dep/snapshots/u1"]
    repo.put("dep/blobs/ab/abc", b"replaced")
    assert repo.get("dep/blobs/ab/abc") == b"replaced"
    repo.delete("dep/blobs/ab/abc")
    repo.delete("dep/blobs/ab/abc")  # nothing there: nothing to do
    with pytest.raises(BlobMissing):
        repo.get("dep/blobs/ab/abc")
    assert repo.list("dep/blobs/") == ["dep/blobs/cd/cde"]


def test_keys_that_leave_the_repository_are_refused(where: Where) -> None:
    for bad in ("../x", "dep/../../x", "/abs", "dep//x", ""):
        with pytest.raises(ValueError, match="not a repository key"):
            where.repository.put(bad, b"x")


def test_a_directory_repository_is_private_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    repo = FilesystemRepository(tmp_path / "shared" / "snapshots")
    repo.put("dep/blobs/ab/abc", b"data")
    for directory in ("shared", "shared/snapshots/dep", "shared/snapshots/dep/blobs/ab"):
        assert stat.S_IMODE((tmp_path / directory).stat().st_mode) == 0o700, directory
    assert stat.S_IMODE((tmp_path / "shared/snapshots/dep/blobs/ab/abc").stat().st_mode) == 0o600
    assert [p.name for p in (tmp_path / "shared/snapshots/dep/blobs/ab").iterdir()] == ["abc"]


def test_deleting_the_last_object_prunes_its_empty_directories(tmp_path: Path) -> None:
    repo = FilesystemRepository(tmp_path / "repo")
    repo.put("dep/blobs/ab/abc", b"data")
    repo.put("dep/snapshots/u1", b"m")
    repo.delete("dep/blobs/ab/abc")
    assert not (tmp_path / "repo" / "dep" / "blobs").exists()
    repo.delete("dep/snapshots/u1")
    assert list((tmp_path / "repo").iterdir()) == []


def test_an_unwritable_directory_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"not a directory")
    repo = FilesystemRepository(tmp_path / "file" / "repo")
    with pytest.raises(RepositoryUnavailable):
        repo.put("dep/snapshots/u1", b"m")


def test_s3_objects_live_under_the_prefix(moto_s3: MotoS3) -> None:
    bucket = moto_s3.new_bucket()
    repo = open_repository(moto_s3.repository(bucket, prefix="platform-a"))
    assert isinstance(repo, S3Repository)
    repo.put("dep/snapshots/u1", b"m")
    assert list(moto_s3.objects(bucket)) == ["platform-a/dep/snapshots/u1"]
    assert repo.list("dep/") == ["dep/snapshots/u1"]


def test_an_s3_bucket_that_does_not_exist_is_unavailable(moto_s3: MotoS3) -> None:
    bucket = moto_s3.new_bucket()
    repo = open_repository(moto_s3.repository("no-such-bucket-here"))
    with pytest.raises(RepositoryUnavailable):
        repo.put("dep/snapshots/u1", b"m")
    assert moto_s3.objects(bucket) == {}


def test_an_s3_server_that_does_not_answer_is_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    repo = open_repository(
        SnapshotRepository(
            s3_bucket="b",
            s3_endpoint_url=f"http://127.0.0.1:{port}",
            s3_access_key_id="a",
            s3_secret_access_key="s",
        )
    )
    with pytest.raises(RepositoryUnavailable):
        repo.list("dep/")


def test_a_repository_names_a_path_or_a_bucket() -> None:
    assert isinstance(open_repository(SnapshotRepository(path="/srv/x")), FilesystemRepository)
    with pytest.raises(ValueError, match="path or an S3 bucket"):
        open_repository(SnapshotRepository())

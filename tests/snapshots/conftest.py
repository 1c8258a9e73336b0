"""Snapshot repositories for the tests: a real directory, and S3 served by moto's server on
loopback (a STAND-IN for S3 or any S3-compatible store: boto3 speaks real HTTP to it).

`stage` writes a directory in the layout the node stages (`citadel.contract.snapshot_jobs`).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from citadel.contract.messages import SnapshotRepository
from citadel.contract.snapshot_jobs import STAGED_FILE, IndexSnapshot, StagedSnapshot
from citadel.snapshots.repository import FilesystemRepository, Repository, open_repository

REGION = "eu-west-1"
ACCESS_KEY_ID = "citadel-snapshots-test"
SECRET_KEY = "citadel-snapshots-test-secret"


@dataclass(frozen=True)
class MotoS3:
    """A running moto server and a client to look at its buckets as an operator would."""

    endpoint_url: str

    def admin(self) -> Any:
        return boto3.session.Session().client(
            "s3",
            region_name=REGION,
            endpoint_url=self.endpoint_url,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_KEY,
        )

    def new_bucket(self) -> str:
        name = f"citadel-{secrets.token_hex(6)}"
        self.admin().create_bucket(
            Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        return name

    def repository(self, bucket: str, prefix: str = "snapshots/") -> SnapshotRepository:
        return SnapshotRepository(
            s3_bucket=bucket,
            s3_prefix=prefix,
            s3_endpoint_url=self.endpoint_url,
            s3_region=REGION,
            s3_access_key_id=ACCESS_KEY_ID,
            s3_secret_access_key=SECRET_KEY,
        )

    def objects(self, bucket: str) -> dict[str, bytes]:
        """Every object in `bucket`, read with the operator's client."""
        s3 = self.admin()
        found = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", ()):
                found[obj["Key"]] = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        return found


@pytest.fixture(name="moto_s3", scope="session")
def moto_s3_server() -> Iterator[MotoS3]:
    """moto's S3 in this process, on a port the operating system picks."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield MotoS3(endpoint_url=f"http://{host}:{port}")
    finally:
        server.stop()


@dataclass(frozen=True)
class Where:
    """A repository under test and every stored object's key and bytes, read around it."""

    kind: str
    repository: Repository
    objects: Any  # () -> dict[str, bytes]


@pytest.fixture(params=["filesystem", "s3"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Where:
    """The same tests on a directory and on S3."""
    if request.param == "filesystem":
        root = tmp_path / "repository"
        repo = open_repository(SnapshotRepository(path=str(root)))
        return Where("filesystem", repo, lambda: files_under(root))
    s3: MotoS3 = request.getfixturevalue("moto_s3")
    bucket = s3.new_bucket()
    return Where("s3", open_repository(s3.repository(bucket)), lambda: s3.objects(bucket))


@pytest.fixture
def fs_repo(tmp_path: Path) -> FilesystemRepository:
    return FilesystemRepository(tmp_path / "repository")


def files_under(root: Path) -> dict[str, bytes]:
    """Every file under `root` by its path relative to it (temporary files included)."""
    if not root.exists():
        return {}
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def stage(
    parent: Path,
    *,
    name: str = "snap-1",
    uuid: str | None = None,
    indices: dict[str, dict[str, bytes]] | None = None,
    store: bytes | None = b"SQLite format 3\x00 the node's catalog",
    extra: dict[str, bytes] | None = None,
    policy: str | None = None,
    start_time: float = 1_700_000_000.0,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """A staged snapshot directory ``parent/<uuid>/`` as the node writes it: each index's
    files under ``files/<index uuid>/``, the store at ``store/node.db``, then
    ``snapshot.json`` last."""
    uuid = uuid or secrets.token_hex(8)
    root = parent / uuid
    root.mkdir(parents=True)
    staged_indices = []
    for index, files in (indices or {}).items():
        index_uuid = f"u{secrets.token_hex(4)}"
        paths = []
        for rel, data in files.items():
            path = root / "files" / index_uuid / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            paths.append(f"files/{index_uuid}/{rel}")
        staged_indices.append(
            IndexSnapshot(
                name=index,
                uuid=index_uuid,
                files=tuple(paths),
                doc_count=len(files),
                metadata={"mappings": {"properties": {"title": {"type": "text"}}}},
                translog={"generation": 1, "seq_no": len(files) - 1},
            )
        )
    for rel, data in (extra or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    if store is not None:
        (root / "store").mkdir()
        (root / "store" / "node.db").write_bytes(store)
    staged = StagedSnapshot(
        name=name,
        uuid=uuid,
        start_time=start_time,
        indices=tuple(staged_indices),
        store="store/node.db" if store is not None else None,
        metadata=metadata,
        policy=policy,
    )
    (root / STAGED_FILE).write_text(json.dumps(staged.model_dump(mode="json")))
    return root


def data_key() -> bytes:
    return os.urandom(32)

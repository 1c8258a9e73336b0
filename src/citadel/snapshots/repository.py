"""Where snapshots are kept (ADR 30): a directory every allocator host shares, or an
S3-compatible bucket. The one place Citadel's snapshots talk to boto3.

A repository stores opaque objects (already encrypted by `citadel.snapshots.format`) under
``/``-separated keys. Each `put` is atomic: a reader sees the whole object or none of it
(a directory: write a temporary file, fsync, rename, fsync the directory; S3: one PUT). What
fails to answer raises `RepositoryUnavailable`; a key that is not there raises `BlobMissing`.

Credentials: an S3 secret arrives in the `SnapshotRepository` message (the control plane
reads it from the operator's file), is handed to boto3 and is never logged or kept elsewhere.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from citadel.contract.messages import SnapshotRepository
from citadel.snapshots.errors import BlobMissing, RepositoryUnavailable

_DIR_MODE = 0o700
_FILE_MODE = 0o600
_TEMP_PREFIX = ".tmp-"


class Repository(Protocol):
    """Objects under keys; `put` is atomic."""

    @property
    def location(self) -> str:
        """Where the repository is, for logs (no credentials)."""
        ...

    def put(self, key: str, data: bytes) -> None:
        """Store `data` under `key` (replacing what was there), all or nothing."""
        ...

    def get(self, key: str) -> bytes:
        """The object under `key`; `BlobMissing` if there is none."""
        ...

    def exists(self, key: str) -> bool:
        """Whether an object is stored under `key`."""
        ...

    def list(self, prefix: str) -> list[str]:
        """Every key starting with `prefix`, sorted."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object under `key` (nothing if there is none)."""
        ...


def _parts(key: str) -> list[str]:
    parts = key.split("/")
    if not key or any(p in ("", ".", "..") or "\x00" in p for p in parts):
        raise ValueError("not a repository key")
    return parts


class FilesystemRepository:
    """A directory (shared by the allocator hosts: NFS, a cluster file system, or this
    machine's disk for one host). Directories 0700, files 0600, owned by the allocator."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def location(self) -> str:
        return str(self.root)

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*_parts(key))

    def _make_dirs(self, path: Path) -> None:
        missing = []
        while not path.is_dir():
            missing.append(path)
            if path.parent == path:
                break
            path = path.parent
        for directory in reversed(missing):
            with contextlib.suppress(FileExistsError):
                directory.mkdir(mode=_DIR_MODE)

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        try:
            self._make_dirs(path.parent)
            tmp = path.with_name(f"{_TEMP_PREFIX}{secrets.token_hex(8)}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, _FILE_MODE)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            _fsync_dir(path.parent)
        except OSError as exc:
            raise RepositoryUnavailable(f"cannot write to {self.location}: {exc.strerror}") from exc

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise BlobMissing(f"{key} is not in the repository") from exc
        except OSError as exc:
            raise RepositoryUnavailable(f"cannot read {self.location}: {exc.strerror}") from exc

    def exists(self, key: str) -> bool:
        try:
            return self._path(key).is_file()
        except OSError as exc:
            raise RepositoryUnavailable(f"cannot read {self.location}: {exc.strerror}") from exc

    def list(self, prefix: str) -> list[str]:
        head, _, _ = prefix.rpartition("/")
        base = self._path(head) if head else self.root
        try:
            return sorted(k for k in self._walk(base) if k.startswith(prefix))
        except OSError as exc:
            raise RepositoryUnavailable(f"cannot list {self.location}: {exc.strerror}") from exc

    def _walk(self, base: Path) -> Iterator[str]:
        if not base.is_dir():
            return
        for directory, _dirs, files in os.walk(base):
            rel = Path(directory).relative_to(self.root)
            for name in files:
                if not name.startswith(_TEMP_PREFIX):
                    yield (rel / name).as_posix()

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            why = f"cannot delete in {self.location}: {exc.strerror}"
            raise RepositoryUnavailable(why) from exc
        directory = path.parent
        while directory != self.root and self.root in directory.parents:
            try:
                directory.rmdir()  # an empty blob or deployment directory goes too
            except FileNotFoundError:
                pass
            except OSError:  # not empty: stop pruning here
                break
            directory = directory.parent


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class S3Repository:
    """An S3-compatible bucket through boto3, keys under `prefix`."""

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        self.endpoint_url = endpoint_url
        config = Config(
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=10,
            read_timeout=120,
        )
        self._s3: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=config,
        )

    @property
    def location(self) -> str:
        where = f"s3://{self.bucket}/{self.prefix}"
        return f"{where} at {self.endpoint_url}" if self.endpoint_url else where

    def _key(self, key: str) -> str:
        _parts(key)
        return self.prefix + key

    def _unavailable(self, what: str, exc: Exception) -> RepositoryUnavailable:
        return RepositoryUnavailable(f"cannot {what} {self.location}: {type(exc).__name__}: {exc}")

    def put(self, key: str, data: bytes) -> None:
        try:
            self._s3.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        except (BotoCoreError, ClientError) as exc:
            raise self._unavailable("write to", exc) from exc

    def get(self, key: str) -> bytes:
        try:
            answer = self._s3.get_object(Bucket=self.bucket, Key=self._key(key))
            return bytes(answer["Body"].read())
        except ClientError as exc:
            if _error_code(exc) in ("NoSuchKey", "404"):
                raise BlobMissing(f"{key} is not in the repository") from exc
            raise self._unavailable("read", exc) from exc
        except BotoCoreError as exc:
            raise self._unavailable("read", exc) from exc

    def exists(self, key: str) -> bool:
        try:
            self._s3.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _error_code(exc) in ("NoSuchKey", "404", "NotFound"):
                return False
            raise self._unavailable("read", exc) from exc
        except BotoCoreError as exc:
            raise self._unavailable("read", exc) from exc
        return True

    def list(self, prefix: str) -> list[str]:
        keys = []
        try:
            pages = self._s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix + prefix
            )
            for page in pages:
                keys += [o["Key"][len(self.prefix) :] for o in page.get("Contents", ())]
        except (BotoCoreError, ClientError) as exc:
            raise self._unavailable("list", exc) from exc
        return sorted(keys)

    def delete(self, key: str) -> None:
        try:
            self._s3.delete_object(Bucket=self.bucket, Key=self._key(key))
        except (BotoCoreError, ClientError) as exc:
            raise self._unavailable("delete in", exc) from exc


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def open_repository(repo: SnapshotRepository) -> Repository:
    """The repository a `SnapshotRepository` message describes (S3 when it names a bucket)."""
    if repo.s3_bucket:
        return S3Repository(
            repo.s3_bucket,
            prefix=repo.s3_prefix,
            endpoint_url=repo.s3_endpoint_url,
            region=repo.s3_region,
            access_key_id=repo.s3_access_key_id,
            secret_access_key=repo.s3_secret_access_key,
        )
    if repo.path:
        return FilesystemRepository(Path(repo.path))
    raise ValueError("a snapshot repository names a path or an S3 bucket")

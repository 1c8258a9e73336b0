"""Writing, listing, reading and deleting a deployment's snapshots in a repository (ADR 30).

The allocator runs these for its nodes (`citadel.runtime.snapshot_worker`); the control plane
runs `delete_all` to shred a deleted deployment's snapshots.

Writing (`write_snapshot`) takes a directory the node staged (`citadel.contract.snapshot_jobs`:
``snapshot.json`` plus every file under it), cuts each file into blobs, uploads only the blobs
the repository does not hold yet (the deduplication of unchanged segments), writes the
manifest last and then **verifies**: every blob written is read back, decrypted and checked
against its keyed hash, every file made only of new blobs against its SHA-256, every blob the
manifest references is listed, and the manifest is read back and compared. A snapshot that
fails verification is removed (its manifest, then the unreferenced blobs) and the write fails;
a damaged blob never stays to be "deduplicated" into later snapshots.

Reading (`fetch_snapshot`) writes a restore directory in the same layout: the files the
restore needs, each checked against its size and SHA-256 as it is written, then
``snapshot.json`` last (its presence means complete).

The staged and restore directories are inside the deployment's volume, where the node (which
the allocator does not trust with paths) writes too. Below `within` (the volume's mount
point) no path component is followed if it is a symbolic link, only regular files are read,
and files are created exclusively: a node cannot make the allocator read or write anything
outside its own volume.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from citadel.contract.snapshot_jobs import STAGED_FILE, SnapshotEntry, StagedSnapshot
from citadel.log import get_logger
from citadel.snapshots.errors import (
    BlobMissing,
    SnapshotCorrupt,
    SnapshotNotFound,
    SnapshotUnreadable,
    UnsafeStaging,
)
from citadel.snapshots.format import (
    CHUNK_BYTES,
    Manifest,
    ManifestFile,
    SnapshotState,
    blob_id,
    blob_key,
    blob_of_key,
    blobs_prefix,
    manifest_key,
    open_blob,
    open_manifest,
    safe_name,
    seal_blob,
    seal_manifest,
    snapshots_prefix,
    uuid_of_key,
)
from citadel.snapshots.keys import SnapshotKeys, sub_keys
from citadel.snapshots.repository import Repository

log = get_logger(__name__)

LATEST = "latest"  # the Cloud API's name for the newest successful snapshot
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_MAX_STAGED_JSON = 64 * 1024 * 1024


# -- writing ------------------------------------------------------------------------------


def write_snapshot(
    repository: Repository,
    key: bytes,
    deployment_id: str,
    staged_dir: Path,
    *,
    within: Path | None = None,
    clock: Callable[[], float] = time.time,
) -> SnapshotEntry:
    """Store the snapshot staged in `staged_dir` (complete: its ``snapshot.json`` is there),
    verify it, and return its entry. Raises `SnapshotError` (nothing is left referenced)."""
    keys = sub_keys(key, deployment_id)
    with _open_dir(staged_dir, within) as dir_fd:
        staged = _read_staged(dir_fd)
        safe_name(staged.uuid, "snapshot uuid")
        present = _blob_ids(repository, deployment_id)
        written: set[str] = set()
        files, new_bytes = [], 0
        for path, fd in _walk_files(dir_fd):
            entry, added = _store_file(repository, keys, path, fd, present)
            files.append(entry)
            written |= added.keys()
            new_bytes += sum(added.values())
    manifest = Manifest(
        deployment_id=deployment_id,
        snapshot=staged,
        end_time=clock(),
        files=tuple(files),
        new_bytes=new_bytes,
    )
    repository.put(manifest_key(deployment_id, staged.uuid), seal_manifest(keys, manifest))
    try:
        _verify(repository, keys, manifest, written)
    except (SnapshotCorrupt, SnapshotUnreadable, BlobMissing) as exc:
        log.error(
            "snapshots.verification_failed",
            deployment_id=deployment_id,
            uuid=staged.uuid,
            error=str(exc),
        )
        repository.delete(manifest_key(deployment_id, staged.uuid))
        collect_garbage(repository, key, deployment_id)
        raise
    log.info(
        "snapshots.written",
        deployment_id=deployment_id,
        uuid=staged.uuid,
        files=len(files),
        blobs_written=len(written),
        new_bytes=new_bytes,
    )
    return manifest.entry()


def write_failed(
    repository: Repository,
    key: bytes,
    deployment_id: str,
    staged: StagedSnapshot,
    reason: str,
    *,
    clock: Callable[[], float] = time.time,
) -> SnapshotEntry:
    """Record a snapshot that could not be taken (state FAILED, no files), as Elasticsearch
    keeps a failed snapshot in its repository with the reason."""
    keys = sub_keys(key, deployment_id)
    manifest = Manifest(
        deployment_id=deployment_id,
        snapshot=staged,
        state=SnapshotState.FAILED,
        end_time=clock(),
        reason=reason[:4096],
    )
    repository.put(manifest_key(deployment_id, staged.uuid), seal_manifest(keys, manifest))
    return manifest.entry()


def _store_file(
    repository: Repository, keys: SnapshotKeys, path: str, fd: int, present: set[str]
) -> tuple[ManifestFile, dict[str, int]]:
    """Upload the blobs of one file that are not `present` (added to it); its manifest entry
    and the blobs it added (id: bytes)."""
    digest = hashlib.sha256()
    blobs: list[str] = []
    added: dict[str, int] = {}
    size = 0
    while chunk := _read_chunk(fd):
        digest.update(chunk)
        size += len(chunk)
        blob = blob_id(keys, chunk)
        blobs.append(blob)
        if blob not in present:
            repository.put(blob_key(keys.deployment_id, blob), seal_blob(keys, blob, chunk))
            present.add(blob)
            added[blob] = len(chunk)
    return ManifestFile(path=path, size=size, sha256=digest.hexdigest(), blobs=tuple(blobs)), added


def _read_chunk(fd: int) -> bytes:
    parts, left = [], CHUNK_BYTES
    while left:
        data = os.read(fd, min(left, 1024 * 1024))
        if not data:
            break
        parts.append(data)
        left -= len(data)
    return b"".join(parts)


def _verify(
    repository: Repository, keys: SnapshotKeys, manifest: Manifest, written: set[str]
) -> None:
    """Read back what this write stored; raise `SnapshotCorrupt` on any difference."""
    dep_id = keys.deployment_id
    checked: set[str] = set()
    for file in manifest.files:
        digest = hashlib.sha256() if all(b in written for b in file.blobs) else None
        for blob in file.blobs:
            if blob not in written or (blob in checked and digest is None):
                continue
            plaintext = open_blob(keys, blob, repository.get(blob_key(dep_id, blob)))
            checked.add(blob)
            if digest is not None:
                digest.update(plaintext)
        if digest is not None and digest.hexdigest() != file.sha256:
            raise SnapshotCorrupt("a file read back differs from the staged one")
    missing = manifest.blob_ids() - _blob_ids(repository, dep_id)
    if missing:
        raise SnapshotCorrupt(f"{len(missing)} blob(s) of the snapshot are not in the repository")
    stored = open_manifest(
        keys, manifest.snapshot.uuid, repository.get(manifest_key(dep_id, manifest.snapshot.uuid))
    )
    if stored != manifest:
        raise SnapshotCorrupt("the manifest read back differs from the one written")


# -- listing, deleting --------------------------------------------------------------------


def _manifests(repository: Repository, keys: SnapshotKeys) -> list[Manifest]:
    """Every manifest of the deployment, oldest first; `SnapshotUnreadable` if any does not
    open (a wrong or destroyed key: nothing is guessed, nothing is collected)."""
    found = []
    for name in repository.list(snapshots_prefix(keys.deployment_id)):
        uuid = uuid_of_key(name)
        if uuid is None:
            continue
        try:
            sealed = repository.get(name)
        except BlobMissing:  # deleted meanwhile
            continue
        found.append(open_manifest(keys, uuid, sealed))
    return sorted(found, key=lambda m: (m.snapshot.start_time, m.end_time, m.snapshot.uuid))


def list_snapshots(repository: Repository, key: bytes, deployment_id: str) -> list[SnapshotEntry]:
    """Every snapshot of the deployment, oldest first."""
    return [m.entry() for m in _manifests(repository, sub_keys(key, deployment_id))]


def delete_snapshot(
    repository: Repository, key: bytes, deployment_id: str, name_or_uuid: str
) -> SnapshotEntry | None:
    """Delete one snapshot (by uuid, else by name), then the blobs no snapshot references
    any more. None when there was no such snapshot (already deleted)."""
    keys = sub_keys(key, deployment_id)
    manifests = _manifests(repository, keys)
    found = _find(manifests, name_or_uuid)
    if found is None:
        return None
    repository.delete(manifest_key(deployment_id, found.snapshot.uuid))
    _collect(repository, keys, [m for m in manifests if m is not found])
    log.info("snapshots.deleted", deployment_id=deployment_id, uuid=found.snapshot.uuid)
    return found.entry()


def collect_garbage(repository: Repository, key: bytes, deployment_id: str) -> int:
    """Delete the blobs no manifest of the deployment references; how many went."""
    keys = sub_keys(key, deployment_id)
    return _collect(repository, keys, _manifests(repository, keys))


def _collect(repository: Repository, keys: SnapshotKeys, manifests: list[Manifest]) -> int:
    referenced: set[str] = set()
    for manifest in manifests:
        referenced |= manifest.blob_ids()
    gone = 0
    for name in repository.list(blobs_prefix(keys.deployment_id)):
        blob = blob_of_key(name)
        if blob is not None and blob not in referenced:
            repository.delete(name)
            gone += 1
    if gone:
        log.info("snapshots.blobs_collected", deployment_id=keys.deployment_id, blobs=gone)
    return gone


def delete_all(repository: Repository, deployment_id: str) -> None:
    """Remove every snapshot of a deployment (manifests first, then blobs). Needs no key:
    the shred of a deleted deployment, whose key is destroyed with it."""
    for prefix in (snapshots_prefix(deployment_id), blobs_prefix(deployment_id)):
        for name in repository.list(prefix):
            repository.delete(name)
    rest = repository.list(f"{safe_name(deployment_id, 'deployment id')}/")
    for name in rest:
        repository.delete(name)
    log.info("snapshots.all_deleted", deployment_id=deployment_id)


def _blob_ids(repository: Repository, deployment_id: str) -> set[str]:
    return {b for k in repository.list(blobs_prefix(deployment_id)) if (b := blob_of_key(k))}


def _find(manifests: list[Manifest], name_or_uuid: str) -> Manifest | None:
    for manifest in manifests:
        if manifest.snapshot.uuid == name_or_uuid:
            return manifest
    named = [m for m in manifests if m.snapshot.name == name_or_uuid]
    return named[-1] if named else None


def select(manifests: list[Manifest], name_or_uuid: str | None) -> Manifest:
    """The snapshot a restore asks for: by uuid or name, or the newest successful one for
    None (and for ``latest`` when no snapshot has that name)."""
    successful = [m for m in manifests if m.state is SnapshotState.SUCCESS]
    if name_or_uuid is not None:
        found = _find(successful, name_or_uuid)
        if found is not None:
            return found
        if name_or_uuid != LATEST:
            raise SnapshotNotFound(f"no successful snapshot named [{name_or_uuid}]")
    if not successful:
        raise SnapshotNotFound("no successful snapshot")
    return successful[-1]


# -- reading ------------------------------------------------------------------------------


def fetch_snapshot(
    repository: Repository,
    key: bytes,
    deployment_id: str,
    name_or_uuid: str | None,
    target_dir: Path,
    *,
    indices: tuple[str, ...] = (),
    include_store: bool = False,
    within: Path | None = None,
) -> StagedSnapshot:
    """Write a restore directory for one snapshot (None: the newest successful) at
    `target_dir` (replaced if it exists): the files of `indices` (all when empty), the node's
    store when `include_store`, each checked; ``snapshot.json`` last. Returns what it wrote."""
    keys = sub_keys(key, deployment_id)
    manifest = select(_manifests(repository, keys), name_or_uuid)
    staged = manifest.snapshot
    names = {i.name for i in staged.indices}
    unknown = [i for i in indices if i not in names]
    if unknown:
        raise SnapshotNotFound(f"index [{unknown[0]}] is not in snapshot [{staged.name}]")
    chosen = tuple(i for i in staged.indices if not indices or i.name in indices)
    owned = {f for i in staged.indices for f in i.files}
    wanted = {f for i in chosen for f in i.files}
    store = staged.store if include_store else None
    files = [
        f
        for f in manifest.files
        if f.path in wanted or f.path == store or (f.path not in owned and f.path != staged.store)
    ]
    fetched = staged.model_copy(update={"indices": chosen, "store": store})
    _replace_dir(target_dir, within)
    with _open_dir(target_dir, within) as dir_fd:
        for file in files:
            _fetch_file(repository, keys, dir_fd, file)
        _write_staged(dir_fd, fetched)
    log.info(
        "snapshots.fetched",
        deployment_id=deployment_id,
        uuid=staged.uuid,
        files=len(files),
        indices=len(chosen),
        store=store is not None,
    )
    return fetched


def _fetch_file(
    repository: Repository, keys: SnapshotKeys, dir_fd: int, file: ManifestFile
) -> None:
    parts = _relative_parts(file.path)
    with _make_dirs(dir_fd, parts[:-1]) as parent:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(parts[-1], flags, 0o600, dir_fd=parent)
        digest, size = hashlib.sha256(), 0
        try:
            for blob in file.blobs:
                plaintext = open_blob(
                    keys, blob, repository.get(blob_key(keys.deployment_id, blob))
                )
                digest.update(plaintext)
                size += len(plaintext)
                _write_all(fd, plaintext)
            os.fsync(fd)
        finally:
            os.close(fd)
    if size != file.size or digest.hexdigest() != file.sha256:
        raise SnapshotCorrupt("a restored file differs from the snapshot's")


def _write_staged(dir_fd: int, staged: StagedSnapshot) -> None:
    tmp = f".{STAGED_FILE}.tmp"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp, dir_fd=dir_fd)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o600, dir_fd=dir_fd)
    try:
        _write_all(fd, staged.model_dump_json().encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, STAGED_FILE, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    os.fsync(dir_fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


# -- directories the node also writes: never follow a link --------------------------------


def _relative_parts(path: str) -> list[str]:
    parts = path.split("/")
    if not path or any(p in ("", ".", "..") or "\x00" in p for p in parts):
        raise UnsafeStaging("a file path outside the snapshot directory")
    return parts


@contextlib.contextmanager
def _open_dir(path: Path, within: Path | None) -> Iterator[int]:
    """A descriptor of directory `path`, no component below `within` (default: its parent)
    followed if it is a link."""
    base = within if within is not None else path.parent
    rel = path.relative_to(base)
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in rel.parts:
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise UnsafeStaging("a snapshot directory is not a directory") from exc
                raise
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


@contextlib.contextmanager
def _make_dirs(dir_fd: int, parts: list[str]) -> Iterator[int]:
    """A descriptor of `parts` under `dir_fd`, made (0700) where missing, links refused."""
    fd = os.dup(dir_fd)
    try:
        for part in parts:
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o700, dir_fd=fd)
            child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def _replace_dir(path: Path, within: Path | None) -> None:
    """Make `path` a new empty directory (0700), its parents as needed, removing what was
    there (a link is removed, never followed)."""
    base = within if within is not None else path.parent
    rel = path.relative_to(base)
    with _open_dir(base, base) as base_fd, _make_dirs(base_fd, list(rel.parts[:-1])) as parent:
        name = rel.parts[-1]
        try:
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            st = None
        if st is not None and stat.S_ISDIR(st.st_mode):
            shutil.rmtree(name, dir_fd=parent)
        elif st is not None:
            os.unlink(name, dir_fd=parent)
        os.mkdir(name, 0o700, dir_fd=parent)


def read_staged(staged_dir: Path, *, within: Path | None = None) -> StagedSnapshot:
    """The ``snapshot.json`` of a staged directory (`SnapshotNotFound` while incomplete)."""
    with _open_dir(staged_dir, within) as dir_fd:
        return _read_staged(dir_fd)


def _read_staged(dir_fd: int) -> StagedSnapshot:
    try:
        fd = os.open(STAGED_FILE, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except FileNotFoundError as exc:
        raise SnapshotNotFound("the staged snapshot is not complete (no snapshot.json)") from exc
    except OSError as exc:
        raise UnsafeStaging("snapshot.json is not a regular file") from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafeStaging("snapshot.json is not a regular file")
        raw = os.read(fd, _MAX_STAGED_JSON + 1)
    finally:
        os.close(fd)
    if len(raw) > _MAX_STAGED_JSON:
        raise UnsafeStaging("snapshot.json is too large")
    try:
        return StagedSnapshot.model_validate_json(raw)
    except ValueError as exc:
        raise UnsafeStaging("snapshot.json is not a staged snapshot") from exc


def _walk_files(dir_fd: int, prefix: str = "") -> Iterator[tuple[str, int]]:
    """Every regular file under `dir_fd` (but the top ``snapshot.json``), sorted, as its path
    and a descriptor open until the next one. Anything else is refused."""
    with os.scandir(dir_fd) as entries:
        names = sorted(e.name for e in entries)
    for name in names:
        if not prefix and name in (STAGED_FILE, f".{STAGED_FILE}.tmp"):
            continue
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            child = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
            try:
                yield from _walk_files(child, f"{prefix}{name}/")
            finally:
                os.close(child)
        elif stat.S_ISREG(st.st_mode):
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
            fd = os.open(name, flags, dir_fd=dir_fd)
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise UnsafeStaging("a staged file changed kind while read")
                yield f"{prefix}{name}", fd
            finally:
                os.close(fd)
        else:
            raise UnsafeStaging("the staged snapshot holds something not a file or directory")

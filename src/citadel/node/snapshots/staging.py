"""Staging a snapshot: a node's committed state under ``<data>/.snapshots/<uuid>/``.

While the store's write lock is held (no catalog change and no document write can happen,
they all take it), every chosen index is committed (the engine's flush: its translog is then
empty up to the recorded position) and its committed files are placed under
``files/<index uuid>/``: the tantivy segment files as hard links (a later merge deletes the
index's name for a file, never the file's bytes under the snapshot's name), the small files a
commit rewrites (``meta.json``, ``.managed.json``, ``checkpoint.json``) as copies. Then a
consistent copy of the node store is taken with SQLite's backup API (``store/node.db``), and
``snapshot.json`` is written last, fsync'd: its presence means the directory is complete.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import sqlcipher3.dbapi2 as sqlcipher

from citadel.contract.snapshot_jobs import STAGED_FILE, IndexSnapshot, StagedSnapshot
from citadel.node.engine.engine import Engine
from citadel.node.engine.shard import WRITER_HEAP_BYTES, Shard
from citadel.node.store.indices import IndexRecord

STORE_FILE = "store/node.db"
_COPIED = frozenset({"meta.json", ".managed.json"})  # rewritten by each commit


def stage(
    directory: Path,
    store_path: Path,
    engine: Engine,
    records: Iterable[IndexRecord],
    *,
    name: str,
    uuid: str,
    start_time: float,
    global_metadata: Mapping[str, Any],
    metadata: Mapping[str, Any] | None,
    policy: str | None,
) -> StagedSnapshot:
    """Stage a snapshot of `records` and the store into `directory` (created here). The caller
    holds the store's write lock."""
    directory.mkdir(parents=True, exist_ok=False)
    try:
        staged = [_stage_index(directory, engine.shard(record), record) for record in records]
        (directory / "store").mkdir()
        backup_store(store_path, directory / STORE_FILE)
        snapshot = StagedSnapshot(
            name=name,
            uuid=uuid,
            start_time=start_time,
            indices=tuple(staged),
            store=STORE_FILE,
            global_metadata=dict(global_metadata),
            metadata=dict(metadata) if metadata is not None else None,
            policy=policy,
        )
        write_last(directory / STAGED_FILE, snapshot.model_dump_json().encode())
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return snapshot


def _stage_index(directory: Path, shard: Shard, record: IndexRecord) -> IndexSnapshot:
    base = Path("files") / record.uuid
    target = directory / base
    (target / "index").mkdir(parents=True)
    files: list[str] = []
    with shard.lock:
        shard.refresh(flush=True)
        shard.writer.wait_merging_threads()  # no merge may delete a file before it is linked
        shard.writer = shard.index.writer(WRITER_HEAP_BYTES, 1)
        for path in sorted((shard.directory / "index").iterdir()):
            if not path.is_file() or path.name.endswith(".lock"):
                continue
            place = target / "index" / path.name
            if path.name in _COPIED:
                shutil.copy2(path, place)
            else:
                os.link(path, place)
            files.append(str(base / "index" / path.name))
        checkpoint = shard.directory / "checkpoint.json"
        if checkpoint.exists():
            shutil.copy2(checkpoint, target / "checkpoint.json")
            files.append(str(base / "checkpoint.json"))
        translog = {"generation": shard.translog.generation, "max_seq_no": shard.max_seq_no}
        doc_count = shard.doc_count()
    return IndexSnapshot(
        name=record.name,
        uuid=record.uuid,
        files=tuple(files),
        doc_count=doc_count,
        metadata=index_metadata(record),
        translog=translog,
    )


def index_metadata(record: IndexRecord) -> dict[str, Any]:
    """What recreating `record` takes: settings, mappings, slot layout, aliases, state."""
    return {
        "settings": record.settings,
        "mappings": record.mappings,
        "layout": record.layout.to_json(),
        "aliases": record.aliases,
        "state": record.state,
        "created_at": record.created_at,
    }


def backup_store(source: Path, target: Path) -> None:
    """A consistent copy of the SQLite store at `source` (its last commit), fsync'd."""
    src = sqlcipher.connect(str(source), check_same_thread=False, timeout=30)
    try:
        dst = sqlcipher.connect(str(target))
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode = DELETE")
        finally:
            dst.close()
    finally:
        src.close()
    with open(target, "rb+") as f:
        os.fsync(f.fileno())


def write_last(path: Path, data: bytes) -> None:
    """Write `path` durably, with its directory (the file that says "complete")."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
    fsync_directory(path.parent)


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def size_of(directory: Path, staged: StagedSnapshot) -> tuple[int, int]:
    """The file count and bytes of a staged snapshot (its index files and store)."""
    paths = [p for index in staged.indices for p in index.files]
    if staged.store:
        paths.append(staged.store)
    total = 0
    for rel in paths:
        path = directory / rel
        if path.exists():
            total += path.stat().st_size
    return len(paths), total

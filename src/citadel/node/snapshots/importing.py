"""Importing a restore directory (``.restore/<job_id>/`` or ``.restore/initial/``).

The allocator writes a snapshot's files there in the staged layout, ``snapshot.json`` last.
Restoring chosen indices (the ``_restore`` API) creates each as a new index under the name the
caller asked (`renamed`) with the snapshot's settings, mappings, slot layout and aliases, and
places its files under the engine's ``indices/<new uuid>/`` (hard links where the volume
allows, copies otherwise) before the catalog row commits; an existing open index of that name
refuses the restore as Elasticsearch does, a closed one is replaced.

The initial restore (before a node's first start) brings the whole deployment back: when the
directory holds ``store/node.db``, it replaces the node store (users, roles, API keys,
templates... and the catalog rows of the indices, under their snapshot uuids) and the index
files are placed under those uuids; otherwise the indices are imported as by ``_restore``. Each
step can run again after a crash: the store is replaced once (a marker file says so), files are
placed again over partial ones, an index already imported is skipped, and the directory is
removed last.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlcipher3.dbapi2 as sqlcipher

from citadel.contract.snapshot_jobs import (
    RESTORE_DIR,
    RESTORE_INITIAL,
    STAGED_FILE,
    IndexSnapshot,
    StagedSnapshot,
)
from citadel.kit.clock import Clock
from citadel.node.engine.layout import Layout
from citadel.node.errors import EsError, IllegalArgument
from citadel.node.snapshots.staging import fsync_directory
from citadel.node.store import aliases as al
from citadel.node.store import catalog as meta
from citadel.node.store import cluster_settings, indices
from citadel.node.store.connection import DB_FILE, Store
from citadel.node.store.indices import Connection, IndexRecord

STORE_REPLACED = ".store-replaced"  # marker in the initial restore directory
_UNMODIFIABLE = frozenset({"index.number_of_shards", "index.number_of_routing_shards"})
_LEGACY_TEMPLATES = meta.LEGACY_TEMPLATE
_REPLACED_KINDS = (meta.INDEX_TEMPLATE, meta.COMPONENT_TEMPLATE)
_REPLACED_TABLES = {
    "ingest_pipelines": ("id", "definition", "version"),
    "stored_scripts": ("id", "lang", "source", "options"),
}


class SnapshotRestoreError(EsError):
    type = "snapshot_restore_exception"
    status = 500  # Elasticsearch answers its SnapshotRestoreException with a 500


@dataclass(frozen=True)
class SettingsChange:
    """A restore's ``index_settings`` (flat, checked) and ``ignore_index_settings``."""

    overrides: Mapping[str, Any] = field(default_factory=dict)
    ignored: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, index_settings: Any, ignore_index_settings: Any) -> SettingsChange:
        """Both request fields checked as Elasticsearch checks them (400 otherwise)."""
        overrides = indices.normalize_settings(index_settings)
        for name in overrides:
            if name in _UNMODIFIABLE:
                raise IllegalArgument(f"can't change setting [{name}] on restore")
        if isinstance(ignore_index_settings, str):
            ignore_index_settings = ignore_index_settings.split(",")
        if ignore_index_settings is None:
            ignore_index_settings = []
        if not isinstance(ignore_index_settings, list) or not all(
            isinstance(n, str) for n in ignore_index_settings
        ):
            raise IllegalArgument("[ignore_index_settings] must be a list of setting names")
        ignored = frozenset(
            n if n.startswith("index.") else f"index.{n}" for n in ignore_index_settings
        )
        for name in ignored:
            if name in _UNMODIFIABLE:
                raise IllegalArgument(f"can't remove setting [{name}] on restore")
        return cls(overrides, ignored)

    def to_json(self) -> dict[str, Any]:
        return {"overrides": dict(self.overrides), "ignored": sorted(self.ignored)}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any] | None) -> SettingsChange:
        raw = raw or {}
        return cls(dict(raw.get("overrides", {})), frozenset(raw.get("ignored", ())))


@dataclass(frozen=True)
class Imported:
    """What an import created and what it replaced (whose shard the caller drops)."""

    names: tuple[str, ...]
    replaced_uuids: tuple[str, ...]


def read_staged(directory: Path) -> StagedSnapshot | None:
    """The restore directory's ``snapshot.json``, or None while it is incomplete."""
    path = directory / STAGED_FILE
    if not path.exists():
        return None
    return StagedSnapshot.model_validate_json(path.read_bytes())


def renamed(name: str, pattern: str | None, replacement: str | None) -> str:
    """`name` after Elasticsearch's ``rename_pattern``/``rename_replacement`` (a Java regex
    ``replaceAll``: ``$1`` is the first group)."""
    if pattern is None:
        return name
    python = re.sub(r"\$(\d+)", r"\\g<\1>", (replacement or "").replace("\\", "\\\\"))
    try:
        return re.sub(pattern, python, name)
    except (re.error, IndexError) as exc:
        raise IllegalArgument(f"invalid [rename_pattern] or [rename_replacement]: {exc}") from None


def check_targets(conn: Connection, snapshot: str, targets: Mapping[str, str]) -> None:
    """Refuse a restore onto an existing open index, before anything is fetched or written."""
    for target in targets.values():
        existing = indices.load_index(conn, target)
        if existing is not None and not existing.closed:
            raise SnapshotRestoreError(
                f"[found-snapshots:{snapshot}] cannot restore index [{target}] because an open "
                "index with same name already exists in the cluster. Either close or delete the "
                "existing index or restore the index under a different name by providing a "
                "rename pattern and replacement name"
            )
        indices.mp.validate_index_name(target)


def import_indices(
    conn: Connection,
    clock: Clock,
    engine_root: Path,
    directory: Path,
    staged: StagedSnapshot,
    targets: Mapping[str, str],
    *,
    include_aliases: bool = True,
    settings: SettingsChange | None = None,
) -> Imported:
    """Create each index of `targets` (source name → new name) from `directory`, its settings
    changed by `settings`; the caller holds the store's write transaction and drops
    `replaced_uuids`' shards after it commits."""
    check_targets(conn, staged.name, targets)
    by_name = {index.name: index for index in staged.indices}
    created: list[Path] = []
    names: list[str] = []
    replaced: list[str] = []
    try:
        for source, target in targets.items():
            index = by_name.get(source)
            if index is None:
                raise SnapshotRestoreError(
                    f"[found-snapshots:{staged.name}] index [{source}] is not in the restored files"
                )
            existing = indices.load_index(conn, target)
            if existing is not None:  # closed (check_targets refused an open one)
                indices.delete(conn, existing)
                meta.remove(conn, meta.INDEX, existing.uuid)
                replaced.append(existing.uuid)
            record = _insert(conn, clock, target, index, settings or SettingsChange())
            shard_dir = engine_root / record.uuid
            created.append(shard_dir)
            place_files(directory, index, shard_dir)
            if include_aliases:
                _restore_aliases(conn, record, index)
            names.append(target)
        _restore_streams(conn, staged, targets)
    except BaseException:
        for path in created:
            shutil.rmtree(path, ignore_errors=True)
        raise
    return Imported(tuple(names), tuple(replaced))


def _insert(
    conn: Connection, clock: Clock, name: str, index: IndexSnapshot, change: SettingsChange
) -> IndexRecord:
    metadata = index.metadata
    settings = {
        k: v
        for k, v in dict(metadata.get("settings", {})).items()
        if not k.startswith("index.resize.source.") and k not in change.ignored
    }
    settings |= change.overrides
    layout = Layout.from_json(metadata.get("layout"))
    return indices.insert(conn, clock, name, settings, metadata.get("mappings", {}), layout=layout)


def _restore_aliases(conn: Connection, record: IndexRecord, index: IndexSnapshot) -> None:
    aliases: dict[str, Any] = dict(index.metadata.get("aliases", {}))
    catalog = indices.load_catalog(conn)
    for alias, spec in aliases.items():
        if catalog.kind(alias) in ("index", "data_stream") or alias == record.name:
            continue  # an index took the name since: the alias is left out, as a rename would
        al.add(conn, record, alias, spec)
    if record.aliases:
        al.check_write_flags(conn, record)
        indices.save_meta(conn, record)


def _restore_streams(conn: Connection, staged: StagedSnapshot, targets: Mapping[str, str]) -> None:
    """A data stream whose backing indices all came back under their own names returns too
    (when no data stream of that name exists)."""
    streams: Mapping[str, Any] = staged.global_metadata.get("data_streams", {})
    for name, stream in streams.items():
        backing = list(stream.get("indices", []))
        if not backing or any(targets.get(b) != b for b in backing):
            continue
        if meta.get(conn, meta.DATA_STREAM, name) is not None:
            continue
        if indices.load_catalog(conn).kind(name) is not None:
            continue
        meta.put(conn, meta.DATA_STREAM, name, dict(stream))


def place_files(directory: Path, index: IndexSnapshot, shard_dir: Path) -> None:
    """Put a snapshot index's files in shard directory `shard_dir` (replacing partial ones)."""
    prefix = f"files/{index.uuid}/"
    shutil.rmtree(shard_dir, ignore_errors=True)
    (shard_dir / "index").mkdir(parents=True)
    for rel in index.files:
        if not rel.startswith(prefix) or ".." in Path(rel).parts:
            raise SnapshotRestoreError(f"unexpected file [{rel}] for index [{index.name}]")
        target = shard_dir / rel[len(prefix) :]
        target.parent.mkdir(parents=True, exist_ok=True)
        _link_or_copy(directory / rel, target)
    fsync_directory(shard_dir / "index")
    fsync_directory(shard_dir)


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
        shutil.copy2(source, target)


# -- global state -------------------------------------------------------------------------


def restore_global_state(conn: Connection, snapshot_store: Path) -> None:
    """``include_global_state``, as Elasticsearch restores it: composable and component
    templates, ingest pipelines, stored scripts and persistent cluster settings are replaced by
    the snapshot's; legacy templates are merged (the snapshot's win on a name). Users, roles
    and API keys are not touched (a whole deployment comes back by a restore before the first
    start)."""
    source = sqlcipher.connect(f"file:{snapshot_store}?mode=ro", uri=True)
    try:
        entries = {kind: _meta_rows(source, kind) for kind in (*_REPLACED_KINDS, _LEGACY_TEMPLATES)}
        settings = source.execute(
            "SELECT value FROM meta WHERE key = ?", (cluster_settings.KEY,)
        ).fetchone()
        tables = {
            table: source.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall()  # noqa: S608
            for table, cols in _REPLACED_TABLES.items()
        }
    finally:
        source.close()
    for kind in _REPLACED_KINDS:
        for name in meta.every(conn, kind):
            meta.remove(conn, kind, name)
    for rows in entries.values():
        for key, value in rows:
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
    conn.execute("DELETE FROM meta WHERE key = ?", (cluster_settings.KEY,))
    if settings is not None:
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?)", (cluster_settings.KEY, settings[0])
        )
    for table, rows in tables.items():
        cols = _REPLACED_TABLES[table]
        conn.execute(f"DELETE FROM {table}")  # noqa: S608 - a fixed table name
        conn.executemany(
            f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",  # noqa: S608
            [tuple(r) for r in rows],
        )


def _meta_rows(source: Any, kind: str) -> list[tuple[str, str]]:
    rows = source.execute(
        "SELECT key, value FROM meta WHERE key >= ? AND key < ?",
        (kind, kind[:-1] + chr(ord(kind[-1]) + 1)),
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


# -- the restore before the first start ------------------------------------------------------


def initial_directory(data_dir: Path) -> Path:
    return data_dir / RESTORE_DIR / RESTORE_INITIAL


def replace_store_if_restoring(data_dir: Path) -> bool:
    """Before the store opens: when an initial restore carries a store not yet put in place,
    put it in place of ``node.db``; True when an initial restore is waiting at all."""
    directory = initial_directory(data_dir)
    staged = read_staged(directory)
    if staged is None:
        return False
    marker = directory / STORE_REPLACED
    if staged.store is None or marker.exists() or not (directory / staged.store).exists():
        return True
    target = data_dir / DB_FILE
    incoming = data_dir / (DB_FILE + ".restoring")
    shutil.copy2(directory / staged.store, incoming)
    with open(incoming, "rb+") as f:
        os.fsync(f.fileno())
    for suffix in ("-wal", "-shm"):
        target.with_name(target.name + suffix).unlink(missing_ok=True)
    incoming.replace(target)
    fsync_directory(data_dir)
    marker.write_text("1")
    fsync_directory(directory)
    return True


def finish_initial_restore(store: Store, clock: Clock, data_dir: Path) -> list[str]:
    """After the store opens, before serving: place the initial restore's indices, then remove
    the directory. The names of the indices restored."""
    from citadel.node.snapshots import jobs

    directory = initial_directory(data_dir)
    staged = read_staged(directory)
    if staged is None:
        return []
    engine_root = data_dir / "indices"
    engine_root.mkdir(parents=True, exist_ok=True)
    store_replaced = (directory / STORE_REPLACED).exists()
    restored: list[str] = []
    with store.write() as conn:
        if store_replaced:
            jobs.forget_all(conn)
            conn.execute("DELETE FROM snapshot_catalog")
            present = {index.uuid for index in staged.indices}
            rows = conn.execute("SELECT name, uuid FROM indices").fetchall()
            for _name, uuid in rows:
                if uuid not in present:  # its files were not fetched: it cannot come back
                    conn.execute("DELETE FROM indices WHERE uuid = ?", (uuid,))
                    meta.remove(conn, meta.INDEX, uuid)
            for index in staged.indices:
                place_files(directory, index, engine_root / index.uuid)
                restored.append(index.name)
        else:
            targets = {
                index.name: index.name
                for index in staged.indices
                if indices.load_index(conn, index.name) is None  # imported by an earlier try
            }
            done = import_indices(conn, clock, engine_root, directory, staged, targets)
            restored.extend(done.names)
    shutil.rmtree(directory)
    fsync_directory(directory.parent)
    return restored


def job_directory(data_dir: Path, job_id: str) -> Path:
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", job_id):
        raise IllegalArgument(f"invalid job id [{job_id}]")
    return data_dir / RESTORE_DIR / job_id

"""The node's snapshot use cases on ``found-snapshots``: create, get, status, delete, restore,
and the allocator's side of the queue (pending jobs, results, the catalog).

The repository exists only when the allocator started the node with the platform's snapshot
defaults (`SnapshotSettings`); otherwise every call is Elasticsearch's 404
``repository_missing_exception``. What the repository holds is the catalog the allocator last
pushed, merged with the node's own snapshots still being written (``IN_PROGRESS``: a pending
``create`` job). A finished create or delete updates the node's copy of the catalog at once,
so a client sees its change before the next push.

A request with ``wait_for_completion`` waits for its job's result, at most its
``master_timeout`` (Elasticsearch's default 30 s); past that it is answered with
Elasticsearch's ``process_cluster_event_timeout_exception`` (503) and the job stays queued.
"""

from __future__ import annotations

import json
import secrets
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from citadel.contract.snapshot_jobs import (
    REPOSITORY,
    RESTORE_DIR,
    RESTORE_INITIAL,
    STAGING_DIR,
    JobKind,
    JobResult,
    SnapshotCatalog,
    SnapshotEntry,
    SnapshotJob,
    StagedSnapshot,
)
from citadel.kit.clock import Clock
from citadel.node.engine.engine import Engine
from citadel.node.errors import EsError
from citadel.node.snapshots import importing, jobs, names, slm_store
from citadel.node.snapshots.jobs import JobRow, Waiters
from citadel.node.snapshots.staging import size_of, stage
from citadel.node.store import catalog as meta
from citadel.node.store import indices
from citadel.node.store.connection import Store
from citadel.node.store.expressions import Catalog, IndexFacts, StreamFacts, resolve

log = structlog.get_logger(__name__)

IN_PROGRESS = "IN_PROGRESS"
SUCCESS = "SUCCESS"
FAILED = "FAILED"
DEFAULT_WAIT_S = 30.0
INFO = "snapshot_info/"  # meta entries by snapshot uuid: what the catalog does not carry


@dataclass(frozen=True)
class SnapshotSettings:
    """The platform's snapshot defaults, from the node's argv (`citadel.node.main`)."""

    interval_s: int
    retention_max_count: int | None = None
    retention_expire_after_s: int | None = None


class RepositoryMissing(EsError):
    type = "repository_missing_exception"
    status = 404

    def __init__(self, repository: str) -> None:
        super().__init__(f"[{repository}] missing")


class SnapshotMissing(EsError):
    type = "snapshot_missing_exception"
    status = 404

    def __init__(self, snapshot: str) -> None:
        super().__init__(f"[{REPOSITORY}:{snapshot}] is missing")


class ConcurrentSnapshotExecution(EsError):
    type = "concurrent_snapshot_execution_exception"
    status = 503


class ProcessClusterEventTimeout(EsError):
    type = "process_cluster_event_timeout_exception"
    status = 503


class RepositoryFailure(EsError):
    type = "repository_exception"
    status = 500  # as Elasticsearch: the repository (here: the allocator) failed


@dataclass(frozen=True)
class CreateRequest:
    """A ``PUT _snapshot/found-snapshots/<name>`` after validation."""

    name: str
    indices: str | None = None
    ignore_unavailable: bool = False
    include_global_state: bool = True
    metadata: Mapping[str, Any] | None = None
    policy: str | None = None


@dataclass(frozen=True)
class RestoreRequest:
    """A ``POST _snapshot/found-snapshots/<name>/_restore`` after validation."""

    snapshot: str
    indices: str | None = None
    ignore_unavailable: bool = False
    rename_pattern: str | None = None
    rename_replacement: str | None = None
    include_aliases: bool = True
    include_global_state: bool = False
    settings: importing.SettingsChange = field(default_factory=importing.SettingsChange)


@dataclass(frozen=True)
class View:
    """One snapshot as the node shows it: a catalog entry, or its own in progress."""

    entry: SnapshotEntry
    include_global_state: bool = True
    data_streams: tuple[str, ...] = ()
    streams: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Each data stream's backing indices in the snapshot (when this node took it)."""


class NodeSnapshots:
    """Snapshots of one node; `settings` None: no repository (the allocator gave none)."""

    def __init__(
        self,
        store: Store,
        engine: Engine,
        clock: Clock,
        data_dir: Path,
        settings: SnapshotSettings | None,
    ) -> None:
        self.store = store
        self.engine = engine
        self.clock = clock
        self.data_dir = data_dir
        self.settings = settings
        self.waiters = Waiters()
        self.on_finished: list[Callable[[JobRow, JobResult], None]] = []

    # -- the repository --------------------------------------------------------------------

    def require(self, repository: str = REPOSITORY) -> None:
        """404 repository_missing_exception unless `repository` is ``found-snapshots`` and
        the node has it."""
        if self.settings is None or repository != REPOSITORY:
            raise RepositoryMissing(repository)

    def _now(self) -> float:
        return self.clock.now().timestamp()

    def sweep(self) -> list[Path]:
        """At start: remove staging and restore directories no pending job refers to (a
        crash between staging and queueing, or during an import); the paths removed."""
        with self.store.read() as conn:
            running = jobs.pending(conn)
        wanted = {
            self.data_dir / STAGING_DIR / r.job.uuid
            for r in running
            if r.job.kind is JobKind.CREATE
        } | {
            self.data_dir / RESTORE_DIR / r.job.job_id
            for r in running
            if r.job.kind is JobKind.RESTORE
        }
        removed = []
        for parent, keep in ((STAGING_DIR, None), (RESTORE_DIR, RESTORE_INITIAL)):
            root = self.data_dir / parent
            if not root.is_dir():
                continue
            for path in root.iterdir():
                if path.name != keep and path not in wanted:
                    shutil.rmtree(path, ignore_errors=True)
                    removed.append(path)
        return removed

    # -- create ----------------------------------------------------------------------------

    def create(self, request: CreateRequest) -> tuple[str, StagedSnapshot]:
        """Stage a snapshot and queue its job; the job id and what was staged."""
        self.require()
        name = names.resolve(request.name, self.clock.now())
        names.validate(name, REPOSITORY)
        if any(v.entry.name == name for v in self.views()):
            raise names.InvalidSnapshotName(
                f"[{REPOSITORY}:{name}] Invalid snapshot name [{name}], snapshot with the same "
                "name already exists"
            )
        uuid = secrets.token_urlsafe(16)[:22]
        job_id = "c" + secrets.token_hex(12)
        directory = self.data_dir / STAGING_DIR / uuid
        with self.store.write() as conn:
            records = self._records(conn, request)
            chosen = {r.name for r in records}
            streams = {
                n: s
                for n, s in meta.every(conn, meta.DATA_STREAM).items()
                if set(s.get("indices", [])) <= chosen and s.get("indices")
            }
            staged = stage(
                directory,
                self.store.path,
                self.engine,
                records,
                name=name,
                uuid=uuid,
                start_time=self._now(),
                global_metadata={
                    "include_global_state": request.include_global_state,
                    "data_streams": streams,
                },
                metadata=request.metadata,
                policy=request.policy,
            )
            job = SnapshotJob(
                job_id=job_id,
                kind=JobKind.CREATE,
                snapshot=name,
                uuid=uuid,
                created_at=self._now(),
            )
            try:
                jobs.enqueue(conn, job, {"staged": staged.model_dump(mode="json")})
            except BaseException:
                shutil.rmtree(directory, ignore_errors=True)
                raise
        log.info("snapshot.staged", snapshot=name, uuid=uuid, indices=len(staged.indices))
        return job_id, staged

    def _records(self, conn: Any, request: CreateRequest) -> list[indices.IndexRecord]:
        catalog = indices.load_catalog(conn)
        targets = resolve(
            request.indices,
            catalog,
            lambda _name: True,
            ignore_unavailable=request.ignore_unavailable,
            expand_hidden=request.indices in (None, "", "*", "_all"),
            expand_closed=True,
            closed_ok=True,
        )
        out = []
        for name in sorted(set(targets.names)):
            record = indices.load_index(conn, name)
            if record is not None:
                out.append(record)
        return out

    # -- waiting ---------------------------------------------------------------------------

    def wait(self, job_id: str, timeout: float, what: str) -> JobRow:
        """The job once finished; 503 process_cluster_event_timeout_exception past `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            with self.store.read() as conn:
                row = jobs.get(conn, job_id)
            if row is None or not row.pending:
                assert row is not None, job_id
                return row
            left = deadline - time.monotonic()
            if left <= 0:
                raise ProcessClusterEventTimeout(
                    f"failed to process cluster event ({what}) within {_seconds(timeout)}"
                )
            self.waiters.wait(job_id, min(left, 1.0))

    # -- reading ---------------------------------------------------------------------------

    def catalog(self) -> list[SnapshotEntry]:
        """The repository's snapshots as last pushed (and updated by finished jobs)."""
        with self.store.read() as conn:
            return _load_catalog(conn)

    def views(self) -> list[View]:
        """Every snapshot: the catalog's, then the node's own in progress."""
        with self.store.read() as conn:
            entries = _load_catalog(conn)
            running = jobs.pending(conn, JobKind.CREATE)
            known_here = meta.every(conn, INFO)
        out = []
        for e in entries:
            info = known_here.get(e.uuid, {})
            out.append(
                View(
                    e,
                    include_global_state=bool(info.get("include_global_state", True)),
                    data_streams=tuple(info.get("data_streams", ())),
                    streams={k: tuple(v) for k, v in info.get("streams", {}).items()},
                )
            )
        known = {e.name for e in entries}
        for row in running:
            staged = StagedSnapshot.model_validate(row.request["staged"])
            if staged.name in known:
                continue
            out.append(_in_progress(staged))
        return out

    def select(
        self, expression: str, *, ignore_unavailable: bool = False, current_only: bool = False
    ) -> list[View]:
        """The snapshots an expression names (``_all``, ``*``, wildcards, comma lists,
        ``_current``); 404 snapshot_missing_exception for a missing exact name."""
        views = self.views()
        if current_only or expression == "_current":
            return [v for v in views if v.entry.state == IN_PROGRESS]
        chosen: dict[str, View] = {}
        for part in [p.strip() for p in expression.split(",") if p.strip()] or ["_all"]:
            if part.startswith("-"):
                pattern = indices.wildcard(part[1:])
                chosen = {n: v for n, v in chosen.items() if not pattern.fullmatch(n)}
                continue
            if part in ("_all", "*"):
                chosen.update((v.entry.name, v) for v in views)
                continue
            if part == "_current":
                chosen.update((v.entry.name, v) for v in views if v.entry.state == IN_PROGRESS)
                continue
            pattern = indices.wildcard(part)
            found = [v for v in views if pattern.fullmatch(v.entry.name)]
            if not found and "*" not in part and not ignore_unavailable:
                raise SnapshotMissing(part)
            chosen.update((v.entry.name, v) for v in found)
        return list(chosen.values())

    def entry(self, name: str) -> View:
        """The snapshot called `name`; 404 when there is none."""
        for view in self.views():
            if view.entry.name == name:
                return view
        raise SnapshotMissing(name)

    def staged_sizes(self) -> dict[str, tuple[int, int]]:
        """File count and bytes of each snapshot still staged (for ``_status``)."""
        out = {}
        with self.store.read() as conn:
            running = jobs.pending(conn, JobKind.CREATE)
        for row in running:
            staged = StagedSnapshot.model_validate(row.request["staged"])
            out[staged.name] = size_of(self.data_dir / STAGING_DIR / staged.uuid, staged)
        return out

    # -- delete ----------------------------------------------------------------------------

    def delete(self, expression: str, timeout: float) -> list[str]:
        """Queue a delete job for each snapshot named and wait for them all."""
        self.require()
        chosen = self.select(expression)
        if not chosen:
            raise SnapshotMissing(expression)
        running = [v.entry.name for v in chosen if v.entry.state == IN_PROGRESS]
        if running:
            raise ConcurrentSnapshotExecution(
                f"[{REPOSITORY}:{running[0]}] cannot delete a snapshot while it is being "
                "written: this node does not abort a running snapshot; delete it once done"
            )
        job_ids = []
        with self.store.write() as conn:
            restoring = {r.job.snapshot for r in jobs.pending(conn, JobKind.RESTORE)}
            busy = [v.entry.name for v in chosen if v.entry.name in restoring]
            if busy:
                raise ConcurrentSnapshotExecution(
                    f"[{REPOSITORY}:{busy[0]}] cannot delete snapshot during a restore in progress"
                )
            waiting = {r.job.snapshot: r.job.job_id for r in jobs.pending(conn, JobKind.DELETE)}
            for view in chosen:
                if view.entry.name in waiting:
                    job_ids.append(waiting[view.entry.name])
                    continue
                job = SnapshotJob(
                    job_id="d" + secrets.token_hex(12),
                    kind=JobKind.DELETE,
                    snapshot=view.entry.name,
                    uuid=view.entry.uuid,
                    created_at=self._now(),
                )
                jobs.enqueue(conn, job, {})
                job_ids.append(job.job_id)
        return self._wait_all(job_ids, timeout, f"delete snapshot [{expression}]")

    def queue_deletes(self, snapshot_names: Sequence[str]) -> list[str]:
        """Queue delete jobs without waiting (SLM retention); the job ids queued."""
        queued = []
        with self.store.write() as conn:
            waiting = {r.job.snapshot for r in jobs.pending(conn, JobKind.DELETE)}
            entries = {e.name: e for e in _load_catalog(conn)}
            for name in snapshot_names:
                entry = entries.get(name)
                if entry is None or name in waiting:
                    continue
                job = SnapshotJob(
                    job_id="d" + secrets.token_hex(12),
                    kind=JobKind.DELETE,
                    snapshot=name,
                    uuid=entry.uuid,
                    created_at=self._now(),
                )
                jobs.enqueue(conn, job, {"retention": True, "policy": entry.policy})
                queued.append(job.job_id)
        return queued

    def _wait_all(self, job_ids: Sequence[str], timeout: float, what: str) -> list[str]:
        deadline = time.monotonic() + timeout
        failures = []
        for job_id in job_ids:
            row = self.wait(job_id, max(deadline - time.monotonic(), 0.0), what)
            if row.state != jobs.DONE:
                failures.append(f"[{row.job.snapshot}] {row.reason or 'failed'}")
        if failures:
            raise RepositoryFailure(f"[{REPOSITORY}] {'; '.join(failures)}")
        return list(job_ids)

    # -- restore ---------------------------------------------------------------------------

    def restore(self, request: RestoreRequest) -> tuple[str | None, dict[str, str]]:
        """Check a restore and queue its job; the job id (None: nothing to restore) and the
        indices it restores (snapshot name → new name)."""
        self.require()
        view = self.entry(request.snapshot)
        if view.entry.state == IN_PROGRESS:
            raise ConcurrentSnapshotExecution(
                f"[{REPOSITORY}:{request.snapshot}] cannot restore a snapshot while it is being "
                "written"
            )
        if view.entry.state != SUCCESS:
            raise importing.SnapshotRestoreError(
                f"[{REPOSITORY}:{request.snapshot}/{view.entry.uuid}] the snapshot did not "
                f"complete successfully (state {view.entry.state}) and cannot be restored"
            )
        everything = request.indices in (None, "", "*", "_all")
        catalog = Catalog(
            {n: IndexFacts() for n in view.entry.indices},
            streams={n: StreamFacts(b) for n, b in view.streams.items()},
        )
        targets = resolve(
            request.indices,
            catalog,
            lambda _name: True,
            ignore_unavailable=request.ignore_unavailable,
            expand_hidden=everything,
        )
        chosen = {
            n: importing.renamed(n, request.rename_pattern, request.rename_replacement)
            for n in sorted(set(targets.names))
        }
        if len(set(chosen.values())) != len(chosen):
            raise importing.SnapshotRestoreError(
                f"[{REPOSITORY}:{request.snapshot}] indices [{', '.join(chosen)}] and their "
                "renames would restore two indices under one name"
            )
        if not chosen and not request.include_global_state:
            return None, chosen
        job = SnapshotJob(
            job_id="r" + secrets.token_hex(12),
            kind=JobKind.RESTORE,
            snapshot=view.entry.name,
            uuid=view.entry.uuid,
            # the allocator fetches every index for an empty list: name one at least
            indices=tuple(chosen) or view.entry.indices[:1],
            include_store=request.include_global_state,
            created_at=self._now(),
        )
        with self.store.write() as conn:
            importing.check_targets(conn, view.entry.name, chosen)
            jobs.enqueue(
                conn,
                job,
                {
                    "targets": chosen,
                    "include_aliases": request.include_aliases,
                    "include_global_state": request.include_global_state,
                    "settings": request.settings.to_json(),
                },
            )
        return job.job_id, chosen

    # -- the allocator's side --------------------------------------------------------------

    def pending_jobs(self) -> list[SnapshotJob]:
        """The jobs the allocator has to run, oldest first."""
        with self.store.read() as conn:
            return [row.job for row in jobs.pending(conn)]

    def apply_result(self, job_id: str, result: JobResult) -> bool:
        """Apply the allocator's result of `job_id`: False when there is no such job (a job
        already finished is acknowledged again without change)."""
        with self.store.read() as conn:
            row = jobs.get(conn, job_id)
        if row is None:
            return False
        if not row.pending:
            return True
        ok, reason = result.ok, result.reason
        outcome: dict[str, Any] = {}
        if row.job.kind is JobKind.CREATE:
            shutil.rmtree(self.data_dir / STAGING_DIR / row.job.uuid, ignore_errors=True)
        if row.job.kind is JobKind.RESTORE and ok:
            ok, reason, outcome = self._import(row)
        with self.store.write() as conn:
            if row.job.kind is JobKind.CREATE:
                entry = result.snapshot if ok else None
                if entry is not None:
                    _upsert(conn, entry)  # the repository holds it now
                else:  # the repository holds nothing: the entry is only the job's outcome
                    ok = False
                    entry = _failed_entry(row, reason or "no snapshot entry", self._now())
                outcome = {"entry": entry.model_dump(mode="json")}
            if row.job.kind is JobKind.CREATE and ok:
                staged = StagedSnapshot.model_validate(row.request["staged"])
                meta.put(conn, INFO, staged.uuid, _info_of(staged))
            if row.job.kind is JobKind.DELETE and ok:
                _remove(conn, row.job.snapshot)
                meta.remove(conn, INFO, row.job.uuid)
            if outcome:
                conn.execute(
                    "UPDATE snapshot_jobs SET request = ? WHERE job_id = ?",
                    (json.dumps({**row.request, **outcome}), job_id),
                )
            jobs.finish(conn, job_id, ok, reason, self._now())
            slm_store.record_outcome(conn, row, ok, reason, self._now())
        log.info("snapshot.job_finished", job_id=job_id, kind=row.job.kind.value, ok=ok)
        self.waiters.finished(job_id)
        return True

    def _import(self, row: JobRow) -> tuple[bool, str, dict[str, Any]]:
        directory = importing.job_directory(self.data_dir, row.job.job_id)
        staged = importing.read_staged(directory)
        if staged is None:
            return False, "the restore directory is incomplete", {}
        targets: dict[str, str] = dict(row.request.get("targets", {}))
        try:
            with self.store.write() as conn:
                if row.request.get("include_global_state"):
                    if staged.store is None or not (directory / staged.store).exists():
                        return False, "the snapshot's global state was not fetched", {}
                    importing.restore_global_state(conn, directory / staged.store)
                done = importing.import_indices(
                    conn,
                    self.clock,
                    self.engine.root,
                    directory,
                    staged,
                    targets,
                    include_aliases=bool(row.request.get("include_aliases", True)),
                    settings=importing.SettingsChange.from_json(row.request.get("settings")),
                )
        except EsError as exc:
            return False, exc.reason, {}
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        for uuid in done.replaced_uuids:
            self.engine.drop(uuid)
        return True, "", {"restored": list(done.names)}

    def put_catalog(self, catalog: SnapshotCatalog) -> None:
        """Replace the node's copy of the repository's catalog."""
        with self.store.write() as conn:
            _save_catalog(conn, list(catalog.snapshots))
            present = {e.uuid for e in catalog.snapshots}
            for uuid in meta.every(conn, INFO):
                if uuid not in present:
                    meta.remove(conn, INFO, uuid)


# -- the catalog in the store ----------------------------------------------------------------


def _load_catalog(conn: Any) -> list[SnapshotEntry]:
    row = conn.execute("SELECT body FROM snapshot_catalog WHERE id = 1").fetchone()
    if row is None:
        return []
    return list(SnapshotCatalog.model_validate_json(row[0]).snapshots)


def _save_catalog(conn: Any, entries: list[SnapshotEntry]) -> None:
    body = SnapshotCatalog(snapshots=tuple(entries)).model_dump_json()
    conn.execute("INSERT OR REPLACE INTO snapshot_catalog (id, body) VALUES (1, ?)", (body,))


def _upsert(conn: Any, entry: SnapshotEntry) -> None:
    entries = [e for e in _load_catalog(conn) if e.name != entry.name]
    entries.append(entry)
    entries.sort(key=lambda e: e.start_time)
    _save_catalog(conn, entries)


def _remove(conn: Any, name: str) -> None:
    _save_catalog(conn, [e for e in _load_catalog(conn) if e.name != name])


def _info_of(staged: StagedSnapshot) -> dict[str, Any]:
    """What a catalog entry does not say of a snapshot this node took."""
    return {
        "include_global_state": bool(staged.global_metadata.get("include_global_state", True)),
        "data_streams": sorted(staged.global_metadata.get("data_streams", {})),
        "streams": {
            name: list(stream.get("indices", []))
            for name, stream in staged.global_metadata.get("data_streams", {}).items()
        },
    }


def _in_progress(staged: StagedSnapshot) -> View:
    entry = SnapshotEntry(
        name=staged.name,
        uuid=staged.uuid,
        state=IN_PROGRESS,
        start_time=staged.start_time,
        end_time=0.0,
        indices=tuple(i.name for i in staged.indices),
        metadata=staged.metadata,
        policy=staged.policy,
    )
    return View(
        entry,
        include_global_state=bool(staged.global_metadata.get("include_global_state", True)),
        data_streams=tuple(sorted(staged.global_metadata.get("data_streams", {}))),
    )


def _failed_entry(row: JobRow, reason: str, now: float) -> SnapshotEntry:
    staged = StagedSnapshot.model_validate(row.request["staged"])
    return SnapshotEntry(
        name=staged.name,
        uuid=staged.uuid,
        state=FAILED,
        start_time=staged.start_time,
        end_time=now,
        indices=tuple(i.name for i in staged.indices),
        metadata=staged.metadata,
        policy=staged.policy,
        reason=reason,
    )


def _seconds(value: float) -> str:
    return f"{value:g}s"


def iso(epoch_s: float) -> str:
    """Elasticsearch's date rendering of an epoch time (milliseconds, ``Z``)."""
    moment = datetime.fromtimestamp(epoch_s, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

"""Moving the nodes' snapshots in and out of the repository (issue 20, item 5; ADR 30).

The node decides (Elasticsearch's snapshot API, the SLM policy) and stages; this worker moves
the bytes. Every `INTERVAL_S`, on threads of its own so a slow upload never holds up the
reconcile loop, it asks each running node that has snapshots for its pending jobs (``GET
/_citadel/snapshot-jobs`` on the node's socket, mTLS with the allocator's certificate and the
node's per-start token, as the metrics and audit events are read) and runs them one at a time
per deployment, oldest first:

- ``create``: store ``<volume>/.snapshots/<uuid>/`` (`citadel.snapshots.store.write_snapshot`:
  encrypted, deduplicated, verified); a failure is recorded in the repository as a FAILED
  snapshot with its reason when the repository still answers;
- ``delete``: remove the snapshot and the blobs no other snapshot references;
- ``restore``: fetch the snapshot's chosen indices into ``<volume>/.restore/<job_id>/``.

Each result is posted to the node (``POST /_citadel/snapshot-jobs/{job_id}``), then the whole
catalog (``PUT /_citadel/snapshot-catalog``); the catalog is also sent once after each start of
a node. A result that cannot be posted leaves the job pending: it runs again at the next poll
(each kind can run twice: a create rewrites the same manifest, a delete finds nothing, a
restore replaces its directory).

The snapshot key is derived from the deployment's data key for each round that needs it (the
key provider unwraps it; a revoked key fails the round) and dropped after it; never logged.
The worker keeps each deployment's `SnapshotSummary` (the Cloud API's ``info.snapshots``) on
the allocator, which sends it in its status reports.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from pydantic import ValidationError

from citadel.contract.messages import SnapshotRepository, SnapshotSummary
from citadel.contract.snapshot_jobs import (
    CATALOG_PATH,
    JOBS_PATH,
    RESTORE_DIR,
    STAGING_DIR,
    JobKind,
    JobResult,
    SnapshotCatalog,
    SnapshotEntry,
    SnapshotJob,
    SnapshotJobs,
    StagedSnapshot,
)
from citadel.crypto.providers.base import ProviderError
from citadel.kit.deployment_dirs import DeploymentDirs
from citadel.log import get_logger
from citadel.runtime.allocator import Allocator, MetricsTarget
from citadel.runtime.node_socket import get_from_node, send_to_node
from citadel.snapshots.errors import RepositoryUnavailable, SnapshotError
from citadel.snapshots.format import SnapshotState, safe_name
from citadel.snapshots.repository import Repository, open_repository
from citadel.snapshots.store import (
    delete_snapshot,
    fetch_snapshot,
    list_snapshots,
    read_staged,
    write_failed,
    write_snapshot,
)

log = get_logger(__name__)

INTERVAL_S = 2.0
NODE_TIMEOUT_S = 10.0
NODE_MAX_BYTES = 4 * 1024 * 1024
PARALLEL = 2  # deployments served at once (each one job at a time)


def summarize(entries: list[SnapshotEntry], *, last_policy_failed: bool = False) -> SnapshotSummary:
    """A deployment's ``info.snapshots`` from its catalog (oldest first): how many, the newest
    successful one (its start: what it holds), healthy unless the newest scheduled snapshot
    failed (`last_policy_failed`: one that failed where the repository could not record it)."""
    successes = [e for e in entries if e.state == SnapshotState.SUCCESS.value]
    scheduled = [e for e in entries if e.policy is not None]
    latest = successes[-1] if successes else None
    failed = bool(scheduled) and scheduled[-1].state == SnapshotState.FAILED.value
    return SnapshotSummary(
        count=len(entries),
        latest_success_at=latest.start_time if latest else None,
        latest_success_name=latest.name[:255] if latest else None,
        healthy=not (failed or last_policy_failed),
    )


class SnapshotWorker:
    """Runs the running nodes' snapshot jobs against the platform's repository."""

    def __init__(
        self,
        allocator: Allocator,
        *,
        interval_s: float = INTERVAL_S,
        node_timeout_s: float = NODE_TIMEOUT_S,
        parallel: int = PARALLEL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.allocator = allocator
        self.interval_s = interval_s
        self.node_timeout_s = node_timeout_s
        self.clock = clock
        self._pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="snapshots")
        self._busy: dict[str, Future[None]] = {}
        self._catalogued: dict[str, str] = {}  # deployment -> the node start (token) last sent
        self._policy_failed: dict[str, bool] = {}
        self._opened: tuple[SnapshotRepository, Repository] | None = None
        self._lock = threading.Lock()

    def start(self, stop: threading.Event) -> threading.Thread:
        """`run` on a daemon thread of its own."""
        thread = threading.Thread(target=self.run, args=(stop,), name="snapshot-worker")
        thread.daemon = True
        thread.start()
        return thread

    def run(self, stop: threading.Event) -> None:
        """Poll every `interval_s` until `stop` is set; then wait for the jobs under way."""
        try:
            while not stop.wait(self.interval_s):
                self.poll_once()
        finally:
            self._pool.shutdown(wait=True)

    def poll_once(self) -> None:
        """Start serving each running node with snapshots that is not being served."""
        targets = self._targets()
        live = {t.deployment_id for t in targets}
        for dep_id, future in list(self._busy.items()):
            if dep_id not in live and future.done():
                del self._busy[dep_id]
        for target in targets:
            running = self._busy.get(target.deployment_id)
            if running is not None and not running.done():
                continue
            self._busy[target.deployment_id] = self._pool.submit(self._guarded, target)

    def _targets(self) -> list[MetricsTarget]:
        if self.allocator.repository is None:
            return []
        return [
            t
            for t in self.allocator.metrics_targets()
            if self.allocator.snapshots_configured(t.deployment_id)
        ]

    def _guarded(self, target: MetricsTarget) -> None:
        try:
            self.serve(target)
        except Exception as exc:  # a bug must not stop the other deployments' snapshots
            log.error(
                "allocator.snapshot_round_failed",
                deployment_id=target.deployment_id,
                error_type=type(exc).__name__,
                exc_info=exc,
            )

    # -- one deployment -----------------------------------------------------------------

    def serve(self, target: MetricsTarget) -> int:
        """One round for one node: its pending jobs, then its catalog when due. How many jobs
        were finished."""
        dep_id = target.deployment_id
        jobs = self._jobs(target)
        due = self._catalogued.get(dep_id) != target.token
        if not jobs and not due:
            return 0
        repository = self._repository()
        if repository is None:
            return 0
        try:
            key = self.allocator.snapshot_key(dep_id)
        except (ProviderError, ValueError) as exc:
            log.warning("allocator.snapshot_key_unavailable", deployment_id=dep_id, error=str(exc))
            return 0
        if key is None:
            return 0
        try:
            done = 0
            for job in jobs:
                result = self.execute(repository, key, dep_id, job)
                if not self._post(target, job, result):
                    break
                done += 1
                self._push_catalog(target, repository, key)
            if due and not done:
                self._push_catalog(target, repository, key)
            return done
        finally:
            del key

    def _jobs(self, target: MetricsTarget) -> list[SnapshotJob]:
        body = get_from_node(
            target.socket,
            self.allocator.probe_context,
            target.server_name,
            target.token,
            JOBS_PATH,
            timeout=self.node_timeout_s,
            max_bytes=NODE_MAX_BYTES,
        )
        if body is None:
            return []
        try:
            return list(SnapshotJobs.model_validate_json(body).jobs)
        except ValidationError:
            log.warning("allocator.snapshot_jobs_unreadable", deployment_id=target.deployment_id)
            return []

    def _repository(self) -> Repository | None:
        described = self.allocator.repository
        if described is None:
            return None
        with self._lock:
            if self._opened is None or self._opened[0] != described:
                self._opened = (described, open_repository(described))
            return self._opened[1]

    def execute(
        self, repository: Repository, key: bytes, dep_id: str, job: SnapshotJob
    ) -> JobResult:
        """Run one job; its result (a failure says why, never a key or a file's content)."""
        mount = DeploymentDirs.of(self.allocator.data_dir, dep_id).data
        started = time.monotonic()
        try:
            if job.kind is JobKind.CREATE:
                staged_dir = mount / STAGING_DIR / safe_name(job.uuid, "snapshot uuid")
                entry = self._create(repository, key, dep_id, job, staged_dir, mount)
                ok = entry.state == SnapshotState.SUCCESS.value
                return JobResult(ok=ok, reason="" if ok else entry.reason or "", snapshot=entry)
            if job.kind is JobKind.DELETE:
                delete_snapshot(repository, key, dep_id, job.uuid)
            else:
                target = mount / RESTORE_DIR / safe_name(job.job_id, "job id")
                fetch_snapshot(
                    repository,
                    key,
                    dep_id,
                    job.uuid,
                    target,
                    indices=job.indices,
                    include_store=job.include_store,
                    within=mount,
                )
            return JobResult(ok=True)
        except (SnapshotError, OSError, ValueError) as exc:
            log.warning(
                "allocator.snapshot_job_failed",
                deployment_id=dep_id,
                job_id=job.job_id,
                kind=job.kind.value,
                error=f"{type(exc).__name__}: {exc}",
            )
            return JobResult(ok=False, reason=_reason(exc))
        finally:
            log.info(
                "allocator.snapshot_job_ran",
                deployment_id=dep_id,
                job_id=job.job_id,
                kind=job.kind.value,
                seconds=round(time.monotonic() - started, 3),
            )

    def _create(
        self,
        repository: Repository,
        key: bytes,
        dep_id: str,
        job: SnapshotJob,
        staged_dir: Path,
        mount: Path,
    ) -> SnapshotEntry:
        """Store a staged snapshot; on failure record it FAILED (when the repository answers)
        and return that entry."""
        try:
            staged: StagedSnapshot | None = read_staged(staged_dir, within=mount)
        except (SnapshotError, OSError):
            staged = None
        policy = staged.policy if staged is not None else None
        try:
            entry = write_snapshot(repository, key, dep_id, staged_dir, within=mount)
        except (SnapshotError, OSError, ValueError) as exc:
            reason = _reason(exc)
            log.warning(
                "allocator.snapshot_create_failed",
                deployment_id=dep_id,
                uuid=job.uuid,
                error=f"{type(exc).__name__}: {exc}",
            )
            if policy is not None:
                self._policy_failed[dep_id] = True
            failed = staged or StagedSnapshot(
                name=job.snapshot, uuid=job.uuid, start_time=job.created_at, store=None
            )
            failed = failed.model_copy(update={"indices": (), "store": None})
            try:
                return write_failed(repository, key, dep_id, failed, reason)
            except (SnapshotError, ValueError):
                raise exc from None
        if policy is not None:
            self._policy_failed[dep_id] = False
        return entry

    def _post(self, target: MetricsTarget, job: SnapshotJob, result: JobResult) -> bool:
        answer = send_to_node(
            target.socket,
            self.allocator.probe_context,
            target.server_name,
            target.token,
            "POST",
            f"{JOBS_PATH}/{job.job_id}",
            result.model_dump_json().encode(),
            timeout=self.node_timeout_s,
        )
        if answer is None or not 200 <= answer[0] < 300:
            log.warning(
                "allocator.snapshot_result_not_taken",
                deployment_id=target.deployment_id,
                job_id=job.job_id,
                status=answer[0] if answer else None,
            )
            return False
        return True

    def _push_catalog(self, target: MetricsTarget, repository: Repository, key: bytes) -> None:
        dep_id = target.deployment_id
        try:
            entries = list_snapshots(repository, key, dep_id)
        except SnapshotError as exc:
            log.warning("allocator.snapshot_catalog_failed", deployment_id=dep_id, error=str(exc))
            if self._policy_failed.get(dep_id):  # a scheduled snapshot failed unrecorded
                known = self.allocator.snapshot_summaries.get(dep_id) or SnapshotSummary()
                self.allocator.snapshot_summaries[dep_id] = known.model_copy(
                    update={"healthy": False}
                )
            return
        catalog = SnapshotCatalog(snapshots=tuple(entries))
        answer = send_to_node(
            target.socket,
            self.allocator.probe_context,
            target.server_name,
            target.token,
            "PUT",
            CATALOG_PATH,
            json.dumps(catalog.model_dump(mode="json")).encode(),
            timeout=self.node_timeout_s,
        )
        self.allocator.snapshot_summaries[dep_id] = summarize(
            entries, last_policy_failed=self._policy_failed.get(dep_id, False)
        )
        if answer is not None and 200 <= answer[0] < 300:
            self._catalogued[dep_id] = target.token
        else:
            log.warning(
                "allocator.snapshot_catalog_not_taken",
                deployment_id=dep_id,
                status=answer[0] if answer else None,
            )


def _reason(exc: Exception) -> str:
    """What the node shows its users for a failed job: never where the repository is (a host
    path, a bucket) nor a path on the allocator's host; the allocator's log has those."""
    if isinstance(exc, RepositoryUnavailable):
        return "the snapshot repository is unavailable"
    if isinstance(exc, SnapshotError):
        return str(exc) or type(exc).__name__
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {exc.strerror or exc}"
    return f"{type(exc).__name__}: {exc}"

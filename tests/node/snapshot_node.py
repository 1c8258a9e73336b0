"""A real `citadel node` started as its allocator starts it for snapshots: the platform's
snapshot defaults on argv and the per-start token the internal routes answer to (on a pipe).

`Allocator` plays the allocator's part over the node's internal routes only (it reads a staged
directory and posts a result and a catalog, or lays out a restore directory from a staged
one); moving bytes into a repository is the real allocator's (tests/runtime).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from citadel.contract.snapshot_jobs import (
    CATALOG_PATH,
    JOBS_PATH,
    RESTORE_DIR,
    STAGED_FILE,
    STAGING_DIR,
    JobResult,
    SnapshotCatalog,
    SnapshotEntry,
    SnapshotJob,
    SnapshotJobs,
    StagedSnapshot,
)
from citadel.node.metrics import TOKEN_HEADER
from tests.node.process import (
    CITADEL,
    ELASTIC_PASSWORD,
    RunningNode,
    Tls,
    _wait_ready,
    free_port,
)

TOKEN = "the-allocators-per-start-token"
DEFAULTS = ("--snapshot-interval-s", "1800", "--snapshot-retention-max-count", "5")


def start_snapshot_node(
    data_dir: Path, tls: Tls, *, defaults: tuple[str, ...] = DEFAULTS
) -> RunningNode:
    """`citadel node` on a port with `defaults` on its argv and `TOKEN` on a pipe."""
    pipes = [_pipe_with(ELASTIC_PASSWORD.encode()), _pipe_with(TOKEN.encode())]
    port = free_port()
    args = [
        CITADEL,
        "node",
        "--data-dir",
        str(data_dir),
        "--elastic-password-fd",
        str(pipes[0]),
        "--metrics-token-fd",
        str(pipes[1]),
        "--cert",
        str(tls.cert),
        "--key",
        str(tls.key),
        "--port",
        str(port),
        *defaults,
    ]
    proc = subprocess.Popen(args, pass_fds=pipes, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for fd in pipes:
        os.close(fd)
    node = RunningNode(proc, f"https://127.0.0.1:{port}", tls)
    _wait_ready(node, client_ca=False)
    return node


def _pipe_with(data: bytes) -> int:
    r, w = os.pipe()
    os.write(w, data)
    os.close(w)
    return r


@dataclass
class Allocator:
    """The allocator's side of the protocol, over the node's internal routes."""

    node: RunningNode
    data_dir: Path
    catalog: list[SnapshotEntry]

    def _client(self) -> httpx.Client:
        client = self.node.client(auth=None)
        client.headers[TOKEN_HEADER] = TOKEN
        return client

    def jobs(self) -> list[SnapshotJob]:
        with self._client() as c:
            answer = c.get(JOBS_PATH)
        assert answer.status_code == 200, answer.text
        return list(SnapshotJobs.model_validate(answer.json()).jobs)

    def staged(self, job: SnapshotJob) -> StagedSnapshot:
        path = self.data_dir / STAGING_DIR / job.uuid / STAGED_FILE
        return StagedSnapshot.model_validate_json(path.read_bytes())

    def complete_create(self, job: SnapshotJob, keep: Path | None = None) -> SnapshotEntry:
        """Store the staged snapshot (a copy under `keep`, as a repository would hold it),
        post its result, push the catalog."""
        staged = self.staged(job)
        directory = self.data_dir / STAGING_DIR / job.uuid
        if keep is not None:
            shutil.copytree(directory, keep / staged.uuid)
        size = sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())
        entry = SnapshotEntry(
            name=staged.name,
            uuid=staged.uuid,
            state="SUCCESS",
            start_time=staged.start_time,
            end_time=time.time(),
            indices=tuple(i.name for i in staged.indices),
            size_bytes=size,
            new_bytes=size,
            file_count=sum(len(i.files) for i in staged.indices) + 1,
            metadata=staged.metadata,
            policy=staged.policy,
        )
        self.post(job.job_id, JobResult(ok=True, snapshot=entry))
        self.catalog.append(entry)
        self.push_catalog()
        return entry

    def complete_delete(self, job: SnapshotJob) -> None:
        self.catalog = [e for e in self.catalog if e.name != job.snapshot]
        self.post(job.job_id, JobResult(ok=True))
        self.push_catalog()

    def complete_restore(self, job: SnapshotJob, repository: Path) -> None:
        """Lay out ``.restore/<job_id>/`` from the kept copy of the snapshot (only the
        indices the job names), ``snapshot.json`` last, then post the result."""
        kept = repository / job.uuid
        staged = StagedSnapshot.model_validate_json((kept / STAGED_FILE).read_bytes())
        chosen = tuple(i for i in staged.indices if not job.indices or i.name in job.indices)
        target = self.data_dir / RESTORE_DIR / job.job_id
        lay_out(kept, target, staged.model_copy(update={"indices": chosen}), job.include_store)
        self.post(job.job_id, JobResult(ok=True))

    def post(self, job_id: str, result: JobResult) -> httpx.Response:
        with self._client() as c:
            answer = c.post(f"{JOBS_PATH}/{job_id}", json=result.model_dump(mode="json"))
        assert answer.status_code == 200, answer.text
        return answer

    def push_catalog(self) -> None:
        body = SnapshotCatalog(snapshots=tuple(self.catalog)).model_dump(mode="json")
        with self._client() as c:
            answer = c.put(CATALOG_PATH, json=body)
        assert answer.status_code == 200, answer.text


def lay_out(kept: Path, target: Path, staged: StagedSnapshot, include_store: bool) -> None:
    """A restore directory from a kept staged snapshot: files first, ``snapshot.json`` last."""
    target.mkdir(parents=True)
    for index in staged.indices:
        for rel in index.files:
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(kept / rel, target / rel)
    if include_store and staged.store:
        (target / staged.store).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(kept / staged.store, target / staged.store)
    else:
        staged = staged.model_copy(update={"store": None})
    (target / STAGED_FILE).write_text(staged.model_dump_json())


def wait_for(predicate: Any, timeout: float = 20.0) -> Any:
    """`predicate()` once truthy, polling; fails after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


class PlayingAllocator:
    """`Allocator` in a thread: runs every job the node queues until stopped (for requests
    that wait for completion)."""

    def __init__(self, allocator: Allocator, repository: Path) -> None:
        import threading

        self.allocator = allocator
        self.repository = repository
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.errors: list[BaseException] = []

    def __enter__(self) -> PlayingAllocator:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        assert not self.errors, self.errors

    def _loop(self) -> None:
        from citadel.contract.snapshot_jobs import JobKind

        while not self._stop.wait(0.1):
            try:
                for job in self.allocator.jobs():
                    if job.kind is JobKind.CREATE:
                        self.allocator.complete_create(job, self.repository)
                    elif job.kind is JobKind.RESTORE:
                        self.allocator.complete_restore(job, self.repository)
                    else:
                        self.allocator.complete_delete(job)
            except BaseException as exc:  # surfaced when the block ends
                self.errors.append(exc)
                return

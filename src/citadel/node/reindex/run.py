"""Running reindex, update-by-query and delete-by-query over the engine, batch by batch.

The matching documents are read from one searcher snapshot (Elasticsearch's scroll), in
batches of the request's size; each batch is written in one write transaction through a
`WriteSession` and made durable before the next. A document changed since the snapshot is a
version conflict (each write is conditional on the sequence number the snapshot saw), which
aborts the run unless ``conflicts=proceed``. Throttling (``requests_per_second``) waits between
batches; a cancelled task stops before its next batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from citadel.kit.clock import Clock
from citadel.node.engine import fields as f
from citadel.node.engine.engine import Engine
from citadel.node.engine.stored import hit_count, stored_id, stored_source
from citadel.node.errors import EsError, VersionConflict
from citadel.node.reindex.requests import ByQuery, Options, Reindex
from citadel.node.search import service
from citadel.node.search.dsl import Query
from citadel.node.security.document_security import visible_source
from citadel.node.store.documents import PRIMARY_TERM, Concurrency, WriteSession
from citadel.node.store.indices import IndexRecord
from citadel.node.tasks import Task

Authorize = Callable[[str, str], None]
MAX_FAILURES = 100


@dataclass(frozen=True)
class Hit:
    """One document of the snapshot."""

    index: str
    id: str
    source: dict[str, Any]
    seq_no: int
    version: int


@dataclass
class Progress:
    """Counts so far (the task's ``status`` and the response)."""

    total: int = 0
    updated: int = 0
    created: int = 0
    deleted: int = 0
    batches: int = 0
    version_conflicts: int = 0
    noops: int = 0
    throttled_ms: int = 0
    requests_per_second: float = -1.0
    failures: list[dict[str, Any]] = field(default_factory=list)

    def status(self) -> dict[str, Any]:
        """The task status of a bulk-by-scroll action."""
        return {
            "total": self.total,
            "updated": self.updated,
            "created": self.created,
            "deleted": self.deleted,
            "batches": self.batches,
            "version_conflicts": self.version_conflicts,
            "noops": self.noops,
            "retries": {"bulk": 0, "search": 0},
            "throttled_millis": self.throttled_ms,
            "requests_per_second": self.requests_per_second,
            "throttled_until_millis": 0,
        }


@dataclass
class Job:
    """What a run needs: the node's parts and the caller's authorization."""

    store: Any
    engine: Engine
    clock: Clock
    authorize: Authorize
    records: list[IndexRecord]


def snapshot(job: Job, query: Query, now: datetime) -> list[service.Target]:
    """The searched indices' searchers as they are now, with `query` compiled for each."""
    return service.targets(job.engine, job.records, query, now=now, scoring=False)


def count(found: list[service.Target]) -> int:
    """How many documents of the snapshot match."""
    return sum(hit_count(t.searcher.search(t.query, 1, count=True)) for t in found)


def scan(found: list[service.Target], batch: int, limit: int | None) -> Iterator[list[Hit]]:
    """The matching documents of the snapshot, `batch` at a time, at most `limit` in all."""
    left = limit
    for target in found:
        searcher = target.searcher
        offset = 0
        while left is None or left > 0:
            size = batch if left is None else min(batch, left)
            result = searcher.search(target.query, limit=size, count=False, offset=offset)
            if not result.hits:
                break
            out = []
            for _, address in result.hits:
                doc = searcher.doc(address)
                seq_no = searcher.fast_field_values(f.SEQ_NO_FIELD, [address])[0]
                version = searcher.fast_field_values(f.VERSION_FIELD, [address])[0]
                out.append(
                    Hit(
                        target.record.name,
                        stored_id(doc),
                        visible_source(target.record, stored_source(doc)),
                        int(seq_no or 0),
                        int(version or 1),
                    )
                )
            offset += len(out)
            if left is not None:
                left -= len(out)
            yield out
            if len(out) < size:
                break


Write = Callable[[WriteSession, Hit, Progress], None]


def run(
    job: Job,
    task: Task,
    query: Query,
    options: Options,
    write: Write,
) -> dict[str, Any]:
    """Run `write` over every matching document; the bulk-by-scroll response."""
    started = time.monotonic()
    now = job.clock.now()
    progress = Progress(requests_per_second=options.requests_per_second)
    task.requests_per_second = options.requests_per_second
    task.status = progress.status
    found = snapshot(job, query, now)
    total = count(found)
    progress.total = min(total, options.max_docs) if options.max_docs is not None else total
    touched: set[str] = set()
    canceled = False
    aborted = False
    for hits in scan(found, options.batch, options.max_docs):
        if task.cancelled:
            canceled = True
            break
        batch_started = time.monotonic()
        with job.store.write() as conn:
            session = WriteSession(conn, job.clock, job.authorize, job.engine)
            for hit in hits:
                try:
                    write(session, hit, progress)
                except VersionConflict as exc:
                    progress.version_conflicts += 1
                    if not options.proceed_on_conflicts:
                        _fail(progress, hit, exc)
                        aborted = True
                        break
                except EsError as exc:
                    _fail(progress, hit, exc)
                    aborted = True
                    break
            session.save()
            touched.update(session.written_uuids())
        progress.batches += 1
        if aborted:
            break
        _throttle(task, progress, len(hits), batch_started)
    if options.refresh:
        for uuid in touched:
            job.engine.refresh(uuid)
    out: dict[str, Any] = {
        "took": int((time.monotonic() - started) * 1000),
        "timed_out": False,
        **progress.status(),
        "failures": progress.failures,
    }
    if canceled:
        out["canceled"] = "by user request"
    return out


def _throttle(task: Task, progress: Progress, done: int, batch_started: float) -> None:
    rate = task.requests_per_second
    progress.requests_per_second = rate
    if rate <= 0:
        return
    wait = done / rate - (time.monotonic() - batch_started)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and not task.cancelled:
        time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
    progress.throttled_ms += int(max(wait, 0) * 1000)


def _fail(progress: Progress, hit: Hit, exc: EsError) -> None:
    if len(progress.failures) >= MAX_FAILURES:
        return
    progress.failures.append(
        {
            "index": hit.index,
            "id": hit.id,
            "cause": {"type": exc.type, "reason": exc.reason, **exc.extra},
            "status": exc.status,
        }
    )


# -- the three writes --------------------------------------------------------------------------


def update_in_place(request: ByQuery) -> Write:
    """``_update_by_query``: each document indexed again (its script, then its pipeline)."""

    def write(session: WriteSession, hit: Hit, progress: Progress) -> None:
        session.authorize("index", hit.index)
        source = request.script(hit.source) if request.script is not None else hit.source
        result = session.index(
            hit.index,
            hit.id,
            source,
            concurrency=Concurrency(seq_no=hit.seq_no, primary_term=PRIMARY_TERM),
            pipeline=request.pipeline,
        )
        if result.dropped:
            progress.noops += 1
        else:
            progress.updated += 1

    return write


def delete_matching() -> Write:
    """``_delete_by_query``: each document deleted."""

    def write(session: WriteSession, hit: Hit, progress: Progress) -> None:
        session.authorize("delete", hit.index)
        session.delete(
            hit.index,
            hit.id,
            concurrency=Concurrency(seq_no=hit.seq_no, primary_term=PRIMARY_TERM),
        )
        progress.deleted += 1

    return write


def copy_to(request: Reindex) -> Write:
    """``_reindex``: each document written into the destination index."""
    privilege = "create" if request.op_type == "create" else "index"

    def write(session: WriteSession, hit: Hit, progress: Progress) -> None:
        session.authorize(privilege, request.dest_index)
        source = hit.source
        if request.source_filter is not None:
            source = request.source_filter.apply(source) or {}
        concurrency = Concurrency()
        if request.version_type != "internal":
            concurrency = Concurrency(version=hit.version, version_type=request.version_type)
        result = session.index(
            request.dest_index,
            hit.id,
            source,
            create_only=request.op_type == "create",
            concurrency=concurrency,
            pipeline=request.dest_pipeline,
        )
        if result.dropped:
            progress.noops += 1
        elif result.result == "created":
            progress.created += 1
        else:
            progress.updated += 1

    return write

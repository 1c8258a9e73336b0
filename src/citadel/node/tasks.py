"""The node's tasks: running requests, and background tasks (``wait_for_completion=false``)
on a bounded worker pool.

Every request the node serves is a task while its handler runs (registered by the ASGI app:
one dict insert and delete under a short lock, never held across the request), so ``_tasks``
and ``_cat/tasks`` list what is in flight; such tasks are not cancellable (a handler does not
look for cancellation) and are forgotten when they end, as Elasticsearch keeps no result for
them.

At most `WORKERS` tasks run at once on daemon threads; at most `MAX_QUEUED` wait (more is a
429, as Elasticsearch rejects work when its queue is full). Finished tasks keep their result
in memory, the newest `MAX_FINISHED` of them (Elasticsearch stores them in ``.tasks``; here a
restart forgets them). Ids are ``<node id>:<number>`` as in Elasticsearch.
"""

from __future__ import annotations

import fnmatch
import itertools
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from citadel.node.errors import EsError, IllegalArgument, ResourceNotFound

WORKERS = 2
MAX_QUEUED = 64
MAX_FINISHED = 1000


class Rejected(EsError):
    type = "es_rejected_execution_exception"
    status = 429


@dataclass
class Task:
    """One task: what it does, its live status, and its outcome once finished."""

    node: str
    number: int
    action: str
    description: str
    start_ms: int
    started_ns: int
    status: Callable[[], dict[str, Any]] | None = None
    cancellable: bool = True
    cancelled: bool = False
    finished: threading.Event = field(default_factory=threading.Event)
    response: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    requests_per_second: float = -1.0
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.node}:{self.number}"

    def info(self, *, detailed: bool = True) -> dict[str, Any]:
        """The task as ``_tasks`` shows it."""
        out: dict[str, Any] = {
            "node": self.node,
            "id": self.number,
            "type": "transport",
            "action": self.action,
        }
        if detailed and self.status is not None:
            out["status"] = self.status()
        if detailed:
            out["description"] = self.description
        out["start_time_in_millis"] = self.start_ms
        out["running_time_in_nanos"] = time.monotonic_ns() - self.started_ns
        out["cancellable"] = self.cancellable
        out["cancelled"] = self.cancelled
        out["headers"] = dict(self.headers)
        return out


def parse_task_id(text: str) -> tuple[str, int]:
    """``node:number``; 400 when malformed."""
    node, sep, number = text.partition(":")
    if not sep or not node or not number.isdigit():
        raise IllegalArgument(f"malformed task id {text}")
    return node, int(number)


class TaskManager:
    """The node's tasks."""

    def __init__(self, node_id: str, clock_ms: Callable[[], int]) -> None:
        self.node_id = node_id
        self.clock_ms = clock_ms
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._running: dict[int, Task] = {}
        self._finished: OrderedDict[int, Task] = OrderedDict()
        self._queue: queue.Queue[tuple[Task, Callable[[Task], dict[str, Any]]]] = queue.Queue(
            MAX_QUEUED
        )
        self._workers: list[threading.Thread] = []

    def register(
        self,
        action: str,
        description: str,
        *,
        cancellable: bool = True,
        headers: dict[str, str] | None = None,
    ) -> Task:
        """A task that the caller runs itself (a request, or ``wait_for_completion=true``)."""
        task = Task(
            self.node_id,
            next(self._numbers),
            action,
            description,
            self.clock_ms(),
            time.monotonic_ns(),
            cancellable=cancellable,
            headers=headers or {},
        )
        with self._lock:
            self._running[task.number] = task
        return task

    def complete(self, task: Task, response: dict[str, Any] | None, error: EsError | None) -> None:
        """Record `task`'s outcome and keep it among the finished ones."""
        task.response = response
        task.error = error.body()["error"] if error is not None else None
        with self._lock:
            self._running.pop(task.number, None)
            self._finished[task.number] = task
            while len(self._finished) > MAX_FINISHED:
                self._finished.popitem(last=False)
        task.finished.set()

    def submit(self, task: Task, work: Callable[[Task], dict[str, Any]]) -> None:
        """Run `work(task)` on a worker; 429 when the queue is full."""
        self._start_workers()
        try:
            self._queue.put_nowait((task, work))
        except queue.Full:
            with self._lock:
                self._running.pop(task.number, None)
            raise Rejected(
                f"rejected execution of task [{task.id}]: {MAX_QUEUED} tasks are already queued"
            ) from None

    def forget(self, task: Task) -> None:
        """Drop a task that ran in the request (ES keeps those only while they run)."""
        with self._lock:
            self._running.pop(task.number, None)
        task.finished.set()

    def clear_finished(self) -> int:
        """Forget every finished task's result (``_features/_reset``); how many there were."""
        with self._lock:
            count = len(self._finished)
            self._finished.clear()
        return count

    def _start_workers(self) -> None:
        with self._lock:
            while len(self._workers) < WORKERS:
                worker = threading.Thread(target=self._work, name="citadel-task", daemon=True)
                worker.start()
                self._workers.append(worker)

    def _work(self) -> None:
        while True:
            task, work = self._queue.get()
            try:
                response = work(task)
            except EsError as exc:
                self.complete(task, None, exc)
            except Exception as exc:  # a bug: keep the worker alive, report it on the task
                self.complete(task, None, EsError(f"task failed: {type(exc).__name__}"))
            else:
                self.complete(task, response, None)

    # -- reading -------------------------------------------------------------------------

    def get(self, task_id: str) -> Task:
        """A running or finished task; 404 when this node does not know it."""
        node, number = parse_task_id(task_id)
        with self._lock:
            task = self._running.get(number) or self._finished.get(number)
        if node != self.node_id or task is None:
            raise ResourceNotFound(f"task [{task_id}] isn't running and hasn't stored its results")
        return task

    def running(self, actions: str | None = None) -> list[Task]:
        """The running tasks whose action matches one of `actions` (comma-separated globs)."""
        with self._lock:
            tasks = list(self._running.values())
        if not actions:
            return tasks
        patterns = [a for a in actions.split(",") if a]
        return [t for t in tasks if any(fnmatch.fnmatchcase(t.action, p) for p in patterns)]

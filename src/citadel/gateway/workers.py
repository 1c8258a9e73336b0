"""One gateway worker process per core, sharing the listening ports (SO_REUSEPORT).

The parent prepares everything every worker must share — certificates and keys, the TLS
server context, the first snapshot, compiled — and then forks; each worker runs its own
event loop and binds its own listeners with SO_REUSEPORT, so the kernel spreads new
connections over the workers and no worker ever waits on another. What the fork shares:

- The TLS server context, made once before the fork, holds the session-ticket keys: a ticket
  one worker issued resumes on any other, so resumption survives the kernel's spreading.
- The compiled snapshot: worker 0 (the parent) fetches new ones from the control plane and
  persists them; every other worker starts from the parent's compiled table and follows the
  persisted file (`SnapshotKeeper.follower`), so one fetch serves all workers.
- Nothing per request: each worker keeps its own upstream pool and caps (`admission`) and
  reports the clients it saw itself (the control plane merges the reports of all gateways).
- A channel per forked worker (a socket pair made before the fork): the parent asks each
  worker for its counters at scrape time (`metrics`), so ``/metrics`` served by the parent
  sums every worker's.

A worker is stopped with its parent: the parent sends it SIGTERM when it stops, and the
kernel sends it SIGTERM if the parent dies first (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

log = structlog.get_logger("citadel.gateway.workers")

_PR_SET_PDEATHSIG = 1


def worker_count(requested: int) -> int:
    """`requested` workers, or one per CPU for 0."""
    if requested < 0:
        raise ValueError("the number of workers is 0 (one per CPU) or more")
    return requested or len(os.sched_getaffinity(0)) or 1


@dataclass(frozen=True)
class Worker:
    """One worker's place: its index; a forked worker's end of its channel to the parent,
    or (worker 0, the parent) the parent's ends of every forked worker's channel."""

    index: int
    channel: socket.socket | None = None
    children: tuple[socket.socket, ...] = field(default=())


def run_workers(count: int, serve: Callable[[Worker], None]) -> None:
    """Run ``serve(worker)`` in `count` processes: this one is worker 0, the others are
    forked children. Returns when worker 0's `serve` returns, after stopping the children."""
    parent = os.getpid()
    children: list[int] = []
    pairs = [socket.socketpair() for _ in range(1, count)]
    for index in range(1, count):
        pid = os.fork()
        if pid == 0:
            own = pairs[index - 1][1]
            for pair in pairs:  # keep only this worker's end
                for end in pair:
                    if end is not own:
                        end.close()
            _worker(Worker(index, channel=own), parent, serve)  # never returns
        children.append(pid)
    for _, child_end in pairs:
        child_end.close()
    try:
        serve(Worker(0, children=tuple(parent_end for parent_end, _ in pairs)))
    finally:
        for parent_end, _ in pairs:
            parent_end.close()
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _worker(worker: Worker, parent: int, serve: Callable[[Worker], None]) -> None:
    code = 0
    try:
        _die_with(parent)
        serve(worker)
    except BaseException as exc:  # the process ends here either way: say why
        log.error("gateway.worker.failed", worker=worker.index, error=type(exc).__name__)
        code = 1
    finally:
        os._exit(code)


def _die_with(parent: int) -> None:
    """Ask the kernel for SIGTERM when the parent dies (and exit if it already has)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(0)

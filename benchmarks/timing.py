"""Timing an operation in repeated runs and summarizing it robustly on a noisy machine.

Each run times every iteration with `time.perf_counter_ns` (about 0.1 µs of overhead per
iteration, which matters only for the sub-microsecond parts). A run gives its mean, p50 and
p99; the summary is the median of each over the runs, so one disturbed run moves nothing.
Runs of the different operations are interleaved (see `measure`).

Next to wall-clock time each run records the process's CPU time per operation (all threads):
on a busy machine wall time includes waiting for a CPU, CPU time does not. CPU time leaves out
work done by other processes (the PostgreSQL server), so on PostgreSQL it is a floor.
"""

from __future__ import annotations

import gc
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class RunStats:
    """One run of `iterations` timed operations, in microseconds."""

    mean_us: float
    p50_us: float
    p99_us: float
    cpu_mean_us: float


@dataclass(frozen=True)
class Summary:
    """Medians over the runs of each run's mean, p50, p99 and CPU mean (microseconds)."""

    name: str
    runs: int
    iterations: int
    us_per_op: float
    p50_us: float
    p99_us: float
    cpu_us_per_op: float
    run_means_us: list[float]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def load_average() -> float:
    """The machine's one-minute load average: how busy it was around a measurement."""
    return round(os.getloadavg()[0], 2)


def percentile(sorted_values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of already sorted values (`fraction` in 0..1)."""
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def time_run(operation: Callable[[], object], iterations: int) -> RunStats:
    """Time `iterations` calls of `operation`, each on its own."""
    samples: list[float] = []
    clock = time.perf_counter_ns
    gc.collect()
    cpu_start = time.process_time_ns()
    for _ in range(iterations):
        start = clock()
        operation()
        samples.append((clock() - start) / 1000)
    cpu_mean_us = (time.process_time_ns() - cpu_start) / 1000 / iterations
    samples.sort()
    return RunStats(
        mean_us=statistics.fmean(samples),
        p50_us=percentile(samples, 0.50),
        p99_us=percentile(samples, 0.99),
        cpu_mean_us=cpu_mean_us,
    )


@dataclass(frozen=True)
class Case:
    """One operation to time, and how many calls make a run of it."""

    name: str
    operation: Callable[[], object]
    iterations: int
    warmup: int


def measure(cases: list[Case], *, runs: int) -> list[Summary]:
    """Warm every case up, then time `runs` rounds that visit each case in turn.

    Interleaving the cases spreads the machine's quiet and busy moments over all of them,
    instead of letting one case get all of a busy moment.
    """
    for case in cases:
        for _ in range(case.warmup):
            case.operation()
    stats: dict[str, list[RunStats]] = {case.name: [] for case in cases}
    for _ in range(runs):
        for case in cases:
            stats[case.name].append(time_run(case.operation, case.iterations))
    return [_summary(case, stats[case.name]) for case in cases]


def _summary(case: Case, stats: list[RunStats]) -> Summary:
    return Summary(
        name=case.name,
        runs=len(stats),
        iterations=case.iterations,
        us_per_op=round(statistics.median(s.mean_us for s in stats), 2),
        p50_us=round(statistics.median(s.p50_us for s in stats), 2),
        p99_us=round(statistics.median(s.p99_us for s in stats), 2),
        cpu_us_per_op=round(statistics.median(s.cpu_mean_us for s in stats), 2),
        run_means_us=[round(s.mean_us, 2) for s in stats],
    )

"""One contender's run: bulk indexing, then the query phases, timed the same way for all.

Standard library only (the Lucene contender runs in its own virtualenv). A contender is an
object with the `Engine` methods; `run` feeds it the corpus in batches of 1,000, then each
query phase one request at a time, and reads wall time per request, the serving process's
CPU time per phase and its peak resident memory. A contender that refuses a kind of request
(the node answers 400 to what it does not do) raises `Refused`: that phase is recorded as
refused with the reason, and the run goes on; any other failure of a request is recorded as
that phase's error (a node under construction may answer 500), and the run goes on too.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from benchmarks.engine.corpus import Queries, batches

TOP = 10


class Refused(Exception):
    """The contender answered that it does not do this request (for the node: HTTP 400)."""


class Engine(Protocol):
    """What a contender offers the phases; results are plain Python values."""

    def prepare(self, lines: list[bytes]) -> Any: ...  # untimed: turn lines into a batch
    def index(self, batch: Any) -> None: ...
    def finish_indexing(self) -> None: ...  # commit, refresh: everything searchable
    def match(self, text: str) -> list[str]: ...  # top-10 ids, BM25 order
    def filtered(self, text: str, tag: str, lo: int, hi: int) -> list[str]: ...
    def terms(self, lo: int, hi: int) -> dict[str, int]: ...
    def date_histogram(self, lo: int, hi: int) -> dict[int, int]: ...  # day start ms -> docs
    def disk_bytes(self) -> int: ...
    def cpu_seconds(self) -> float: ...  # of the process that does the work
    def peak_rss_bytes(self) -> int: ...


def proc_cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU time of a process, all its threads, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """User + system CPU time of this process, all its threads, at nanosecond resolution."""
    return time.process_time()


def proc_peak_rss(pid: int | str = "self") -> int:
    """Peak resident memory of a process (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def tree_bytes(root: Path) -> int:
    """Bytes of the regular files under `root`."""
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of sorted values."""
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def run(
    engine: Engine, corpus_dir: Path, queries: Queries, *, phase_seconds: float, warmup: int
) -> dict:
    """Every phase on `engine`; a JSON-ready result with the match phase's top-10 ids.

    Each query phase starts with its first `warmup` queries, untimed (a JVM compiles its hot
    paths, caches fill), then times all of them, stopping early after `phase_seconds`.
    """
    load_before = os.getloadavg()[0]
    result: dict[str, Any] = {"bulk": _bulk(engine, corpus_dir)}
    result["disk_bytes"] = engine.disk_bytes()
    phases: list[tuple[str, list[Any], Callable[..., Any]]] = [
        ("match", [(t,) for t in queries.match], engine.match),
        ("filtered", queries.filtered, engine.filtered),
        ("terms", queries.aggregations, engine.terms),
        ("date_histogram", queries.aggregations, engine.date_histogram),
    ]
    for name, args, call in phases:
        result[name] = _queries(engine, call, args, phase_seconds, warmup)
    result["peak_rss_bytes"] = engine.peak_rss_bytes()
    result["load_average_1m"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return result


def _bulk(engine: Engine, corpus_dir: Path) -> dict[str, Any]:
    """Batches read and prepared one at a time (untimed), indexed (timed), then committed."""
    docs, seconds = 0, 0.0
    cpu = engine.cpu_seconds()
    for lines in batches(corpus_dir):
        batch = engine.prepare(lines)
        started = time.perf_counter()
        engine.index(batch)
        seconds += time.perf_counter() - started
        docs += len(lines) // 2
    started = time.perf_counter()
    engine.finish_indexing()
    seconds += time.perf_counter() - started
    cpu = engine.cpu_seconds() - cpu
    return {
        "docs": docs,
        "seconds": round(seconds, 3),
        "docs_per_s": round(docs / seconds, 1),
        "cpu_us_per_doc": round(cpu / docs * 1e6, 1),
    }


def _queries(
    engine: Engine, call: Callable[..., Any], args: list[Any], phase_seconds: float, warmup: int
) -> dict[str, Any]:
    try:
        for arg in args[:warmup]:
            call(*arg)
    except Refused as exc:
        return {"refused": str(exc)[:300]}
    except Exception as exc:  # a failing phase is a result, not the end of the run
        return {"error": f"{type(exc).__name__}: {exc}"[:300], "in_warmup": True}
    latencies: list[float] = []
    answers: list[Any] = []
    cpu, started = engine.cpu_seconds(), time.perf_counter()
    for arg in args:
        t = time.perf_counter()
        try:
            answers.append(call(*arg))
        except Refused as exc:
            return {"refused": str(exc)[:300]}
        except Exception as exc:  # likewise
            return {"error": f"{type(exc).__name__}: {exc}"[:300], "after_queries": len(answers)}
        latencies.append(time.perf_counter() - t)
        if time.perf_counter() - started > phase_seconds:
            break
    wall = time.perf_counter() - started
    cpu = engine.cpu_seconds() - cpu
    latencies.sort()
    out: dict[str, Any] = {
        "queries": len(latencies),
        "complete": len(latencies) == len(args),
        "queries_per_s": round(len(latencies) / wall, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 3),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 3),
        "cpu_ms_per_query": round(cpu / len(latencies) * 1000, 3),
        "first_answer": _jsonable(answers[0]),
    }
    if isinstance(answers[0], list):
        out["top_ids"] = answers
    return out


def _jsonable(answer: Any) -> Any:
    if isinstance(answer, dict):
        return {str(k): v for k, v in sorted(answer.items())}
    return answer


def worker_main(open_engine: Callable[[Path], Engine], about: Callable[[], dict]) -> None:
    """Command line of an in-process contender: ``CORPUS_DIR INDEX_DIR OUT [--phase-seconds]``.

    The engine runs in this process alone, so its CPU time and peak memory are its own.
    """
    import argparse
    import json

    parser = argparse.ArgumentParser()
    parser.add_argument("corpus_dir", type=Path)
    parser.add_argument("index_dir", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--phase-seconds", type=float, default=120.0)
    parser.add_argument("--warmup", type=int, default=100)
    args = parser.parse_args()
    engine = open_engine(args.index_dir)
    queries = Queries.load(args.corpus_dir)
    result = run(
        engine, args.corpus_dir, queries, phase_seconds=args.phase_seconds, warmup=args.warmup
    )
    result["about"] = about()
    args.out.write_text(json.dumps(result))

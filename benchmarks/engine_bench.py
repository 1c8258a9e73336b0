"""Search engines side by side in one run: the node over HTTPS (on a plain directory and on a
gocryptfs volume), tantivy in process and Lucene in process (issue 14).

One generated corpus (deterministic by seed; `benchmarks/engine/corpus.py`), indexed by each
contender in turn through batches of 1,000, then the same queries in the same order: one- and
two-word `match` on `body`, a filtered `bool` (match + `term` tag + `range` count), a `terms`
aggregation on `tag` and a `date_histogram` (1 day) on `timestamp`, each aggregation over a
`range` of `count`. Reported per contender: bulk docs/s, queries/s, p50/p99 latency, CPU
time per request of the process doing the work, bytes on disk, peak RSS, and the top-10
overlap with Lucene on the match queries; ratios against Lucene and encrypted ÷ plain.

The in-process engines each run in a process of their own (tantivy in `.venv`, Lucene in
`.venv-bench`, which this command makes on first use: `benchmarks/engine/bench_venv.py`), so
their CPU and memory figures are theirs alone. The node is measured from the outside.

    .venv/bin/python -m benchmarks.engine_bench [--docs 100000] [--queries 2000]
        [--contenders node,node-gocryptfs,tantivy,lucene] [--out benchmarks/results/engine.json]
    .venv/bin/python -m benchmarks.engine_bench --markdown benchmarks/results/engine.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.engine import bench_venv, phases, report
from benchmarks.engine.corpus import Queries, make_queries, write_corpus
from benchmarks.report import machine

ROOT = Path(__file__).resolve().parents[1]
ALL_CONTENDERS = ("lucene", "tantivy", "node", "node-gocryptfs")
WORKER_TIMEOUT_S = 3 * 3600


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=2000, help="match queries")
    parser.add_argument("--filtered", type=int, help="filtered queries (default: queries / 4)")
    parser.add_argument("--aggregations", type=int, help="of each kind (default: queries / 10)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=100, help="untimed queries per phase")
    parser.add_argument(
        "--phase-seconds", type=float, default=120.0, help="stop a query phase after this long"
    )
    parser.add_argument("--contenders", default=",".join(ALL_CONTENDERS))
    parser.add_argument(
        "--node-ref",
        help="run the node from this git commit's src/ (exported with git archive) instead "
        "of the working tree's",
    )
    parser.add_argument("--work-dir", type=Path, help="default: a temporary directory")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/engine.json")
    parser.add_argument("--markdown", type=Path, help="print the markdown of a result file")
    return parser.parse_args(argv)


def run_benchmark(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Generate the corpus, run every contender in turn, compare; the JSON-ready result."""
    queries = make_queries(
        args.queries,
        args.filtered if args.filtered is not None else max(1, args.queries // 4),
        args.aggregations if args.aggregations is not None else max(1, args.queries // 10),
        args.seed,
    )
    corpus_dir = work / "corpus"
    started = time.perf_counter()
    corpus_bytes = write_corpus(corpus_dir, args.docs, queries, args.seed)
    _say(f"corpus: {args.docs:,} documents, {corpus_bytes / 1e6:.1f} MB of _bulk body "
         f"in {time.perf_counter() - started:.1f} s")  # fmt: skip
    node_commit = _git("rev-parse", "--short", args.node_ref) if args.node_ref else None
    node_source = _export_node(node_commit, work / "node-src") if node_commit else None
    load_before = os.getloadavg()[0]
    results: dict[str, dict[str, Any]] = {}
    for name in [c.strip() for c in args.contenders.split(",") if c.strip()]:
        _say(f"{name}: running")
        started = time.perf_counter()
        try:
            results[name] = _run_contender(
                name, args, corpus_dir, queries, work / name, node_source
            )
        except _Skipped as exc:
            results[name] = {"skipped": str(exc)}
        except Exception as exc:  # one contender failing must not end the run
            results[name] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
        shutil.rmtree(work / name, ignore_errors=True)
        _say(f"{name}: done in {time.perf_counter() - started:.0f} s")
    reference = results.get(report.BASELINE, {})
    agreement = {name: report.agreement(r, reference) for name, r in results.items()}
    for r in results.values():  # the id lists served the agreement; the file keeps figures
        for phase in report.QUERY_PHASES:
            r.get(phase, {}).pop("top_ids", None)
    return {
        "benchmark": "engine",
        "machine": machine(),
        "parameters": {
            "docs": args.docs,
            "match_queries": len(queries.match),
            "filtered_queries": len(queries.filtered),
            "aggregations": len(queries.aggregations),
            "seed": args.seed,
            "warmup": args.warmup,
            "phase_seconds": args.phase_seconds,
            "batch": 1000,
            "corpus_bytes": corpus_bytes,
        },
        "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "node_checkout": _checkout(node_commit),
        "results": results,
        "agreement": {k: v for k, v in agreement.items() if v is not None and k != "lucene"},
        "ratios": report.ratios(results),
    }


class _Skipped(Exception):
    """A contender cannot run on this machine (the reason is the message)."""


def _run_contender(
    name: str,
    args: argparse.Namespace,
    corpus_dir: Path,
    queries: Queries,
    work: Path,
    node_source: Path | None,
) -> dict[str, Any]:
    if name in ("node", "node-gocryptfs"):
        return _run_node(
            args, corpus_dir, queries, work, encrypted_volume=name != "node", source=node_source
        )
    if name == "tantivy":
        return _run_worker([sys.executable], "tantivy_contender", args, corpus_dir, work, {})
    if name == "lucene":
        try:
            runtime = bench_venv.ensure()
        except bench_venv.SetupFailed as exc:
            raise _Skipped(str(exc)) from exc
        classpath = os.pathsep.join([str(runtime.jar), str(runtime.helper_classes)])
        env = {"CITADEL_BENCH_CLASSPATH": classpath}
        return _run_worker([str(runtime.python)], "lucene_contender", args, corpus_dir, work, env)
    raise _Skipped(f"unknown contender {name!r} (known: {', '.join(ALL_CONTENDERS)})")


def _run_worker(
    python: list[str],
    module: str,
    args: argparse.Namespace,
    corpus_dir: Path,
    work: Path,
    env: dict[str, str],
) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    out = work / "result.json"
    argv = [
        *python, "-m", f"benchmarks.engine.{module}", str(corpus_dir), str(work / "index"),
        str(out), "--phase-seconds", str(args.phase_seconds), "--warmup", str(args.warmup),
    ]  # fmt: skip
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    done = subprocess.run(
        argv, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=WORKER_TIMEOUT_S
    )
    if done.returncode != 0:
        tail = " / ".join(done.stderr.strip().splitlines()[-3:])
        raise RuntimeError(f"{module} exited {done.returncode}: {tail}")
    return json.loads(out.read_text())


def _run_node(
    args: argparse.Namespace,
    corpus_dir: Path,
    queries: Queries,
    work: Path,
    *,
    encrypted_volume: bool,
    source: Path | None,
) -> dict[str, Any]:
    from benchmarks.engine.node_contender import running_node, volume_route

    if encrypted_volume:
        missing = [t for t in ("gocryptfs", "fusermount3") if shutil.which(t) is None]
        if missing or not Path("/dev/fuse").exists() or os.geteuid() != 0:
            raise _Skipped(f"needs root, /dev/fuse and {', '.join(missing) or 'gocryptfs'}")
    with running_node(work, encrypted_volume=encrypted_volume, source=source) as node:
        node.create_index()
        result = phases.run(
            node, corpus_dir, queries, phase_seconds=args.phase_seconds, warmup=args.warmup
        )
        result["about"] = node.about()
        if encrypted_volume:
            result["about"]["volume"] = volume_route()
    return result


def _git(*argv: str) -> str:
    done = subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _export_node(ref: str, directory: Path) -> Path:
    """`ref`'s src/ exported into `directory` (git archive: the checkout is not touched)."""
    directory.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref, "src"], cwd=ROOT, capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(directory)], input=archive.stdout, check=True)
    return directory / "src"


def _checkout(node_commit: str | None) -> dict[str, Any]:
    """Which node ran: an exported commit, or the working tree (and how far it differs)."""
    if node_commit:
        return {"source": "git archive", "commit": node_commit}
    changed = _git("status", "--porcelain", "--", "src/citadel/node").splitlines()
    return {
        "source": "working tree",
        "commit": _git("rev-parse", "--short", "HEAD"),
        "node_files_changed": len(changed),
    }


def _say(message: str) -> None:
    print(f"== {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    args = parse_args(argv)
    if args.markdown:
        print(report.render_markdown(json.loads(args.markdown.read_text())))
        return 0
    if args.work_dir:
        args.work_dir.mkdir(parents=True, exist_ok=True)
        result = run_benchmark(args, args.work_dir)
    else:
        with tempfile.TemporaryDirectory(prefix="citadel-engine-bench-") as tmp:
            result = run_benchmark(args, Path(tmp))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(report.render_text(result))
    print(f"\nWritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

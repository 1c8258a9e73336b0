"""Compatibility yardstick: the official clients' YAML tests against a real `citadel node`.

Starts `citadel node` over TLS, runs every file of elastic/elasticsearch-clients-tests through
the official Python client (`tests/compat/yaml_runner.py` in `.venv-es9`), wiping the node
between files, and prints pass/fail/skip per file, the pass rate for the suite's stack and
serverless tests, and the failures grouped by their first failing reason (the most common
first: that is what to build next).

    .venv/bin/python -m benchmarks.yaml_compat [--filter PATTERN] [--json out.json]
        [--top 25] [--node-src DIR] [--flavour stack|serverless|all]

The suite comes from `$CITADEL_CLIENT_TESTS_DIR` or the local mirror (see
tests/compat/harness.py); it is never copied into this repository. `--node-src` runs the node
from another source tree, e.g. a commit exported with `git archive HEAD src | tar -x -C DIR`
(then pass DIR/src), so that a half-edited working tree does not decide the figure.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.compat.harness import (
    locate_suite,
    run_suite,
    runner_unavailable,
    suite_commit,
    suite_files,
    tally,
)

MARKS = {"pass": "PASS", "fail": "FAIL", "skip": "SKIP"}


def print_file(result: dict[str, Any]) -> None:
    """One line per file: its verdict, counts, and the first failing reason."""
    tests = result["tests"]
    statuses = [t["status"] for t in tests]
    verdict = "fail" if "fail" in statuses else ("skip" if "pass" not in statuses else "pass")
    passed = statuses.count("pass")
    line = f"{MARKS[verdict]} {result['file']} ({passed}/{len(tests)})"
    failed = next((t for t in tests if t["status"] != "pass"), None)
    if failed is not None and verdict != "pass":
        line += f"  {failed['reason']['group']}"
    print(line, flush=True)


def print_summary(tallies: list[dict[str, Any]], top: int) -> None:
    for counted in tallies:
        print(
            f"\n{counted['flavour']}: {counted['passed']} of {counted['tests']} tests pass "
            f"({counted['pass_rate']:.1%}) in {counted['files']} files; "
            f"{counted['failed']} fail, {counted['skipped']} skipped"
        )
    stack = next((t for t in tallies if t["flavour"] == "stack"), tallies[0])
    print(f"\nfailing tests by kind of first failure ({stack['flavour']}):")
    for kind, count in stack["failure_kinds"].items():
        print(f"{count:4d}  {kind}")
    print(f"\nfailing tests by API namespace of first failure ({stack['flavour']}):")
    for namespace, count in list(stack["failing_namespaces"].items())[:top]:
        print(f"{count:4d}  {namespace}")
    print(f"\nfailure groups ({stack['flavour']}, first failing reason, top {top}):")
    for group in stack["failure_groups"][:top]:
        print(f"{group['tests']:4d}  {group['reason']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--filter", help="only files whose path contains this")
    parser.add_argument("--json", type=Path, help="write every result and the summary here")
    parser.add_argument("--top", type=int, default=25, help="failure groups to print")
    parser.add_argument("--node-src", type=Path, help="run the node from this source tree")
    parser.add_argument("--flavour", choices=["stack", "serverless", "all"], default="all")
    args = parser.parse_args(argv)

    suite = locate_suite()
    if suite is None:
        print("the clients-tests suite is not available (set CITADEL_CLIENT_TESTS_DIR)")
        return 2
    missing = runner_unavailable()
    if missing:
        print(missing)
        return 2
    files = suite_files(suite, args.filter)
    chosen = [f.path for f in files if args.flavour == "all" or getattr(f, args.flavour)]
    commit = suite_commit(suite)
    print(f"suite {suite} at {commit[:12]}: {len(chosen)} files", flush=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="citadel-yaml-") as workdir:
        results = run_suite(
            suite, chosen, Path(workdir), node_src=args.node_src, on_result=print_file
        )
    elapsed = time.monotonic() - started
    flavours = ["stack", "serverless"] if args.flavour == "all" else [args.flavour]
    tallies = [tally(results, files, flavour).as_dict() for flavour in flavours]
    print_summary(tallies, args.top)
    print(f"\n{len(results)} files in {elapsed:.0f}s")
    if args.json:
        report = {
            "taken": datetime.now(UTC).isoformat(timespec="seconds"),
            "suite_commit": commit,
            "node_src": str(args.node_src or "installed"),
            "seconds": round(elapsed, 1),
            "summary": tallies,
            "files": results,
        }
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

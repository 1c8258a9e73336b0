"""CLI startup: how long `citadel --help` and `citadel deployment list --help` take to start.

Two measures per command, each run in a fresh interpreter, runs interleaved between the source
trees compared so a busy moment hits them alike:

- import: ``python -X importtime -c "import citadel.cli.main"``, the cumulative import time of
  `citadel.cli.main` (building the command line's modules, nothing run);
- wall: the whole ``citadel <command> --help`` process, from spawn to exit (interpreter start,
  imports, building the command line, printing the help).

The medians over the runs are reported. ``--src`` compares other source trees (say a
``git worktree`` of an older commit) against this one; each is put first on PYTHONPATH with
this virtualenv's interpreter, so only the code differs.

    .venv/bin/python -m benchmarks.cli_startup [--runs 15] [--src /tmp/before/src]
        [--out benchmarks/results/cli_startup.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent / "src"
COMMANDS = {
    "citadel --help": ["--help"],
    "citadel deployment list --help": ["deployment", "list", "--help"],
}
RUN_CLI = "import sys; from citadel.cli.main import app; sys.argv[0] = 'citadel'; app()"
IMPORT_LINE = re.compile(r"import time:\s+\d+ \|\s+(\d+) \|\s*citadel\.cli\.main$")


def _env(src: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(src), "COLUMNS": "100"}


def import_ms(src: Path) -> float:
    """The cumulative import time of `citadel.cli.main`, in milliseconds."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import citadel.cli.main"],
        capture_output=True,
        text=True,
        check=True,
        env=_env(src),
    )
    [us] = [m.group(1) for m in map(IMPORT_LINE.search, result.stderr.splitlines()) if m]
    return int(us) / 1000


def wall_ms(src: Path, args: list[str]) -> float:
    """The wall time of one `citadel *args` process, in milliseconds."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", RUN_CLI, *args], capture_output=True, check=True, env=_env(src)
    )
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--src", type=Path, action="append", default=[], help="another tree")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    trees = [*args.src, HERE]
    samples: dict[str, dict[str, list[float]]] = {str(t): {} for t in trees}
    for _ in range(args.runs):
        for tree in trees:
            mine = samples[str(tree)]
            mine.setdefault("import citadel.cli.main", []).append(import_ms(tree))
            for name, command in COMMANDS.items():
                mine.setdefault(name, []).append(wall_ms(tree, command))
    medians = {
        tree: {name: round(statistics.median(values), 1) for name, values in measures.items()}
        for tree, measures in samples.items()
    }
    print(f"{'tree':<40} {'measure':<34} {'median ms':>10}")
    for tree, measures in medians.items():
        for name, value in measures.items():
            print(f"{tree:<40} {name:<34} {value:>10.1f}")
    if args.out is not None:
        report = {
            "machine": {
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "load_average": os.getloadavg(),
                "platform": platform.platform(),
            },
            "runs": args.runs,
            "median_ms": medians,
            "samples_ms": samples,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

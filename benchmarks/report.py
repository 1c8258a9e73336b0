"""Merging the benchmark results of one `run.sh` into one file, and printing them as a table.

Usage::

    python -m benchmarks.report PART.json ... --out benchmarks/results/auth.json

Each part is the JSON that `auth_bench` or `http_bench` wrote for one backend. The merged
file also records the machine the figures come from.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BACKENDS = ("sqlite", "postgresql")


def cpu_model() -> str:
    """The CPU's model name, as `lscpu` shows it (read from /proc/cpuinfo)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def os_name() -> str:
    """The distribution and its point release, e.g. ``Debian GNU/Linux 12 (bookworm) 12.11``."""
    pretty = platform.system()
    try:
        release = platform.freedesktop_os_release()
        pretty = release.get("PRETTY_NAME", pretty)
    except OSError:
        pass
    debian = Path("/etc/debian_version")
    return f"{pretty} {debian.read_text().strip()}" if debian.exists() else pretty


def machine() -> dict[str, object]:
    """What the figures were measured on."""
    return {
        "cpus": len(os.sched_getaffinity(0)),
        "cpu_model": cpu_model(),
        "os": os_name(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "measured_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
    }


def merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One document: the machine, then the results by benchmark and backend."""
    merged: dict[str, Any] = {"machine": machine(), "auth": {}, "http": {}}
    for part in parts:
        merged[part["benchmark"]][part["backend"]] = part
    return merged


def _auth_row(backend: str, part: dict[str, Any]) -> list[str]:
    r = part["results"]
    return [
        backend,
        f"{r['authenticate_and_authorize']['us_per_op']:.0f}",
        f"{r['authenticate_and_authorize']['p50_us']:.0f}",
        f"{r['authenticate_and_authorize']['p99_us']:.0f}",
        f"{r['authenticate_and_authorize']['cpu_us_per_op']:.0f}",
        f"{r['read_transaction_lookup']['us_per_op']:.0f}",
        f"{r['parse_and_hmac']['us_per_op']:.1f}",
        f"{r['decide']['us_per_op']:.1f}",
        f"{r['members_handler']['us_per_op'] / 1000:.1f}",
        f"{r['argon2id_verify']['us_per_op'] / 1000:.0f}",
        _load(part),
    ]


def _http_row(backend: str, part: dict[str, Any]) -> list[str]:
    return [
        backend,
        f"{part['requests_per_s']:.1f}",
        f"{part['p50_ms']:.0f}",
        f"{part['p99_ms']:.0f}",
        str(sum(run["requests"] for run in part["runs"])),
        "yes" if part["all_200"] else "NO",
        part["load_generator"],
        _load(part),
    ]


def _load(part: dict[str, Any]) -> str:
    before, after = part["load_average_1m"]
    return f"{before:.1f}/{after:.1f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(c) for c in column) for column in zip(header, *rows, strict=True)]
    lines = [header, ["-" * w for w in widths], *rows]
    return "\n".join(_line(line, widths) for line in lines)


def _line(cells: list[str], widths: list[int]) -> str:
    first = cells[0].ljust(widths[0])
    rest = (c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))
    return "  ".join([first, *rest])


def render(merged: dict[str, Any]) -> str:
    """The two tables (authentication, HTTP) and the machine, as plain text."""
    m = merged["machine"]
    auth = [_auth_row(b, merged["auth"][b]) for b in BACKENDS if b in merged["auth"]]
    http = [_http_row(b, merged["http"][b]) for b in BACKENDS if b in merged["http"]]
    auth_header = [
        "backend",
        "auth+authz µs",
        "p50 µs",
        "p99 µs",
        "CPU µs",
        "txn+lookup µs",
        "parse+HMAC µs",
        "decide µs",
        "handler ms",
        "argon2id ms",
        "load",
    ]
    http_header = ["backend", "req/s", "p50 ms", "p99 ms", "requests", "all 200", "generator"]
    http_header.append("load")
    return "\n\n".join(
        [
            f"Machine: {m['cpus']} CPUs, {m['cpu_model']}, {m['os']}, Python {m['python']}",
            "API-key authentication + authorization decision (in process, medians of runs)\n"
            + _table(auth_header, auth),
            "GET /api/v1/organizations/{id}/members, 100 members, 16 connections, TLS "
            "(medians of runs)\n" + _table(http_header, http),
            "auth+authz µs: mean per operation; p50/p99 of single operations; CPU µs: this\n"
            "process's CPU time per operation (on PostgreSQL without the server's); other\n"
            "columns: means per operation of the parts (see docs/benchmarks.md)\n"
            "load: the machine's 1-minute load average before/after the measured runs",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("parts", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    merged = merge([json.loads(p.read_text()) for p in args.parts])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(merged, indent=2) + "\n")
    print(render(merged))
    print(f"\nWritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

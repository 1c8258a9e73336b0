"""Run the side-by-side gateway benchmark: ``python -m benchmarks.gateway [--runs 3] ...``.

Writes ``benchmarks/gateway/results/gateway-vs-proxies.json`` (every round of every contender,
the summary, the machine, the load average) and ``benchmarks/gateway/results/
gateway-vs-proxies.png`` (shown by ``docs/benchmarks.md``), and prints the Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.gateway import contenders as cs
from benchmarks.gateway import report
from benchmarks.gateway.contenders import Contender
from benchmarks.gateway.load import LoadGenerator
from benchmarks.gateway.material import HOSTNAME, make_material
from benchmarks.timing import load_average

PACKAGES = {"wrk": "wrk", "haproxy": "haproxy", "nginx": "nginx", "taskset": "util-linux"}
ROOT = Path(__file__).resolve().parents[2]


def ensure_tools() -> dict[str, str]:
    """Install what is missing from Debian's packages; return the versions found."""
    missing = sorted({pkg for tool, pkg in PACKAGES.items() if shutil.which(tool) is None})
    if missing:
        print(f"== installing Debian packages: {' '.join(missing)}", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env)
    # a packaged nginx may have started its own service: ours use private configs and ports
    versions = {
        "wrk": _first_line(["wrk", "--version"]),
        "haproxy": _first_line(["haproxy", "-v"]),
        "nginx": _first_line(["nginx", "-v"]),
        "openssl": _first_line(["openssl", "version"]),
    }
    return versions


def _first_line(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    return (
        (done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr) else ""
    )


def measure_one(
    load: LoadGenerator, contender: Contender, args: argparse.Namespace, *, handshakes: bool
) -> dict:
    """One round of one contender: keep-alive at 50 and 1 connections, CPU, memory, and
    (when asked) full and resumed handshakes."""
    headers = contender.headers
    load.wrk(contender.url, connections=50, duration_s=1, headers=headers)  # warm-up
    user_before, system_before = contender.cpu_s()
    c50 = load.wrk(contender.url, connections=50, duration_s=args.duration, headers=headers)
    if contender.measured:
        user, system = contender.cpu_s()
        per_request = 1e6 / max(1, c50["requests"])
        c50["cpu_us_per_request"] = round(
            (user - user_before + system - system_before) * per_request, 2
        )
        c50["cpu_user_us_per_request"] = round((user - user_before) * per_request, 2)
        c50["cpu_system_us_per_request"] = round((system - system_before) * per_request, 2)
    c1 = load.wrk(contender.url, connections=1, duration_s=args.latency_duration, headers=headers)
    result: dict = {"c50": c50, "c1": c1}
    if contender.measured:
        result["mem"] = {"rss_mb": contender.rss_mb()}
    if handshakes and contender.handshake_port is not None:
        result["handshakes"] = {
            f"{kind}_per_s": load.handshakes(
                HOSTNAME,
                contender.handshake_port,
                resumed=kind == "resumed",
                duration_s=args.handshake_duration,
                clients=args.handshake_clients,
            )["handshakes_per_s"]
            for kind in ("full", "resumed")
        }
    for section in ("c50", "c1"):
        if result[section]["not_200"] or result[section]["socket_errors"]:
            raise RuntimeError(f"{contender.key}: errors in {section}: {result[section]}")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="rounds over every contender")
    parser.add_argument("--duration", type=float, default=8, help="s per 50-connection run")
    parser.add_argument("--latency-duration", type=float, default=4, help="s per 1-connection run")
    parser.add_argument("--handshake-duration", type=float, default=4)
    parser.add_argument("--handshake-clients", type=int, default=3)
    parser.add_argument("--rules", default="1,128,131072", help="rule counts N")
    parser.add_argument("--only", default="", help="comma-separated contender keys (prefixes)")
    parser.add_argument("--no-node", action="store_true", help="skip the real-node pair")
    parser.add_argument("--no-handshakes", action="store_true")
    parser.add_argument("--no-per-core", action="store_true")
    parser.add_argument("--no-proxy-listener", action="store_true")
    parser.add_argument("--no-mtls-haproxy", action="store_true")
    results = ROOT / "benchmarks" / "gateway" / "results"
    parser.add_argument("--out", type=Path, default=results / "gateway-vs-proxies.json")
    parser.add_argument("--chart", type=Path, default=results / "gateway-vs-proxies.png")
    args = parser.parse_args()
    rule_counts = [int(x) for x in args.rules.split(",") if x]
    versions = ensure_tools()
    started = time.time()
    report_data: dict = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            **versions,
        },
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "load_average_before": load_average(),
    }
    with tempfile.TemporaryDirectory(prefix="gwvs") as tmp:
        work = Path(tmp)
        material = make_material(work)
        load = LoadGenerator.prepare(work, HOSTNAME, cs.LOAD_CPUS)
        backend = cs.start_backend(material, work)
        running: list[Contender] = []
        node_pair = None
        try:
            starters = cs.static_contenders(
                material,
                work,
                backend,
                rule_counts,
                per_core=not args.no_per_core,
                proxy_listener=not args.no_proxy_listener,
                mtls_haproxy=not args.no_mtls_haproxy,
            )
            only = [x for x in args.only.split(",") if x]
            for starter in starters:
                contender = starter()
                if only and not any(contender.key.startswith(o) for o in only):
                    for service in contender.measured + contender.helpers:
                        service.stop()
                    continue
                running.append(contender)
                print(f"== started {contender.key}", flush=True)
            if not args.no_node:
                node_pair = cs.node_contenders(material, work)
                running += [node_pair.direct, node_pair.through_gateway]
            rounds: dict[str, list[dict]] = {c.key: [] for c in running}
            for index in range(args.runs):
                order = running[index % len(running) :] + running[: index % len(running)]
                for contender in order:
                    result = measure_one(load, contender, args, handshakes=not args.no_handshakes)
                    rounds[contender.key].append(result)
                    print(f"round {index + 1} {contender.key}: {json.dumps(result)}", flush=True)
        finally:
            for contender in running:
                for service in contender.measured + contender.helpers:
                    service.stop()
            if node_pair is not None:
                node_pair.stop()
            backend.service.stop()
    summary = report.summarise(rounds)
    labels = {c.key: c.label for c in running}
    haproxy_key = _haproxy_reference(running, rule_counts)
    report_data |= {
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average_after": load_average(),
        "rounds": rounds,
        "summary": summary,
        "ratios_to_haproxy": report.ratios(summary, rule_counts),
        "p99_added_ms": report.added_latency(summary, rule_counts),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report_data, indent=2) + "\n")
    title = (
        f"{os.cpu_count()} CPUs, median of {args.runs} alternating rounds, "
        f"load average {report_data['load_average_before']} → {report_data['load_average_after']}"
    )
    report.chart(summary, labels, args.chart, title)
    print(report.table(summary, labels, haproxy_key))
    print(
        json.dumps(
            {
                "ratios": report_data["ratios_to_haproxy"],
                "p99_added_ms": report_data["p99_added_ms"],
            },
            indent=2,
        )
    )
    return 0


def _haproxy_reference(running: list[Contender], rule_counts: list[int]) -> dict[str, str]:
    """Which haproxy figure each contender's ratio is taken against."""
    largest = max(rule_counts)
    out = {}
    for contender in running:
        if contender.group == "node":
            continue
        if contender.key.endswith("-cores"):
            out[contender.key] = "haproxy-cores"
        elif contender.key.endswith("-proxy"):
            out[contender.key] = "haproxy-proxy"
        elif contender.rules is not None and contender.key != "haproxy-mtls":
            out[contender.key] = f"haproxy-{contender.rules}"
        else:
            out[contender.key] = f"haproxy-{largest}"
    return out


if __name__ == "__main__":
    sys.exit(main())

"""Profile a contender under load: ``python -m benchmarks.gateway.profile [--tool perf]``.

Starts the fixed backend and one pinned gateway (or, with ``--contender haproxy``, haproxy),
as the side-by-side benchmark does, puts 50 keep-alive connections of wrk on it and samples
it for ``--duration`` seconds:

* ``--tool py-spy`` (the gateway only): ``py-spy record --native``, so OpenSSL, uvloop and
  httptools show under the Python functions that call them. Writes a speedscope profile and
  prints the frames with the most samples, self and inclusive.
* ``--tool perf``: ``perf record`` (kernel included) and the share of samples per binary
  (kernel, libpython, libcrypto/libssl, uvloop, httptools, haproxy) and per symbol.
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from benchmarks.gateway import contenders as cs
from benchmarks.gateway.load import LoadGenerator
from benchmarks.gateway.material import HOSTNAME, make_material


def top_frames(profile: dict, limit: int) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """(self, total) sample counts per frame name, highest first, from a speedscope file."""
    frames = profile["shared"]["frames"]
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    count = 0
    for sampled in profile["profiles"]:
        for stack, weight in zip(sampled["samples"], sampled["weights"], strict=True):
            count += weight
            names = [
                frames[i]["name"] + " " + frames[i].get("file", "").rsplit("/", 1)[-1]
                for i in stack
            ]
            if names:
                own[names[-1]] += weight
            for name in set(names):
                total[name] += weight
    scale = 100.0 / max(1, count)
    return (
        [(name, round(n * scale, 1)) for name, n in own.most_common(limit)],
        [(name, round(n * scale, 1)) for name, n in total.most_common(limit)],
    )


def perf_profile(args: argparse.Namespace) -> int:
    """``perf record`` of the contender under load; shares per binary and per symbol."""
    if shutil.which("perf") is None:
        print("perf is missing: apt-get install linux-perf", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="gwperf") as tmp:
        work = Path(tmp)
        material = make_material(work)
        load = LoadGenerator.prepare(work, HOSTNAME, cs.LOAD_CPUS)
        backend = cs.start_backend(material, work)
        if args.contender == "haproxy":
            upstream = f"127.0.0.1:{backend.plain_port}"
            service, port = cs.haproxy(material, work, args.rules, upstream=upstream)
        else:
            service, port, _ = cs.gateway(material, work, args.rules, backend.unix_socket)
        data = work / "perf.data"
        try:
            url = cs.url(port)
            load.wrk(url, connections=50, duration_s=1, headers={})
            command = ["perf", "record", "-F", "999", "-p", str(service.proc.pid)]
            command += ["-o", str(data), "--", "sleep", str(args.duration)]
            recording = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            result = load.wrk(url, connections=50, duration_s=args.duration, headers={})
            recording.wait()
        finally:
            service.stop()
            backend.service.stop()
        print(f"wrk during the profile: {json.dumps(result)}")
        for sort in ("dso", "dso,sym"):
            report = subprocess.run(
                ["perf", "report", "-i", str(data), "--sort", sort, "--stdio"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout
            lines = [x for x in report.splitlines() if x.strip() and not x.startswith("#")]
            print(f"\n% of samples by {sort}:")
            print("\n".join(lines[: args.top]))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=131072)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--out", type=Path, default=Path("gateway-profile.speedscope.json"))
    parser.add_argument("--tool", choices=["py-spy", "perf"], default="py-spy")
    parser.add_argument("--contender", choices=["gateway", "haproxy"], default="gateway")
    args = parser.parse_args()
    if args.tool == "perf":
        return perf_profile(args)
    if shutil.which("py-spy") is None and not (Path(sys.executable).parent / "py-spy").exists():
        print("py-spy is missing: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    with tempfile.TemporaryDirectory(prefix="gwprof") as tmp:
        work = Path(tmp)
        material = make_material(work)
        load = LoadGenerator.prepare(work, HOSTNAME, cs.LOAD_CPUS)
        backend = cs.start_backend(material, work)
        service, port, _ = cs.gateway(material, work, args.rules, backend.unix_socket)
        try:
            url = cs.url(port)
            load.wrk(url, connections=50, duration_s=1, headers={})
            result: dict = {}
            runner = threading.Thread(
                target=lambda: result.update(
                    load.wrk(url, connections=50, duration_s=args.duration + 2, headers={})
                )
            )
            runner.start()
            command = [py_spy, "record", "--native", "--rate", "250", "--format", "speedscope"]
            command += ["--duration", str(args.duration), "--pid", str(service.proc.pid)]
            command += ["--output", str(args.out)]
            subprocess.run(command, check=True, capture_output=True)
            runner.join()
        finally:
            service.stop()
            backend.service.stop()
    own, total = top_frames(json.loads(args.out.read_text()), args.top)
    print(f"wrk during the profile: {json.dumps(result)}")
    print("\n% of samples, self:")
    for name, share in own:
        print(f"{share:6.1f}  {name}")
    print("\n% of samples, total (inclusive):")
    for name, share in total:
        print(f"{share:6.1f}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

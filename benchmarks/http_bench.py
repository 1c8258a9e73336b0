"""HTTP benchmark: authorized ``GET /api/v1/organizations/{id}/members`` over real TLS.

It starts the real server (``citadel up``) as a subprocess on a free loopback port, gives
its first organization 99 more members (100 in all) through the services, mints a key with
``citadel admin create-api-key``, checks one response by hand, then drives the route with 16
concurrent connections for a fixed time. The load generator is ``wrk`` when installed (it
speaks TLS and counts every status through `WRK_SCRIPT`), else an httpx/asyncio client in
this process. Usage::

    python -m benchmarks.http_bench [--postgres-url postgresql+psycopg://...] [--out FILE]

Without ``--postgres-url`` the server runs on SQLCipher in a temporary data directory; with
it, on a fresh database created on that server for the run and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

import httpx

from benchmarks import workload
from benchmarks.timing import load_average, percentile

CONNECTIONS = 16
STARTUP_TIMEOUT_S = 120.0

WRK_SCRIPT = """\
-- Counts responses other than 200 in every thread and reports one JSON line at the end.
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) not_ok = 0 end
function response(status, headers, body)
  if status ~= 200 then not_ok = not_ok + 1 end
end
function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do bad = bad + thread:get("not_ok") end
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, "not_200": %d, "socket_errors": %d, '
    .. '"p50_us": %d, "p99_us": %d}\\n',
    summary.requests, summary.duration, bad, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class Target:
    """The running server and what a benchmark request needs."""

    url: str
    api_key: str
    ca_file: str


@dataclass(frozen=True)
class LoadRun:
    """One fixed-duration run of the load generator."""

    requests: int
    duration_s: float
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    not_200: int
    socket_errors: int


LoadFn = Callable[[int], LoadRun]
"""Runs the load for so many seconds."""


def free_port() -> int:
    """A TCP port on the loopback interface that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def citadel_command() -> str:
    """The `citadel` executable of this interpreter's environment."""
    beside = Path(sys.executable).parent / "citadel"
    found = str(beside) if beside.exists() else shutil.which("citadel")
    if found is None:
        raise SystemExit("citadel is not installed (pip install -e .)")
    return found


def server_environment(database_url: str | None) -> dict[str, str]:
    """The environment for `citadel` subprocesses: ours, pointed at the chosen database."""
    env = {k: v for k, v in os.environ.items() if k != "CITADEL_DATABASE_URL"}
    env["PYTHONUNBUFFERED"] = "1"  # so that its log is complete if it fails to start
    if database_url:
        env["CITADEL_DATABASE_URL"] = database_url
    return env


@contextmanager
def running_server(
    data_dir: Path, port: int, env: dict[str, str], log: IO[str]
) -> Iterator[dict[str, object]]:
    """`citadel up` on `port`; yields its endpoints once it listens, stops it at the end."""
    command = [citadel_command(), "up", "--data-dir", str(data_dir), "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield wait_for_endpoints(data_dir / "run" / "endpoints.json", process)
    finally:
        stop(process)


def wait_for_endpoints(path: Path, process: subprocess.Popen[bytes]) -> dict[str, object]:
    """The endpoints file the server writes once its socket listens."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"citadel up exited with {process.returncode}; see its log")
        if path.exists():
            return json.loads(path.read_text())
        time.sleep(0.1)
    raise RuntimeError("citadel up did not start in time")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Ask the server to shut down (as Ctrl-C does); kill it if it does not."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def create_key_with_cli(data_dir: Path, organization_id: str, env: dict[str, str]) -> str:
    """A break-glass Organization owner key, printed by `citadel admin create-api-key`."""
    command = [
        citadel_command(),
        "admin",
        "create-api-key",
        "--org",
        organization_id,
        "--data-dir",
        str(data_dir),
        "--description",
        "http benchmark",
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def populate(data_dir: Path, database_url: str | None, organization_id: str) -> tuple[int, str]:
    """Bring the organization to `workload.MEMBERS` members: (member count, database version)."""
    services = workload.open_services(data_dir, database_url)
    try:
        missing = workload.MEMBERS - workload.member_count(services, organization_id)
        workload.add_members(services, organization_id, missing)
        members = workload.member_count(services, organization_id)
        return members, workload.database_version(services)
    finally:
        services.close()


def check_one_request(target: Target, members: int) -> None:
    """One request by hand: it must be a 200 listing every member."""
    context = ssl.create_default_context(cafile=target.ca_file)
    headers = {"Authorization": f"ApiKey {target.api_key}"}
    response = httpx.get(target.url, headers=headers, verify=context, timeout=30)
    if response.status_code != 200:
        raise RuntimeError(f"GET members answered {response.status_code}: {response.text}")
    listed = len(response.json()["members"])
    if listed != members:
        raise RuntimeError(f"GET members listed {listed} members, expected {members}")


def run_wrk(target: Target, duration_s: int, script: Path) -> LoadRun:
    """One run of wrk with `CONNECTIONS` connections on one thread."""
    command = [
        "wrk",
        "--threads",
        "1",
        "--connections",
        str(CONNECTIONS),
        "--duration",
        f"{duration_s}s",
        "--timeout",
        "10s",
        "--script",
        str(script),
        "--header",
        f"Authorization: ApiKey {target.api_key}",
        target.url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    line = next(x for x in done.stdout.splitlines() if x.startswith("WRK_RESULT "))
    raw = json.loads(line.removeprefix("WRK_RESULT "))
    duration = raw["duration_us"] / 1e6
    return LoadRun(
        requests=raw["requests"],
        duration_s=round(duration, 2),
        requests_per_s=round(raw["requests"] / duration, 1),
        p50_ms=round(raw["p50_us"] / 1000, 2),
        p99_ms=round(raw["p99_us"] / 1000, 2),
        not_200=raw["not_200"],
        socket_errors=raw["socket_errors"],
    )


def run_httpx(target: Target, duration_s: int) -> LoadRun:
    """One run of the fallback load generator: `CONNECTIONS` asyncio workers over httpx."""
    return asyncio.run(_httpx_load(target, duration_s))


async def _httpx_load(target: Target, duration_s: int) -> LoadRun:
    context = ssl.create_default_context(cafile=target.ca_file)
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    headers = {"Authorization": f"ApiKey {target.api_key}"}
    latencies: list[float] = []
    failures = {"not_200": 0, "socket_errors": 0}
    async with httpx.AsyncClient(verify=context, limits=limits, headers=headers) as client:
        start = time.perf_counter()
        deadline = start + duration_s

        async def worker() -> None:
            while time.perf_counter() < deadline:
                sent = time.perf_counter()
                try:
                    response = await client.get(target.url, timeout=10)
                except httpx.TransportError:
                    failures["socket_errors"] += 1
                    continue
                latencies.append(time.perf_counter() - sent)
                failures["not_200"] += response.status_code != 200

        await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
        duration = time.perf_counter() - start
    latencies.sort()
    return LoadRun(
        requests=len(latencies),
        duration_s=round(duration, 2),
        requests_per_s=round(len(latencies) / duration, 1),
        p50_ms=round(percentile(latencies, 0.50) * 1000, 2),
        p99_ms=round(percentile(latencies, 0.99) * 1000, 2),
        not_200=failures["not_200"],
        socket_errors=failures["socket_errors"],
    )


def load_generator(choice: str, target: Target, workdir: Path) -> tuple[str, LoadFn]:
    """The named load generator (``auto``: wrk if installed, else httpx) as a function."""
    if choice == "wrk" or (choice == "auto" and shutil.which("wrk")):
        script = workdir / "count_status.lua"
        script.write_text(WRK_SCRIPT)
        return "wrk", lambda seconds: run_wrk(target, seconds, script)
    return "httpx", lambda seconds: run_httpx(target, seconds)


def drive(load: LoadFn, *, runs: int, duration_s: int, warmup_s: int) -> dict[str, object]:
    """A warm-up run, then `runs` measured runs; the medians, and every run."""
    load(warmup_s)
    measured = [load(duration_s) for _ in range(runs)]
    for run in measured:
        if run.not_200 or run.socket_errors:
            raise RuntimeError(f"not every response was a 200: {run}")
    return {
        "connections": CONNECTIONS,
        "duration_s": duration_s,
        "requests_per_s": round(statistics.median(r.requests_per_s for r in measured), 1),
        "p50_ms": round(statistics.median(r.p50_ms for r in measured), 2),
        "p99_ms": round(statistics.median(r.p99_ms for r in measured), 2),
        "all_200": True,
        "runs": [asdict(r) for r in measured],
    }


def benchmark(
    postgres_url: str | None,
    *,
    runs: int,
    duration_s: int,
    warmup_s: int,
    generator_choice: str = "auto",
) -> dict[str, object]:
    """Start the server on the chosen backend, set up the data, measure, stop."""
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="citadel-http-")))
        data_dir = workdir / "data"
        database_url = None
        if postgres_url:
            database_url = stack.enter_context(workload.fresh_postgres_database(postgres_url))
        env = server_environment(database_url)
        log = stack.enter_context((workdir / "server.log").open("w"))
        try:
            endpoints = stack.enter_context(running_server(data_dir, free_port(), env, log))
        except RuntimeError:
            log.flush()
            sys.stderr.write((workdir / "server.log").read_text())
            raise
        organization_id = str(endpoints["organization_id"])
        members, version = populate(data_dir, database_url, organization_id)
        target = Target(
            url=f"{endpoints['api_url']}/organizations/{organization_id}/members",
            api_key=create_key_with_cli(data_dir, organization_id, env),
            ca_file=str(endpoints["ca_file"]),
        )
        check_one_request(target, members)
        generator, load = load_generator(generator_choice, target, workdir)
        load_before = load_average()
        measured = drive(load, runs=runs, duration_s=duration_s, warmup_s=warmup_s)
        load_after = load_average()
    return {
        "benchmark": "http",
        "backend": workload.backend_name(postgres_url),
        "database_version": version,
        "route": "GET /api/v1/organizations/{id}/members",
        "members": members,
        "load_generator": generator,
        "load_average_1m": [load_before, load_after],
        **measured,
    }


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres-url", help="PostgreSQL server URL (default: SQLCipher).")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="Seconds per measured run.")
    parser.add_argument("--warmup", type=int, default=3, help="Seconds of warm-up load.")
    parser.add_argument("--load-generator", choices=["auto", "wrk", "httpx"], default="auto")
    parser.add_argument("--out", type=Path, help="Also write the JSON result here.")
    args = parser.parse_args(argv)
    result = benchmark(
        args.postgres_url,
        runs=args.runs,
        duration_s=args.duration,
        warmup_s=args.warmup,
        generator_choice=args.load_generator,
    )
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Scale to zero (ADR 29), measured through a real `citadel up`: how long the first request to
an idle-stopped serverless project waits for its first byte (cold start: the gateway holds it,
the control plane wakes the project, the allocator starts its node on its encrypted volume),
against the same request to the running project (hot); and what an idle project costs in
memory when it keeps running against when it is stopped, as projects per GiB.

    .venv/bin/python -m benchmarks.cold_start [--cold 20] [--hot 50] [--idle-timeout 4]

Each cold sample: wait until the sweep has stopped the project (its instance observed
stopped: the node's socket no longer accepts), then one fresh TLS connection to the gateway,
``GET /`` as the project's ``admin`` on its ``<alias>.es.<region>.<domain>`` host, timed from
before connecting to the response's status line and headers (request → first byte); the body
is read and must be the serverless ``GET /`` answer. Hot samples are the same request while it
runs. Idle memory: the resident set (VmRSS, summed over the node's processes: the sandbox,
the node and its volume's gocryptfs) of a project that served a request and then sat idle,
and of the same project once stopped.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import socket
import ssl
import statistics
import time
from base64 import b64encode
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx

from benchmarks.deploy_bench import admin_key, citadel_up
from citadel.kit.deployment_dirs import node_socket_path

GIB_MB = 1024


@dataclass(frozen=True)
class Project:
    id: str
    host: str
    gateway_port: int
    authorization: str
    socket: Path


def percentile(values: list[float], q: float) -> float:
    """The `q` quantile (0..1) by nearest rank."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))
    return ordered[rank]


def accepts(path: Path) -> bool:
    """Whether the node's unix socket accepts a connection (its node is up)."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(0.5)
        try:
            s.connect(str(path))
        except OSError:
            return False
        return True


def first_byte(project: Project, trust: ssl.SSLContext, path: str = "/") -> tuple[float, dict]:
    """Seconds from connecting to the gateway to the response's head, and the JSON body."""
    started = time.perf_counter()
    raw = socket.create_connection(("127.0.0.1", project.gateway_port), timeout=120)
    with trust.wrap_socket(raw, server_hostname=project.host) as tls:
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {project.host}:{project.gateway_port}\r\n"
            f"Authorization: {project.authorization}\r\nConnection: close\r\n\r\n"
        )
        tls.sendall(request.encode())
        response = http.client.HTTPResponse(tls)
        response.begin()
        elapsed = time.perf_counter() - started
        body = response.read()
    if response.status != 200:
        raise RuntimeError(f"GET {path}: {response.status} {body[:300]!r}")
    return elapsed, json.loads(body)


def wait_until(check, timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise RuntimeError(f"timed out waiting for {what}")


def _descendants(pids: set[int]) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(pids), list(pids)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def node_processes(project_id: str) -> set[int]:
    """The processes that run the project's node: every process whose command line names the
    project (sandbox, node, volume), and their children."""
    named = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if project_id.encode() in cmdline:
            named.add(int(entry.name))
    return _descendants(named)


def rss_mb(pids: set[int]) -> float:
    """The summed VmRSS of `pids` in MiB (a process gone meanwhile counts 0)."""
    total_kb = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
    return total_kb / 1024


def machine() -> dict:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_1m_at_start": round(os.getloadavg()[0], 2),
    }


def make_project(data: Path, endpoints: dict, trust: ssl.SSLContext) -> Project:
    """An Elasticsearch project through the project API, once initialized."""
    key = admin_key(data, endpoints)
    api = httpx.Client(
        base_url=endpoints["api_url"],
        verify=trust,
        headers={"Authorization": f"ApiKey {key}"},
        timeout=60,
    )
    made = api.post(
        "/serverless/projects/elasticsearch",
        json={"name": "cold start bench", "region_id": "local"},
    )
    if made.status_code != 201:
        raise RuntimeError(f"create: {made.status_code} {made.text[:300]}")
    body = made.json()
    pid = body["id"]
    url = httpx.URL(body["endpoints"]["elasticsearch"])

    def initialized() -> bool:
        status = api.get(f"/serverless/projects/elasticsearch/{pid}/status")
        return status.json().get("phase") == "initialized"

    wait_until(initialized, 180, "the project to be initialized", interval=0.2)
    creds = body["credentials"]
    token = b64encode(f"{creds['username']}:{creds['password']}".encode()).decode()
    return Project(
        id=pid,
        host=url.host,
        gateway_port=url.port or 443,
        authorization=f"Basic {token}",
        socket=node_socket_path(data, pid),
    )


WAKE_STEPS = (
    ("gateway.project.waking", "the gateway holds the request and asks the control plane"),
    ("project.woken", "the control plane set the instance desired running"),
    ("allocator.volume_opened", "the allocator saw it and mounted the encrypted volume"),
    ("allocator.node_started", "the sandboxed node process started"),
    ("allocator.node_running", "the allocator's probe got an HTTP answer on the node's socket"),
)


def wake_steps(log: Path, project_id: str) -> dict[str, float]:
    """Median seconds from the gateway's wake call to each later step of a cold start, read
    from `citadel up`'s structured log (each cycle: the steps in order after a ``waking``)."""
    events = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        subject = entry.get("project_id") or entry.get("deployment_id")
        if subject == project_id and entry.get("event") in dict(WAKE_STEPS):
            events.append((entry["event"], datetime.fromisoformat(entry["timestamp"])))
    cycles: list[dict[str, float]] = []
    for i, (event, at) in enumerate(events):
        if event != WAKE_STEPS[0][0]:
            continue
        cycle, wanted = {}, [name for name, _ in WAKE_STEPS[1:]]
        for later, when in events[i + 1 :]:
            if later == WAKE_STEPS[0][0] or not wanted:
                break
            if later == wanted[0]:
                cycle[later] = (when - at).total_seconds()
                wanted.pop(0)
        if not wanted:
            cycles.append(cycle)
    return {
        name: round(statistics.median(c[name] for c in cycles), 3)
        for name, _ in WAKE_STEPS[1:]
        if cycles
    }


def run(data: Path, endpoints: dict, args: argparse.Namespace) -> dict:
    machine_at_start = machine()
    trust = ssl.create_default_context(cafile=endpoints["ca_file"])
    created = time.perf_counter()
    project = make_project(data, endpoints, trust)
    create_to_initialized_s = time.perf_counter() - created
    wait_until(lambda: accepts(project.socket), 60, "the node's socket")
    # The password is applied as the node starts; the first answer may still be a 401.
    wait_until(lambda: _ok(project, trust), 60, "the node to accept the admin password")

    hot = [first_byte(project, trust)[0] for _ in range(args.hot)]
    _, answer = first_byte(project, trust)

    time.sleep(args.idle_timeout / 2)  # idle, not yet stopped
    pids = node_processes(project.id)
    running_rss = rss_mb(pids)
    processes = len(pids)

    cold: list[float] = []
    for _ in range(args.cold):
        # Stopped: the sweep stopped it and the allocator has ended every process of its
        # node and closed its volume (a request while it is still stopping is another case:
        # the wake undoes the stop, ADR 29).
        wait_until(
            lambda: not accepts(project.socket) and not node_processes(project.id),
            args.idle_timeout + 60,
            "the idle stop",
            interval=0.1,
        )
        time.sleep(args.settle)
        stopped_rss = rss_mb(node_processes(project.id))
        elapsed, body = first_byte(project, trust)
        if body.get("version", {}).get("build_flavor") != "serverless":
            raise RuntimeError(f"unexpected GET / answer: {body}")
        cold.append(elapsed)

    hot_p50, cold_p50 = statistics.median(hot), statistics.median(cold)
    return {
        "machine": {**machine_at_start, "load_1m_at_end": round(os.getloadavg()[0], 2)},
        "command": (
            f".venv/bin/python -m benchmarks.cold_start --cold {args.cold} --hot {args.hot} "
            f"--idle-timeout {args.idle_timeout}"
        ),
        "idle_timeout_s": args.idle_timeout,
        "sweep_interval_s": args.sweep_interval,
        "create_to_initialized_s": round(create_to_initialized_s, 2),
        "get_root_version": answer.get("version", {}).get("number"),
        "cold_start_s": {
            "samples": [round(t, 3) for t in cold],
            "p50": round(cold_p50, 3),
            "p99": round(percentile(cold, 0.99), 3),
            "max": round(max(cold), 3),
        },
        "hot_s": {
            "samples": len(hot),
            "p50": round(hot_p50, 4),
            "p99": round(percentile(hot, 0.99), 4),
        },
        "cold_over_hot_p50": round(cold_p50 / hot_p50, 1),
        "cold_start_steps_median_s": {
            "from": WAKE_STEPS[0][0],
            **wake_steps(data.parent / "up.log", project.id),
            "what": dict(WAKE_STEPS),
        },
        "goal_p50_s": 1.5,
        "idle_memory": {
            "running_idle_rss_mb": round(running_rss, 1),
            "running_idle_processes": processes,
            "stopped_rss_mb": round(stopped_rss, 1),
            "projects_per_gib_all_running": round(GIB_MB / running_rss, 1),
            "projects_per_gib_idle_stopped": (
                None if stopped_rss == 0 else round(GIB_MB / stopped_rss, 1)
            ),
        },
    }


def _ok(project: Project, trust: ssl.SSLContext) -> bool:
    try:
        first_byte(project, trust)
    except (RuntimeError, OSError, http.client.HTTPException):
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cold", type=int, default=20, help="cold-start samples")
    parser.add_argument("--hot", type=int, default=50, help="hot samples")
    parser.add_argument("--idle-timeout", type=float, default=4.0)
    parser.add_argument("--sweep-interval", type=float, default=0.2)
    parser.add_argument("--settle", type=float, default=0.5, help="seconds after the stop")
    parser.add_argument("--log-lines", type=int, default=80, help="of citadel up, on failure")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/cold_start.json"))
    args = parser.parse_args()
    env = {
        "CITADEL_PROJECT_IDLE_TIMEOUT_S": str(args.idle_timeout),
        "CITADEL_PROJECT_SWEEP_INTERVAL_S": str(args.sweep_interval),
    }
    with citadel_up(**env) as (data, endpoints):
        try:
            result = run(data, endpoints, args)
        except Exception:
            log = (data.parent / "up.log").read_text(errors="replace").splitlines()
            print("\n".join(log[-args.log_lines :]))
            raise
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

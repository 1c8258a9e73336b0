"""Gateway benchmark: a small authorized ``GET /`` straight to a node against the same request
through ``citadel gateway``.

It makes a data directory with a platform key and CA, starts two real nodes from the same
build — one on a loopback TCP port with TLS (for wrk to reach directly; wrk cannot present a
client certificate or dial a unix socket) and one as deployments run, on a unix socket with
mTLS — writes the gateway's snapshot, and starts ``citadel gateway`` as its own process. The
load generator is ``wrk`` (one thread, keep-alive) at 50 connections for throughput and at 1
connection for latency, counting every non-200. The gateway runs once with per-request
access logging off (``--log-level warning``) and once with it on (``info``), then once more
(logging off) with traffic filters: 1024 ``ip`` rulesets of 128 rules each (131,072 distinct,
non-adjacent /32s) associated with the benchmarked deployment, the client (127.0.0.1) allowed
by the very last rule. Usage::

    python -m benchmarks.gateway_bench [--duration 10] [--out FILE]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization
from tests.node.process import CITADEL, RunningNode, Tls, free_port, start_node

from benchmarks.http_bench import WRK_SCRIPT
from benchmarks.timing import load_average
from citadel.crypto.keyring import open_keyring
from citadel.crypto.providers.local import LocalKeyFile
from citadel.pki.authority import ensure_ca, issue_leaf

DEPLOYMENT = "be4c0000" + "0" * 24
PASSWORD = "benchmark-elastic-password"
RULESETS, RULES_PER_RULESET = 1024, 128
FILTERED = f"gateway ({RULESETS} rulesets x {RULES_PER_RULESET} rules, access log off)"


def _pair(directory: Path, name: str, hostnames: list[str], ca, *, client: bool = False) -> None:  # type: ignore[no-untyped-def]
    cert, key = issue_leaf(ca[0], ca[1], hostnames, client=client)
    (directory / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / f"{name}.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def prepare(root: Path) -> tuple[Path, Tls]:
    data_dir = root / "data"
    keyring = open_keyring(
        data_dir / "keys" / "keyring.wrapped",
        LocalKeyFile.create_or_open(data_dir / "keys" / "platform.key"),
    )
    ca = ensure_ca(data_dir / "pki", keyring.barrier)
    material = root / "tls"
    material.mkdir()
    names = [f"{DEPLOYMENT}.node.citadel.internal", "localhost", "127.0.0.1"]
    _pair(material, "node", names, ca)
    _pair(material, "probe", ["probe"], ca, client=True)
    tls = Tls(
        data_dir / "pki" / "ca.crt",
        material / "node.crt",
        material / "node.key",
        material / "probe.crt",
        material / "probe.key",
    )
    return data_dir, tls


def start_gateway(data_dir: Path, port: int, log_level: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            CITADEL,
            "gateway",
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
            "--wait",
            "0",
            "--log-level",
            log_level,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with httpx.Client(verify=False, timeout=2) as c:  # noqa: S501  (a readiness probe)
                c.get(f"https://127.0.0.1:{port}/")
            return proc
        except (httpx.TransportError, OSError):
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the gateway did not listen")


def wrk(url: str, headers: dict[str, str], connections: int, duration_s: int, script: Path) -> dict:
    command = ["wrk", "--threads", "1", "--connections", str(connections)]
    command += ["--duration", f"{duration_s}s", "--timeout", "10s", "--script", str(script)]
    for name, value in headers.items():
        command += ["--header", f"{name}: {value}"]
    done = subprocess.run([*command, url], capture_output=True, text=True, check=True)
    line = next(x for x in done.stdout.splitlines() if x.startswith("WRK_RESULT "))
    raw = json.loads(line.removeprefix("WRK_RESULT "))
    duration = raw["duration_us"] / 1e6
    return {
        "requests": raw["requests"],
        "requests_per_s": round(raw["requests"] / duration, 1),
        "p50_ms": round(raw["p50_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2),
        "not_200": raw["not_200"],
        "socket_errors": raw["socket_errors"],
    }


def _cpu_s(pid: int) -> float:
    """User plus system CPU seconds of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def check(url: str, headers: dict[str, str], ca: Path) -> None:
    with httpx.Client(verify=ssl.create_default_context(cafile=str(ca)), timeout=10) as c:
        response = c.get(url, headers=headers)
    if response.status_code != 200 or "tagline" not in response.json():
        raise RuntimeError(f"GET / answered {response.status_code}")


def start_static(tls: Tls, *, port: int | None, unix: Path | None) -> subprocess.Popen[bytes]:
    """The fixed-answer backend: TLS on a port, or mTLS on a unix socket."""
    command = [sys.executable, "-m", "benchmarks.static_backend"]
    command += ["--cert", str(tls.cert), "--key", str(tls.key)]
    if unix is not None:
        command += ["--unix", str(unix), "--client-ca", str(tls.ca)]
    else:
        command += ["--port", str(port)]
    proc = subprocess.Popen(command)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if (unix is not None and unix.exists()) or (unix is None and _listening(port)):
            return proc
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the static backend did not start")


def _listening(port: int | None) -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", port or 0), timeout=1).close()
    except OSError:
        return False
    return True


def filter_rulesets() -> dict[str, dict]:
    """RULESETS x RULES_PER_RULESET distinct /32s in 10/8, two apart (so no two merge), the
    very last one replaced by the benchmark's client, 127.0.0.1."""
    base = 10 << 24
    rulesets = {}
    for r in range(RULESETS):
        sources = []
        for i in range(RULES_PER_RULESET):
            n = base + 2 * (r * RULES_PER_RULESET + i)
            sources.append(f"{n >> 24}.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}/32")
        rulesets[f"bench-{r:04d}"] = {"type": "ip", "sources": sources}
    rulesets[f"bench-{RULESETS - 1:04d}"]["sources"][-1] = "127.0.0.1/32"
    return rulesets


def write_snapshot(data_dir: Path, node_socket: Path, *, filtered: bool = False) -> None:
    rulesets = filter_rulesets() if filtered else {}
    route = {
        "id": DEPLOYMENT,
        "alias": "bench",
        "region": "local",
        "state": "running",
        "node_socket": str(node_socket),
        "rulesets": list(rulesets),
    }
    (data_dir / "gateway").mkdir(parents=True, exist_ok=True)
    document = {
        "version": 2 if filtered else 1,
        "domain": "citadel.localhost",
        "deployments": [route],
        "rulesets": rulesets,
    }
    (data_dir / "gateway" / "snapshot.json").write_text(json.dumps(document))


def measure(
    data_dir: Path,
    tls: Tls,
    direct_url: str,
    node_socket: Path,
    script: Path,
    duration_s: int,
    *,
    only_filters: bool = False,
) -> dict[str, dict]:
    """direct, then through the gateway with access logging off and on, then with filters
    (with `only_filters`: the gateway without and with filters, logging off)."""
    auth = base64.b64encode(f"elastic:{PASSWORD}".encode()).decode()
    headers = {"Authorization": f"Basic {auth}"}
    routed = {**headers, "X-Found-Cluster": DEPLOYMENT}
    cases = [
        ("direct", headers, None, False),
        ("gateway (access log off)", routed, "warning", False),
        ("gateway (access log on)", routed, "info", False),
        (FILTERED, routed, "warning", True),
    ]
    if only_filters:
        cases = [cases[1], cases[3]]
    results: dict[str, dict] = {}
    for name, hdrs, log_level, filtered in cases:
        gateway, url = None, direct_url
        if log_level is not None:
            write_snapshot(data_dir, node_socket, filtered=filtered)
            port = free_port()
            gateway = start_gateway(data_dir, port, log_level)
            url = f"https://127.0.0.1:{port}/"
        try:
            check(url, hdrs, tls.ca)
            wrk(url, hdrs, 50, 2, script)  # warm-up
            cpu_before = _cpu_s(gateway.pid) if gateway is not None else 0.0
            c50 = wrk(url, hdrs, 50, duration_s, script)
            if gateway is not None:
                # CPU time the gateway spent per request: robust on a noisy, shared machine
                used = _cpu_s(gateway.pid) - cpu_before
                c50["gateway_cpu_us_per_request"] = round(used * 1e6 / c50["requests"], 1)
            results[name] = {"c50": c50, "c1": wrk(url, hdrs, 1, duration_s, script)}
        finally:
            if gateway is not None:
                gateway.send_signal(signal.SIGTERM)
                gateway.wait(timeout=15)
        print(name, json.dumps(results[name]), flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--backend", choices=["node", "static", "both"], default="both")
    parser.add_argument(
        "--only-filters",
        action="store_true",
        help="Only the gateway without and with 1024 x 128 filter rules (access log off).",
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: `apt-get install wrk`", file=sys.stderr)
        return 2
    report: dict[str, object] = {"cores": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="gwb") as tmp:
        root = Path(tmp)
        data_dir, tls = prepare(root)
        script = root / "count.lua"
        script.write_text(WRK_SCRIPT)
        if args.backend in ("node", "both"):
            nodes: list[RunningNode] = []
            try:
                direct = start_node(root / "direct", tls, elastic_password=PASSWORD)
                nodes.append(direct)
                behind = start_node(
                    root / "n",
                    tls,
                    elastic_password=PASSWORD,
                    mode="unix",
                    client_ca=True,
                )
                nodes.append(behind)
                assert behind.unix_socket is not None
                report["node"] = measure(
                    data_dir,
                    tls,
                    direct.url + "/",
                    behind.unix_socket,
                    script,
                    args.duration,
                    only_filters=args.only_filters,
                )
            finally:
                for node in nodes:
                    node.stop()
        if args.backend in ("static", "both"):
            port, unix = free_port(), root / "static.sock"
            procs = [start_static(tls, port=port, unix=None)]
            try:
                procs.append(start_static(tls, port=None, unix=unix))
                url = f"https://127.0.0.1:{port}/"
                report["static"] = measure(
                    data_dir, tls, url, unix, script, args.duration, only_filters=args.only_filters
                )
            finally:
                for proc in procs:
                    proc.terminate()
                    proc.wait(timeout=10)
    report["load_average"] = load_average()
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

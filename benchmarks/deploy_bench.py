"""Seconds from `POST /deployments` to a green `_cluster/health` through the gateway, and
`_bulk` documents per second through the gateway, against a real `citadel up`.

    .venv/bin/python -m benchmarks.deploy_bench [--deployments 5] [--docs 20000]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

CITADEL = str(Path(sys.executable).parent / "citadel")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(path: Path, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return json.loads(path.read_text())
        time.sleep(0.1)
    raise RuntimeError("citadel up did not start")


@contextlib.contextmanager
def citadel_up(**env: str) -> Iterator[tuple[Path, dict]]:
    """A throw-away `citadel up` (extra environment in `env`): its data dir and endpoints."""
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        ports = [str(free_port()) for _ in range(3)]
        log = (Path(tmp) / "up.log").open("wb")
        up = subprocess.Popen(
            [
                CITADEL,
                "up",
                "--data-dir",
                str(data),
                "--port",
                ports[0],
                "--internal-port",
                ports[1],
                "--gateway-port",
                ports[2],
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
        )
        try:
            yield data, wait_for(data / "run" / "endpoints.json")
        finally:
            up.terminate()
            up.wait(timeout=60)


def admin_key(data: Path, endpoints: dict) -> str:
    return subprocess.run(
        [
            CITADEL,
            "admin",
            "create-api-key",
            "--data-dir",
            str(data),
            "--org",
            endpoints["organization_id"],
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deployments", type=int, default=5)
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/deploy.json"))
    args = parser.parse_args()
    with citadel_up() as (data, endpoints):
        result = run(data, endpoints, args)
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


def run(data: Path, endpoints: dict, args: argparse.Namespace) -> dict:
    key = admin_key(data, endpoints)
    trust = ssl.create_default_context(cafile=endpoints["ca_file"])
    api = httpx.Client(
        base_url=endpoints["api_url"],
        verify=trust,
        headers={"Authorization": f"ApiKey {key}"},
        timeout=30,
    )
    gw = httpx.Client(base_url=endpoints["gateway_url"], verify=trust, timeout=30)
    to_green = []
    last = None
    for i in range(args.deployments):
        body = {
            "name": f"bench-{i}",
            "resources": {"elasticsearch": [{"ref_id": "main-elasticsearch"}]},
        }
        started = time.perf_counter()
        made = api.post("/deployments", json=body).json()
        dep = made["id"]
        password = made["resources"][0]["credentials"]["password"]
        while True:
            try:
                r = gw.get(
                    "/_cluster/health", headers={"X-Found-Cluster": dep}, auth=("elastic", password)
                )
                if r.status_code == 200 and r.json()["status"] == "green":
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.02)
        to_green.append(time.perf_counter() - started)
        last = (dep, password)
    dep, password = last
    headers = {"X-Found-Cluster": dep, "content-type": "application/x-ndjson"}
    batches = []
    for start in range(0, args.docs, 1000):
        lines = []
        for n in range(start, start + 1000):
            lines.append(json.dumps({"index": {"_index": "bench", "_id": str(n)}}))
            lines.append(json.dumps({"title": f"document {n}", "body": "x " * 450, "n": n}))
        batches.append("\n".join(lines) + "\n")
    started = time.perf_counter()
    for batch in batches:
        r = gw.post("/_bulk", content=batch, headers=headers, auth=("elastic", password))
        if r.status_code != 200 or r.json()["errors"]:
            raise RuntimeError(r.text[:200])
    bulk_s = time.perf_counter() - started
    return {
        "post_to_green_s": [round(t, 2) for t in to_green],
        "post_to_green_median_s": round(statistics.median(to_green), 2),
        "bulk_via_gateway_docs_per_s": round(args.docs / bulk_s),
        "bulk_docs": args.docs,
        "doc_bytes": 1000,
    }


if __name__ == "__main__":
    main()

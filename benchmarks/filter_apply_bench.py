"""Seconds from a traffic-filter change answered by the API to the gateway enforcing it,
against a real `citadel up` (one sandboxed deployment, clients on 127.0.0.2 and 127.0.0.3).

Each round associates a ruleset admitting only 127.0.0.2 and times until 127.0.0.3 gets the
403, then removes it and times until 127.0.0.3 gets through again; each change waits a random
0-0.5 s first, so it falls anywhere in the gateway's 0.5 s refresh cycle (expected: up to half
a second plus one fetch and compile).

    .venv/bin/python -m benchmarks.filter_apply_bench [--rounds 20]
"""

from __future__ import annotations

import argparse
import json
import random
import ssl
import statistics
import time
from pathlib import Path

import httpx

from benchmarks.deploy_bench import admin_key, citadel_up


def _status_from(source: str, gateway_url: str, trust: ssl.SSLContext, dep: str, pw: str) -> int:
    transport = httpx.HTTPTransport(local_address=source, verify=trust)
    with httpx.Client(transport=transport, timeout=10) as client:
        response = client.get(
            f"{gateway_url}/", headers={"X-Found-Cluster": dep}, auth=("elastic", pw)
        )
        return response.status_code


def _until(status: int, *args: str | ssl.SSLContext, since: float) -> float:
    while _status_from(*args) != status:  # type: ignore[arg-type]
        time.sleep(0.005)
    return time.perf_counter() - since


def run(data: Path, endpoints: dict, rounds: int) -> dict:
    trust = ssl.create_default_context(cafile=endpoints["ca_file"])
    api = httpx.Client(
        base_url=endpoints["api_url"],
        verify=trust,
        headers={"Authorization": f"ApiKey {admin_key(data, endpoints)}"},
        timeout=30,
    )
    made = api.post("/deployments", json={"name": "filters"}).json()
    dep, pw = made["id"], made["resources"][0]["credentials"]["password"]
    gateway = endpoints["gateway_url"]
    probe = ("127.0.0.3", gateway, trust, dep, pw)
    _until(200, *probe, since=0)
    ruleset = api.post(
        "/deployments/traffic-filter/rulesets",
        json={
            "name": "only .2",
            "region": "local",
            "type": "ip",
            "include_by_default": False,
            "rules": [{"source": "127.0.0.2/32"}],
        },
    ).json()["id"]
    path = f"/deployments/traffic-filter/rulesets/{ruleset}/associations"
    applied, removed = [], []
    for _ in range(rounds):
        time.sleep(random.uniform(0, 0.5))  # out of step with the gateway's refresh
        answered = api.post(
            path, params={"force": "true"}, json={"entity_type": "deployment", "id": dep}
        )
        answered.raise_for_status()
        applied.append(_until(403, *probe, since=time.perf_counter()))
        time.sleep(random.uniform(0, 0.5))
        api.delete(f"{path}/deployment/{dep}").raise_for_status()
        removed.append(_until(200, *probe, since=time.perf_counter()))

    def summary(values: list[float]) -> dict:
        ordered = sorted(values)
        return {
            "median_s": round(statistics.median(ordered), 3),
            "p90_s": round(ordered[int(0.9 * (len(ordered) - 1))], 3),
            "max_s": round(ordered[-1], 3),
        }

    return {
        "rounds": rounds,
        "associate_to_enforced": summary(applied),
        "disassociate_to_open": summary(removed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/filter_apply.json"))
    args = parser.parse_args()
    with citadel_up() as (data, endpoints):
        result = run(data, endpoints, args.rounds)
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

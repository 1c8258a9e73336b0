"""The node's storage speed: `_bulk` documents per second and `match` queries per second.

Both run through the node's real ASGI application (routing, authentication, authorization,
JSON, store) in process, with and without SQLCipher encryption, so that the ratio isolates
the cost of encryption. TLS and the network are left out on purpose: they are the same for
both variants and are the gateway's benchmark.

    .venv/bin/python -m benchmarks.node_bench [--docs 100000] [--queries 2000] [--out F]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from citadel.kit.clock import SystemClock
from citadel.node.http.app import NodeApp
from citadel.node.routes import build_router
from citadel.node.security.realm import Realm
from citadel.node.services import NodeInfo, NodeServices
from citadel.node.store.connection import Store

PASSWORD = "bench-password"
BATCH = 1000
WORDS = [f"w{i}" for i in range(5000)]


def document(rng: random.Random, i: int) -> dict[str, Any]:
    """About 1 KB of JSON: a title, a 120-word body, tags, a price and a date."""
    body = " ".join(rng.choice(WORDS) for _ in range(120))
    return {
        "title": " ".join(rng.choice(WORDS) for _ in range(6)),
        "body": body,
        "tags": [rng.choice(["red", "green", "blue", "amber"]) for _ in range(2)],
        "price": round(rng.uniform(1, 500), 2),
        "published": f"20{rng.randint(10, 25)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}",
        "n": i,
    }


def bulk_body(rng: random.Random, start: int) -> bytes:
    lines = []
    for i in range(start, start + BATCH):
        lines.append(json.dumps({"index": {"_index": "bench", "_id": str(i)}}))
        lines.append(json.dumps(document(rng, i)))
    return ("\n".join(lines) + "\n").encode()


async def run_variant(encrypted: bool, docs: int, queries: int) -> dict[str, Any]:
    """Load `docs` documents through _bulk, then run `queries` match queries."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp), os.urandom(32), encrypted=encrypted)
        realm = Realm(store)
        realm.bootstrap_elastic(PASSWORD)
        services = NodeServices(store, realm, SystemClock(), NodeInfo("bench", "bench", "b"))
        app = NodeApp(build_router(services), realm)
        auth = "Basic " + base64.b64encode(f"elastic:{PASSWORD}".encode()).decode()
        headers = {"authorization": auth, "content-type": "application/x-ndjson"}
        transport = httpx.ASGITransport(app=app)
        rng = random.Random(7)
        async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:
            bodies = [bulk_body(rng, start) for start in range(0, docs, BATCH)]
            started = time.perf_counter()
            for body in bodies:
                response = await client.post("/_bulk", content=body, headers=headers)
                assert response.status_code == 200, response.text[:300]
                assert not response.json()["errors"]
            bulk_s = time.perf_counter() - started
            size = sum(p.stat().st_size for p in Path(tmp).iterdir() if p.is_file())
            latencies = []
            for _ in range(queries):
                q = {"query": {"match": {"body": f"{rng.choice(WORDS)} {rng.choice(WORDS)}"}}}
                t = time.perf_counter()
                response = await client.post(
                    "/bench/_search", json=q, headers={"authorization": auth}
                )
                latencies.append(time.perf_counter() - t)
                assert response.status_code == 200, response.text[:300]
        store.close()
    latencies.sort()
    return {
        "encrypted": encrypted,
        "docs": docs,
        "bulk_docs_per_s": round(docs / bulk_s),
        "match_queries_per_s": round(queries / sum(latencies)),
        "match_p50_ms": round(statistics.median(latencies) * 1000, 2),
        "match_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
        "store_mb": round(size / 1e6, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/node.json"))
    args = parser.parse_args()
    results = []
    for encrypted in (True, False):
        result = asyncio.run(run_variant(encrypted, args.docs, args.queries))
        print(json.dumps(result))
        results.append(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"node": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()

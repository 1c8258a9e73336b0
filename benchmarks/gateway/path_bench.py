"""The gateway's own Python per request, without sockets or TLS.

``python -m benchmarks.gateway.path_bench [--compare OLD_PROXY_PY] [--rules 131072]``

Drives one `ClientConnection` and one pooled `UpstreamConnection` of `citadel.gateway.proxy`
with in-memory transports: each request is the bytes wrk sends, handed to `data_received`;
the bytes the gateway writes upstream are answered with the fixed backend's response, handed
to the upstream's `data_received`; the answer the gateway writes back is checked. What is
timed is therefore exactly the Python data path (httptools parsing, checks, routing and
filter decision, head rewriting, pooling, flushing), with everything below ``transport.write``
and above ``data_received`` (uvloop's TLS, OpenSSL, the kernel) left out. CPU time per
request, median of `--runs` rounds of `--requests` each.

With ``--compare FILE`` an older ``proxy.py`` (for instance from ``git show
HEAD~1:src/citadel/gateway/proxy.py``) is loaded beside the current one and the rounds
alternate between them.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import uvloop

from benchmarks.gateway import rules
from benchmarks.gateway.material import HOSTNAME
from citadel.gateway import proxy as current
from citadel.gateway.snapshot import SnapshotKeeper

REQUEST = (
    f"GET / HTTP/1.1\r\nHost: {HOSTNAME}:9243\r\nAuthorization: Basic ZWxhc3RpYzpwYXNz\r\n\r\n"
).encode()
BODY = b'{"name":"static","tagline":"You Know, for Search"}'
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sun, 29 Nov 2026 05:00:00 GMT\r\n"
    b"Content-Type: application/json\r\nContent-Length: %d\r\nConnection: keep-alive\r\n\r\n%s"
    % (len(BODY), BODY)
)


class _Transport:
    """Collects writes; answers the few `get_extra_info` keys the gateway asks for."""

    def __init__(self, extra: dict[str, object]) -> None:
        self.extra = extra
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def get_extra_info(self, name: str, default: object = None) -> object:
        return self.extra.get(name, default)

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        raise AssertionError("the gateway closed a connection during the benchmark")

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


class _SslObject:
    def __init__(self, sni: str) -> None:
        self.citadel_sni = sni


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("citadel.gateway.proxy_compared", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def round_us(module: ModuleType, keeper: SnapshotKeeper, requests: int) -> float:
    """CPU µs per request of `requests` requests on one keep-alive connection."""
    loop = uvloop.new_event_loop()
    try:
        gateway = module.Gateway(keeper, None, access_log=False)
        gateway.loop = loop
        route = keeper.table.routes[0]
        upstream = module.UpstreamConnection(gateway, route.node_socket)
        up_transport = _Transport({})
        upstream.connection_made(up_transport)
        gateway.give_back(upstream)
        client = module.ClientConnection(gateway)
        down = _Transport({"peername": ("127.0.0.1", 40000), "ssl_object": _SslObject(HOSTNAME)})
        client.connection_made(down)
        for _ in range(200):  # warm-up, and a check that every answer is a 200
            answer = _exchange(client, upstream, down, up_transport)
            if not answer.startswith(b"HTTP/1.1 200") or BODY not in answer:
                raise RuntimeError(f"unexpected answer: {answer[:300]!r}")
        start = time.process_time()
        for _ in range(requests):
            _exchange(client, upstream, down, up_transport)
        used = time.process_time() - start
        client.connection_lost(None)
        return used * 1e6 / requests
    finally:
        loop.close()


def _exchange(client, upstream, down: _Transport, up: _Transport) -> bytes:  # type: ignore[no-untyped-def]
    """One request and its response; the bytes written back to the client."""
    client.data_received(REQUEST)
    up.written.clear()
    active = client.queue[0].upstream if client.queue else None
    (active or upstream).data_received(RESPONSE)
    answer = b"".join(down.written)
    down.written.clear()
    return answer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=131072)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--compare", type=Path, help="an older proxy.py to compare with")
    args = parser.parse_args()
    contenders = {"current": current}
    if args.compare:
        contenders["compared"] = _load(args.compare)
    with tempfile.TemporaryDirectory(prefix="gwpath") as tmp:
        path = Path(tmp) / "snapshot.json"
        path.write_text(json.dumps(rules.snapshot(args.rules, Path(tmp) / "node.sock")))
        keeper = SnapshotKeeper(path)
        results: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(args.runs):
            for name, module in contenders.items():
                results[name].append(round_us(module, keeper, args.requests))
    summary = {
        name: {"median_us": round(statistics.median(v), 2), "min_us": round(min(v), 2)}
        for name, v in results.items()
    }
    print(json.dumps({"rules": args.rules, "requests": args.requests, **summary}, indent=2))
    return 0


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    sys.exit(main())

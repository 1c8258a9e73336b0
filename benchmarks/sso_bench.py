"""Organization SSO: what a sign-in costs on our side, next to the IdP's.

Against a real SimpleSAMLphp (the test suite's harness, `php -S` on loopback) and the control
plane in process over SQLCipher, N complete SP-initiated sign-ins, each timed in three parts:

- start: the login URL's work (load the configuration, unseal the SP key, sign the
  AuthnRequest with RSA-3072, record it);
- idp: the IdP (login page, credentials, signed response) — not ours, shown for scale;
- acs: the ACS's work (request lookup, our structural checks, python3-saml's signature and
  protocol checks, the replay ledger, the claimed-domain check, the identity, role mappings,
  the session), the part a refused response also costs.

Plus `process_response` alone on one already-issued response (signature verification and
checks without the database; the ledger is a fresh in-memory one per call).

    .venv/bin/python -m benchmarks.sso_bench [--sign-ins 50] [--verify 300]
        [--out benchmarks/results/sso.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from fastapi.testclient import TestClient
from tests.fixtures.builders import (
    bearer,
    login,
    make_claimed_domain,
    make_org,
    make_role_mapping,
    make_user,
)
from tests.sso.idp import Idp, log_in_at_idp, start_idp

from benchmarks.report import machine
from benchmarks.timing import load_average, percentile
from citadel.api.app import create_app
from citadel.bootstrap import build
from citadel.config import Settings
from citadel.db.migrate import upgrade
from citadel.kit.clock import SettableClock
from citadel.sso import configuration
from citadel.sso.models import SsoLoginRequest
from citadel.sso.saml import InMemoryAssertionLedger, process_response


def summarize(values_ms: list[float]) -> dict[str, float]:
    ordered = sorted(values_ms)
    return {
        "median_ms": round(statistics.median(ordered), 2),
        "p90_ms": round(percentile(ordered, 0.9), 2),
        "max_ms": round(ordered[-1], 2),
    }


def run(sign_ins: int, verify: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp, start_idp() as idp:
        clock = SettableClock()
        services = build(Settings(data_dir=Path(tmp), _env_file=None), clock=clock)
        upgrade(services.db.engine)
        try:
            with TestClient(create_app(services), base_url="https://testserver") as client:
                return _measure(client, services, clock, idp, sign_ins, verify)
        finally:
            services.close()


def _measure(client, services, clock, idp: Idp, sign_ins: int, verify: int) -> dict:
    owner = make_user(services, email="alice@acme.example")
    org = make_org(services, owner, "Acme")
    make_claimed_domain(services, org, "acme.example", verified=True)
    headers = bearer(login(client, services, owner))
    body = {
        "login_prefix": "acme",
        "idp_entity_id": idp.entity_id,
        "idp_sso_url": idp.sso_url,
        "idp_certificates": [idp.idp_keys.cert_pem],
    }
    sp = client.put(f"/api/v1/organizations/{org}/sso", json=body, headers=headers).json()
    idp.register_sp(sp["service_provider"]["entity_id"], sp["service_provider"]["acs_url"],
                    sp["service_provider"]["certificate"])  # fmt: skip
    owner_role = {"organization": [{"role_id": "organization-admin", "organization_id": org}]}
    make_role_mapping(services, org, "admins", "any", ["admins"], owner_role)

    parts: dict[str, list[float]] = {"start": [], "idp": [], "acs": []}
    last = None
    for _ in range(sign_ins):
        client.cookies.clear()
        clock.advance(seconds=(time.time() - clock.now().timestamp()))
        t0 = time.perf_counter()
        started = client.get("/sso/saml/acme/login", follow_redirects=False)
        t1 = time.perf_counter()
        result = log_in_at_idp(started.headers["location"], "alice")
        t2 = time.perf_counter()
        done = client.post(urlsplit(result.action).path, data=result.form, follow_redirects=False)
        t3 = time.perf_counter()
        assert done.status_code == 303, done.text
        parts["start"].append((t1 - t0) * 1000)
        parts["idp"].append((t2 - t1) * 1000)
        parts["acs"].append((t3 - t2) * 1000)
        last = result

    verify_ms = _verify_only(services, org, last, verify)
    return {
        "sign_ins": sign_ins,
        "start": summarize(parts["start"]),
        "idp": summarize(parts["idp"]),
        "acs": summarize(parts["acs"]),
        "process_response": summarize(verify_ms),
    }


def _verify_only(services, org: str, result, count: int) -> list[float]:
    """`process_response` on one issued response, a fresh ledger each time (no database)."""
    with services.db.read() as session:
        ctx = services.context(session, services.system_caller())
        sp = configuration.service_provider(ctx, configuration.find(ctx, org))
        request_id = session.query(SsoLoginRequest.id).order_by(
            SsoLoginRequest.created_at.desc()
        ).first()[0]  # fmt: skip
    now = services.clock.now()
    out = []
    for _ in range(count):
        t0 = time.perf_counter()
        process_response(sp, result.form, request_id=request_id,
                         seen_assertion_ids=InMemoryAssertionLedger(), now=now)  # fmt: skip
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sign-ins", type=int, default=50)
    parser.add_argument("--verify", type=int, default=300)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/sso.json"))
    args = parser.parse_args()
    before = load_average()
    figures = run(args.sign_ins, args.verify)
    result = {"machine": machine(), "load_before": before, "load_after": load_average(), **figures}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"| part | median ms | p90 ms | max ms |  ({args.sign_ins} sign-ins)")
    print("|---|---|---|---|")
    for name in ("start", "idp", "acs", "process_response"):
        f = figures[name]
        print(f"| {name} | {f['median_ms']} | {f['p90_ms']} | {f['max_ms']} |")
    print(f"load average {before} -> {result['load_after']}")


if __name__ == "__main__":
    main()

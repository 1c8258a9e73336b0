"""Micro-benchmark: API-key authentication plus the authorization decision, in process.

It times what `citadel.api.deps` does for every request that carries
``Authorization: ApiKey ...`` and is routed to a ``members:read`` route: verify the key in a
read transaction (checksum, lookup by key id, HMAC comparison), then `decide`. The parts are
timed on their own to show where the time goes; for scale, so is the members route's handler
(100 members rendered to JSON), and, for contrast, one argon2id password verification: the
cost a slow hash would add to every request. Usage::

    python -m benchmarks.auth_bench [--postgres-url postgresql+psycopg://...] [--out FILE]

Without ``--postgres-url`` the storage is SQLCipher in a temporary data directory; with it, a
fresh database is created on that server for the run and dropped afterwards.
"""

from __future__ import annotations

import argparse
import hmac
import json
import sys
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from benchmarks import workload
from benchmarks.timing import Case, Summary, load_average, measure
from citadel.api.deps import Work
from citadel.api.routes.members import list_members
from citadel.api_keys.models import ApiKey
from citadel.api_keys.service import touch_api_key, verify_api_key
from citadel.authn import api_key_format
from citadel.authn.principal import Caller, Principal
from citadel.authz.decide import Target, decide
from citadel.authz.permissions import Permission
from citadel.bootstrap import Services
from citadel.crypto.keyring import PEPPER_VERSION
from citadel.crypto.passwords import hash_password, verify_password

SOURCE_IP = "127.0.0.1"
ARGON2_ITERATIONS = 3


@dataclass(frozen=True)
class Setup:
    """The services and the data every timed operation works on."""

    services: Services
    organization_id: str
    key_text: str
    key_id: str
    key_digest: bytes
    principal: Principal


def prepare(services: Services) -> Setup:
    """Create the organization, its members and the key; read back what the parts need."""
    organization_id, key_text = workload.build_organization(services)
    parsed = api_key_format.parse_key(key_text)
    assert parsed is not None
    with services.db.read() as session:
        row = session.get(ApiKey, parsed.key_id)
        assert row is not None
        verified = verify_api_key(
            session, services.keyring, services.clock.now(), key_text, SOURCE_IP
        )
        assert verified is not None, "the benchmark key does not verify"
        digest = row.digest
    return Setup(services, organization_id, key_text, parsed.key_id, digest, verified.principal)


def authenticate_and_authorize(setup: Setup) -> Callable[[], object]:
    """What the API does per request: verify the key (touch when stale), then decide."""
    services, target = setup.services, Target.organization(setup.organization_id)

    def operation() -> object:
        now = services.clock.now()
        with services.db.read() as session:
            verified = verify_api_key(session, services.keyring, now, setup.key_text, SOURCE_IP)
        assert verified is not None
        if verified.needs_touch:
            with services.db.write() as session:
                touch_api_key(session, verified.principal.credential_id, now, SOURCE_IP)
        decision = decide(verified.principal.subject, Permission.MEMBERS_READ, target)
        assert decision.allowed
        return decision

    return operation


def read_transaction_lookup(setup: Setup) -> Callable[[], object]:
    """Only the storage part: a read transaction that loads the key row by its id."""
    services = setup.services

    def operation() -> object:
        with services.db.read() as session:
            return session.get(ApiKey, setup.key_id)

    return operation


def parse_and_digest(setup: Setup) -> Callable[[], object]:
    """Only the cryptographic part: checksum, pepper, HMAC-SHA256, constant-time comparison."""
    keyring = setup.services.keyring

    def operation() -> object:
        parsed = api_key_format.parse_key(setup.key_text)
        assert parsed is not None
        expected = api_key_format.digest(keyring.pepper(PEPPER_VERSION), parsed.text)
        assert hmac.compare_digest(expected, setup.key_digest)
        return expected

    return operation


def decide_only(setup: Setup) -> Callable[[], object]:
    """Only the authorization decision (pure, no I/O)."""
    target = Target.organization(setup.organization_id)

    def operation() -> object:
        return decide(setup.principal.subject, Permission.MEMBERS_READ, target)

    return operation


def members_handler(setup: Setup) -> Callable[[], object]:
    """For scale: the route handler listing 100 members, rendered to JSON, for this key."""
    work = Work(setup.services, Caller(setup.principal, SOURCE_IP, "benchmark"))

    def operation() -> object:
        return list_members(work, setup.organization_id).model_dump_json()

    return operation


def argon2_verify() -> Callable[[], object]:
    """One argon2id password verification, with the parameters Citadel uses for passwords."""
    stored = hash_password(workload.PASSWORD)

    def operation() -> object:
        assert verify_password(stored, workload.PASSWORD)
        return True

    return operation


def run_all(setup: Setup, *, runs: int, iterations: int) -> list[Summary]:
    """Every measurement, the end-to-end one first; the pure parts get 10x the iterations."""
    return measure(
        [
            Case("authenticate_and_authorize", authenticate_and_authorize(setup), iterations, 200),
            Case("read_transaction_lookup", read_transaction_lookup(setup), iterations, 200),
            Case("parse_and_hmac", parse_and_digest(setup), iterations * 10, 1000),
            Case("decide", decide_only(setup), iterations * 10, 1000),
            Case("members_handler", members_handler(setup), max(1, iterations // 10), 20),
            Case("argon2id_verify", argon2_verify(), ARGON2_ITERATIONS, 1),
        ],
        runs=runs,
    )


def benchmark(postgres_url: str | None, *, runs: int, iterations: int) -> dict[str, object]:
    """Set up on the chosen backend, measure, and return the results as plain data."""
    with ExitStack() as stack:
        data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="citadel-bench-")))
        database_url = None
        if postgres_url:
            database_url = stack.enter_context(workload.fresh_postgres_database(postgres_url))
        services = workload.open_services(data_dir, database_url)
        stack.callback(services.close)
        setup = prepare(services)
        members = workload.member_count(services, setup.organization_id)
        version = workload.database_version(services)
        load_before = load_average()
        results = run_all(setup, runs=runs, iterations=iterations)
        load_after = load_average()
    return {
        "benchmark": "auth",
        "backend": workload.backend_name(postgres_url),
        "database_version": version,
        "members": members,
        "load_average_1m": [load_before, load_after],
        "results": {s.name: s.as_dict() for s in results},
    }


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres-url", help="PostgreSQL server URL (default: SQLCipher).")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--out", type=Path, help="Also write the JSON result here.")
    args = parser.parse_args(argv)
    result = benchmark(args.postgres_url, runs=args.runs, iterations=args.iterations)
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Two control planes on one PostgreSQL (ADR 32): two real `citadel api` processes, each with
its own data directory, of which the second holds nothing but a copy of the platform key (the
keyring root and the CA come from the database). What a request depends on is shared: a
session, the sign-in throttle, the lockout guard's clients; periodic work runs in one of them;
a deployment create killed with its replica and retried on the other makes one deployment.

PostgreSQL only: on SQLCipher the database is one process's file.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from citadel.authn import totp
from citadel.bootstrap import Services, build
from citadel.config import Settings
from citadel.contract.messages import CONTRACT_HEADER, CONTRACT_VERSION
from citadel.crypto.keyring import new_wrapped_root
from citadel.db.platform_secrets import CA_CERTIFICATE, KEYRING_ROOT, Mismatch, PlatformSecret
from citadel.deployments.models import Deployment
from citadel.leases.models import Lease
from citadel.orgs.models import Organization
from citadel.pki.components import ensure_component_certificate
from tests.fixtures.builders import (
    PASSWORD,
    TestUser,
    key_headers,
    make_api_key,
    make_deployment,
    make_org,
    make_user,
)

CITADEL = str(Path(sys.executable).parent / "citadel")
SWEEP_S = 0.3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Replica:
    """One `citadel api` process."""

    name: str
    data_dir: Path
    port: int
    internal_port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def internal_url(self) -> str:
        return f"https://127.0.0.1:{self.internal_port}"

    def client(self) -> httpx.Client:
        ca = ssl.create_default_context(cafile=str(self.data_dir / "pki" / "ca.crt"))
        return httpx.Client(base_url=self.url, verify=ca, timeout=30)

    def events(self, event: str) -> list[dict]:
        found = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("event") == event:
                found.append(entry)
        return found

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start(name: str, data_dir: Path, postgres_url: str, tmp_path: Path) -> Replica:
    """`citadel api` on `data_dir` and the shared database, once it listens."""
    env = {
        **os.environ,
        "CITADEL_DATABASE_URL": postgres_url,
        "CITADEL_CONTROL_PLANE_METRICS_PORT": "0",  # two replicas on one host
        "CITADEL_PROJECT_SWEEP_INTERVAL_S": str(SWEEP_S),
    }
    port, internal = free_port(), free_port()
    # debug: each lease round is logged there (a poll, not a change), and the tests count them
    listen = ["--internal-port", str(internal), "--log-level", "debug"]
    log_path = tmp_path / f"{name}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [CITADEL, "api", "--data-dir", str(data_dir), "--port", str(port), *listen],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    replica = Replica(name, data_dir, port, internal, proc, log_path)
    endpoints = data_dir / "run" / "endpoints.json"
    deadline = time.monotonic() + 90
    while not endpoints.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            replica.stop()
            pytest.fail(f"{name} did not start:\n{log_path.read_text()}")
        time.sleep(0.1)
    return replica


@dataclass
class Platform:
    one: Replica
    two: Replica
    services: Services
    org: str
    key: dict[str, str]
    deployment: str
    postgres_url: str

    def engine(self) -> sa.Engine:
        return sa.create_engine(self.postgres_url)


@pytest.fixture
def platform(
    services: Services, data_dir: Path, postgres_url: str | None, tmp_path: Path
) -> Iterator[Platform]:
    """Two replicas: the first on the test's data directory, the second on a directory with
    only a copy of the platform key."""
    if postgres_url is None:
        pytest.skip("control-plane replicas share a PostgreSQL database")
    owner = make_user(services)
    org = make_org(services, owner)
    key = key_headers(make_api_key(services, org))
    deployment = make_deployment(services, org)
    services.close()
    second = tmp_path / "second"
    (second / "keys").mkdir(parents=True, mode=0o700)
    shutil.copy2(data_dir / "keys" / "platform.key", second / "keys" / "platform.key")
    one = start("one", data_dir, postgres_url, tmp_path)
    try:
        two = start("two", second, postgres_url, tmp_path)
        try:
            yield Platform(one, two, services, org, key, deployment, postgres_url)
        finally:
            two.stop()
    finally:
        one.stop()


def code_now(user: TestUser) -> str:
    assert user.totp_secret is not None
    return totp.code_at(user.totp_secret, totp.counter_at(datetime.now(UTC)))


LOGIN = "/api/v1/users/auth/_login"


def test_the_second_replica_takes_the_keyring_root_and_the_ca_from_the_database(platform):
    one, two = platform.one, platform.two

    assert (two.data_dir / "pki" / "ca.crt").read_bytes() == (
        one.data_dir / "pki" / "ca.crt"
    ).read_bytes()
    with platform.engine().connect() as conn:
        names = set(conn.scalars(sa.select(PlatformSecret.name)))
    assert {KEYRING_ROOT, CA_CERTIFICATE} <= names
    with one.client() as a, two.client() as b:  # each trusts the other's certificate
        assert a.get("/api/v1/deployments", headers=platform.key).status_code == 200
        assert b.get("/api/v1/deployments", headers=platform.key).status_code == 200


def test_a_session_made_on_one_replica_works_on_the_other_and_ends_on_both(platform):
    user = make_user(platform.services)
    make_org(platform.services, user, name="Sessions")
    body = {"username": user.email, "password": PASSWORD, "totp_code": code_now(user)}
    with platform.one.client() as a, platform.two.client() as b:
        signed_in = a.post(LOGIN, json=body)
        assert signed_in.status_code == 200, signed_in.text
        headers = {"Authorization": f"Bearer {signed_in.json()['token']}"}

        assert b.get("/api/v1/users/auth", headers=headers).status_code == 200
        assert b.post("/api/v1/users/auth/_logout", headers=headers).status_code == 200
        assert a.get("/api/v1/users/auth", headers=headers).status_code == 401


def test_the_sign_in_throttle_counts_failures_on_both_replicas(platform):
    """Five failures of one account from one address (3 on one replica, 2 on the other)
    throttle it on both."""
    user = make_user(platform.services)
    wrong = {"username": user.email, "password": "not the password"}
    with platform.one.client() as a, platform.two.client() as b:
        statuses = [a.post(LOGIN, json=wrong).status_code for _ in range(3)]
        statuses += [b.post(LOGIN, json=wrong).status_code for _ in range(2)]
        right = {"username": user.email, "password": PASSWORD, "totp_code": code_now(user)}
        on_one, on_two = a.post(LOGIN, json=right), b.post(LOGIN, json=right)

    assert statuses == [401] * 5
    assert on_one.status_code == 429
    assert on_two.status_code == 429
    assert int(on_two.headers["Retry-After"]) > 0


def test_the_lockout_guard_sees_clients_reported_to_either_replica(platform):
    gateway = ensure_component_certificate(
        platform.one.data_dir, platform.services.keyring, "gateway"
    )
    tls = ssl.create_default_context(cafile=str(gateway.ca_file))
    tls.load_cert_chain(gateway.cert_file, gateway.key_file, password=gateway.key_password)
    seen = {"deployment_id": platform.deployment, "last_seen": time.time(), "connected": True}
    with (
        httpx.Client(verify=tls, headers={CONTRACT_HEADER: str(CONTRACT_VERSION)}) as internal,
        platform.one.client() as a,
        platform.two.client() as b,
    ):
        for replica, ip in ((platform.one, "100.64.1.1"), (platform.two, "100.64.1.2")):
            report = {"clients": [seen | {"client_ip": ip}]}
            sent = internal.post(f"{replica.internal_url}/internal/v1/gateway/clients", json=report)
            assert sent.status_code == 200, sent.text
        made = a.post(
            "/api/v1/deployments/traffic-filter/rulesets",
            headers=platform.key,
            json={
                "name": "office",
                "type": "ip",
                "region": "local",
                "include_by_default": False,
                "rules": [{"source": "192.0.2.0/24"}],
            },
        )
        assert made.status_code == 201, made.text
        ruleset = made.json()["id"]
        checked = {}
        for name, api in (("one", a), ("two", b)):
            answer = api.post(
                f"/api/v1/deployments/traffic-filter/rulesets/{ruleset}/associations",
                headers=platform.key,
                params={"validate_only": "true"},
                json={"entity_type": "deployment", "id": platform.deployment},
            )
            assert answer.status_code == 200, answer.text
            clients = answer.json()["would_block"]["connected_clients"]
            checked[name] = sorted(c["client_ip"] for c in clients)

    assert checked == {"one": ["100.64.1.1", "100.64.1.2"], "two": ["100.64.1.1", "100.64.1.2"]}


def test_periodic_work_runs_in_one_replica_at_a_time(platform):
    """The chores ran once in all (their interval is an hour), and every round of the projects'
    sweep (every 0.3 s) ran in the replica holding its lease."""
    time.sleep(12 * SWEEP_S)
    one, two = platform.one, platform.two

    chores = [e for r in (one, two) for e in r.events("lease.round") if e["lease"] == "chores"]
    sweeps = {
        r.name: [e for e in r.events("lease.round") if e["lease"] == "project-sweep"]
        for r in (one, two)
    }
    with platform.engine().connect() as conn:
        holders = {
            name: holder for name, holder in conn.execute(sa.select(Lease.name, Lease.holder))
        }

    assert len(chores) == 1
    assert sorted(len(rounds) > 0 for rounds in sweeps.values()) == [False, True]
    sweeper = next(name for name, rounds in sweeps.items() if rounds)
    assert len(sweeps[sweeper]) >= 3
    assert {e["holder"] for e in sweeps[sweeper]} == {holders["project-sweep"]}
    assert holders["chores"] == chores[0]["holder"]


def _waiting_on_a_lock(conn: sa.Connection) -> int:
    """Backends of this database waiting for a row lock (the replica's create, held by us)."""
    return conn.scalar(
        sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        )
    )


def test_a_create_killed_with_its_replica_and_retried_on_the_other_makes_one_deployment(
    platform,
):
    """kill -9 one replica in the middle of a deployment create (its write transaction waits
    on the organization's row, which the test holds locked), then the client retries the same
    `request_id` on the other replica: one deployment, made by the retry; a second retry
    answers 202 with it."""
    request_id = "r" * 40
    url = "/api/v1/deployments"
    outcome: dict[str, object] = {}

    def first_try() -> None:
        try:
            with platform.one.client() as a:
                outcome["first"] = a.post(
                    url,
                    headers=platform.key,
                    params={"request_id": request_id},
                    json={"name": "once"},
                ).status_code
        except httpx.HTTPError as exc:
            outcome["first"] = type(exc).__name__

    engine = platform.engine()
    sender = threading.Thread(target=first_try)
    with engine.connect() as holder, engine.connect() as watcher:
        locked = holder.begin()
        holder.execute(
            sa.select(Organization.id).where(Organization.id == platform.org).with_for_update()
        )
        sender.start()
        deadline = time.monotonic() + 30
        while _waiting_on_a_lock(watcher) == 0:
            assert time.monotonic() < deadline, "the create never reached its transaction"
            time.sleep(0.05)
        os.kill(platform.one.proc.pid, signal.SIGKILL)
        platform.one.proc.wait(timeout=30)
        locked.rollback()
    sender.join(timeout=30)

    with platform.two.client() as b:
        retried = b.post(
            url, headers=platform.key, params={"request_id": request_id}, json={"name": "once"}
        )
        again = b.post(
            url, headers=platform.key, params={"request_id": request_id}, json={"name": "once"}
        )

    assert isinstance(outcome["first"], str), outcome  # the client saw its replica go
    assert retried.status_code == 201, retried.text
    assert again.status_code == 202
    assert again.json()["id"] == retried.json()["id"]
    with engine.connect() as conn:
        made = conn.scalars(
            sa.select(Deployment.id).where(Deployment.request_id == request_id)
        ).all()
    assert made == [retried.json()["id"]]


def _settings(data_dir: Path, postgres_url: str) -> Settings:
    return Settings(data_dir=data_dir, database_url=postgres_url, _env_file=None)


def test_a_replica_without_the_platform_key_refuses_to_start(
    services: Services, data_dir: Path, postgres_url: str | None, tmp_path: Path
):
    if postgres_url is None:
        pytest.skip("control-plane replicas share a PostgreSQL database")
    build(_settings(data_dir, postgres_url)).close()  # the first replica stores its root

    with pytest.raises(Mismatch, match="platform key does not open"):
        build(_settings(tmp_path / "stranger", postgres_url))


def test_a_data_directory_of_another_platform_refuses_to_start(
    services: Services, data_dir: Path, postgres_url: str | None, tmp_path: Path
):
    if postgres_url is None:
        pytest.skip("control-plane replicas share a PostgreSQL database")
    build(_settings(data_dir, postgres_url)).close()
    other = tmp_path / "other"
    (other / "keys").mkdir(parents=True, mode=0o700)
    shutil.copy2(data_dir / "keys" / "platform.key", other / "keys" / "platform.key")
    (other / "keys" / "keyring.wrapped").write_bytes(new_wrapped_root(services.platform_keys))

    with pytest.raises(Mismatch, match="another keyring root"):
        build(_settings(other, postgres_url))


def _refused(data_dir: Path, postgres_url: str) -> subprocess.CompletedProcess[str]:
    """`citadel api` on `data_dir` and the shared database, run until it exits."""
    env = {**os.environ, "CITADEL_DATABASE_URL": postgres_url}
    ports = ["--port", str(free_port()), "--internal-port", str(free_port())]
    return subprocess.run(
        [CITADEL, "api", "--data-dir", str(data_dir), *ports],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_citadel_api_of_another_platform_says_why_in_one_line_and_exits_1(
    services: Services, data_dir: Path, postgres_url: str | None, tmp_path: Path
):
    if postgres_url is None:
        pytest.skip("control-plane replicas share a PostgreSQL database")
    build(_settings(data_dir, postgres_url)).close()  # the first replica stores its root
    other = tmp_path / "other"
    (other / "keys").mkdir(parents=True, mode=0o700)
    shutil.copy2(data_dir / "keys" / "platform.key", other / "keys" / "platform.key")
    (other / "keys" / "keyring.wrapped").write_bytes(new_wrapped_root(services.platform_keys))

    stranger = _refused(tmp_path / "stranger", postgres_url)
    another = _refused(other, postgres_url)

    for run, says in (
        (stranger, "the platform key does not open the keyring root stored in the database"),
        (another, f"{other / 'keys' / 'keyring.wrapped'} holds another keyring root"),
    ):
        assert run.returncode == 1, run.stderr
        assert "Traceback" not in run.stderr, run.stderr
        (line,) = run.stderr.strip().splitlines()
        assert line.startswith(f"citadel: refusing to start: {says}"), line

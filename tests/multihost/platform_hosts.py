"""A Citadel platform across namespace hosts: control-plane replicas on the run's PostgreSQL,
allocators that join with tokens, gateways that join with the operator's own certificate, and
the clients' own host. Used by the reduced test (tests/multihost/test_platform.py) and the
full scenario (tests/multihost/scenario.py, `scripts/multihost.sh`)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization

from citadel.crypto.barrier import Barrier
from citadel.gateway.certificates import gateway_hostnames
from citadel.pki.authority import ensure_api_certificate
from tests.multihost.harness import Host, HostProcess, Network, Postgres
from tests.multihost.roles import (
    CITADEL,
    GATEWAY_PORT,
    REPO,
    ControlPlane,
    Gateway,
    Missing,
    NotReady,
    admin_key,
    bootstrap_platform,
    start_control_plane,
    supports,
    wait_until,
)
from tests.multihost.roles import start_allocator as start_allocator_by_copy
from tests.multihost.roles import start_gateway as start_gateway_by_copy

DOMAIN, REGION = "citadel.localhost", "local"
ES8 = REPO / ".venv-es8" / "bin" / "python"
CLIENT_SCENARIO = Path(__file__).with_name("client_scenario.py")


@dataclass
class Platform:
    """The running platform and what is not built yet (`missing`)."""

    net: Network
    postgres: Postgres
    database_url: str
    missing: Missing = field(default_factory=Missing)
    control_planes: list[ControlPlane] = field(default_factory=list)
    allocators: dict[str, HostProcess] = field(default_factory=dict)
    gateways: list[Gateway] = field(default_factory=list)
    organization_id: str = ""
    api_key: str = ""
    public_ca: Path | None = None  # the operator's CA of the gateways' certificate
    cp_env: dict[str, str] = field(default_factory=dict)  # settings of every replica

    # --- roles -------------------------------------------------------------------------

    def add_control_plane(self, name: str) -> ControlPlane:
        """A replica on a new host; the first one bootstraps the platform."""
        host = self.net.add_host(name)
        first = self.control_planes[0].host if self.control_planes else None
        if first is None:
            self.organization_id = bootstrap_platform(host, self.database_url)
        replica = start_control_plane(host, self.database_url, first=first, env=self.cp_env)
        self.control_planes.append(replica)
        if not self.api_key:
            self.api_key = admin_key(replica, self.database_url, self.organization_id)
        return replica

    @property
    def control_plane(self) -> ControlPlane:
        """The first replica still running."""
        return next(cp for cp in self.control_planes if cp.process.alive())

    def join_token(self, role: str) -> str | None:
        """A join token minted by a platform owner (`citadel platform join-token`), or None
        where the command is not built."""
        if not supports("platform", "join-token"):
            self.missing.note("citadel platform join-token")
            return None
        cp = self.control_plane
        done = cp.host.run(
            [CITADEL, "platform", "join-token", "--role", role, "--ttl", "30m", "-o", "json",
             "--request-timeout", "120",
             "--api-url", cp.api_url, "--ca-file", str(cp.data_dir / "pki" / "ca.crt")],
            env={"CITADEL_API_KEY": self.api_key},
        )  # fmt: skip
        if done.returncode != 0:
            raise NotReady(f"join-token failed:\n{done.stdout}\n{done.stderr}")
        return json.loads(done.stdout)["token"]

    def _join_argv(self, host: Host, role: str) -> list[str] | None:
        token = self.join_token(role) if supports(role, "--join") else None
        if token is None:
            self.missing.note(f"citadel {role} --join")
            return None
        (host.disk / "join-token").write_text(token + "\n")
        (host.disk / "join-token").chmod(0o600)
        cp = self.control_plane
        (host.disk / "platform-ca.crt").write_bytes(cp.ca_file.read_bytes())
        return ["--join", f"https://{cp.host.address}:8443",
                "--join-token-file", str(host.root / "join-token"),
                "--ca-file", str(host.root / "platform-ca.crt")]  # fmt: skip

    def add_allocator(self, name: str, *, zone: str, capacity_mb: int) -> HostProcess:
        """An allocator host that joins with a token (the platform key placed by the
        operator, as ADR 33 asks) and registers its zone, capacity and address."""
        host = self.net.add_host(name)
        join = self._join_argv(host, "allocator")
        if join is None:
            process = start_allocator_by_copy(
                host, self.control_plane, self.missing, zone=zone, capacity_mb=capacity_mb
            )
        else:
            keys = host.disk / "data" / "keys"
            keys.mkdir(parents=True, mode=0o700)
            source = self.control_planes[0].host.disk / "data" / "keys" / "platform.key"
            (keys / "platform.key").write_bytes(source.read_bytes())
            (keys / "platform.key").chmod(0o600)
            process = _start_allocator_joined(host, join, self.missing, zone, capacity_mb)
        self.allocators[name] = process
        return process

    def add_gateway(self, name: str) -> Gateway:
        """A gateway host that joins with a token and serves the operator's certificate."""
        host = self.net.add_host(name)
        join = self._join_argv(host, "gateway")
        if join is None:
            gateway = start_gateway_by_copy(host, self.control_plane)
        else:
            cert, key = self._gateway_certificate(host)
            argv = [CITADEL, "gateway", "--data-dir", str(host.root / "data"),
                    "--host", host.address, "--port", str(GATEWAY_PORT),
                    "--domain", DOMAIN, "--region", REGION,
                    "--cert", str(cert), "--key", str(key), *join]  # fmt: skip
            process = host.start("gateway", argv)
            wait_until(
                lambda: _listens(host.address, GATEWAY_PORT),
                process,
                what=f"the gateway on {host.name}",
                timeout=60,
            )
            gateway = Gateway(host, process)
        self.gateways.append(gateway)
        return gateway

    def _gateway_certificate(self, host: Host) -> tuple[Path, Path]:
        """The operator's certificate for the deployments' names, from a CA of its own (a
        joined gateway holds no platform CA key); files in `host`'s view."""
        folder = self.net.root / "shared" / "public-tls"
        if self.public_ca is None:
            names = gateway_hostnames(DOMAIN, [REGION])
            issued = ensure_api_certificate(folder, Barrier({1: os.urandom(32)}), b"pw", names)
            key = serialization.load_pem_private_key(issued.key_file.read_bytes(), b"pw")
            plain = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            (folder / "gateway.key").write_bytes(plain)
            (folder / "gateway.crt").write_bytes(issued.cert_file.read_bytes())
            self.public_ca = issued.ca_file
        (host.disk / "tls").mkdir(exist_ok=True)
        for part in ("gateway.crt", "gateway.key"):
            (host.disk / "tls" / part).write_bytes((folder / part).read_bytes())
        (host.disk / "tls" / "gateway.key").chmod(0o600)
        return host.root / "tls" / "gateway.crt", host.root / "tls" / "gateway.key"

    @property
    def client_ca(self) -> Path:
        """What clients trust for the gateways: the operator's CA, or the platform's."""
        return self.public_ca or self.control_planes[0].ca_file

    # --- the Cloud API -----------------------------------------------------------------

    def api(self, replica: ControlPlane | None = None) -> httpx.Client:
        cp = replica or self.control_plane
        return httpx.Client(
            base_url=cp.api_url,
            verify=cp.trust(),
            headers={"Authorization": f"ApiKey {self.api_key}"},
            timeout=120,  # a loaded machine: two cores for every host and the tests
        )

    def create_deployment(self, name: str, *, size_mb: int | None = None) -> tuple[str, str]:
        """A new deployment (of `size_mb`, else the default size); its id and elastic's
        password."""
        es: dict = {"ref_id": "main-elasticsearch"}
        if size_mb is not None:
            size = {"value": size_mb, "resource": "memory"}
            es["plan"] = {"cluster_topology": [{"size": size}]}
        body = {"name": name, "resources": {"elasticsearch": [es]}}
        with self.api() as api:
            made = api.post("/deployments", json=body)
        if made.status_code != 201:
            raise AssertionError(f"create {name}: {made.status_code} {made.text}")
        return made.json()["id"], made.json()["resources"][0]["credentials"]["password"]

    def wait_healthy(self, deployments: Iterable[str], *, timeout: float = 180) -> None:
        waiting = set(deployments)
        deadline = time.monotonic() + timeout
        shown: dict = {}
        with self.api() as api:
            while waiting and time.monotonic() < deadline:
                for deployment in sorted(waiting):
                    shown = api.get(f"/deployments/{deployment}").json()
                    if shown.get("healthy"):
                        waiting.discard(deployment)
                time.sleep(0.5)
        if waiting:
            raise AssertionError(f"not healthy after {timeout:.0f} s: {sorted(waiting)} {shown}")

    def placement(self, deployment: str) -> str | None:
        """The allocator host whose disk holds the deployment's directory (where it runs); a
        removed host's disk is left behind and does not count."""
        for name in self.allocators:
            host = self.net.hosts[name]
            if not host.removed and (host.disk / "data" / "deployments" / deployment).exists():
                return name
        return None

    # --- clients -----------------------------------------------------------------------

    def client_host(self) -> Host:
        return self.net.hosts.get("client") or self.net.add_host("client")

    def run_client(
        self, gateway: Gateway, deployment: str, password: str, *, index: str, docs: int
    ) -> dict:
        """The official Elasticsearch client (8.x) on the clients' host, reaching the
        deployment by its name (``<id>.<region>.<domain>``, resolved to `gateway` by that
        host's own hosts file): indexes `docs` documents, counts them."""
        if not ES8.exists():
            raise NotReady(".venv-es8 is missing (make test creates it)")
        client = self.client_host()
        name = f"{deployment}.{REGION}.{DOMAIN}"
        hosts = client.disk / f"hosts-{gateway.host.name}-{deployment}"
        hosts.write_text(f"127.0.0.1 localhost\n{gateway.host.address} {name}\n")
        (client.disk / "ca.crt").write_bytes(self.client_ca.read_bytes())
        done = client.run(
            [str(ES8), str(CLIENT_SCENARIO), "elasticsearch8", f"https://{name}:{GATEWAY_PORT}",
             str(client.root / "ca.crt"), password, index, str(docs)],
            hosts_file=client.root / hosts.name,
            timeout=180,
        )  # fmt: skip
        if done.returncode != 0:
            raise AssertionError(f"the client failed:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout)


def _listens(address: str, port: int) -> bool:
    import socket

    try:
        socket.create_connection((address, port), timeout=1).close()
    except OSError:
        return False
    return True


def _start_allocator_joined(
    host: Host, join: list[str], missing: Missing, zone: str, capacity_mb: int
) -> HostProcess:
    argv = [CITADEL, "allocator", "--data-dir", str(host.root / "data"), "--interval", "0.25"]
    wanted = {
        "--allocator-id": host.name,
        "--zone": zone,
        "--capacity-mb": str(capacity_mb),
        "--advertise-address": host.address,
        "--node-ports": "20000-20999",
    }
    for option, value in wanted.items():
        if supports("allocator", option):
            argv += [option, value]
        else:
            missing.note(f"citadel allocator {option}")
    process = host.start("allocator", [*argv, *join])
    wait_until(
        lambda: "allocator.started" in process.log(tail=200_000),
        process,
        what=f"the allocator on {host.name}",
        timeout=90,
    )
    return process


def start_platform(net: Network, postgres: Postgres, database: str = "citadel") -> Platform:
    return Platform(net, postgres, postgres.create_database(database))

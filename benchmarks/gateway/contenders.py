"""The contenders and how each is started.

CPU layout on a 2-core machine: every *pinned* contender runs alone on CPU 0 with one worker
(nginx ``worker_processes 1``, haproxy ``nbthread 1``, ``citadel gateway --workers 1``); the
load generator, the backend and the PROXY relay share CPU 1. The *per-core* variants run one
worker per core, unpinned, as each would be deployed (their workers then share both CPUs with
the load). Every contender stays up for the whole run (idle ones cost nothing) and rounds
alternate between them.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.gateway import configs, rules
from benchmarks.gateway.material import DEPLOYMENT, DOMAIN, HOSTNAME, Material
from benchmarks.gateway.services import Service, free_port, start

PROXY_CPUS = "0"
LOAD_CPUS = "1"
NODE_PASSWORD = "benchmark-elastic-password"


@dataclass
class Contender:
    """Something wrk can load: a URL, the headers to send, the processes to measure."""

    key: str
    label: str
    kind: str  # direct | haproxy | nginx | gateway
    url: str
    rules: int | None = None
    pinned: bool = True
    group: str = "static"  # static: the fixed nginx backend; node: a real Citadel node
    headers: dict[str, str] = field(default_factory=dict)
    measured: list[Service] = field(default_factory=list)
    helpers: list[Service] = field(default_factory=list)  # started for it, not measured
    handshake_port: int | None = None  # set for the contenders whose handshakes are timed

    def cpu_s(self) -> tuple[float, float]:
        """User and system CPU seconds of the measured processes."""
        times = [s.cpu_s() for s in self.measured]
        return sum(t[0] for t in times), sum(t[1] for t in times)

    def rss_mb(self) -> float:
        return round(sum(s.rss_mb() for s in self.measured), 1)


@dataclass
class Backend:
    """The fixed-answer nginx: plain, TLS and mTLS-on-a-unix-socket listeners."""

    service: Service
    plain_port: int
    tls_port: int
    unix_socket: Path


def start_backend(material: Material, work: Path) -> Backend:
    plain, tls = free_port(), free_port()
    unix = work / "backend.sock"
    conf_dir = work / "backend"
    conf_dir.mkdir(parents=True, exist_ok=True)
    conf = conf_dir / "nginx.conf"
    conf.write_text(
        configs.nginx_backend(
            conf_dir,
            plain_port=plain,
            tls_port=tls,
            unix_socket=unix,
            cert=material.node_cert,
            key=material.node_key,
            client_ca=material.ca,
        )
    )
    service = start(
        "backend",
        ["nginx", "-c", str(conf), "-p", str(conf_dir)],
        cpus=LOAD_CPUS,
        work=conf_dir,
        ready=("127.0.0.1", plain),
    )
    return Backend(service, plain, tls, unix)


def haproxy(
    material: Material,
    work: Path,
    n: int,
    *,
    upstream: str,
    threads: int = 1,
    accept_proxy: bool = False,
    name: str | None = None,
) -> tuple[Service, int]:
    name = name or f"haproxy-{n}"
    conf_dir = work / name
    conf_dir.mkdir(parents=True, exist_ok=True)
    acl = conf_dir / "acl.txt"
    acl.write_text(rules.haproxy_acl(n))
    port = free_port()
    conf = conf_dir / "haproxy.cfg"
    conf.write_text(
        configs.haproxy_proxy(
            port=port,
            server_pem=material.server_pem,
            acl_file=acl,
            threads=threads,
            upstream=upstream,
            accept_proxy=accept_proxy,
        )
    )
    service = start(
        name,
        ["haproxy", "-db", "-f", str(conf)],
        cpus=PROXY_CPUS if threads == 1 else None,
        work=conf_dir,
        ready=("127.0.0.1", port),
    )
    return service, port


def nginx(
    material: Material, work: Path, n: int, backend: Backend, *, workers: int = 1
) -> tuple[Service, int]:
    name = f"nginx-{n}-w{workers}"
    conf_dir = work / name
    conf_dir.mkdir(parents=True, exist_ok=True)
    geo = conf_dir / "geo.txt"
    geo.write_text(rules.nginx_geo(n))
    port = free_port()
    conf = conf_dir / "nginx.conf"
    conf.write_text(
        configs.nginx_proxy(
            conf_dir,
            port=port,
            cert=material.server_cert,
            key=material.server_key,
            geo_file=geo,
            upstream_port=backend.plain_port,
            workers=workers,
        )
    )
    service = start(
        name,
        ["nginx", "-c", str(conf), "-p", str(conf_dir)],
        cpus=PROXY_CPUS if workers == 1 else None,
        work=conf_dir,
        ready=("127.0.0.1", port),
    )
    return service, port


def gateway(
    material: Material,
    work: Path,
    n: int,
    node_socket: Path,
    *,
    workers: int = 1,
    proxy_listener: bool = False,
    name: str | None = None,
) -> tuple[Service, int, int | None]:
    """``citadel gateway`` serving a persisted snapshot (no control plane) with N rules."""
    name = name or f"gateway-{n}-w{workers}"
    data_dir = material.gateway_data_dir(name)
    (data_dir / "gateway").mkdir(parents=True, exist_ok=True)
    snapshot = rules.snapshot(n, node_socket)
    (data_dir / "gateway" / "snapshot.json").write_text(json.dumps(snapshot))
    port = free_port()
    command = [_citadel(), "gateway", "--data-dir", str(data_dir), "--port", str(port)]
    command += ["--cert", str(material.server_cert), "--key", str(material.server_key)]
    command += ["--domain", DOMAIN, "--wait", "0", "--log-level", "warning"]
    if workers != 1:
        command += ["--workers", str(workers)]
    proxy_port = None
    if proxy_listener:
        proxy_port = free_port()
        command += ["--proxy-port", str(proxy_port), "--proxy-trusted-cidr", "127.0.0.1/32"]
    service = start(
        name,
        command,
        cpus=PROXY_CPUS if workers == 1 else None,
        work=work / name,
        ready=("127.0.0.1", port),
    )
    return service, port, proxy_port


def relay(work: Path, target_port: int, name: str) -> tuple[Service, int]:
    """The load balancer in front of a PROXY listener (haproxy TCP, ``send-proxy-v2``)."""
    conf_dir = work / name
    conf_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = conf_dir / "haproxy.cfg"
    conf.write_text(configs.haproxy_relay(port=port, target_port=target_port))
    service = start(
        name,
        ["haproxy", "-db", "-f", str(conf)],
        cpus=LOAD_CPUS,
        work=conf_dir,
        ready=("127.0.0.1", port),
    )
    return service, port


def _citadel() -> str:
    from tests.node.process import CITADEL

    return CITADEL


def url(port: int) -> str:
    return f"https://{HOSTNAME}:{port}/"


Starter = Callable[[], Contender]


def static_contenders(
    material: Material,
    work: Path,
    backend: Backend,
    rule_counts: list[int],
    *,
    per_core: bool,
    proxy_listener: bool,
    mtls_haproxy: bool,
) -> list[Starter]:
    """Starters for every contender in front of the fixed backend, in the report's order."""
    largest = max(rule_counts)
    plain_upstream = f"127.0.0.1:{backend.plain_port}"
    mtls_upstream = (
        f"unix@{backend.unix_socket} ssl verify required ca-file {material.ca} "
        f"crt {material.upstream_client_pem} sni str({DEPLOYMENT}.node.citadel.internal) "
        "alpn http/1.1"
    )
    starters: list[Starter] = [
        lambda: Contender(
            "direct",
            "direct to backend (TLS)",
            "direct",
            url(backend.tls_port),
            handshake_port=backend.tls_port,
        )
    ]

    def make_haproxy(n: int) -> Starter:
        def started() -> Contender:
            service, port = haproxy(material, work, n, upstream=plain_upstream)
            handshakes = port if n == largest else None
            label = f"haproxy TLS + src ACL, {n:,} CIDRs"
            return Contender(
                f"haproxy-{n}",
                label,
                "haproxy",
                url(port),
                n,
                measured=[service],
                handshake_port=handshakes,
            )

        return started

    def make_nginx(n: int) -> Starter:
        def started() -> Contender:
            service, port = nginx(material, work, n, backend)
            handshakes = port if n == largest else None
            label = f"nginx TLS + geo, {n:,} CIDRs"
            return Contender(
                f"nginx-{n}",
                label,
                "nginx",
                url(port),
                n,
                measured=[service],
                handshake_port=handshakes,
            )

        return started

    def make_gateway(n: int) -> Starter:
        def started() -> Contender:
            service, port, _ = gateway(material, work, n, backend.unix_socket)
            handshakes = port if n == largest else None
            label = f"gateway TLS + SNI + mTLS up, {n:,} rules"
            return Contender(
                f"gateway-{n}",
                label,
                "gateway",
                url(port),
                n,
                measured=[service],
                handshake_port=handshakes,
            )

        return started

    for n in rule_counts:
        starters += [make_haproxy(n), make_nginx(n), make_gateway(n)]
    if mtls_haproxy:

        def haproxy_mtls() -> Contender:
            service, port = haproxy(
                material, work, largest, upstream=mtls_upstream, name="haproxy-mtls"
            )
            label = f"haproxy TLS + src ACL + mTLS up, {largest:,} CIDRs"
            return Contender(
                "haproxy-mtls", label, "haproxy", url(port), largest, measured=[service]
            )

        starters.append(haproxy_mtls)
    if proxy_listener:

        def gateway_proxy() -> Contender:
            service, _, proxy_port = gateway(
                material, work, largest, backend.unix_socket, proxy_listener=True, name="gateway-pp"
            )
            assert proxy_port is not None
            lb, port = relay(work, proxy_port, "relay-gateway")
            label = f"gateway PROXY v2 listener, {largest:,} rules (behind a TCP relay)"
            return Contender(
                "gateway-proxy",
                label,
                "gateway",
                url(port),
                largest,
                measured=[service],
                helpers=[lb],
            )

        def haproxy_proxy() -> Contender:
            service, hp_port = haproxy(
                material,
                work,
                largest,
                upstream=plain_upstream,
                accept_proxy=True,
                name="haproxy-pp",
            )
            lb, port = relay(work, hp_port, "relay-haproxy")
            label = f"haproxy accept-proxy, {largest:,} CIDRs (behind a TCP relay)"
            return Contender(
                "haproxy-proxy",
                label,
                "haproxy",
                url(port),
                largest,
                measured=[service],
                helpers=[lb],
            )

        starters += [haproxy_proxy, gateway_proxy]
    if per_core:
        cores = os.cpu_count() or 2

        def haproxy_cores() -> Contender:
            service, port = haproxy(
                material,
                work,
                largest,
                upstream=plain_upstream,
                threads=cores,
                name="haproxy-cores",
            )
            label = f"haproxy, {cores} threads, {largest:,} CIDRs"
            return Contender(
                "haproxy-cores",
                label,
                "haproxy",
                url(port),
                largest,
                pinned=False,
                measured=[service],
            )

        def nginx_cores() -> Contender:
            service, port = nginx(material, work, largest, backend, workers=cores)
            label = f"nginx, {cores} workers, {largest:,} CIDRs"
            return Contender(
                "nginx-cores", label, "nginx", url(port), largest, pinned=False, measured=[service]
            )

        def gateway_cores() -> Contender:
            service, port, _ = gateway(
                material, work, largest, backend.unix_socket, workers=cores, name="gateway-cores"
            )
            label = f"gateway, {cores} workers, {largest:,} rules"
            return Contender(
                "gateway-cores",
                label,
                "gateway",
                url(port),
                largest,
                pinned=False,
                measured=[service],
            )

        starters += [haproxy_cores, nginx_cores, gateway_cores]
    return starters


@dataclass
class NodePair:
    """A real node reached directly (TCP, TLS) and one behind the gateway (unix, mTLS)."""

    direct: Contender
    through_gateway: Contender
    stop: Callable[[], None]


def node_contenders(material: Material, work: Path) -> NodePair:
    """Two real ``citadel node`` processes (same build) and a gateway in front of one."""
    from tests.node.process import Tls, start_node

    tls = Tls(
        material.ca,
        material.node_cert,
        material.node_key,
        material.upstream_client_pem,
        material.upstream_client_pem,
    )
    direct = start_node(work / "node-direct", tls, elastic_password=NODE_PASSWORD)
    behind = start_node(
        work / "node-behind",
        tls,
        elastic_password=NODE_PASSWORD,
        mode="unix",
        client_ca=True,
    )
    for node in (direct, behind):
        subprocess.run(
            ["taskset", "-a", "-p", "-c", LOAD_CPUS, str(node.proc.pid)],
            capture_output=True,
            check=False,
        )
    assert behind.unix_socket is not None
    service, port, _ = gateway(material, work, max(1, 1), behind.unix_socket, name="gateway-node")
    auth = base64.b64encode(f"elastic:{NODE_PASSWORD}".encode()).decode()
    headers = {"Authorization": f"Basic {auth}"}
    first = Contender(
        "node-direct",
        "real node, direct (TLS)",
        "direct",
        direct.url + "/",
        group="node",
        headers=headers,
    )
    second = Contender(
        "node-gateway",
        "real node through the gateway",
        "gateway",
        url(port),
        1,
        group="node",
        headers=headers,
        measured=[service],
    )

    def stop() -> None:
        service.stop()
        for node in (direct, behind):
            node.stop()

    return NodePair(first, second, stop)

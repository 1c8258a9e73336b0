"""`citadel gateway` as a process: issues its certificates, serves the persisted snapshot,
directly and behind a PROXY-protocol balancer."""

from __future__ import annotations

import base64
import signal
import socket
import ssl
import subprocess
import time
from ipaddress import IPv4Address
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization
from proxyprotocol.result import ProxyResultIPv4
from proxyprotocol.v2 import ProxyProtocolV2

from citadel.crypto.keyring import open_keyring
from citadel.crypto.providers.local import LocalKeyFile
from citadel.pki.authority import ensure_ca, issue_leaf
from tests.gateway.harness import raw_exchange, write_snapshot
from tests.node.process import CITADEL, Tls, free_port, start_node

DEPLOYMENT = "c0ffee" + "0" * 26
PASSWORD = "command-test-password"


def _write_pair(directory: Path, name: str, hostnames: list[str], *, client: bool, ca) -> Path:
    cert, key = issue_leaf(ca[0], ca[1], hostnames, client=client)
    (directory / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / f"{name}.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return directory / f"{name}.crt"


def test_the_command_serves_a_node_from_the_persisted_snapshot(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    keyring = open_keyring(
        data_dir / "keys" / "keyring.wrapped",
        LocalKeyFile.create_or_open(data_dir / "keys" / "platform.key"),
    )
    ca = ensure_ca(data_dir / "pki", keyring.barrier)
    material = tmp_path / "node-tls"
    material.mkdir()
    node_names = [f"{DEPLOYMENT}.node.citadel.internal", "localhost"]
    _write_pair(material, "node", node_names, client=False, ca=ca)
    _write_pair(material, "probe", ["probe"], client=True, ca=ca)
    tls = Tls(
        data_dir / "pki" / "ca.crt",
        material / "node.crt",
        material / "node.key",
        material / "probe.crt",
        material / "probe.key",
    )
    node_dir = data_dir / "d" / "n"  # short: unix socket paths are limited to 107 bytes
    node = start_node(node_dir, tls, elastic_password=PASSWORD, mode="unix", client_ca=True)
    try:
        write_snapshot(
            data_dir / "gateway" / "snapshot.json",
            [
                {
                    "id": DEPLOYMENT,
                    "alias": "search",
                    "region": "local",
                    "state": "running",
                    "node_socket": str(node.unix_socket),
                }
            ],
        )
        port, proxy_port = free_port(), free_port()
        proc = subprocess.Popen(
            [
                CITADEL,
                "gateway",
                "--data-dir",
                str(data_dir),
                "--port",
                str(port),
                "--wait",
                "0",
                "--proxy-port",
                str(proxy_port),
                "--proxy-trusted-cidr",
                "127.0.0.1/32",
                "--proxy-vendor",
                "aws",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            _wait_listening(proc, port, tls.ca)
            assert (data_dir / "pki" / "components" / "gateway.crt").exists()
            assert (data_dir / "pki" / "gateway-server.key").stat().st_mode & 0o777 == 0o600
            with httpx.Client(
                verify=ssl.create_default_context(cafile=str(tls.ca)),
                auth=("elastic", PASSWORD),
                timeout=15,
            ) as c:
                response = c.get(
                    f"https://127.0.0.1:{port}/", headers={"X-Found-Cluster": DEPLOYMENT}
                )
            assert response.status_code == 200
            basic = base64.b64encode(f"elastic:{PASSWORD}".encode())
            answer = raw_exchange(
                port,
                tls.ca,
                b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Basic "
                + basic
                + b"\r\n\r\n",
                sni="search.local.citadel.localhost",  # the wildcard certificate covers it
            )
            assert answer.startswith(b"HTTP/1.1 200 ")
            behind_balancer = raw_exchange(
                proxy_port,
                tls.ca,
                b"GET / HTTP/1.1\r\nHost: search.local.citadel.localhost\r\n"
                b"Connection: close\r\nAuthorization: Basic " + basic + b"\r\n\r\n",
                before_tls=ProxyProtocolV2().pack(
                    ProxyResultIPv4(
                        (IPv4Address("198.51.100.7"), 40000),
                        (IPv4Address("10.0.0.1"), 443),
                        protocol=socket.SOCK_STREAM,
                    )
                ),
            )
            assert behind_balancer.startswith(b"HTTP/1.1 200 ")
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=15) == 0
        events = proc.stderr.read()
        assert b"gateway.request" in events
        assert b'"client_ip": "198.51.100.7"' in events
        assert b'"listener": "proxy"' in events
    finally:
        node.stop()


def _wait_listening(proc: subprocess.Popen[bytes], port: int, ca: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read().decode() if proc.stderr else "exited")
        try:
            with httpx.Client(verify=ssl.create_default_context(cafile=str(ca)), timeout=2) as c:
                c.get(f"https://127.0.0.1:{port}/")
            return
        except (httpx.TransportError, OSError):
            time.sleep(0.1)
    raise AssertionError("the gateway did not listen")

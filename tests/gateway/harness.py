"""A real gateway on loopback (its own uvloop in a thread) in front of real nodes."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import uvloop
from cryptography.hazmat.primitives import serialization

from citadel.crypto.barrier import Barrier
from citadel.gateway.certificates import ensure_gateway_certificate, gateway_hostnames
from citadel.gateway.listener import ProxyListener, ProxyListenerConfig
from citadel.gateway.proxy import Gateway, Limits, server_ssl_context, upstream_ssl_context
from citadel.gateway.snapshot import SnapshotKeeper
from citadel.pki.authority import ensure_ca, issue_leaf
from tests.node.process import Tls, free_port

T = TypeVar("T")
DOMAIN = "citadel.localhost"
KEY_PASSWORD = b"test-key-password"


@dataclass(frozen=True)
class Pki:
    """A platform CA with node, gateway-client and gateway-server certificates."""

    node_tls: Tls
    gateway_cert: Path
    gateway_key: Path


def make_pki(directory: Path) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    barrier = Barrier({1: os.urandom(32)})
    ca_cert, ca_key = ensure_ca(directory, barrier)

    def write(name: str, hostnames: list[str], *, client: bool = False) -> tuple[Path, Path]:
        cert, key = issue_leaf(ca_cert, ca_key, hostnames, client=client)
        cert_file, key_file = directory / f"{name}.crt", directory / f"{name}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return cert_file, key_file

    node_cert, node_key = write("node", ["localhost", "127.0.0.1"])
    client_cert, client_key = write("gateway-client", ["gateway"], client=True)
    server = ensure_gateway_certificate(
        directory, barrier, KEY_PASSWORD, gateway_hostnames(DOMAIN, ["local"])
    )
    tls = Tls(directory / "ca.crt", node_cert, node_key, client_cert, client_key)
    return Pki(tls, server.cert_file, server.key_file)


def write_snapshot(
    path: Path, deployments: list[dict], *, version: int = 1, rulesets: dict | None = None
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    doc: dict = {"version": version, "domain": DOMAIN, "deployments": deployments}
    if rulesets is not None:
        doc["rulesets"] = rulesets
    tmp.write_text(json.dumps(doc))
    tmp.replace(path)


class RunningGateway:
    """The gateway's event loop in a thread; `stop()` ends it."""

    def __init__(
        self, pki: Pki, snapshot: Path, limits: Limits, *, host: str = "127.0.0.1"
    ) -> None:
        self.host = host
        self.port = free_port()
        self.keeper = SnapshotKeeper(snapshot, interval_s=0.1)
        upstream = upstream_ssl_context(
            str(pki.node_tls.ca), str(pki.node_tls.client_cert), str(pki.node_tls.client_key), None
        )
        self.gateway = Gateway(self.keeper, upstream, limits=limits, node_server_name="localhost")
        self.server_ssl = server_ssl_context(
            str(pki.gateway_cert), str(pki.gateway_key), KEY_PASSWORD
        )
        self.loop = uvloop.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("gateway did not start")

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.gateway.serve(self.host, self.port, self.server_ssl))
        refresher = self.loop.create_task(self.keeper.refresh_forever())
        self._ready.set()
        self.loop.run_forever()
        refresher.cancel()
        self.gateway.close_idle()
        self.loop.run_until_complete(asyncio.gather(refresher, return_exceptions=True))

    def add_proxy_listener(self, config: ProxyListenerConfig) -> ProxyListener:
        """Start a PROXY listener on the gateway's loop (port 0: any free port)."""
        started = asyncio.run_coroutine_threadsafe(
            self.gateway.serve_proxy(config, self.server_ssl), self.loop
        )
        return started.result(10)

    def call(self, function: Callable[[], T]) -> T:
        """Run `function` on the gateway's loop (its state is the loop's alone) and return."""

        async def run() -> T:
            return function()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    def wait_for_version(self, version: int, *, within_s: float = 5) -> float:
        """Seconds until the gateway serves snapshot `version`."""
        started = time.monotonic()
        while self.keeper.table.version != version:
            if time.monotonic() - started > within_s:
                raise AssertionError(f"snapshot {version} not installed")
            time.sleep(0.01)
        return time.monotonic() - started

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


class RecordingNode:
    """A stand-in node on a unix socket with TLS that records each request's head and
    body as received, and answers `{}`: shows exactly what the gateway forwards."""

    def __init__(self, pki: Pki, path: Path) -> None:
        self.path = path
        self.received: list[bytes] = []
        self.connections = 0
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(pki.node_tls.cert), str(pki.node_tls.key))
        ctx.load_verify_locations(str(pki.node_tls.ca))
        ctx.verify_mode = ssl.CERT_REQUIRED
        self._ctx = ctx
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(path))
        self._listener.listen(16)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                raw, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._connection, args=(raw,), daemon=True).start()

    def _connection(self, raw: socket.socket) -> None:
        try:
            with self._ctx.wrap_socket(raw, server_side=True) as conn:
                buffer = b""
                while True:
                    while b"\r\n\r\n" not in buffer:
                        part = conn.recv(65536)
                        if not part:
                            return
                        buffer += part
                    head, _, buffer = buffer.partition(b"\r\n\r\n")
                    body, buffer = self._body(conn, head, buffer)
                    self.received.append(head + b"\r\n\r\n" + body)
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                        b"content-length: 2\r\n\r\n{}"
                    )
        except (OSError, ssl.SSLError):
            return

    @staticmethod
    def _body(conn: ssl.SSLSocket, head: bytes, buffer: bytes) -> tuple[bytes, bytes]:
        lower = head.lower()
        if b"transfer-encoding: chunked" in lower:
            while not buffer.endswith(b"0\r\n\r\n"):
                buffer += conn.recv(65536)
            return buffer, b""
        length = 0
        for line in lower.split(b"\r\n"):
            if line.startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        while len(buffer) < length:
            buffer += conn.recv(65536)
        return buffer[:length], buffer[length:]

    def close(self) -> None:
        self._listener.close()


def connect_from(source: str, port: int, *, host: str = "127.0.0.1", timeout: float = 10):
    """A TCP connection to the gateway from a chosen loopback source address."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    raw = socket.socket(family, socket.SOCK_STREAM)
    raw.settimeout(timeout)
    raw.bind((source, 0))
    raw.connect((host, port))
    return raw


def raw_exchange(
    port: int,
    ca: Path,
    data: bytes | list[bytes],
    *,
    timeout: float = 10,
    sni: str = "localhost",
    source: str = "127.0.0.1",
    before_tls: bytes = b"",
) -> bytes:
    """Send raw bytes over TLS (from `source`, after `before_tls` in the clear: a PROXY
    header) and read until the gateway closes (or the timeout)."""
    ctx = ssl.create_default_context(cafile=str(ca))
    chunks = [data] if isinstance(data, bytes) else data
    with connect_from(source, port, timeout=timeout) as raw:
        if before_tls:
            raw.sendall(before_tls)
        conn = ctx.wrap_socket(raw, server_hostname=sni)
        return _exchange(conn, chunks)


def _exchange(conn: ssl.SSLSocket, chunks: list[bytes]) -> bytes:
    with conn:
        for chunk in chunks:
            conn.sendall(chunk)
        received = b""
        try:
            while True:
                part = conn.recv(65536)
                if not part:
                    break
                received += part
        except (TimeoutError, ConnectionResetError, ssl.SSLError):
            pass
        return received

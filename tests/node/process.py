"""Starting `citadel node` as a real process: TLS material, the password on a pipe, the socket."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from citadel.crypto.barrier import Barrier
from citadel.pki.authority import ensure_api_certificate, issue_leaf

CITADEL = str(Path(sys.executable).parent / "citadel")
ELASTIC_PASSWORD = "elastic-test-password"


@dataclass(frozen=True)
class Tls:
    """A CA, the node's server certificate, and a client certificate for mTLS."""

    ca: Path
    cert: Path
    key: Path
    client_cert: Path
    client_key: Path


def make_tls(directory: Path) -> Tls:
    """Fresh TLS material issued by a throwaway platform CA."""
    barrier = Barrier({1: os.urandom(32)})
    server = ensure_api_certificate(directory, barrier, b"pw", ["127.0.0.1", "localhost"])
    key = serialization.load_pem_private_key(server.key_file.read_bytes(), password=b"pw")
    plain_key = directory / "node.key"
    plain_key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ca_cert = x509.load_pem_x509_certificate(server.ca_file.read_bytes())
    ca_key_pem = barrier.open((directory / "ca.key.sealed").read_bytes(), context="pki/ca.key")
    ca_key = serialization.load_pem_private_key(ca_key_pem, password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    client, client_key = issue_leaf(ca_cert, ca_key, ["gateway.citadel.internal"], client=True)
    client_cert_file, client_key_file = directory / "client.crt", directory / "client.key"
    client_cert_file.write_bytes(client.public_bytes(serialization.Encoding.PEM))
    client_key_file.write_bytes(
        client_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Tls(server.ca_file, server.cert_file, plain_key, client_cert_file, client_key_file)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RunningNode:
    """A node process and how to reach it."""

    proc: subprocess.Popen[bytes]
    url: str
    tls: Tls
    unix_socket: Path | None = None
    extra_fds: list[int] = field(default_factory=list)

    def client(self, *, auth: tuple[str, str] | None, client_cert: bool = False) -> httpx.Client:
        ctx = ssl.create_default_context(cafile=str(self.tls.ca))
        if client_cert:
            ctx.load_cert_chain(str(self.tls.client_cert), str(self.tls.client_key))
        transport = (
            httpx.HTTPTransport(uds=str(self.unix_socket), verify=ctx) if self.unix_socket else None
        )
        return httpx.Client(
            base_url=self.url, verify=ctx, auth=auth, transport=transport, timeout=30
        )

    def stop(self) -> int:
        """SIGTERM and wait: the graceful path."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)

    def kill9(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)


def start_node(
    data_dir: Path,
    tls: Tls,
    *,
    legacy_key: bytes | None = None,
    elastic_password: str = ELASTIC_PASSWORD,
    mode: str = "port",
    client_ca: bool = False,
    wait: bool = True,
    extra_args: Sequence[str] = (),
) -> RunningNode:
    """Start `citadel node`; the password (and a legacy store's key) travel on pipes.
    `extra_args` go on its command line last (``--security-file``, ``--log-level``)."""
    pw_r = _pipe_with(elastic_password.encode())
    args = [
        CITADEL,
        "node",
        "--data-dir",
        str(data_dir),
        "--elastic-password-fd",
        str(pw_r),
        "--cert",
        str(tls.cert),
        "--key",
        str(tls.key),
    ]
    pipes = [pw_r]
    if legacy_key is not None:
        key_r = _pipe_with(legacy_key)
        args += ["--legacy-key-fd", str(key_r)]
        pipes.append(key_r)
    fds = list(pipes)
    url, sock_path, listener = "", None, None
    if mode == "port":
        port = free_port()
        args += ["--port", str(port)]
        url = f"https://127.0.0.1:{port}"
    elif mode == "listen-fd":
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        args += ["--listen-fd", str(listener.fileno())]
        fds.append(listener.fileno())
        url = f"https://127.0.0.1:{listener.getsockname()[1]}"
    else:
        sock_path = data_dir.parent / f"{data_dir.name}.sock"
        args += ["--unix-socket", str(sock_path)]
        url = "https://localhost"
    if client_ca:
        args += ["--client-ca", str(tls.ca)]
    args += extra_args
    proc = subprocess.Popen(args, pass_fds=fds, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for fd in pipes:
        os.close(fd)
    if listener is not None:
        listener.close()
    node = RunningNode(proc, url, tls, sock_path)
    if wait:
        _wait_ready(node, client_ca)
    return node


def _pipe_with(data: bytes) -> int:
    r, w = os.pipe()
    os.write(w, data)
    os.close(w)
    return r


def _wait_ready(node: RunningNode, client_ca: bool) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if node.proc.poll() is not None:
            raise RuntimeError(f"node exited: {node.proc.stderr.read().decode()}")
        try:
            with node.client(auth=None, client_cert=client_ca) as c:
                c.get("/")
            return
        except (httpx.TransportError, ssl.SSLError, OSError):
            time.sleep(0.1)
    node.proc.kill()
    raise RuntimeError("node did not become ready")


def dump(value: object) -> str:
    return json.dumps(value)


# -- the release before the tantivy engine, for upgrade tests ---------------------------------

PREVIOUS_RELEASE = "9a8ceaa"
"""The last commit whose node stored documents in SQLCipher FTS5 tables (before ADR 15)."""


@dataclass(frozen=True)
class PreviousRelease:
    """The previous release's source tree, to start its node and write a store to upgrade."""

    src: Path

    def start(self, data_dir: Path, key: bytes, tls: Tls) -> RunningNode:
        """That release's `citadel node` on `data_dir`, its data key on ``--key-fd``."""
        key_r, pw_r = _pipe_with(key), _pipe_with(b"elastic-test-password")
        port = free_port()
        args = [
            sys.executable,
            "-m",
            "citadel.node",
            "--data-dir",
            str(data_dir),
            "--key-fd",
            str(key_r),
            "--elastic-password-fd",
            str(pw_r),
            "--cert",
            str(tls.cert),
            "--key",
            str(tls.key),
            "--port",
            str(port),
        ]
        env = {**os.environ, "PYTHONPATH": str(self.src)}
        proc = subprocess.Popen(
            args,
            pass_fds=[key_r, pw_r],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for fd in (key_r, pw_r):
            os.close(fd)
        node = RunningNode(proc, f"https://127.0.0.1:{port}", tls)
        _wait_ready(node, client_ca=False)
        return node


def previous_release_source(directory: Path) -> PreviousRelease | None:
    """`PREVIOUS_RELEASE`'s ``src/`` extracted from this repository's history (None without
    git or that commit, e.g. in a shallow clone)."""
    repo = Path(__file__).resolve().parents[2]
    directory.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", PREVIOUS_RELEASE, "src"],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        return None
    subprocess.run(["tar", "-x", "-C", str(directory)], input=archive.stdout, check=True)
    return PreviousRelease(directory / "src")

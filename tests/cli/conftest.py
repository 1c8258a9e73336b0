"""The real public API on loopback (TLS by the platform CA, in a thread of the test), found
by the CLI the way it finds a local `citadel up`: `<data-dir>/run/endpoints.json`."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from typer.testing import CliRunner

from citadel.app import create_app
from citadel.bootstrap import Services, api_certificate
from citadel.cli.main import app
from tests.fixtures.builders import make_api_key, make_org, make_user


@dataclass(frozen=True)
class LocalApi:
    """A served API, an organization in it and an owner's key; `run` is the CLI against it."""

    data_dir: Path
    org_id: str
    key: str

    def run(self, *args: str, env: dict[str, str] | None = None):
        return CliRunner().invoke(
            app, [*args, "--data-dir", str(self.data_dir), "--api-key", self.key], env=env
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def local_api(services: Services) -> Iterator[LocalApi]:
    cert = api_certificate(services)
    port = _free_port()
    config = uvicorn.Config(
        create_app(services),
        host="127.0.0.1",
        port=port,
        ssl_certfile=str(cert.cert_file),
        ssl_keyfile=str(cert.key_file),
        ssl_keyfile_password=cert.key_password.decode(),
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    data_dir = services.settings.data_dir
    (data_dir / "run").mkdir(exist_ok=True)
    endpoints = {"api_url": f"https://127.0.0.1:{port}/api/v1", "ca_file": str(cert.ca_file)}
    (data_dir / "run" / "endpoints.json").write_text(json.dumps(endpoints))
    org_id = make_org(services, make_user(services))
    yield LocalApi(data_dir, org_id, make_api_key(services, org_id))
    server.should_exit = True
    thread.join(timeout=10)

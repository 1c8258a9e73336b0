"""Every component's Prometheus endpoint: ``GET /metrics`` over TLS, behind a bearer token.

One token per platform, in ``<data-dir>/keys/metrics.token`` (mode 0600, created by whichever
component starts first); Prometheus reads it with ``authorization: {credentials_file: ...}``
(docs/operations.md, "Metrics"). The token is compared in constant time; a request without
it is answered 401 before anything is collected. Each component builds its own
`prometheus_client.CollectorRegistry` (no process-global registry, so tests can build several
components in one process) and serves it with `serve_metrics`.
"""

from __future__ import annotations

import hmac
import os
import secrets
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

TOKEN_FILE = Path("keys") / "metrics.token"
"""Relative to the data directory."""

_TOKEN_BYTES = 32
_REQUEST_TIMEOUT_S = 10.0
"""A scrape that sends nothing for this long is closed (a slow client holds one thread)."""


class TokenMissing(RuntimeError):
    """The token file exists but holds no token (it is being written, or was emptied)."""


def ensure_token(data_dir: Path, *, wait_s: float = 2.0) -> str:
    """The platform's metrics token, created (0600, never overwritten) on first use. A file
    another component is still writing is read again for up to `wait_s`; an empty token is
    never returned (it would let an empty bearer credential in)."""
    path = data_dir / TOKEN_FILE
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_token(path, wait_s)
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    with os.fdopen(fd, "w") as file:
        file.write(token + "\n")
    return token


def _read_token(path: Path, wait_s: float) -> str:
    deadline = time.monotonic() + wait_s
    while not (token := path.read_text().strip()):
        if time.monotonic() >= deadline:
            raise TokenMissing(f"{path} is empty: delete it to have a new token made")
        time.sleep(0.05)
    return token


def authorized(header: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries `token` as a bearer credential (never
    when `token` is empty)."""
    scheme, _, credential = (header or "").partition(" ")
    return (
        bool(token)
        and scheme.lower() == "bearer"
        and hmac.compare_digest(credential.strip().encode(), token.encode())
    )


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def metrics_app(registry: CollectorRegistry, token: str) -> WsgiApp:
    """prometheus-client's WSGI exposition (text or OpenMetrics, gzip when asked) at
    ``/metrics`` only, after the bearer token."""
    exposition = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found: metrics are at /metrics\n"]
        if not authorized(environ.get("HTTP_AUTHORIZATION"), token):
            start_response(
                "401 Unauthorized",
                [("Content-Type", "text/plain"), ("WWW-Authenticate", 'Bearer realm="metrics"')],
            )
            return [b"a bearer token is required (keys/metrics.token in the data directory)\n"]
        body: Iterable[bytes] = exposition(environ, start_response)
        return body

    return app


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr (a scrape every few seconds is not news), and a deadline."""

    timeout = _REQUEST_TIMEOUT_S

    def log_message(self, format: str, *args: Any) -> None:
        return


class MetricsServer:
    """A running metrics endpoint; `close` stops it."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve_metrics(
    registry: CollectorRegistry, *, host: str, port: int, tls: ssl.SSLContext, token: str
) -> MetricsServer:
    """Serve `registry` at ``https://host:port/metrics`` on a daemon thread (port 0: any free
    port, see `MetricsServer.port`). The TLS handshake runs on the request's thread, so a
    client that never completes one does not stall the others."""
    server = make_server(
        host, port, metrics_app(registry, token), server_class=_Server, handler_class=_QuietHandler
    )
    server.socket = tls.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    thread = threading.Thread(target=server.serve_forever, name="metrics", daemon=True)
    thread.start()
    return MetricsServer(server, thread)

"""Endpoints that never give a usable answer: a closed port, a silent one, a babbling one, a
hanging one.

The fixtures are named explicitly, so a test module may import them under another name
(``from tests.providers.dead_servers import silent_port as _silent_port  # noqa: F401``).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest


@pytest.fixture(name="closed_port")
def closed_port() -> int:
    """A loopback port nothing listens on (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(name="silent_port")
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections (the kernel does) and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield s.getsockname()[1]


@contextmanager
def _serving(on_connection: Callable[[socket.socket], None]) -> Iterator[int]:
    """A loopback listener handing each accepted connection to `on_connection`."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            on_connection(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=5)


def _babble(conn: socket.socket) -> None:
    with conn:
        conn.sendall(b"HTTP/1.0 200 OK\r\n\r\n" + b"\x17\x03\x03garbage" * 64)


@pytest.fixture(name="babbling_port")
def babbling_port() -> Iterator[int]:
    """A loopback port that answers every connection with bytes of no protocol, then hangs up."""
    with _serving(_babble) as port:
        yield port


@dataclass
class HangingService:
    """A loopback port that accepts every connection and never answers; `reached` is set once
    a client has connected."""

    port: int
    reached: threading.Event = field(default_factory=threading.Event)


@pytest.fixture(name="hanging_service")
def hanging_service() -> Iterator[HangingService]:
    """Like `silent_port`, but the connection is accepted by us, so a test sees it arrive."""
    held: list[socket.socket] = []
    reached = threading.Event()

    def hold(conn: socket.socket) -> None:
        held.append(conn)  # read nothing, answer nothing
        reached.set()

    try:
        with _serving(hold) as port:
            yield HangingService(port, reached)
    finally:
        for conn in held:
            conn.close()

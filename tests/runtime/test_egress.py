"""The egress forwarders: a deployment's node reaches its OIDC realms' OP endpoints, and only
those, through unix sockets under run/egress/; bounded in connections and idle time."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from citadel.contract.messages import NodeSecurity, OidcRealm, egress_socket_name
from citadel.crypto.providers.endpoints import EndpointPolicy
from citadel.runtime.egress import Egress, destinations
from tests.node.oidc_provider import short_directory

UID = 4321
LOOPBACK = EndpointPolicy.from_settings(["127.0.0.1", "localhost"])


class EchoServer:
    """A TCP server on loopback that echoes, and counts who connected."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(4096):
                conn.sendall(data)


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """A run directory whose sockets the test can reach by their full path."""
    with short_directory("egress-") as directory:
        yield directory


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.sock.close()


@pytest.fixture
def egress() -> Iterator[Egress]:
    forwarders = Egress(LOOPBACK, max_connections=2, idle_timeout_s=1.0, connect_timeout_s=2.0)
    yield forwarders
    forwarders.close()


def security(*urls: str, enabled: bool = True) -> NodeSecurity:
    settings = {"op.token_endpoint": urls[0], "op.jwkset_path": urls[-1], "op.issuer": "x"}
    return NodeSecurity(oidc=(OidcRealm(name="oidc1", enabled=enabled, settings=settings),))


def connect(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(5)
    sock.connect(str(path))
    return sock


def test_the_destinations_are_the_token_endpoint_and_jwks_of_enabled_realms() -> None:
    assert destinations(security("https://op.example:8443/token", "https://keys.example/jwks")) == {
        ("op.example", 8443),
        ("keys.example", 443),
    }
    assert destinations(security("https://op.example/token", enabled=False)) == frozenset()
    assert destinations(None) == frozenset()


def test_the_userinfo_endpoint_is_a_destination_when_set() -> None:
    realm = OidcRealm(
        name="oidc1",
        settings={
            "op.token_endpoint": "https://op.example/token",
            "op.jwkset_path": "https://op.example/jwks",
            "op.userinfo_endpoint": "https://userinfo.example:9443/me",
        },
    )
    assert destinations(NodeSecurity(oidc=(realm,))) == {
        ("op.example", 443),
        ("userinfo.example", 9443),
    }


def test_a_socket_reaches_its_destination_and_only_it(
    tmp_path: Path, egress: Egress, echo: EchoServer
) -> None:
    egress.sync("dep1", tmp_path, UID, security(f"https://127.0.0.1:{echo.port}/token"))
    sockets = egress.sockets("dep1")
    assert list(sockets) == [("127.0.0.1", echo.port)]
    path = sockets[("127.0.0.1", echo.port)]
    assert path == tmp_path / "egress" / egress_socket_name("127.0.0.1", echo.port)
    assert sorted(p.name for p in (tmp_path / "egress").iterdir()) == [path.name]
    with connect(path) as sock:
        sock.sendall(b"hello")
        assert sock.recv(5) == b"hello"
    assert echo.accepted == 1


def test_the_sockets_belong_to_the_deployment_uid_alone(
    tmp_path: Path, egress: Egress, echo: EchoServer
) -> None:
    egress.sync("dep1", tmp_path, UID, security(f"https://127.0.0.1:{echo.port}/token"))
    path = next(iter(egress.sockets("dep1").values()))
    for item, mode in ((path, 0o600), (path.parent, 0o700)):
        st = item.stat()
        assert (st.st_uid, st.st_mode & 0o777) == (UID, mode)


def test_a_destination_the_policy_does_not_allow_is_never_connected(
    tmp_path: Path, echo: EchoServer
) -> None:
    public_only = Egress(EndpointPolicy(), connect_timeout_s=2.0)
    try:
        public_only.sync("dep1", tmp_path, UID, security(f"https://127.0.0.1:{echo.port}/t"))
        with connect(next(iter(public_only.sockets("dep1").values()))) as sock:
            assert _closed(sock)  # hung up without a byte
    finally:
        public_only.close()
    assert echo.accepted == 0


def test_connections_beyond_the_bound_are_closed_at_once(
    tmp_path: Path, egress: Egress, echo: EchoServer
) -> None:
    egress.sync("dep1", tmp_path, UID, security(f"https://127.0.0.1:{echo.port}/token"))
    path = next(iter(egress.sockets("dep1").values()))
    first, second = connect(path), connect(path)
    for sock in (first, second):
        sock.sendall(b"x")
        assert sock.recv(1) == b"x"
    assert egress.open_connections("dep1") == 2
    with connect(path) as third:
        assert _closed(third)
    first.close()
    second.close()
    _wait(lambda: egress.open_connections("dep1") == 0)
    with connect(path) as again:
        again.sendall(b"y")
        assert again.recv(1) == b"y"


def test_an_idle_connection_is_closed(tmp_path: Path, egress: Egress, echo: EchoServer) -> None:
    egress.sync("dep1", tmp_path, UID, security(f"https://127.0.0.1:{echo.port}/token"))
    with connect(next(iter(egress.sockets("dep1").values()))) as sock:
        sock.sendall(b"x")
        assert sock.recv(1) == b"x"
        started = time.monotonic()
        assert _closed(sock)  # the forwarder hung up
        assert 0.5 < time.monotonic() - started < 4


def test_a_changed_realm_moves_the_socket_and_a_removed_one_closes_it(
    tmp_path: Path, egress: Egress, echo: EchoServer
) -> None:
    egress.sync("dep1", tmp_path, UID, security(f"https://127.0.0.1:{echo.port}/token"))
    old = next(iter(egress.sockets("dep1").values()))
    egress.sync("dep1", tmp_path, UID, security("https://localhost:9/token"))
    assert list(egress.sockets("dep1")) == [("localhost", 9)]
    assert not old.exists()
    egress.stop("dep1")
    assert egress.sockets("dep1") == {}
    assert list((tmp_path / "egress").iterdir()) == []


def _wait(condition, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.02)


def _closed(sock: socket.socket) -> bool:
    """Whether the other end hung up (an orderly close, or a reset of unread bytes)."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True

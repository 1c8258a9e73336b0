"""The only way out of a node's sandbox: per-deployment forwarders to its realms' OpenID Providers.

A node runs with no network (bubblewrap ``--unshare-net``), yet an OIDC realm must reach its
OP's token endpoint, JWKS and userinfo endpoint. For each deployment the allocator listens on
one unix socket per configured destination, ``run/egress/<egress_socket_name(host, port)>``
(``/run/citadel/egress`` in the sandbox), and splices the bytes of each connection to that
``host:port`` and nowhere else: the destination is fixed by the socket, never chosen by the
node. TLS stays end to end (the node speaks HTTPS through the socket and verifies the OP's
certificate); the forwarder sees ciphertext only.

The destinations are the ``https`` URLs of ``op.token_endpoint``, ``op.jwkset_path`` and (when
set) ``op.userinfo_endpoint`` of every enabled OIDC realm in the allocation's `NodeSecurity`; a
change of settings opens and closes sockets to match, with no node restart. The address is
resolved and checked at each connection with the operator's endpoint policy (`EndpointPolicy`:
by default public addresses only, so a realm cannot point the forwarder at the platform's own
network).

Bounded: at most `MAX_CONNECTIONS` open connections per deployment (one more is closed at
once), each closed after `IDLE_TIMEOUT_S` without a byte either way, `CONNECT_TIMEOUT_S` to
connect. One thread accepts for every deployment; each connection has its own thread.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

from citadel.contract.messages import (
    EGRESS_DIR,
    NodeSecurity,
    egress_socket_name,
    egress_target,
)
from citadel.crypto.providers.endpoints import EndpointNotAllowed, EndpointPolicy
from citadel.log import get_logger

log = get_logger(__name__)

MAX_CONNECTIONS = 16
IDLE_TIMEOUT_S = 60.0
CONNECT_TIMEOUT_S = 10.0
_CHUNK = 64 * 1024
_OIDC_URL_KEYS = ("op.token_endpoint", "op.jwkset_path", "op.userinfo_endpoint")

Destination = tuple[str, int]


def destinations(security: NodeSecurity | None) -> frozenset[Destination]:
    """The ``(host, port)`` pairs a deployment's node may reach: its enabled OIDC realms'
    token endpoints, JWKS URLs and userinfo endpoints."""
    if security is None:
        return frozenset()
    found = set()
    for realm in security.oidc:
        if not realm.enabled:
            continue
        for key in _OIDC_URL_KEYS:
            value = realm.settings.get(key)
            target = egress_target(value) if isinstance(value, str) else None
            if target is not None:
                found.add(target)
    return frozenset(found)


@dataclass
class _Deployment:
    """One deployment's listening sockets and how many connections it has open."""

    run_dir: Path
    uid: int
    listeners: dict[Destination, socket.socket] = field(default_factory=dict)
    open: int = 0


class Egress:
    """Every deployment's forwarders on this machine."""

    def __init__(
        self,
        policy: EndpointPolicy | None = None,
        *,
        max_connections: int = MAX_CONNECTIONS,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
    ) -> None:
        self.policy = policy or EndpointPolicy()
        self.max_connections = max_connections
        self.idle_timeout_s = idle_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self._lock = threading.Lock()
        self._deployments: dict[str, _Deployment] = {}
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._stopped = False
        self._thread = threading.Thread(target=self._accept_loop, name="egress", daemon=True)
        self._thread.start()

    # -- what the allocator calls ----------------------------------------------------------

    def sync(
        self, deployment_id: str, run_dir: Path, uid: int, security: NodeSecurity | None
    ) -> None:
        """Make `deployment_id`'s sockets those its `security` needs (none: all closed)."""
        wanted = destinations(security)
        with self._lock:
            dep = self._deployments.get(deployment_id)
            if dep is None:
                if not wanted:
                    return
                dep = self._deployments[deployment_id] = _Deployment(run_dir, uid)
            elif set(dep.listeners) == wanted:
                return  # nothing changed (the allocator calls this on every pass)
            for target in set(dep.listeners) - wanted:
                self._close_listener(dep, target)
            for target in sorted(wanted - set(dep.listeners)):
                try:
                    dep.listeners[target] = self._listen(deployment_id, dep, target)
                except OSError as exc:
                    log.error("egress.listen_failed", deployment_id=deployment_id, error=str(exc))
            if not dep.listeners:
                del self._deployments[deployment_id]
        self._wake()

    def stop(self, deployment_id: str) -> None:
        """Close `deployment_id`'s sockets (open connections end by themselves)."""
        self.sync(deployment_id, Path(), 0, None)

    def close(self) -> None:
        """Close every socket and stop accepting."""
        with self._lock:
            for dep in self._deployments.values():
                for target in list(dep.listeners):
                    self._close_listener(dep, target)
            self._deployments.clear()
            self._stopped = True
        self._wake()
        self._thread.join(timeout=5)

    def deployments(self) -> set[str]:
        """The deployments that have forwarders now."""
        with self._lock:
            return set(self._deployments)

    def sockets(self, deployment_id: str) -> dict[Destination, Path]:
        """Where `deployment_id`'s forwarders listen (for tests and operators)."""
        with self._lock:
            dep = self._deployments.get(deployment_id)
            if dep is None:
                return {}
            return {t: _socket_path(dep.run_dir, t) for t in dep.listeners}

    def open_connections(self, deployment_id: str) -> int:
        """How many connections of `deployment_id` are open now."""
        with self._lock:
            dep = self._deployments.get(deployment_id)
            return dep.open if dep else 0

    # -- inside ----------------------------------------------------------------------------

    def _listen(self, deployment_id: str, dep: _Deployment, target: Destination) -> socket.socket:
        directory = dep.run_dir / EGRESS_DIR
        directory.mkdir(mode=0o700, exist_ok=True)
        os.chown(directory, dep.uid, dep.uid)
        directory.chmod(0o700)
        path = _socket_path(dep.run_dir, target)
        path.unlink(missing_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            _bind_in(listener, directory, path.name)
            os.chown(path, dep.uid, dep.uid)
            path.chmod(0o600)
            listener.listen(self.max_connections)
            listener.setblocking(False)
        except OSError:
            listener.close()
            raise
        self._selector.register(listener, selectors.EVENT_READ, (deployment_id, target))
        log.info("egress.listening", deployment_id=deployment_id, host=target[0], port=target[1])
        return listener

    def _close_listener(self, dep: _Deployment, target: Destination) -> None:
        listener = dep.listeners.pop(target)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(listener)
        listener.close()
        _socket_path(dep.run_dir, target).unlink(missing_ok=True)

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def _accept_loop(self) -> None:
        while True:
            with self._lock:
                if self._stopped:
                    break
            for key, _ in self._selector.select(timeout=1.0):
                if key.data is None:
                    with contextlib.suppress(OSError):
                        self._wake_r.recv(4096)
                    continue
                self._accept(key.fileobj, *key.data)  # type: ignore[arg-type]
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    def _accept(self, listener: socket.socket, deployment_id: str, target: Destination) -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with self._lock:
            dep = self._deployments.get(deployment_id)
            if dep is None or target not in dep.listeners or dep.open >= self.max_connections:
                conn.close()
                if dep is not None:
                    log.warning("egress.connection_refused", deployment_id=deployment_id)
                return
            dep.open += 1
        threading.Thread(
            target=self._forward,
            args=(conn, deployment_id, target),
            name=f"egress-{deployment_id[:8]}",
            daemon=True,
        ).start()

    def _forward(self, inside: socket.socket, deployment_id: str, target: Destination) -> None:
        outside = None
        try:
            outside = self.policy.connect(target[0], target[1], self.connect_timeout_s)
            splice(inside, outside, self.idle_timeout_s)
        except OSError as exc:  # unreachable, refused, reset
            log.warning(
                "egress.connect_failed",
                deployment_id=deployment_id,
                host=target[0],
                port=target[1],
                error=type(exc).__name__,
            )
        except EndpointNotAllowed as exc:  # the address is not one the operator allows
            log.warning(
                "egress.destination_not_allowed",
                deployment_id=deployment_id,
                host=target[0],
                port=target[1],
                error=type(exc).__name__,
            )
        finally:
            inside.close()
            if outside is not None:
                outside.close()
            with self._lock:
                dep = self._deployments.get(deployment_id)
                if dep is not None:
                    dep.open -= 1


def splice(a: socket.socket, b: socket.socket, idle_timeout_s: float) -> None:
    """Copy bytes both ways until either side closes or nothing moves for `idle_timeout_s`
    (a half-close is passed on)."""
    for s in (a, b):
        s.setblocking(True)
        s.settimeout(None)
    peers = {a: b, b: a}
    open_ = {a, b}
    with selectors.DefaultSelector() as sel:
        for s in open_:
            sel.register(s, selectors.EVENT_READ)
        while open_:
            ready = sel.select(timeout=idle_timeout_s)
            if not ready:
                return  # idle
            for key, _ in ready:
                src: socket.socket = key.fileobj  # type: ignore[assignment]
                data = src.recv(_CHUNK)
                if not data:
                    sel.unregister(src)
                    open_.discard(src)
                    with contextlib.suppress(OSError):
                        peers[src].shutdown(socket.SHUT_WR)
                    continue
                peers[src].sendall(data)


def _socket_path(run_dir: Path, target: Destination) -> Path:
    return run_dir / EGRESS_DIR / egress_socket_name(*target)


def _bind_in(listener: socket.socket, directory: Path, name: str) -> None:
    """Bind `listener` to `directory`/`name` through the directory's descriptor, so the path
    the kernel sees stays short whatever the data directory (a unix socket path has at most
    107 bytes, and `<data-dir>/deployments/<id>/run/egress/<name>` can be longer)."""
    fd = os.open(directory, os.O_PATH | os.O_DIRECTORY)
    try:
        listener.bind(f"/proc/self/fd/{fd}/{name}")
    finally:
        os.close(fd)

"""Nodes reachable from other hosts: a TCP listener per running node that splices to its socket.

A node serves mutual TLS on its unix socket, ``run/node.sock`` (ADR 9), and its sandbox has
no network and keeps none. An allocator started with an advertise address and a port range
(``citadel allocator --advertise-address A --node-ports 20000-20999``, multi-host, ADR 31)
listens for each running node on ``A:<port>`` and copies the bytes of every connection to and
from the node's socket, nothing else: no TLS is terminated here. The node's own TLS, with
its certificate naming the deployment (``<id>.node.citadel.internal``) and client certificates
required from the platform CA, runs end to end between the gateway and the node; the forwarder
sees ciphertext only, so a client without a platform certificate is refused by the node
itself, and a listener for one deployment can only ever reach that deployment's node.

Ports: a deployment keeps the port it had for the life of the allocator process (closed while
its node is stopped or restarting, bound again when it starts), and otherwise prefers the port
its id hashes to in the range, so an allocator that restarts usually binds the same ports
again; the next free port of the range when that one is taken. The allocator reports the port
in each `StatusReport` (``node_port``) and the control plane's routes name
``<allocator address>:<port>`` for the gateways (`RouteEntry.node_address`).

Bounded: at most `MAX_CONNECTIONS` open connections per node (one more is closed at once),
each closed after `IDLE_TIMEOUT_S` without a byte either way, `CONNECT_TIMEOUT_S` to reach the
node's socket. Closing a deployment's listener (its node stopped) also closes its open
connections. Everything runs on one asyncio loop in a thread of its own; the allocator's loop
calls `sync` once a pass, which does nothing when nothing changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import hashlib
import os
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from citadel.log import get_logger

log = get_logger(__name__)

MAX_CONNECTIONS = 1024  # per node: below a node's 4,096 descriptors
IDLE_TIMEOUT_S = 300.0  # above the gateway's upstream timeout (120 s) and idle pool (4 s)
CONNECT_TIMEOUT_S = 5.0
SYNC_TIMEOUT_S = 30.0  # the allocator's pass waits at most this for its listeners
_CHUNK = 64 * 1024


class NodePortsError(ValueError):
    """A port range that is not ``LOW-HIGH`` within 1-65535."""


@dataclass(frozen=True)
class PortRange:
    """The ports node listeners may take, both ends included."""

    low: int
    high: int

    def __post_init__(self) -> None:
        if not 1 <= self.low <= self.high <= 65535:
            raise NodePortsError(f"not a port range: {self.low}-{self.high}")

    @classmethod
    def parse(cls, text: str) -> PortRange:
        """``"20000-20999"`` (or one port, ``"20000"``)."""
        low, sep, high = text.strip().partition("-")
        try:
            first = int(low)
            last = int(high) if sep else first
        except ValueError:
            raise NodePortsError(f"not a port range (LOW-HIGH): {text!r}") from None
        return cls(first, last)

    def __len__(self) -> int:
        return self.high - self.low + 1

    def preferred(self, deployment_id: str) -> int:
        """The port `deployment_id` hashes to: the same on every allocator start."""
        digest = hashlib.sha256(deployment_id.encode()).digest()
        return self.low + int.from_bytes(digest[:8], "big") % len(self)

    def candidates(self, deployment_id: str) -> list[int]:
        """Every port of the range, from the preferred one on (wrapping around)."""
        start = self.preferred(deployment_id) - self.low
        return [self.low + (start + i) % len(self) for i in range(len(self))]


@dataclass
class _Listener:
    """One deployment's listening server and its open connections."""

    socket_path: Path
    port: int
    server: asyncio.Server
    connections: set[asyncio.StreamWriter] = field(default_factory=set)
    open: int = 0


class NodeListeners:
    """Every running node's TCP listener on this allocator's advertise address."""

    def __init__(
        self,
        address: str,
        ports: PortRange,
        *,
        max_connections: int = MAX_CONNECTIONS,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
    ) -> None:
        self.address = address
        self.ports = ports
        self.max_connections = max_connections
        self.idle_timeout_s = idle_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self._listeners: dict[str, _Listener] = {}  # touched on the loop only
        self._wanted: dict[str, Path] = {}  # what the last `sync` asked for
        self._bound: dict[str, int] = {}  # the port of each open listener (any thread reads)
        self._kept: dict[str, int] = {}  # the last port of each deployment (kept across stops)
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="node-listeners", daemon=True)
        self._thread.start()
        log.info("node_listener.ready", address=address, ports=f"{ports.low}-{ports.high}")

    # -- what the allocator calls ----------------------------------------------------------

    def sync(self, running: Mapping[str, Path]) -> None:
        """Listen for each deployment of `running` (id -> its node's socket) and for no
        other: a listener for a deployment not named is closed with its connections."""
        wanted = dict(running)
        with self._lock:
            if wanted == self._wanted:
                return  # nothing changed (the allocator calls this on every pass)
        future = asyncio.run_coroutine_threadsafe(self._apply(wanted), self._loop)
        try:
            future.result(timeout=SYNC_TIMEOUT_S)
        except TimeoutError:  # tried again at the next pass
            log.error("node_listener.sync_timed_out", deployments=len(wanted))
            return
        with self._lock:
            self._wanted = wanted

    def port(self, deployment_id: str) -> int | None:
        """The port `deployment_id`'s node is reached on now, or None."""
        with self._lock:
            return self._bound.get(deployment_id)

    def ports_by_deployment(self) -> dict[str, int]:
        """Every open listener's port."""
        with self._lock:
            return dict(self._bound)

    def open_connections(self, deployment_id: str) -> int:
        """How many connections to `deployment_id`'s node are open now."""
        listener = self._listeners.get(deployment_id)
        return listener.open if listener is not None else 0

    def close(self) -> None:
        """Close every listener and connection; stop the loop."""
        with contextlib.suppress(RuntimeError, TimeoutError):
            self.sync({})
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    # -- on the loop -----------------------------------------------------------------------

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    async def _apply(self, wanted: dict[str, Path]) -> None:
        for dep_id in list(self._listeners):
            if wanted.get(dep_id) != self._listeners[dep_id].socket_path:
                await self._close(dep_id)
        for dep_id, socket_path in sorted(wanted.items()):
            if dep_id not in self._listeners:
                await self._open(dep_id, socket_path)

    async def _open(self, dep_id: str, socket_path: Path) -> None:
        with self._lock:
            taken = set(self._bound.values())
            kept = self._kept.get(dep_id)
        order = self.ports.candidates(dep_id)
        if kept is not None and kept in order:
            order.remove(kept)
            order.insert(0, kept)
        for port in order:
            if port in taken:
                continue
            try:
                server = await asyncio.start_server(
                    functools.partial(self._serve, dep_id),
                    host=self.address,
                    port=port,
                    reuse_address=True,  # a port left in TIME_WAIT by the node's last run
                    backlog=128,
                )
            except OSError as exc:
                if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                    continue
                log.error(
                    "node_listener.listen_failed",
                    deployment_id=dep_id,
                    address=self.address,
                    error=str(exc),
                )
                return
            self._listeners[dep_id] = _Listener(socket_path, port, server)
            with self._lock:
                self._bound[dep_id] = port
                self._kept[dep_id] = port
            log.info("node_listener.listening", deployment_id=dep_id, port=port, moved=kept != port)
            return
        log.error(
            "node_listener.no_free_port",
            deployment_id=dep_id,
            ports=f"{self.ports.low}-{self.ports.high}",
        )

    async def _close(self, dep_id: str) -> None:
        listener = self._listeners.pop(dep_id)
        with self._lock:
            self._bound.pop(dep_id, None)
        listener.server.close()
        for writer in list(listener.connections):
            writer.transport.abort()
        await listener.server.wait_closed()
        log.info("node_listener.closed", deployment_id=dep_id, port=listener.port)

    async def _serve(
        self, dep_id: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        listener = self._listeners.get(dep_id)
        if listener is None or listener.open >= self.max_connections:
            writer.transport.abort()
            if listener is not None:
                log.warning("node_listener.connection_refused", deployment_id=dep_id)
            return
        listener.open += 1
        listener.connections.add(writer)
        ends = [writer]
        try:
            try:
                node_reader, node_writer = await asyncio.wait_for(
                    _open_unix(listener.socket_path), self.connect_timeout_s
                )
            except (OSError, TimeoutError) as exc:  # the node is not up (yet, or any more)
                log.warning(
                    "node_listener.node_unreachable",
                    deployment_id=dep_id,
                    error=type(exc).__name__,
                )
                return
            ends.append(node_writer)
            listener.connections.add(node_writer)
            await self._splice(reader, writer, node_reader, node_writer)
        finally:
            listener.open -= 1
            for end in ends:
                listener.connections.discard(end)
                end.transport.abort()

    async def _splice(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        node_reader: asyncio.StreamReader,
        node_writer: asyncio.StreamWriter,
    ) -> None:
        """Copy both ways until both sides have closed, or nothing moved for the idle time."""
        loop = asyncio.get_running_loop()
        moved = [loop.time()]
        pumps = {
            asyncio.ensure_future(_pump(reader, node_writer, moved)),
            asyncio.ensure_future(_pump(node_reader, writer, moved)),
        }
        try:
            while pumps:
                left = moved[0] + self.idle_timeout_s - loop.time()
                if left <= 0:
                    return  # idle
                done, pumps = await asyncio.wait(pumps, timeout=left)
                for pump in done:
                    if pump.exception() is not None:
                        return  # reset: the other way ends with it
        finally:
            for pump in pumps:
                pump.cancel()


async def _pump(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, moved: list[float]
) -> None:
    """One direction: bytes until end of file, which is passed on (a half-close)."""
    loop = asyncio.get_running_loop()
    while data := await reader.read(_CHUNK):
        moved[0] = loop.time()
        writer.write(data)
        await writer.drain()
    if writer.can_write_eof():
        writer.write_eof()


async def _open_unix(path: Path) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to a unix socket, even one whose path is longer than sun_path allows (through
    its directory's descriptor)."""
    if len(os.fsencode(path)) < 100:
        return await asyncio.open_unix_connection(str(path), limit=_CHUNK)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setblocking(False)
    dir_fd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    try:
        await asyncio.get_running_loop().sock_connect(sock, f"/proc/self/fd/{dir_fd}/{path.name}")
    except OSError:
        sock.close()
        raise
    finally:
        os.close(dir_fd)
    return await asyncio.open_unix_connection(sock=sock, limit=_CHUNK)

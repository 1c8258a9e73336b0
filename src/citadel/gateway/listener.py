"""The PROXY-protocol listener: the gateway's TLS and HTTP behind a cloud load balancer.

Invariants (see `proxy_protocol` for the header rules themselves):

- Only a peer inside `trusted_cidrs` is read from. Any other connection is closed at once,
  unread: a forged header from the internet never names a client.
- The header is read exactly, never a byte past it: a v2 header by its length field, a v1
  line one byte at a time up to its CRLF. What follows is the TLS ClientHello, untouched; a
  second PROXY signature there is just bytes that fail the handshake.
- The whole header must arrive within `header_timeout_s` (slowloris), and at most
  `max_pending_per_source` headers may be awaited per balancer address at once.
- A malformed, truncated or late header closes the connection; nothing is answered.
- A PROXY command makes the header's source (and its private-link endpoint) the client; a
  LOCAL command (a balancer's health check) leaves the balancer as the client, with no
  endpoint, so it passes no private-link-only filter.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from citadel.gateway.connection import ConnectionContext
from citadel.gateway.proxy_protocol import (
    MAX_V1_LENGTH,
    ProxyHeader,
    ProxyHeaderError,
    Vendor,
    header_length,
    parse,
)

log = structlog.get_logger("citadel.gateway.listener")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V2_FIXED = 16  # signature, version and command, family, length
V1_SHORTEST = len(b"PROXY UNKNOWN\r\n")


@dataclass(frozen=True, kw_only=True)
class ProxyListenerConfig:
    """Where the PROXY listener listens and whom it believes."""

    port: int
    trusted_cidrs: tuple[Network, ...]
    host: str = "127.0.0.1"
    vendor: Vendor | None = None
    allow_v1: bool = False
    header_timeout_s: float = 3.0
    max_pending_per_source: int = 32
    reuse_port: bool = False  # several worker processes listen on the same port

    def __post_init__(self) -> None:
        if not self.trusted_cidrs:
            raise ValueError("a PROXY listener needs the load balancers' trusted CIDRs")

    def trusts(self, peer: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(peer in network for network in self.trusted_cidrs)


class _HeaderEnded(Exception):
    """The peer closed the connection before the header was complete."""


class _HeaderTooLong(Exception):
    """No end of a v1 line where one must have been."""


class ProxyListener:
    """Accepts raw TCP, reads and checks the PROXY header, then hands the socket to TLS and
    the HTTP protocol `connection_factory(context)` builds."""

    def __init__(
        self,
        config: ProxyListenerConfig,
        connection_factory: Callable[[ConnectionContext], asyncio.Protocol],
        server_ssl: ssl.SSLContext,
        *,
        ssl_handshake_timeout: float,
    ) -> None:
        self.config = config
        self.connection_factory = connection_factory
        self.server_ssl = server_ssl
        self.ssl_handshake_timeout = ssl_handshake_timeout
        self.pending: dict[str, int] = {}
        self._sock: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._handshakes: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._sock is not None
        return int(self._sock.getsockname()[1])

    async def start(self) -> None:
        """Bind and start accepting."""
        host = self.config.host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.create_server(
            (host, self.config.port),
            family=family,
            backlog=1024,
            reuse_port=self.config.reuse_port,
        )
        sock.setblocking(False)
        self._sock = sock
        self._accepting = asyncio.get_running_loop().create_task(self._accept_forever(sock))
        log.info("gateway.proxy.listening", host=host, port=self.port)

    def close(self) -> None:
        if self._accepting is not None:
            self._accepting.cancel()
        for task in list(self._handshakes):
            task.cancel()
        if self._sock is not None:
            self._sock.close()

    async def _accept_forever(self, listening: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                sock, address = await loop.sock_accept(listening)
            except OSError as exc:  # out of descriptors, and the like: breathe, go on
                log.warning("gateway.proxy.accept_failed", error=type(exc).__name__)
                await asyncio.sleep(0.1)
                continue
            self._admit(sock, address)

    def _admit(self, sock: socket.socket, address: tuple) -> None:
        peer = ipaddress.ip_address(address[0])
        if isinstance(peer, ipaddress.IPv6Address) and peer.ipv4_mapped is not None:
            peer = peer.ipv4_mapped
        peer_ip = str(peer)
        # Log first, then close: whoever sees the connection end can find its event.
        if not self.config.trusts(peer):
            log.warning("gateway.proxy.untrusted_peer", peer_ip=peer_ip)
            sock.close()
            return
        if self.pending.get(peer_ip, 0) >= self.config.max_pending_per_source:
            log.warning("gateway.proxy.bad_header", peer_ip=peer_ip, reason="too_many_pending")
            sock.close()
            return
        self.pending[peer_ip] = self.pending.get(peer_ip, 0) + 1
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        task = asyncio.get_running_loop().create_task(self._serve(sock, peer_ip))
        self._handshakes.add(task)
        task.add_done_callback(self._handshakes.discard)

    async def _serve(self, sock: socket.socket, peer_ip: str) -> None:
        try:
            header = await self._header(sock, peer_ip)
        finally:
            left = self.pending.get(peer_ip, 1) - 1
            if left > 0:
                self.pending[peer_ip] = left
            else:
                self.pending.pop(peer_ip, None)
        if header is None:
            sock.close()
            return
        context = ConnectionContext.proxied(peer_ip, header)
        try:
            await asyncio.get_running_loop().connect_accepted_socket(
                lambda: self.connection_factory(context),
                sock,
                ssl=self.server_ssl,
                ssl_handshake_timeout=self.ssl_handshake_timeout,
            )
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            log.info("gateway.proxy.tls_failed", error=type(exc).__name__, **context.log_fields())
            sock.close()

    async def _header(self, sock: socket.socket, peer_ip: str) -> ProxyHeader | None:
        """The parsed header, or None (logged) when the connection must be dropped."""
        config = self.config
        try:
            data = await asyncio.wait_for(self._read_header(sock), config.header_timeout_s)
            return parse(data, vendor=config.vendor, allow_v1=config.allow_v1)
        except ProxyHeaderError as exc:
            reason = exc.reason
        except TimeoutError:
            reason = "timeout"
        except _HeaderEnded:
            reason = "truncated"
        except _HeaderTooLong:
            reason = "too_long"
        except OSError as exc:
            reason = type(exc).__name__
        log.warning("gateway.proxy.bad_header", peer_ip=peer_ip, reason=reason)
        return None

    async def _read_header(self, sock: socket.socket) -> bytes:
        """Exactly the header's bytes: each read asks only for bytes that must be header."""
        loop = asyncio.get_running_loop()
        allow_v1 = self.config.allow_v1
        data = b""
        while True:
            total = header_length(data, allow_v1=allow_v1)
            if total is not None and len(data) >= total:
                return data
            if total is not None:
                want = total - len(data)
            elif not data:
                want = V1_SHORTEST if allow_v1 else V2_FIXED
            elif V2_SIGNATURE.startswith(data[: len(V2_SIGNATURE)]) and len(data) < V2_FIXED:
                want = V2_FIXED - len(data)
            elif len(data) < MAX_V1_LENGTH:
                want = 1  # a v1 line: its end is only known when it is seen
            else:
                raise _HeaderTooLong
            with contextlib.suppress(InterruptedError):
                part = await loop.sock_recv(sock, want)
                if not part:
                    raise _HeaderEnded
                data += part

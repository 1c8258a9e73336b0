"""Where a customer's key manager may be reached, and reaching it only there (ADR 19).

An organization names its key manager's host: in a key path (``vault-transit://host:port/…``,
``kmip://host:port/…``) or as an AWS ``endpoint_url``. Connecting wherever it says would let
any organization make the control plane and the allocator knock on loopback, the cloud's
metadata service or the operator's internal network (server-side request forgery). So every
connection to a key manager goes through `EndpointPolicy.connect`:

1. the host is resolved **once** (``getaddrinfo``);
2. **every** address it resolves to is checked. An address is allowed when it lies in a network
   the operator listed (``CITADEL_KEY_MANAGER_ALLOWED_ENDPOINTS``), or when the host is a name
   the operator listed, or else when it is public (globally routable unicast, and any IPv4
   address embedded in it too) and public endpoints are allowed. Loopback, link-local (the
   metadata service), private, shared, unique-local, multicast, unspecified and reserved
   addresses are refused unless listed. One refused address refuses the name: a public
   address cannot smuggle a private one in behind it;
3. the socket connects to a checked address, never to the name again, so an answer that
   changes between the check and the connection (DNS rebinding) cannot redirect it. TLS still
   verifies the certificate against the host name (SNI), which the callers keep.

A refusal is `EndpointNotAllowed`, a `KeyUnavailable` (reason ``endpoint_not_allowed``): the
API answers 400, and the allocator locks a deployment whose key manager the operator no longer
allows. The operator's own platform key is reached with `EndpointPolicy.unrestricted()`.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from urllib3.connection import HTTPConnection
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from citadel.crypto.providers.base import KeyUnavailable, Reason

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
SocketAddress = tuple[socket.AddressFamily, tuple[str, int] | tuple[str, int, int, int]]
Resolver = Callable[[str, int], Sequence[SocketAddress]]
PoolT = TypeVar("PoolT", bound=HTTPConnectionPool)

_HOST = re.compile(
    r"(?:\*\.)?(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)*[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?"
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LOCAL_NAMES = ("localhost", "localhost.localdomain")


class EndpointNotAllowed(KeyUnavailable):
    """The key manager's host is, or resolves to, an address the operator does not allow."""

    def __init__(self, host: str) -> None:
        super().__init__(
            "the key manager's address is not one the operator allows",
            Reason.ENDPOINT_NOT_ALLOWED,
        )
        self.host = host


@dataclass(frozen=True)
class Allowance:
    """One entry of the operator's list: a network or a host name (``*.`` for any name under
    it), optionally limited to one port."""

    network: Network | None = None
    host: str | None = None
    port: int | None = None

    def admits_name(self, host: str, port: int) -> bool:
        if self.host is None or (self.port is not None and self.port != port):
            return False
        if self.host.startswith("*."):
            return host.endswith(self.host[1:])
        return host == self.host

    def admits_address(self, address: Address, port: int) -> bool:
        if self.network is None or (self.port is not None and self.port != port):
            return False
        return address.version == self.network.version and address in self.network

    def __str__(self) -> str:
        where = str(self.network) if self.network is not None else str(self.host)
        if self.port is None:
            return where
        return f"[{where}]:{self.port}" if ":" in where else f"{where}:{self.port}"


def parse_allowance(text: str) -> Allowance:
    """``10.0.0.0/8``, ``192.0.2.7:5696``, ``[fd00::/8]:8200``, ``::1``, ``vault.internal``,
    ``*.kms.internal:5696``; raises ValueError naming the entry."""
    entry = text.strip().lower()
    problem = ValueError(
        f"{text!r} is not a network, an address or a host name (each optionally with :port)"
    )
    port: int | None = None
    if entry.startswith("["):
        inner, bracket, rest = entry[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise problem
        port = _port(rest[1:], problem) if rest else None
        return Allowance(network=_network(inner, problem), port=port)
    try:
        return Allowance(network=ipaddress.ip_network(entry, strict=False))
    except ValueError:
        pass
    head, colon, tail = entry.rpartition(":")
    if colon:
        entry, port = head, _port(tail, problem)
    try:
        return Allowance(network=ipaddress.ip_network(entry, strict=False), port=port)
    except ValueError:
        pass
    name = entry.rstrip(".")
    if len(name) > 253 or not _HOST.fullmatch(name):
        raise problem
    return Allowance(host=name, port=port)


def _port(text: str, problem: ValueError) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise problem
    return int(text)


def _network(text: str, problem: ValueError) -> Network:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise problem from None


def is_public(address: Address) -> bool:
    """Globally routable unicast, and so is any IPv4 address it embeds (mapped, 6to4, Teredo,
    NAT64)."""
    if address.is_multicast or not address.is_global:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        embedded = [address.ipv4_mapped, address.sixtofour]
        if address.teredo is not None:
            embedded.extend(address.teredo)
        if address in _NAT64:
            embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        return all(is_public(v4) for v4 in embedded if v4 is not None)
    return True


def _system_resolver(host: str, port: int) -> Sequence[SocketAddress]:
    answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [(family, sockaddr) for family, _, _, _, sockaddr in answers]  # type: ignore[misc]


@dataclass(frozen=True)
class EndpointPolicy:
    """Which addresses a customer's key manager may have; `connect` reaches it only there."""

    allowances: tuple[Allowance, ...] = ()
    public: bool = True
    """Whether public addresses are allowed without being listed."""
    restricted: bool = True
    """False only for the operator's own platform key: any address, still resolved once."""
    resolver: Resolver = field(default=_system_resolver, compare=False, repr=False)

    @classmethod
    def from_settings(cls, entries: Iterable[str], *, public: bool = True) -> EndpointPolicy:
        """The operator's list (`Settings.key_manager_allowed_endpoints`); raises ValueError
        naming a malformed entry."""
        return cls(tuple(parse_allowance(e) for e in entries), public=public)

    @classmethod
    def unrestricted(cls) -> EndpointPolicy:
        """For the operator's own key service (the platform key): every address."""
        return cls(restricted=False)

    @property
    def entries(self) -> tuple[str, ...]:
        """The list as the operator would write it."""
        return tuple(str(a) for a in self.allowances)

    def check_literal(self, host: str, port: int) -> None:
        """What can be decided without DNS, when a key manager is configured: an address
        (or ``localhost``) that is not allowed. A name is checked at each connection."""
        name = _name(host)
        if not self.restricted or self._listed_name(name, port):
            return
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            if name in _LOCAL_NAMES or name.endswith(".localhost"):
                self._check(host, port, [ipaddress.ip_address("127.0.0.1")])
            return
        self._check(host, port, [address])

    def resolve(self, host: str, port: int) -> list[SocketAddress]:
        """Resolve `host` once and check every address; raises `EndpointNotAllowed` (or the
        resolver's `OSError`)."""
        answers: list[SocketAddress] = []
        for family, sockaddr in self.resolver(_name(host), port):
            if family in (socket.AF_INET, socket.AF_INET6) and (family, sockaddr) not in answers:
                answers.append((family, sockaddr))
        if not answers:
            raise socket.gaierror(socket.EAI_NONAME, "no address")
        if self.restricted and not self._listed_name(_name(host), port):
            self._check(host, port, [_address(sockaddr) for _, sockaddr in answers])
        return answers

    def connect(
        self,
        host: str,
        port: int,
        timeout: float | None,
        *,
        socket_options: Iterable[tuple[int, int, int | bytes]] = (),
    ) -> socket.socket:
        """A TCP socket connected to a checked address of `host` (tried in the resolver's
        order); raises `EndpointNotAllowed`, or the last `OSError`."""
        failure: OSError | None = None
        for family, sockaddr in self.resolve(host, port):
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                for option in socket_options:
                    sock.setsockopt(*option)
                sock.settimeout(timeout)
                sock.connect(sockaddr)
            except OSError as exc:
                sock.close()
                failure = exc
                continue
            return sock
        assert failure is not None  # resolve() answers at least one address
        raise failure

    def _listed_name(self, name: str, port: int) -> bool:
        return any(a.admits_name(name, port) for a in self.allowances)

    def _check(self, host: str, port: int, addresses: Iterable[Address]) -> None:
        for address in addresses:
            if any(a.admits_address(address, port) for a in self.allowances):
                continue
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
                mapped = address.ipv4_mapped
                if any(a.admits_address(mapped, port) for a in self.allowances):
                    continue
            if self.public and is_public(address):
                continue
            raise EndpointNotAllowed(host)


def _name(host: str) -> str:
    return host.strip().lower().removeprefix("[").removesuffix("]").rstrip(".")


def _address(sockaddr: tuple[str, int] | tuple[str, int, int, int]) -> Address:
    return ipaddress.ip_address(sockaddr[0].split("%", 1)[0])


# --- HTTP clients (hvac's requests, botocore): urllib3 connections opened by a policy ---------


def pinned_pool(pool: type[PoolT], policy: EndpointPolicy) -> type[PoolT]:
    """`pool` (a urllib3 connection pool class) whose connections open their socket through
    `policy`: resolved once, checked, connected to the checked address. The connection keeps
    the host name for TLS (SNI and certificate check) and the Host header."""
    base: type[HTTPConnection] = pool.ConnectionCls  # type: ignore[assignment]

    class PinnedConnection(base):  # type: ignore[valid-type,misc]
        def _new_conn(self) -> socket.socket:
            timeout = self.timeout if isinstance(self.timeout, int | float) else None
            if timeout is None and self.timeout is not None:
                timeout = socket.getdefaulttimeout()  # urllib3's "default" sentinel
            try:
                return policy.connect(
                    self.host, self.port, timeout, socket_options=self.socket_options or ()
                )
            except socket.gaierror as exc:
                raise NameResolutionError(self.host, self, exc) from exc
            except TimeoutError as exc:
                raise ConnectTimeoutError(self, "connecting timed out") from exc
            except OSError as exc:
                raise NewConnectionError(self, "the connection failed") from exc

    return type(f"Pinned{pool.__name__}", (pool,), {"ConnectionCls": PinnedConnection})

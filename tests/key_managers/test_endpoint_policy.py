"""`EndpointPolicy`: which addresses a customer's key manager may have, one resolution per
connection, and the connection made to the address that was checked (issue 17.4, ADR 19).

Real sockets on loopback and the system resolver (``localhost`` from /etc/hosts). Answers that
no resolver here gives (a public address, a name that changes its answer between two lookups)
come from `ScriptedDns`, a fake of DNS: the one outside service these tests cannot run.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from citadel.crypto.providers.base import KeyUnavailable, Reason
from citadel.crypto.providers.endpoints import (
    EndpointNotAllowed,
    EndpointPolicy,
    SocketAddress,
    parse_allowance,
)


@dataclass
class ScriptedDns:
    """A fake DNS: each lookup of a name gets the next scripted answer (the last one repeats),
    and every lookup is counted."""

    answers: dict[str, list[list[str]]]
    lookups: list[str] = field(default_factory=list)

    def __call__(self, host: str, port: int) -> list[SocketAddress]:
        self.lookups.append(host)
        script = self.answers[host]
        addresses = script.pop(0) if len(script) > 1 else script[0]
        return [_sockaddr(a, port) for a in addresses]


def _sockaddr(address: str, port: int) -> SocketAddress:
    if ipaddress.ip_address(address).version == 6:
        return (socket.AF_INET6, (address, port, 0, 0))
    return (socket.AF_INET, (address, port))


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A real listener on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(4)
        s.settimeout(10)
        yield s


DEFAULT = EndpointPolicy()

REFUSED_BY_DEFAULT = [
    "127.0.0.1",  # loopback
    "127.8.9.10",
    "::1",
    "10.1.2.3",  # private
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # link-local: the cloud metadata service
    "fe80::1",
    "100.64.0.1",  # shared address space (carrier-grade NAT)
    "fd00::1",  # unique-local
    "224.0.0.1",  # multicast
    "ff02::1",
    "0.0.0.0",  # unspecified
    "::",
    "240.0.0.1",  # reserved
    "255.255.255.255",
    "198.18.0.1",  # benchmarking
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "::ffff:10.0.0.1",
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
]


# -- the operator's list -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "shown"),
    [
        ("10.0.0.0/8", "10.0.0.0/8"),
        ("10.1.2.3", "10.1.2.3/32"),
        ("10.1.2.3:5696", "10.1.2.3/32:5696"),
        ("::1", "::1/128"),
        ("fd00::/8", "fd00::/8"),
        ("[fd00::/8]:8200", "[fd00::/8]:8200"),
        ("Vault.Internal", "vault.internal"),
        ("vault.internal.:8200", "vault.internal:8200"),
        ("*.kms.internal", "*.kms.internal"),
    ],
)
def test_an_entry_is_a_network_address_or_name_with_an_optional_port(
    entry: str, shown: str
) -> None:
    assert str(parse_allowance(entry)) == shown


@pytest.mark.parametrize(
    "entry", ["", "10.0.0.0/33", "vault.internal:0", "vault.internal:99999", "[::1", "a b", "-x"]
)
def test_a_malformed_entry_is_refused_naming_it(entry: str) -> None:
    with pytest.raises(ValueError, match="is not a network"):
        EndpointPolicy.from_settings(["10.0.0.0/8", entry])


# -- addresses -----------------------------------------------------------------------------


@pytest.mark.parametrize("address", REFUSED_BY_DEFAULT)
def test_a_non_public_address_is_refused_by_default(address: str) -> None:
    with pytest.raises(EndpointNotAllowed) as caught:
        DEFAULT.check_literal(address, 443)

    assert isinstance(caught.value, KeyUnavailable)
    assert caught.value.reason is Reason.ENDPOINT_NOT_ALLOWED


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700::1111"])
def test_a_public_address_is_allowed_by_default(address: str) -> None:
    DEFAULT.check_literal(address, 443)


def test_public_addresses_may_be_refused_too() -> None:
    only_listed = EndpointPolicy.from_settings(["203.0.113.0/24"], public=False)

    with pytest.raises(EndpointNotAllowed):
        only_listed.check_literal("8.8.8.8", 443)
    only_listed.check_literal("203.0.113.9", 443)


def test_a_listed_network_allows_its_addresses() -> None:
    policy = EndpointPolicy.from_settings(["10.20.0.0/16", "::1"])

    policy.check_literal("10.20.3.4", 8200)
    policy.check_literal("::1", 8200)
    policy.check_literal("::ffff:10.20.3.4", 8200)
    with pytest.raises(EndpointNotAllowed):
        policy.check_literal("10.21.0.1", 8200)


def test_a_port_limits_the_entry_to_that_port() -> None:
    policy = EndpointPolicy.from_settings(["10.20.0.0/16:8200"])

    policy.check_literal("10.20.3.4", 8200)
    with pytest.raises(EndpointNotAllowed):
        policy.check_literal("10.20.3.4", 22)


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST", "localhost.", "db.localhost"])
def test_localhost_is_refused_without_asking_dns(host: str) -> None:
    dns = ScriptedDns({})
    policy = EndpointPolicy(resolver=dns)

    with pytest.raises(EndpointNotAllowed):
        policy.check_literal(host, 8200)
    assert dns.lookups == []


def test_the_platform_key_is_not_restricted() -> None:
    EndpointPolicy.unrestricted().check_literal("127.0.0.1", 8200)


# -- names, resolved once per connection ---------------------------------------------------


def test_a_name_resolving_to_loopback_is_refused() -> None:
    """The system resolver: ``localhost`` is loopback in /etc/hosts."""
    with pytest.raises(EndpointNotAllowed):
        DEFAULT.resolve("localhost", 8200)


def test_a_name_is_refused_when_any_of_its_addresses_is() -> None:
    dns = ScriptedDns({"kms.example": [["203.0.113.7", "127.0.0.1"]]})

    with pytest.raises(EndpointNotAllowed):
        EndpointPolicy(resolver=dns).resolve("kms.example", 443)


def test_a_name_with_only_public_addresses_is_allowed() -> None:
    dns = ScriptedDns({"kms.example": [["8.8.4.4", "2606:4700::1111"]]})

    assert len(EndpointPolicy(resolver=dns).resolve("kms.example", 443)) == 2


def test_documentation_addresses_are_not_public() -> None:
    dns = ScriptedDns({"kms.example": [["203.0.113.7", "2001:db8::1"]]})

    with pytest.raises(EndpointNotAllowed):
        EndpointPolicy(resolver=dns).resolve("kms.example", 443)


def test_a_listed_name_allows_whatever_it_resolves_to() -> None:
    dns = ScriptedDns({"vault.internal": [["10.9.8.7"]], "a.kms.internal": [["10.9.8.8"]]})
    policy = EndpointPolicy(
        (parse_allowance("vault.internal:8200"), parse_allowance("*.kms.internal")), resolver=dns
    )

    policy.resolve("vault.internal", 8200)
    policy.resolve("a.kms.internal", 5696)
    with pytest.raises(EndpointNotAllowed):
        policy.resolve("vault.internal", 8201)


def test_the_connection_goes_to_the_address_that_was_checked(
    listener: socket.socket,
) -> None:
    """DNS rebinding: the name answers an allowed address, then one that is not. One lookup,
    and the socket is connected to the first answer."""
    port = listener.getsockname()[1]
    dns = ScriptedDns({"rebind.example": [["127.0.0.1"], ["127.0.0.2"]]})
    policy = EndpointPolicy.from_settings(["127.0.0.1/32"])
    policy = EndpointPolicy(policy.allowances, resolver=dns)

    with policy.connect("rebind.example", port, timeout=10) as sock:
        accepted, _ = listener.accept()
        with accepted:
            assert sock.getpeername() == ("127.0.0.1", port)
    assert dns.lookups == ["rebind.example"]

    with pytest.raises(EndpointNotAllowed):  # the next connection asks again, and is refused
        policy.connect("rebind.example", port, timeout=10)
    assert dns.lookups == ["rebind.example", "rebind.example"]


def test_a_refused_address_is_never_connected_to(listener: socket.socket) -> None:
    port = listener.getsockname()[1]

    with pytest.raises(EndpointNotAllowed):
        DEFAULT.connect("127.0.0.1", port, timeout=10)

    with socket.create_connection(("127.0.0.1", port), timeout=10) as ours:
        accepted, peer = listener.accept()  # the first connection to arrive is ours
        accepted.close()
        assert peer == ours.getsockname()

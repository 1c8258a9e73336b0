"""Whether deployment names reach the gateway on this machine.

A client connecting by Cloud ID builds ``https://<deployment id>.<region>.<deployment domain>``
and resolves that name itself. `citadel up` looks up one such name per region at start-up and
says plainly when it does not resolve, or resolves only to addresses the gateway does not
listen on: the platform still starts, but those clients would fail. `reaches_gateway` decides
over the looked-up addresses (pure); `unreachable_regions` does the look-ups.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence

from citadel.log import get_logger

log = get_logger(__name__)

PROBE_LABEL = "citadel-name-check"
"""The first label of the probed name: any label resolves the same under a wildcard."""

Resolve = Callable[[str, int], tuple[str, ...]]


def probe_name(region: str, domain: str) -> str:
    """A deployment name in `region`, as a Cloud ID's client would build it."""
    return f"{PROBE_LABEL}.{region}.{domain}"


def reaches_gateway(resolved: Sequence[str], listen_host: str) -> bool:
    """Whether one of the `resolved` addresses is one the gateway accepts connections on.

    The official clients try every address a name resolves to, in order, so one match is
    enough (``::1`` first, then ``127.0.0.1``, is fine for a gateway on ``127.0.0.1``). A
    gateway on ``0.0.0.0`` accepts any IPv4 address, on ``::`` (or no host) any address: a
    wildcard DNS record pointing at this machine's public address is beyond what we can tell.
    """
    addresses = [_address(a) for a in resolved]
    known = [a for a in addresses if a is not None]
    if listen_host in ("", "::"):
        return bool(known)
    if listen_host == "0.0.0.0":
        return any(a.version == 4 for a in known)
    listening = _address(listen_host)
    if listening is None:  # a host name: the caller resolves it into `resolved` terms
        return False
    return listening in known


def resolved_addresses(name: str, port: int) -> tuple[str, ...]:
    """The addresses `name` resolves to for a TCP client, in the resolver's order (the
    system's resolver, as the clients use it); empty when it does not resolve."""
    try:
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return ()
    return tuple(dict.fromkeys(str(info[4][0]) for info in infos))


def unreachable_regions(
    domain: str,
    regions: Sequence[str],
    *,
    listen_host: str,
    port: int,
    resolve: Resolve = resolved_addresses,
) -> list[str]:
    """The regions whose deployment names do not reach the gateway on `listen_host`; each is
    logged with what its name resolved to."""
    hosts = _listen_hosts(listen_host, port, resolve)
    failing = []
    for region in regions:
        name = probe_name(region, domain)
        resolved = resolve(name, port)
        if not any(reaches_gateway(resolved, h) for h in hosts):
            log.warning(
                "deployment_names.unreachable",
                name=name,
                resolved=list(resolved),
                gateway_host=listen_host,
            )
            failing.append(region)
    return failing


def unreachable_message(domain: str, regions: Sequence[str]) -> str:
    """What `citadel up` tells the operator when deployment names do not reach the gateway."""
    names = ", ".join(f"*.{region}.{domain}" for region in regions)
    return (
        f"Deployment names under {names} do not resolve to the gateway on this machine: "
        "clients connecting by cloud_id will fail. Install libnss-myhostname (make run does) "
        "or point a wildcard DNS name at the gateway and set CITADEL_DEPLOYMENT_DOMAIN "
        "(docs/operations.md, How deployment names resolve)."
    )


def _listen_hosts(listen_host: str, port: int, resolve: Resolve) -> tuple[str, ...]:
    if listen_host in ("", "::", "0.0.0.0") or _address(listen_host) is not None:
        return (listen_host,)
    return resolve(listen_host, port)  # `--host localhost`: what the gateway bound


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None

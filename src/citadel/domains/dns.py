"""Reading the TXT records of a challenge name from DNS (dnspython).

The resolver is the system's (``/etc/resolv.conf``) unless the operator names one as
``host:port`` (``CITADEL_DNS_RESOLVER``). A lookup never raises: it says what it found, that
the name has no TXT record, that the resolver answered with an error, or that it did not
answer within the timeout.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver


class Outcome(StrEnum):
    """How a lookup ended."""

    FOUND = "found"
    NO_RECORD = "no_txt_record"
    RESOLVER_ERROR = "resolver_error"
    UNAVAILABLE = "dns_unavailable"


@dataclass(frozen=True)
class Lookup:
    """The TXT values at a name (each record's strings joined), or why there are none."""

    outcome: Outcome
    values: tuple[str, ...] = ()
    detail: str = ""


def txt_values(name: str, *, nameserver: tuple[str, int] | None, timeout_s: float) -> Lookup:
    """The TXT records at `name`, asking `nameserver` (or the system's) for at most
    `timeout_s` seconds."""
    try:
        resolver = dns.resolver.Resolver(configure=nameserver is None)
    except dns.exception.DNSException as exc:  # no /etc/resolv.conf
        return Lookup(Outcome.UNAVAILABLE, detail=type(exc).__name__)
    if nameserver is not None:
        resolver.nameservers = [nameserver[0]]
        resolver.port = nameserver[1]
    resolver.timeout = resolver.lifetime = timeout_s
    try:
        answer = resolver.resolve(dns.name.from_text(name), dns.rdatatype.TXT, search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return Lookup(Outcome.NO_RECORD)
    except dns.exception.Timeout:
        return Lookup(Outcome.UNAVAILABLE, detail="timeout")
    except dns.resolver.NoNameservers as exc:
        return Lookup(Outcome.RESOLVER_ERROR, detail=_first_error(exc))
    except (dns.exception.DNSException, OSError) as exc:
        return Lookup(Outcome.RESOLVER_ERROR, detail=type(exc).__name__)
    values = tuple(b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer)
    return Lookup(Outcome.FOUND, values)


def _first_error(exc: dns.resolver.NoNameservers) -> str:
    errors = exc.kwargs.get("errors") or []
    for _server, _tcp, _port, error in errors:
        return str(error)[:200]
    return "no nameserver answered"

"""Traffic filters compiled: which connections a deployment admits, and why (pure).

The traffic-filter domain's matcher. The gateway compiles each snapshot's rulesets with it and
decides every request with `Filter.decide`; the control plane uses the same code to validate
``ip`` sources (`parse_ip_source`) and to judge which addresses a change would block (`lockout`).

The semantics are Elastic Cloud's. A deployment with no associated ruleset is open. Once at
least one *filtering* ruleset is associated, a connection passes only if it matches a rule of
any of them (OR); otherwise it is blocked. A ruleset with no sources is a record only (a
filter-less private connection policy): it never turns default-deny on.

Ruleset types and their sources:

* ``ip``: IPv4 or IPv6 addresses or CIDRs (`parse_ip_source`). A host address is a /32 or
  /128; a CIDR with host bits set (``192.168.132.6/22``) means its network
  (``192.168.132.0/22``).
* ``vpce``, ``azure_private_endpoint``, ``gcp_private_service_connect_endpoint``: tagged
  endpoint keys (``aws:vpce-0123abc``, ``azure:16909060``, ``gcp:81985529216486895``), already
  canonical, compared exactly with the connection's endpoint key.

`Filter.compile` merges a deployment's CIDRs into disjoint intervals per address family and
indexes them by bucket, so that the cost of `Filter.decide` is bounded whatever the number of
rules:

* Level 1 keys IPv4 by the top 16 bits (``ip >> 16``) and IPv6 by the top 32 (``ip >> 96``):
  a dict from each *partly* covered bucket to its leaf, the intervals clipped to the bucket as
  one flat tuple of sorted half-open bounds ``(start, stop, start, stop, ...)``; an address is
  inside iff `bisect_right` finds an odd number of bounds at or below it. A leaf is bounded by
  its bucket's address space (at most 2**15 intervals in an IPv4 /16), and in practice holds a
  handful (131,072 random rules: about 2). An IPv6 /32 is bounded only by the rules inside it.
* Buckets covered *whole* are not listed: they form intervals of bucket numbers, indexed the
  same way a level up (IPv4 by ``ip >> 24``, then ``ip >> 32``; IPv6 by ``ip >> 112``, ``ip >>
  120``, then ``ip >> 128``), whose leaves hold at most 2**15 (IPv6 level 2) or 2**7 intervals.
  At ``>> 32`` / ``>> 128`` there is one bucket, the whole family: a /0 compiles to that single
  leaf, never into 65,536 or 2**32 buckets. Levels without buckets are left out.

`Filter.decide` tries the levels in order and the first one whose dict has the client's bucket
answers with one bisection of that leaf (a partly covered bucket is in no later level's whole
intervals, so no later level can say otherwise); when none has it, the client matches nothing.
So a decision is one set lookup for the endpoint key, at most three (IPv4) or four (IPv6) dict
lookups and one bisection of a bucket-bounded leaf, never a scan of the rules. Compiling sorts
the rules once and is linear after that (about 0.1 s of index building for 131,072 rules).
`Client.of` parses a connection's address once, so `decide` parses nothing.
Everything here is pure: no I/O, no logging, standard library only (import-linter's "Pure
cores do no I/O" contract holds it so).
"""

from __future__ import annotations

import ipaddress
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

IP = "ip"
PRIVATE_LINK_TYPES = frozenset(
    {"vpce", "azure_private_endpoint", "gcp_private_service_connect_endpoint"}
)

_V4_BITS = 32
_V6_BITS = 128
_MAPPED_PREFIX = 0xFFFF  # ::ffff:0:0/96, IPv4-mapped IPv6 addresses, shifted right by 32
_V4_MASK = (1 << _V4_BITS) - 1
# canonical decimal texts: one lookup validates and converts (no "01", "+1", " 1", non-ASCII)
_OCTETS = {str(n): n for n in range(256)}
_PREFIXES = {str(n): n for n in range(_V6_BITS + 1)}
# bucket shifts of the index levels, ending with the family's width (one bucket: everything)
_V4_SHIFTS = (16, 24, _V4_BITS)
_V6_SHIFTS = (96, 112, 120, _V6_BITS)

# one bucket's intervals, clipped to it, as sorted half-open bounds (start, stop, start, ...)
_Leaf = tuple[int, ...]
_Level = tuple[int, int, dict[int, _Leaf]]  # (unit shift, bucket shift, partly covered buckets)


class Verdict(StrEnum):
    """What the filter decided about a connection, and why."""

    ALLOWED_NO_FILTER = "ALLOWED_NO_FILTER"
    ALLOWED_BY_IP_FILTER = "ALLOWED_BY_IP_FILTER"
    ALLOWED_BY_PRIVATE_LINK = "ALLOWED_BY_PRIVATE_LINK"
    BLOCKED_BY_IP_FILTER = "BLOCKED_BY_IP_FILTER"
    """The deployment has at least one filtering ``ip`` ruleset and the client matched nothing."""
    BLOCKED_BY_PRIVATE_LINK_FILTER = "BLOCKED_BY_PRIVATE_LINK_FILTER"
    """The deployment's filtering rulesets are all private-link ones and none matched."""

    @property
    def allowed(self) -> bool:
        return self in _ALLOWED


_ALLOWED = frozenset(
    {Verdict.ALLOWED_NO_FILTER, Verdict.ALLOWED_BY_IP_FILTER, Verdict.ALLOWED_BY_PRIVATE_LINK}
)
# module globals for `Filter.decide`: reading an enum member off its class costs ~40 ns more
_NO_FILTER = Verdict.ALLOWED_NO_FILTER
_BY_IP = Verdict.ALLOWED_BY_IP_FILTER
_BY_PRIVATE_LINK = Verdict.ALLOWED_BY_PRIVATE_LINK


class InvalidSource(ValueError):
    """An ``ip`` rule source that is not an IPv4 or IPv6 address or CIDR."""


@dataclass(frozen=True, slots=True)
class Client:
    """A connection's identity as filters see it; build once per connection.

    ``ip`` is the normalised address text (IPv4-mapped IPv6 becomes IPv4, an IPv6 zone id is
    dropped), or None when the address does not parse: such a client matches no ``ip`` rule.
    ``endpoint`` is the tagged private endpoint key the connection came through, if any.
    """

    ip: str | None
    endpoint: str | None = None
    _v6: bool = field(init=False, repr=False, default=False)
    _int: int = field(init=False, repr=False, default=-1)  # -1: no address

    def __post_init__(self) -> None:
        address = _client_address(self.ip)
        if address is None:
            object.__setattr__(self, "ip", None)
        else:
            object.__setattr__(self, "ip", str(address))
            object.__setattr__(self, "_v6", address.version == 6)
            object.__setattr__(self, "_int", int(address))
        if not self.endpoint:
            object.__setattr__(self, "endpoint", None)

    @classmethod
    def of(cls, ip: str | None, endpoint: str | None = None) -> Client:
        """The client of a connection from ``ip`` (any text) and its endpoint key."""
        return cls(ip, endpoint)


def _client_address(text: object) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        address = ipaddress.ip_address(text.partition("%")[0] if ":" in text else text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True, slots=True)
class RulesetRules:
    """One traffic-filter ruleset as the gateway needs it: its id, type and sources."""

    id: str
    type: str
    sources: tuple[str, ...]


def parse_ip_source(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """An ``ip`` rule source as a network (host bits cleared, like ``strict=False``).

    Accepted: an IPv4 address in dotted-quad form, an IPv6 address in any RFC 4291 form
    (including an embedded dotted quad), each optionally followed by ``/`` and a decimal prefix
    length in range. An address alone is a /32 or /128. An IPv4-mapped IPv6 network of prefix
    96 or longer is returned as the IPv4 network it maps (``::ffff:10.0.0.0/104`` is
    ``10.0.0.0/8``), since clients' mapped addresses are matched as IPv4.

    Refused with `InvalidSource`: anything that is not ``str``, the empty string, DNS names,
    surrounding or inner whitespace, IPv6 zone ids (``fe80::1%eth0``), IPv4 shorthands
    (``1.2.3``, ``10``), octets with leading zeros (``01.2.3.4``: octal to some parsers,
    decimal to others), prefixes out of range (``10.0.0.0/33``) or not in canonical decimal
    (``/08``, ``/+8``), and netmask or hostmask forms (``10.0.0.0/255.0.0.0``).
    """
    v6, network, prefix = _parse_source(text)
    if v6:
        return ipaddress.IPv6Network((network, prefix))
    return ipaddress.IPv4Network((network, prefix))


def _parse_source(text: object) -> tuple[bool, int, int]:
    """``(is IPv6, network address as int, prefix length)`` of an ``ip`` source."""
    if not isinstance(text, str):
        raise InvalidSource(f"not a string: {type(text).__name__}")
    address_text, slash, prefix_text = text.partition("/")
    v6 = ":" in address_text
    bits = _V6_BITS if v6 else _V4_BITS
    if slash:
        prefix = _PREFIXES.get(prefix_text, _V6_BITS + 1)
        if prefix > bits:
            raise InvalidSource(f"not a prefix length in 0..{bits}: {text!r}")
    else:
        prefix = bits
    value = _ipv6_int(address_text, text) if v6 else _ipv4_int(address_text, text)
    host_bits = bits - prefix
    network = value >> host_bits << host_bits
    if v6 and prefix >= _V6_BITS - _V4_BITS and network >> _V4_BITS == _MAPPED_PREFIX:
        return False, network & _V4_MASK, prefix - (_V6_BITS - _V4_BITS)
    return v6, network, prefix


def _ipv4_int(address_text: str, text: str) -> int:
    """A dotted quad of canonical decimal octets (the table refuses ``01``, ``256``, ``+1``)."""
    parts = address_text.split(".")
    if len(parts) == 4:
        octet = _OCTETS.get
        a, b, c, d = (
            octet(parts[0], -1),
            octet(parts[1], -1),
            octet(parts[2], -1),
            octet(parts[3], -1),
        )
        if min(a, b, c, d) >= 0:
            return a << 24 | b << 16 | c << 8 | d
    raise InvalidSource(f"not an IPv4 or IPv6 address or CIDR: {text!r}")


def _ipv6_int(address_text: str, text: str) -> int:
    if "%" in address_text:
        raise InvalidSource(f"zone ids are not allowed: {text!r}")
    try:
        return int(ipaddress.IPv6Address(address_text))
    except ValueError:
        raise InvalidSource(f"not an IPv4 or IPv6 address or CIDR: {text!r}") from None


def _merged(spans: dict[int, int]) -> list[int]:
    """The union of closed intervals (``start: end``) as sorted half-open bounds ``[start,
    stop, start, stop, ...]``, overlapping or adjacent intervals merged: strictly increasing,
    so an address lies inside iff an odd number of bounds are at or below it."""
    bounds: list[int] = []
    append = bounds.append
    last = -1  # bounds[-1], the stop of the interval being merged
    for start in sorted(spans):
        stop = spans[start] + 1
        if start > last:
            append(start)
            append(stop)
            last = stop
        elif stop > last:
            bounds[-1] = last = stop
    return bounds


def _index(bounds: list[int], shifts: Sequence[int]) -> tuple[_Level, ...]:
    """The bucket levels of one family's merged bounds (see the module), empty ones left out.

    Each level cuts the intervals (in units of ``1 << unit``) at the edges of its buckets (of
    ``1 << shift``): pieces of partly covered buckets go to the level's dict, the buckets
    covered whole become the next level's intervals. After the last shift, the family's
    width, a remaining interval can only be the whole family: a last level holds it then.
    """
    levels: list[_Level] = []
    unit = 0
    for shift in shifts:
        width = shift - unit
        mask = (1 << width) - 1
        pieces: list[int] = []  # bucket, start, stop of each piece, in order
        whole: list[int] = []
        edges = iter(bounds)
        for start, stop in zip(edges, edges, strict=True):
            low, high = (start + mask) >> width, stop >> width  # buckets [low, high) are whole
            if low > high:  # inside one bucket, touching neither of its edges
                pieces += (start >> width, start, stop)
                continue
            if start < low << width:
                pieces += (low - 1, start, low << width)
            if low < high:
                whole += (low, high)
            if high << width < stop:
                pieces += (high, high << width, stop)
        if pieces:
            levels.append((unit, shift, _leaves(pieces)))
        bounds, unit = whole, shift
    if bounds:  # [0, 1) in units of the whole family
        levels.append((unit, unit, {0: (0, 1)}))
    return tuple(levels)


def _leaves(pieces: list[int]) -> dict[int, _Leaf]:
    """Each bucket's leaf from ``[bucket, start, stop, ...]`` sorted by bucket then start."""
    leaves: dict[int, _Leaf] = {}
    bucket, leaf = -1, list[int]()
    triples = iter(pieces)
    for piece_bucket, start, stop in zip(triples, triples, triples, strict=True):
        if piece_bucket != bucket:
            if leaf:
                leaves[bucket] = tuple(leaf)
            bucket, leaf = piece_bucket, []
        leaf += (start, stop)
    if leaf:
        leaves[bucket] = tuple(leaf)
    return leaves


class Filter:
    """One deployment's associated rulesets compiled: merged IPv4 and IPv6 intervals in bucket
    indexes (see the module) and one frozenset of endpoint keys, so the per-request cost is one
    set lookup, a few dict lookups and one bisection of a bucket-bounded list, whatever the
    number of rules.

    ``rule_count`` counts the rules compiled (sources of filtering rulesets, invalid ``ip``
    sources left out); ``ruleset_ids`` holds the associated ruleset ids, sorted, records
    (rulesets without sources) included.
    """

    __slots__ = (
        "_blocked",
        "_endpoints",
        "_filtering",
        "_v4",
        "_v4_intervals",
        "_v6",
        "_v6_intervals",
        "rule_count",
        "ruleset_ids",
    )

    def __init__(
        self,
        *,
        v4: list[int],
        v6: list[int],
        endpoints: frozenset[str],
        filtering: bool,
        blocked: Verdict,
        rule_count: int,
        ruleset_ids: tuple[str, ...],
    ) -> None:
        self._v4 = _index(v4, _V4_SHIFTS)
        self._v6 = _index(v6, _V6_SHIFTS)
        self._v4_intervals = len(v4) // 2
        self._v6_intervals = len(v6) // 2
        self._endpoints = endpoints
        self._filtering = filtering
        self._blocked = blocked
        self.rule_count = rule_count
        self.ruleset_ids = ruleset_ids

    @classmethod
    def compile(cls, rulesets: Iterable[RulesetRules]) -> Filter:
        """Compile the rulesets associated with one deployment.

        Invalid ``ip`` sources are skipped, never raised (the control plane validated them
        with `parse_ip_source`); a ruleset whose sources are all invalid still filters, so it
        admits nothing of its own rather than opening the deployment. A ruleset of a type this
        gateway does not know also filters and matches nothing (fail closed). Rulesets are
        taken once per id.
        """
        by_id = {ruleset.id: ruleset for ruleset in rulesets}
        v4: dict[int, int] = {}  # network start -> widest end seen
        v6: dict[int, int] = {}
        endpoints: set[str] = set()
        filtering = any_ip_or_unknown = False
        rule_count = 0
        for ruleset in by_id.values():
            if not ruleset.sources:
                continue  # a record: no default-deny
            filtering = True
            if ruleset.type in PRIVATE_LINK_TYPES:
                keys = [key for key in ruleset.sources if isinstance(key, str) and key]
                endpoints.update(keys)
                rule_count += len(keys)
                continue
            any_ip_or_unknown = True
            if ruleset.type != IP:
                continue
            for source in ruleset.sources:
                try:
                    is_v6, network, prefix = _parse_source(source)
                except InvalidSource:
                    continue
                end = network | (1 << ((_V6_BITS if is_v6 else _V4_BITS) - prefix)) - 1
                spans = v6 if is_v6 else v4
                if end > spans.get(network, -1):
                    spans[network] = end
                rule_count += 1
        blocked = (
            Verdict.BLOCKED_BY_IP_FILTER
            if any_ip_or_unknown
            else Verdict.BLOCKED_BY_PRIVATE_LINK_FILTER
        )
        return cls(
            v4=_merged(v4),
            v6=_merged(v6),
            endpoints=frozenset(endpoints),
            filtering=filtering,
            blocked=blocked,
            rule_count=rule_count,
            ruleset_ids=tuple(sorted(by_id)),
        )

    @property
    def filtering(self) -> bool:
        """False when the deployment is open (no filtering ruleset associated)."""
        return self._filtering

    def decide(self, client: Client) -> Verdict:
        """Admit or block ``client``. A matching endpoint key is checked before the address."""
        if not self._filtering:
            return _NO_FILTER
        endpoint = client.endpoint
        if endpoint is not None and endpoint in self._endpoints:
            return _BY_PRIVATE_LINK
        value = client._int
        if value >= 0:
            # the first level holding the client's bucket answers (see the module)
            for unit, shift, buckets in self._v6 if client._v6 else self._v4:
                leaf = buckets.get(value >> shift)
                if leaf is not None:
                    if bisect_right(leaf, value >> unit) & 1:  # inside a piece
                        return _BY_IP
                    break
        return self._blocked

    def __repr__(self) -> str:
        return (
            f"Filter(rulesets={len(self.ruleset_ids)}, rule_count={self.rule_count}, "
            f"filtering={self._filtering}, v4_intervals={self._v4_intervals}, "
            f"v6_intervals={self._v6_intervals}, endpoints={len(self._endpoints)})"
        )


OPEN = Filter.compile(())
"""The filter of a deployment with no rulesets: admits everything."""


def compile_all(
    rulesets: Mapping[str, RulesetRules], by_deployment: Mapping[str, Sequence[str]]
) -> dict[str, Filter]:
    """Compile each deployment's filter; deployments with the same set of ruleset ids share one
    compiled Filter (compile each distinct set once). Unknown ruleset ids are ignored."""
    compiled: dict[frozenset[str], Filter] = {frozenset(): OPEN}
    filters: dict[str, Filter] = {}
    for deployment_id, ids in by_deployment.items():
        key = frozenset(ruleset_id for ruleset_id in ids if ruleset_id in rulesets)
        found = compiled.get(key)
        if found is None:
            found = compiled[key] = Filter.compile(rulesets[ruleset_id] for ruleset_id in key)
        filters[deployment_id] = found
    return filters

"""Compiled traffic filters (`traffic_filters.matching`): the semantics as tables, plus a
property test.

The tables write Elastic Cloud's rules down by hand (open without rulesets, OR across
rulesets, records do not filter, IPv4-mapped clients match as IPv4, endpoint keys compare
exactly). The property test compares `Filter.decide` on random CIDR sets with a naive
``any(address in network ...)`` oracle, so that interval merging and bisection cannot drift
from plain CIDR membership; a second one does the same around the edges of the compiled bucket
index (networks wider and narrower than a bucket, meeting at its edges, /0; clients at every
edge).
"""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from citadel.traffic_filters.matching import (
    OPEN,
    Client,
    Filter,
    InvalidSource,
    RulesetRules,
    Verdict,
    compile_all,
    parse_ip_source,
)

V = Verdict
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


# --- builders ---------------------------------------------------------------------------


def ip_rules(*sources: str, id: str = "ip-1") -> RulesetRules:
    return RulesetRules(id, "ip", sources)


def vpce(*keys: str, id: str = "pl-1") -> RulesetRules:
    return RulesetRules(id, "vpce", keys)


def azure(*keys: str, id: str = "az-1") -> RulesetRules:
    return RulesetRules(id, "azure_private_endpoint", keys)


def gcp(*keys: str, id: str = "gcp-1") -> RulesetRules:
    return RulesetRules(id, "gcp_private_service_connect_endpoint", keys)


def record(type: str = "vpce", id: str = "rec-1") -> RulesetRules:
    """A ruleset without sources: a filter-less private connection policy."""
    return RulesetRules(id, type, ())


def verdict(rulesets: list[RulesetRules], ip: str | None, endpoint: str | None = None) -> Verdict:
    return Filter.compile(rulesets).decide(Client.of(ip, endpoint))


# --- semantics --------------------------------------------------------------------------

SEMANTICS = [
    # (name, rulesets, client ip, endpoint, expected)
    ("open", [], "203.0.113.9", None, V.ALLOWED_NO_FILTER),
    ("open, unparseable client", [], "nonsense", None, V.ALLOWED_NO_FILTER),
    ("single cidr, inside", [ip_rules("10.0.0.0/8")], "10.200.3.4", None, V.ALLOWED_BY_IP_FILTER),
    ("single cidr, first", [ip_rules("10.0.0.0/8")], "10.0.0.0", None, V.ALLOWED_BY_IP_FILTER),
    ("single cidr, last", [ip_rules("10.0.0.0/8")], "10.255.255.255", None, V.ALLOWED_BY_IP_FILTER),
    ("single cidr, below", [ip_rules("10.0.0.0/8")], "9.255.255.255", None, V.BLOCKED_BY_IP_FILTER),
    ("single cidr, above", [ip_rules("10.0.0.0/8")], "11.0.0.0", None, V.BLOCKED_BY_IP_FILTER),
    ("host address", [ip_rules("192.0.2.7")], "192.0.2.7", None, V.ALLOWED_BY_IP_FILTER),
    ("host address, neighbour", [ip_rules("192.0.2.7")], "192.0.2.8", None, V.BLOCKED_BY_IP_FILTER),
    ("/32", [ip_rules("192.0.2.7/32")], "192.0.2.7", None, V.ALLOWED_BY_IP_FILTER),
    ("/32, neighbour", [ip_rules("192.0.2.7/32")], "192.0.2.6", None, V.BLOCKED_BY_IP_FILTER),
    ("v4 /0 admits v4", [ip_rules("0.0.0.0/0")], "198.51.100.1", None, V.ALLOWED_BY_IP_FILTER),
    ("v4 /0 refuses v6", [ip_rules("0.0.0.0/0")], "2001:db8::1", None, V.BLOCKED_BY_IP_FILTER),
    ("v6 /0 admits v6", [ip_rules("::/0")], "2001:db8::1", None, V.ALLOWED_BY_IP_FILTER),
    ("v6 /0 refuses v4", [ip_rules("::/0")], "198.51.100.1", None, V.BLOCKED_BY_IP_FILTER),
    (
        "v6 /0 refuses a mapped v4 client",
        [ip_rules("::/0")],
        "::ffff:198.51.100.1",
        None,
        V.BLOCKED_BY_IP_FILTER,
    ),
    ("v6 cidr", [ip_rules("2001:db8::/32")], "2001:db8:ffff::1", None, V.ALLOWED_BY_IP_FILTER),
    ("v6 cidr, outside", [ip_rules("2001:db8::/32")], "2001:db9::", None, V.BLOCKED_BY_IP_FILTER),
    ("v6 /128", [ip_rules("2001:db8::1/128")], "2001:db8::1", None, V.ALLOWED_BY_IP_FILTER),
    ("v6 host", [ip_rules("2001:db8::1")], "2001:db8:0:0::2", None, V.BLOCKED_BY_IP_FILTER),
    (
        "v6 client in uncompressed form",
        [ip_rules("2001:db8::/32")],
        "2001:0DB8:0000:0000:0000:0000:0000:0001",
        None,
        V.ALLOWED_BY_IP_FILTER,
    ),
    (
        "ipv4-mapped client matches the v4 rule",
        [ip_rules("10.0.0.0/8")],
        "::ffff:10.1.2.3",
        None,
        V.ALLOWED_BY_IP_FILTER,
    ),
    (
        "ipv4-mapped client outside the v4 rule",
        [ip_rules("10.0.0.0/8")],
        "::ffff:11.1.2.3",
        None,
        V.BLOCKED_BY_IP_FILTER,
    ),
    (
        "ipv4-mapped rule matches the v4 client",
        [ip_rules("::ffff:10.0.0.0/104")],
        "10.9.9.9",
        None,
        V.ALLOWED_BY_IP_FILTER,
    ),
    (
        "host bits set: the network counts",
        [ip_rules("192.168.132.6/22")],
        "192.168.132.0",
        None,
        V.ALLOWED_BY_IP_FILTER,
    ),
    (
        "host bits set: the network's end",
        [ip_rules("192.168.132.6/22")],
        "192.168.135.255",
        None,
        V.ALLOWED_BY_IP_FILTER,
    ),
    (
        "host bits set: past the network",
        [ip_rules("192.168.132.6/22")],
        "192.168.136.0",
        None,
        V.BLOCKED_BY_IP_FILTER,
    ),
    (
        "two ip rulesets OR: first",
        [ip_rules("10.0.0.0/8", id="a"), ip_rules("172.16.0.0/12", id="b")],
        "10.0.0.1",
        None,
        V.ALLOWED_BY_IP_FILTER,
    ),
    (
        "two ip rulesets OR: second",
        [ip_rules("10.0.0.0/8", id="a"), ip_rules("172.16.0.0/12", id="b")],
        "172.31.0.1",
        None,
        V.ALLOWED_BY_IP_FILTER,
    ),
    (
        "two ip rulesets OR: neither",
        [ip_rules("10.0.0.0/8", id="a"), ip_rules("172.16.0.0/12", id="b")],
        "192.168.0.1",
        None,
        V.BLOCKED_BY_IP_FILTER,
    ),
    (
        "ip + vpce: address matches",
        [ip_rules("10.0.0.0/8"), vpce("aws:vpce-0123abc")],
        "10.0.0.1",
        None,
        V.ALLOWED_BY_IP_FILTER,
    ),
    (
        "ip + vpce: endpoint matches",
        [ip_rules("10.0.0.0/8"), vpce("aws:vpce-0123abc")],
        "203.0.113.1",
        "aws:vpce-0123abc",
        V.ALLOWED_BY_PRIVATE_LINK,
    ),
    (
        "ip + vpce: both match, the endpoint is the reason",
        [ip_rules("10.0.0.0/8"), vpce("aws:vpce-0123abc")],
        "10.0.0.1",
        "aws:vpce-0123abc",
        V.ALLOWED_BY_PRIVATE_LINK,
    ),
    (
        "ip + vpce: nothing matches, blocked by the ip filter",
        [ip_rules("10.0.0.0/8"), vpce("aws:vpce-0123abc")],
        "203.0.113.1",
        "aws:vpce-other",
        V.BLOCKED_BY_IP_FILTER,
    ),
    (
        "private link only blocks a plain client",
        [vpce("aws:vpce-0123abc")],
        "10.0.0.1",
        None,
        V.BLOCKED_BY_PRIVATE_LINK_FILTER,
    ),
    (
        "private link only blocks another endpoint",
        [vpce("aws:vpce-0123abc")],
        "10.0.0.1",
        "aws:vpce-0123abd",
        V.BLOCKED_BY_PRIVATE_LINK_FILTER,
    ),
    (
        "azure endpoint",
        [azure("azure:16909060")],
        None,
        "azure:16909060",
        V.ALLOWED_BY_PRIVATE_LINK,
    ),
    (
        "gcp endpoint",
        [gcp("gcp:81985529216486895")],
        "10.0.0.1",
        "gcp:81985529216486895",
        V.ALLOWED_BY_PRIVATE_LINK,
    ),
    (
        "private-link rulesets of different vendors OR",
        [vpce("aws:vpce-1"), gcp("gcp:1")],
        "10.0.0.1",
        "gcp:1",
        V.ALLOWED_BY_PRIVATE_LINK,
    ),
    ("a record alone leaves it open", [record()], "203.0.113.9", None, V.ALLOWED_NO_FILTER),
    ("an ip record alone leaves it open", [record("ip")], "203.0.113.9", None, V.ALLOWED_NO_FILTER),
    (
        "a record does not admit with an ip filter",
        [record(), ip_rules("10.0.0.0/8")],
        "203.0.113.9",
        None,
        V.BLOCKED_BY_IP_FILTER,
    ),
    (
        "a record does not block with an ip filter",
        [record(), ip_rules("10.0.0.0/8")],
        "10.0.0.9",
        None,
        V.ALLOWED_BY_IP_FILTER,
    ),
    (
        "a record does not admit its endpoint",
        [record(), vpce("aws:vpce-1")],
        "10.0.0.9",
        "aws:vpce-2",
        V.BLOCKED_BY_PRIVATE_LINK_FILTER,
    ),
    (
        "unparseable client blocked by an ip filter",
        [ip_rules("0.0.0.0/0", "::/0")],
        "not-an-ip",
        None,
        V.BLOCKED_BY_IP_FILTER,
    ),
    (
        "missing client ip blocked by an ip filter",
        [ip_rules("0.0.0.0/0")],
        None,
        None,
        V.BLOCKED_BY_IP_FILTER,
    ),
    (
        "unparseable client admitted by its endpoint",
        [ip_rules("0.0.0.0/0"), vpce("aws:vpce-1")],
        "not-an-ip",
        "aws:vpce-1",
        V.ALLOWED_BY_PRIVATE_LINK,
    ),
    (
        "client with leading-zero octets is unparseable",
        [ip_rules("1.2.3.4")],
        "01.2.3.4",
        None,
        V.BLOCKED_BY_IP_FILTER,
    ),
    (
        "link-local client with a zone id matches by address",
        [ip_rules("fe80::/10")],
        "fe80::1%eth0",
        None,
        V.ALLOWED_BY_IP_FILTER,
    ),
    (
        "endpoint keys are case-sensitive",
        [vpce("aws:vpce-0123abc")],
        None,
        "aws:VPCE-0123ABC",
        V.BLOCKED_BY_PRIVATE_LINK_FILTER,
    ),
    (
        "the vendor tag is part of the key",
        [vpce("aws:1")],
        None,
        "gcp:1",
        V.BLOCKED_BY_PRIVATE_LINK_FILTER,
    ),
    (
        "an untagged key does not match a tagged one",
        [vpce("aws:vpce-1")],
        None,
        "vpce-1",
        V.BLOCKED_BY_PRIVATE_LINK_FILTER,
    ),
    (
        "invalid sources are skipped, valid ones still match",
        [ip_rules("example.com", "10.0.0.0/33", "10.0.0.0/8")],
        "10.1.1.1",
        None,
        V.ALLOWED_BY_IP_FILTER,
    ),
    (
        "a ruleset of only invalid sources still filters (fails closed)",
        [ip_rules("example.com")],
        "10.1.1.1",
        None,
        V.BLOCKED_BY_IP_FILTER,
    ),
    (
        "a ruleset of an unknown type filters and matches nothing",
        [RulesetRules("x", "carrier_pigeon", ("coop:7",))],
        "10.1.1.1",
        "coop:7",
        V.BLOCKED_BY_IP_FILTER,
    ),
]


@pytest.mark.parametrize(
    ("rulesets", "ip", "endpoint", "expected"),
    [pytest.param(*row[1:], id=row[0]) for row in SEMANTICS],
)
def test_decide(
    rulesets: list[RulesetRules], ip: str | None, endpoint: str | None, expected: Verdict
) -> None:
    assert verdict(rulesets, ip, endpoint) is expected


def test_the_verdicts_say_whether_they_allow() -> None:
    assert {v for v in Verdict if v.allowed} == {
        V.ALLOWED_NO_FILTER,
        V.ALLOWED_BY_IP_FILTER,
        V.ALLOWED_BY_PRIVATE_LINK,
    }


def test_open_admits_everyone_and_does_not_filter() -> None:
    assert not OPEN.filtering
    assert OPEN.rule_count == 0
    assert OPEN.ruleset_ids == ()
    assert OPEN.decide(Client.of("203.0.113.1")) is V.ALLOWED_NO_FILTER


def test_a_record_is_not_filtering_but_is_listed() -> None:
    compiled = Filter.compile([record(id="r")])
    assert not compiled.filtering
    assert compiled.ruleset_ids == ("r",)
    assert compiled.rule_count == 0


def test_rule_count_and_ruleset_ids() -> None:
    compiled = Filter.compile(
        [
            ip_rules("10.0.0.0/8", "10.0.0.0/9", "bogus", id="b"),
            vpce("aws:vpce-1", id="a"),
            record(id="c"),
        ]
    )
    assert compiled.filtering
    assert compiled.rule_count == 3  # the invalid source is not a rule
    assert compiled.ruleset_ids == ("a", "b", "c")


def test_overlapping_and_adjacent_cidrs_merge_without_losing_addresses() -> None:
    compiled = Filter.compile(
        [ip_rules("10.0.0.0/9", "10.128.0.0/9", "10.64.0.0/10", "11.0.0.0/8", "13.0.0.0/8")]
    )
    assert compiled.decide(Client.of("11.255.255.255")) is V.ALLOWED_BY_IP_FILTER
    assert compiled.decide(Client.of("12.0.0.0")) is V.BLOCKED_BY_IP_FILTER
    assert compiled.decide(Client.of("13.0.0.0")) is V.ALLOWED_BY_IP_FILTER
    assert "v4_intervals=2" in repr(compiled)


# --- clients ----------------------------------------------------------------------------

CLIENTS = [
    # (given, normalised)
    ("10.0.0.1", "10.0.0.1"),
    ("::ffff:10.0.0.1", "10.0.0.1"),
    ("::FFFF:0a00:0001", "10.0.0.1"),
    ("2001:0db8:0000::0001", "2001:db8::1"),
    ("fe80::1%eth0", "fe80::1"),
    ("::1.2.3.4", "::102:304"),  # IPv4-compatible, deprecated: not mapped, stays IPv6
    ("", None),
    (" 10.0.0.1", None),
    ("10.0.0.1%eth0", None),
    ("01.2.3.4", None),
    ("example.com", None),
    (None, None),
]


@pytest.mark.parametrize(("given", "normalised"), CLIENTS)
def test_client_address_is_normalised(given: str | None, normalised: str | None) -> None:
    assert Client.of(given).ip == normalised


def test_client_keeps_its_endpoint_and_treats_empty_as_none() -> None:
    assert Client.of("10.0.0.1", "aws:vpce-1").endpoint == "aws:vpce-1"
    assert Client.of("10.0.0.1", "").endpoint is None


def test_client_built_directly_is_normalised_too() -> None:
    assert Client("::ffff:10.0.0.1") == Client.of("10.0.0.1")


# --- compile_all ------------------------------------------------------------------------


def test_compile_all_shares_one_filter_per_set_of_rulesets() -> None:
    rulesets = {
        "a": ip_rules("10.0.0.0/8", id="a"),
        "b": vpce("aws:vpce-1", id="b"),
        "r": record(id="r"),
    }
    filters = compile_all(
        rulesets,
        {
            "d1": ["a", "b"],
            "d2": ["b", "a"],
            "d3": ["a", "b", "a", "gone"],
            "d4": ["a"],
            "d5": [],
            "d6": ["gone"],
            "d7": ["r"],
        },
    )
    assert filters["d1"] is filters["d2"] is filters["d3"]
    assert filters["d4"] is not filters["d1"]
    assert filters["d5"] is OPEN
    assert filters["d6"] is OPEN  # unknown ruleset ids are ignored
    assert filters["d1"].ruleset_ids == ("a", "b")
    assert not filters["d7"].filtering
    assert filters["d4"].decide(Client.of("10.0.0.1")) is V.ALLOWED_BY_IP_FILTER
    assert filters["d4"].decide(Client.of("11.0.0.1")) is V.BLOCKED_BY_IP_FILTER


# --- parse_ip_source --------------------------------------------------------------------

ACCEPTED = [
    ("10.0.0.1", "10.0.0.1/32"),
    ("10.0.0.0/8", "10.0.0.0/8"),
    ("192.168.132.6/22", "192.168.132.0/22"),
    ("0.0.0.0/0", "0.0.0.0/0"),
    ("255.255.255.255/32", "255.255.255.255/32"),
    ("10.0.0.0/0", "0.0.0.0/0"),
    ("2001:db8::1", "2001:db8::1/128"),
    ("2001:db8::1/48", "2001:db8::/48"),
    ("2001:DB8::/32", "2001:db8::/32"),
    ("::/0", "::/0"),
    ("::1.2.3.4", "::102:304/128"),
    ("::ffff:10.0.0.1", "10.0.0.1/32"),
    ("::ffff:10.0.0.0/104", "10.0.0.0/8"),
    ("::ffff:0:0/96", "0.0.0.0/0"),
    ("::fffe:0:0/96", "::fffe:0:0/96"),
    ("::/80", "::/80"),  # wider than the mapped range: stays IPv6
]

REFUSED = [
    "",
    "example.com",
    "localhost",
    "10.0.0.0/33",
    "2001:db8::/129",
    "10.0.0.0/-1",
    "10.0.0.0/+8",
    "10.0.0.0/08",
    "10.0.0.0/",
    "10.0.0.0/8/8",
    "10.0.0.0/255.0.0.0",
    "10.0.0.0/0.0.0.255",
    " 10.0.0.1",
    "10.0.0.1 ",
    "10.0.0.0 /8",
    "10.0.0.0/ 8",
    "10.0.0.0/\u0668",  # ARABIC-INDIC DIGIT EIGHT
    "fe80::1%eth0",
    "fe80::/10%eth0",
    "1.2.3",
    "10",
    "01.2.3.4",
    "1.2.3.256",
    "1.2.3.4.5",
    "2001:db8:::1",
    "2001:db8::g",
    "/8",
    "*",
]


@pytest.mark.parametrize(("text", "network"), ACCEPTED)
def test_parse_ip_source_accepts(text: str, network: str) -> None:
    assert str(parse_ip_source(text)) == network


@pytest.mark.parametrize("text", REFUSED)
def test_parse_ip_source_refuses(text: str) -> None:
    with pytest.raises(InvalidSource):
        parse_ip_source(text)


@pytest.mark.parametrize("value", [None, 167772161, b"10.0.0.1"])
def test_parse_ip_source_refuses_what_is_not_text(value: object) -> None:
    with pytest.raises(InvalidSource):
        parse_ip_source(value)  # type: ignore[arg-type]


def test_invalid_source_is_a_value_error() -> None:
    assert issubclass(InvalidSource, ValueError)


def test_compile_skips_sources_that_are_not_text() -> None:
    compiled = Filter.compile(
        [
            RulesetRules("a", "ip", (None, 7, "10.0.0.0/8")),  # type: ignore[arg-type]
            RulesetRules("b", "vpce", (None, "", "aws:vpce-1")),  # type: ignore[arg-type]
        ]
    )
    assert compiled.rule_count == 2
    assert compiled.decide(Client.of("10.0.0.1")) is V.ALLOWED_BY_IP_FILTER
    assert compiled.decide(Client.of(None, "aws:vpce-1")) is V.ALLOWED_BY_PRIVATE_LINK


def canonical(network: Network) -> Network:
    """``network`` as `parse_ip_source` returns it: IPv4-mapped /96 or longer as IPv4."""
    if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96:
        mapped = network.network_address.ipv4_mapped
        if mapped is not None:
            return ipaddress.IPv4Network((mapped, network.prefixlen - 96))
    return network


@given(st.text(max_size=45) | st.text(alphabet="0123456789abcdefABCDEF:./% ", max_size=45))
def test_parse_ip_source_raises_only_invalid_source_and_agrees_with_ipaddress(text: str) -> None:
    try:
        network = parse_ip_source(text)
    except InvalidSource:
        return
    # whatever is accepted, ipaddress accepts too and reads the same way
    assert network == canonical(ipaddress.ip_network(text, strict=False))


@given(
    st.integers(0, 2**32 - 1) | st.integers(0, 2**128 - 1).map(ipaddress.IPv6Address),
    st.integers(0, 128),
)
def test_parse_ip_source_accepts_networks_as_ipaddress_prints_them(
    address: int | ipaddress.IPv6Address, prefix: int
) -> None:
    if isinstance(address, int):
        network: Network = ipaddress.IPv4Network((address, prefix % 33), strict=False)
    else:
        network = ipaddress.IPv6Network((address, prefix), strict=False)
    texts = [str(network), network.exploded, f"{network.broadcast_address}/{network.prefixlen}"]
    if network.prefixlen == network.max_prefixlen:
        texts.append(str(network.network_address))
    for text in texts:
        assert parse_ip_source(text) == canonical(network), text


# --- property: agrees with naive CIDR membership ----------------------------------------


@st.composite
def networks(draw: st.DrawFn) -> Network:
    if draw(st.integers(0, 3)) == 0:
        address = draw(st.integers(0, 2**128 - 1))
        prefix = draw(st.one_of(st.integers(32, 128), st.integers(0, 128)))
        return ipaddress.IPv6Network((address, prefix), strict=False)
    address = draw(st.integers(0, 2**32 - 1))
    # mostly long prefixes, so that a few wide networks do not swallow all the others
    prefix = draw(st.one_of(st.integers(12, 32), st.integers(0, 32)))
    return ipaddress.IPv4Network((address, prefix), strict=False)


def edges(network: Network) -> list[int]:
    first, last = int(network.network_address), int(network.broadcast_address)
    return [first - 1, first, first + (last - first) // 2, last, last + 1]


def as_text(value: int, v6: bool, mapped: bool) -> str:
    if v6:
        return str(ipaddress.IPv6Address(value % 2**128))
    text = str(ipaddress.IPv4Address(value % 2**32))
    return f"::ffff:{text}" if mapped else text


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[Network], list[str]]:
    nets = draw(st.lists(networks(), max_size=24))
    clients: list[str] = []
    for net in nets[:6]:
        clients += [as_text(v, net.version == 6, draw(st.booleans())) for v in edges(net)]
    for _ in range(draw(st.integers(0, 6))):
        if draw(st.booleans()):
            clients.append(as_text(draw(st.integers(0, 2**128 - 1)), True, False))
        else:
            clients.append(as_text(draw(st.integers(0, 2**32 - 1)), False, draw(st.booleans())))
    return nets, clients


def oracle(nets: list[Network], client: str) -> bool:
    address = ipaddress.ip_address(client)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in net for net in nets)


@given(cases(), st.integers(1, 4), st.booleans())
def test_decide_agrees_with_naive_membership(
    case: tuple[list[Network], list[str]], split: int, host_bits: bool
) -> None:
    nets, clients = case
    # the sources as an operator may type them: some with host bits set, spread over rulesets
    texts = [f"{net.broadcast_address}/{net.prefixlen}" if host_bits else str(net) for net in nets]
    rulesets = [ip_rules(*texts[i::split], id=f"r{i}") for i in range(split) if texts[i::split]]
    compiled = Filter.compile(rulesets)
    for client in clients:
        got = compiled.decide(Client.of(client))
        if not nets:
            assert got is V.ALLOWED_NO_FILTER
        else:
            expected = V.ALLOWED_BY_IP_FILTER if oracle(nets, client) else V.BLOCKED_BY_IP_FILTER
            assert got is expected, (client, texts)


# --- bucket index edges: wide prefixes, intervals across bucket edges, /0 ---------------

# the index's bucket shifts below each family's width (see the module docstring)
V4_SHIFTS = (16, 24)
V6_SHIFTS = (96, 112, 120)

BUCKET_EDGES = [
    # (name, sources, allowed clients, blocked clients)
    (
        "adjacent /32s across a /16 edge merge",
        ["10.0.255.255", "10.1.0.0"],
        ["10.0.255.255", "10.1.0.0"],
        ["10.0.255.254", "10.1.0.1"],
    ),
    (
        "a /15 is two whole /16 buckets",
        ["10.0.0.0/15"],
        ["10.0.0.0", "10.0.255.255", "10.1.0.0", "10.1.255.255"],
        ["9.255.255.255", "10.2.0.0"],
    ),
    (
        "an interval from inside one /16 to inside another",
        ["10.0.255.0/24", "10.1.0.0/16", "10.2.0.0/24"],
        ["10.0.255.0", "10.1.128.0", "10.2.0.255"],
        ["10.0.254.255", "10.2.1.0"],
    ),
    (
        "whole /16s next to a /8 edge, with holes",
        ["10.255.0.0/16", "11.0.0.0/16", "11.2.0.0/16"],
        ["10.255.0.0", "11.0.255.255", "11.2.0.0"],
        ["10.254.255.255", "11.1.0.0", "11.3.0.0"],
    ),
    (
        "a /7 and a /9 of whole /8s and /16s",
        ["10.0.0.0/7", "12.128.0.0/9"],
        ["10.0.0.0", "11.255.255.255", "12.128.0.0", "12.255.255.255"],
        ["9.255.255.255", "12.0.0.0", "12.127.255.255", "13.0.0.0"],
    ),
    (
        "the last addresses of the family",
        ["255.255.255.255", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
        ["255.255.255.255", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
        ["255.255.255.254", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"],
    ),
    (
        "v4 /0 with v6 rules",
        ["0.0.0.0/0", "2001:db8::/33"],
        ["0.0.0.0", "255.255.255.255", "2001:db8::", "2001:db8:7fff::1"],
        ["2001:db8:8000::", "::"],
    ),
    (
        "v6 /1 and /0",
        ["8000::/1"],
        ["8000::", "ffff::"],
        ["7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::", "10.0.0.1"],
    ),
    (
        "v6 across a /32 edge",
        ["2001:db8:ffff:ffff::/64", "2001:db9::/48"],
        ["2001:db8:ffff:ffff::", "2001:db9::", "2001:db9:0:ffff::"],
        ["2001:db8:ffff:fffe::", "2001:db9:1::"],
    ),
]


@pytest.mark.parametrize(
    ("sources", "allowed", "blocked"),
    [pytest.param(*row[1:], id=row[0]) for row in BUCKET_EDGES],
)
def test_decide_at_bucket_edges(sources: list[str], allowed: list[str], blocked: list[str]) -> None:
    compiled = Filter.compile([ip_rules(*sources)])
    for client in allowed:
        assert compiled.decide(Client.of(client)) is V.ALLOWED_BY_IP_FILTER, client
    for client in blocked:
        assert compiled.decide(Client.of(client)) is V.BLOCKED_BY_IP_FILTER, client


def index_entries(compiled: Filter) -> int:
    """How many buckets and bounds the compiled index holds, both families (white box)."""
    levels = compiled._v4 + compiled._v6
    return sum(len(leaf) for _, _, buckets in levels for leaf in buckets.values())


@pytest.mark.parametrize(
    "sources",
    [
        ["0.0.0.0/0"],
        ["::/0"],
        ["0.0.0.0/0", "::/0", "10.0.0.0/8", "2001:db8::/32"],
        ["0.0.0.0/1", "128.0.0.0/2", "::/1", "8000::/2"],
        ["10.0.0.0/8", "2001::/16", "3000::/4"],
    ],
)
def test_wide_rules_are_not_expanded_into_buckets(sources: list[str]) -> None:
    assert index_entries(Filter.compile([ip_rules(*sources)])) <= 4 * len(sources)


@st.composite
def bucket_edge_cases(draw: st.DrawFn) -> tuple[list[Network], list[str]]:
    """Networks near the index's bucket edges, of prefixes on both sides of the bucket size
    (wide ones covering whole buckets, /0 included), pairs meeting at an edge, and clients at
    every bucket edge around them."""
    v6 = draw(st.booleans())
    bits, shifts = (128, V6_SHIFTS) if v6 else (32, V4_SHIFTS)
    make = ipaddress.IPv6Network if v6 else ipaddress.IPv4Network
    nets: list[Network] = []
    points: list[int] = []
    for _ in range(draw(st.integers(1, 10))):
        shift = draw(st.sampled_from(shifts))
        edge = draw(st.integers(0, (1 << (bits - shift)) - 1)) << shift
        points += [edge - 1, edge, edge + 1]
        around = bits - shift  # the bucket's own prefix length
        for _ in range(draw(st.integers(1, 2))):
            prefix = draw(
                st.integers(max(0, around - 8), min(bits, around + 8))
                | st.integers(bits - 3, bits)  # hosts and tiny networks
                | st.integers(0, bits)
            )
            size, span = 1 << (bits - prefix), 1 << shift
            # starting at, or a few networks before or past, the edge; or anywhere near it
            offset = draw(st.integers(-2, 2).map(size.__mul__) | st.integers(-2 * span, 2 * span))
            nets.append(make(((edge + offset) % (1 << bits), prefix), strict=False))
    for net in nets:
        points += edges(net)
        for shift in shifts:
            for value in (int(net.network_address), int(net.broadcast_address)):
                bucket = value >> shift << shift
                points += [bucket - 1, bucket, bucket + (1 << shift) - 1, bucket + (1 << shift)]
    clients = [as_text(point, v6, draw(st.booleans())) for point in points]
    return nets, clients


@given(bucket_edge_cases(), st.data())
def test_decide_agrees_with_naive_membership_at_bucket_edges(
    case: tuple[list[Network], list[str]], data: st.DataObject
) -> None:
    nets, clients = case
    if data.draw(st.booleans()):  # the other family's whole range too
        nets = [*nets, ipaddress.ip_network("::/0" if nets[0].version == 4 else "0.0.0.0/0")]
    compiled = Filter.compile([ip_rules(*map(str, nets))])
    for client in clients:
        expected = V.ALLOWED_BY_IP_FILTER if oracle(nets, client) else V.BLOCKED_BY_IP_FILTER
        assert compiled.decide(Client.of(client)) is expected, (client, [str(n) for n in nets])

"""PROXY protocol parsing: the anchors' vectors, an independent encoder, every pitfall, fuzzing.

Headers are built either by hand (small builders below) or by the independent `proxy-protocol`
package's encoder, never by the module under test. Pitfall rows that are about the listener
(1, 2, 10, 12) are tested here only where the parser has a part in them; the listener tests
cover the rest (trusted-peer CIDRs, timeouts, one connection context, handing over to TLS).
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import socket
from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest
from hypothesis import given
from hypothesis import strategies as st
from proxyprotocol.result import (
    ProxyResult,
    ProxyResultIPv4,
    ProxyResultIPv6,
    ProxyResultLocal,
    ProxyResultUnix,
    ProxyResultUnknown,
)
from proxyprotocol.tlv import ProxyProtocolSSLTLV, ProxyProtocolTLV
from proxyprotocol.v1 import ProxyProtocolV1
from proxyprotocol.v2 import ProxyProtocolV2

from citadel.gateway import proxy_protocol
from citadel.gateway.proxy_protocol import (
    MAX_V1_LENGTH,
    MAX_V2_LENGTH,
    ProxyHeader,
    ProxyHeaderError,
    Vendor,
    header_length,
    parse,
)

SIG = "0d0a0d0a000d0a515549540a"
SIGNATURE = bytes.fromhex(SIG)
ADDR4 = bytes.fromhex("cb0071070a000002c82201bb")  # 203.0.113.7:51234 -> 10.0.0.2:443
CLIENT_HELLO = bytes.fromhex("160301020001000200") + b"\x03\x03" + bytes(32)
VENDORS = [None, Vendor.AWS, Vendor.AZURE, Vendor.GCP]

# --- the anchors' test vectors (security-anchors §3.2), verbatim -------------------------------

TCP4_PLAIN = bytes.fromhex(SIG + "21 11 000c cb007107 0a000002 c822 01bb")
TCP4_AWS = bytes.fromhex(
    SIG + "21 11 0026 cb0071070a000002c82201bb ea 0017 01 7670 6365 2d30 3132 3334 3536 3738"
    " 3961 6263 6465 6630"
)
TCP4_AZURE = bytes.fromhex(SIG + "21 11 0014 cb0071070a000002c82201bb ee 0005 01 04030201")
TCP4_GCP = bytes.fromhex(SIG + "21 11 0017 cb0071070a000002c82201bb e0 0008 0123456789abcdef")
LOCAL = bytes.fromhex("0d0a0d0a000d0a515549540a 20 00 0000")
TLV_OVERFLOW = bytes.fromhex(SIG + "21 11 0013 cb0071070a000002c82201bb ea 0100 01 616263")
LEN_BELOW_ADDRESSES = bytes.fromhex(SIG + "21 11 0004 cb007107")


# --- builders -------------------------------------------------------------------------------


def v2(body: bytes, *, ver_cmd: int = 0x21, fam: int = 0x11, length: int | None = None) -> bytes:
    """A v2 header with `body` after the 16-byte block; `length` defaults to len(body)."""
    size = len(body) if length is None else length
    return SIGNATURE + bytes([ver_cmd, fam]) + size.to_bytes(2, "big") + body


def tlv(kind: int, value: bytes, *, length: int | None = None) -> bytes:
    size = len(value) if length is None else length
    return bytes([kind]) + size.to_bytes(2, "big") + value


def aws(vpce: bytes, subtype: int = 0x01) -> bytes:
    return tlv(0xEA, bytes([subtype]) + vpce)


def reason_of(data: bytes, *, vendor: Vendor | None = None, allow_v1: bool = False) -> str:
    with pytest.raises(ProxyHeaderError) as caught:
        parse(data, vendor=vendor, allow_v1=allow_v1)
    return caught.value.reason


def outcome(data: bytes, *, vendor: Vendor | None, allow_v1: bool) -> ProxyHeader | str:
    """The parse result, or the rejection reason; any other exception fails the test."""
    try:
        return parse(data, vendor=vendor, allow_v1=allow_v1)
    except ProxyHeaderError as error:
        return error.reason


def bitwise_crc32c(data: bytes) -> int:
    """CRC-32C computed bit by bit (independent of the module's table)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def with_good_crc(header: bytes) -> bytes:
    """Fill the zeroed CRC32C TLV value of `header` with the right checksum."""
    marker = b"\x03\x00\x04\x00\x00\x00\x00"
    at = header.index(marker, 16) + 3
    return header[:at] + bitwise_crc32c(header).to_bytes(4, "big") + header[at + 4 :]


def encode_v2(result: ProxyResult) -> bytes:
    return ProxyProtocolV2().pack(result)


def ipv4(source: str, sport: int, dest: str, dport: int, **kwargs) -> ProxyResultIPv4:
    return ProxyResultIPv4((IPv4Address(source), sport), (IPv4Address(dest), dport), **kwargs)


def ipv6(source: str, sport: int, dest: str, dport: int, **kwargs) -> ProxyResultIPv6:
    return ProxyResultIPv6((IPv6Address(source), sport), (IPv6Address(dest), dport), **kwargs)


STREAM = socket.SOCK_STREAM
CLIENT = ("203.0.113.7", 51234, "10.0.0.2", 443)


# --- the anchors' vectors ---------------------------------------------------------------------


def test_vector_tcp4_plain() -> None:
    header = parse(TCP4_PLAIN, vendor=Vendor.AWS, allow_v1=False)
    assert header == ProxyHeader(2, False, "203.0.113.7", 51234, "10.0.0.2", 443, None, None, 28)


def test_vector_tcp4_aws() -> None:
    header = parse(TCP4_AWS, vendor=Vendor.AWS, allow_v1=False)
    assert (header.endpoint_id, header.source_ip, header.length) == (
        "aws:vpce-0123456789abcdef0",
        "203.0.113.7",
        54,
    )


def test_vector_tcp4_azure() -> None:
    header = parse(TCP4_AZURE, vendor=Vendor.AZURE, allow_v1=False)
    assert (header.endpoint_id, header.length) == (f"azure:{0x01020304}", 36)


def test_vector_tcp4_gcp() -> None:
    header = parse(TCP4_GCP, vendor=Vendor.GCP, allow_v1=False)
    assert (header.endpoint_id, header.length) == (f"gcp:{0x0123456789ABCDEF}", 39)


def test_vector_local() -> None:
    header = parse(LOCAL, vendor=Vendor.AWS, allow_v1=False)
    assert header == ProxyHeader(2, True, None, None, None, None, None, None, 16)


def test_vector_tlv_overflow_is_rejected() -> None:
    assert reason_of(TLV_OVERFLOW, vendor=Vendor.AWS) == "tlv_overflow"


def test_vector_len_below_address_block_is_rejected() -> None:
    assert reason_of(LEN_BELOW_ADDRESSES) == "truncated"


# --- agreement with the independent encoder (proxy-protocol package) --------------------------

ENCODED = {
    "v1_tcp4": ProxyProtocolV1().pack(ipv4(*CLIENT)),
    "v1_tcp6": ProxyProtocolV1().pack(ipv6("2001:db8::7", 51234, "2001:db8::2", 443)),
    "v1_unknown": ProxyProtocolV1().pack(ProxyResultUnknown()),
    "v2_ipv4": encode_v2(ipv4(*CLIENT, protocol=STREAM)),
    "v2_ipv6": encode_v2(ipv6("2001:db8::7", 51234, "2001:db8::2", 443, protocol=STREAM)),
    "v2_local": encode_v2(ProxyResultLocal()),
    "v2_unspec": encode_v2(ProxyResultUnknown()),
    "v2_unix": encode_v2(ProxyResultUnix("/run/a.sock", "/run/b.sock", protocol=STREAM)),
    "v2_tlvs": encode_v2(
        ipv4(
            *CLIENT,
            protocol=STREAM,
            tlv=ProxyProtocolTLV(
                init={0xEA: b"\x01vpce-0123456789abcdef0"},
                alpn=b"h2",
                authority="logs.eu-1.citadel.example",
                unique_id=b"u" * 128,
                netns="blue",
                ssl=ProxyProtocolSSLTLV(has_ssl=True, verified=True, version="TLSv1.3", cn="c"),
            ),
        )
    ),
}


def test_encoder_v1_tcp4_agrees() -> None:
    header = parse(ENCODED["v1_tcp4"], vendor=None, allow_v1=True)
    assert header == ProxyHeader(1, False, "203.0.113.7", 51234, "10.0.0.2", 443, None, None, 43)


def test_encoder_v1_tcp6_agrees() -> None:
    header = parse(ENCODED["v1_tcp6"], vendor=None, allow_v1=True)
    assert (header.source_ip, header.source_port, header.destination_ip) == (
        "2001:db8::7",
        51234,
        "2001:db8::2",
    )


def test_encoder_v1_unknown_is_local() -> None:
    # The encoder writes "PROXY UNKNOWN    \r\n" (four spaces): the rest of the line is ignored.
    header = parse(ENCODED["v1_unknown"], vendor=None, allow_v1=True)
    assert (header.version, header.local, header.source_ip) == (1, True, None)


def test_encoder_v2_ipv4_agrees() -> None:
    header = parse(ENCODED["v2_ipv4"], vendor=None, allow_v1=False)
    assert header == ProxyHeader(2, False, "203.0.113.7", 51234, "10.0.0.2", 443, None, None, 28)


def test_encoder_v2_ipv6_agrees() -> None:
    header = parse(ENCODED["v2_ipv6"], vendor=None, allow_v1=False)
    assert (header.source_ip, header.destination_ip, header.destination_port) == (
        "2001:db8::7",
        "2001:db8::2",
        443,
    )


def test_encoder_v2_local_agrees() -> None:
    header = parse(ENCODED["v2_local"], vendor=None, allow_v1=False)
    assert (header.local, header.source_ip, header.length) == (True, None, 16)


def test_encoder_v2_proxy_unspec_has_no_addresses_but_is_not_local() -> None:
    header = parse(ENCODED["v2_unspec"], vendor=None, allow_v1=False)
    assert (header.local, header.source_ip, header.source_port) == (False, None, None)


def test_encoder_v2_unix_has_no_ip() -> None:
    header = parse(ENCODED["v2_unix"], vendor=None, allow_v1=False)
    assert (header.local, header.source_ip, header.length) == (False, None, 16 + 216)


def test_encoder_v2_tlvs_agree() -> None:
    header = parse(ENCODED["v2_tlvs"], vendor=Vendor.AWS, allow_v1=False)
    assert (header.endpoint_id, header.authority) == (
        "aws:vpce-0123456789abcdef0",
        "logs.eu-1.citadel.example",
    )


def test_encoder_default_transport_is_rejected() -> None:
    # Without `protocol=` the encoder writes fam 0x10 (AF_INET, UNSPEC transport), which the
    # spec's table does not list: receivers drop it.
    assert reason_of(encode_v2(ipv4(*CLIENT))) == "bad_family"


@pytest.mark.parametrize("name", sorted(ENCODED))
def test_header_length_agrees_with_encoder_byte_by_byte(name: str) -> None:
    encoded = ENCODED[name]
    known_at = 16 if encoded.startswith(SIGNATURE) else len(encoded)
    for size in range(len(encoded) + 1):
        expected = len(encoded) if size >= known_at else None
        assert header_length(encoded[:size], allow_v1=True) == expected, size
    assert header_length(encoded + CLIENT_HELLO, allow_v1=True) == len(encoded)


@given(
    source=st.ip_addresses(v=4),
    dest=st.ip_addresses(v=4),
    ports=st.tuples(st.integers(0, 65535), st.integers(0, 65535)),
    vpce=st.none() | st.from_regex(r"\Avpce-[0-9a-f]{1,17}\Z"),
    authority=st.none() | st.from_regex(r"\A[a-z0-9.-]{1,60}\Z"),
    dgram=st.booleans(),
)
def test_encoder_ipv4_round_trip(source, dest, ports, vpce, authority, dgram) -> None:
    init = {0xEA: b"\x01" + vpce.encode()} if vpce is not None else {}
    result = ipv4(
        str(source),
        ports[0],
        str(dest),
        ports[1],
        protocol=socket.SOCK_DGRAM if dgram else STREAM,
        tlv=ProxyProtocolTLV(init=init, authority=authority),
    )
    encoded = encode_v2(result)
    header = parse(encoded + CLIENT_HELLO, vendor=Vendor.AWS, allow_v1=False)
    assert header == ProxyHeader(
        2,
        False,
        str(source),
        ports[0],
        str(dest),
        ports[1],
        f"aws:{vpce}" if vpce is not None else None,
        authority,
        len(encoded),
    )


@given(
    source=st.ip_addresses(),
    dest=st.ip_addresses(),
    ports=st.tuples(st.integers(0, 65535), st.integers(0, 65535)),
)
def test_encoder_v1_and_ipv6_round_trip(source, dest, ports) -> None:
    if source.version != dest.version:
        dest = source
    make = ipv4 if source.version == 4 else ipv6
    result = make(str(source), ports[0], str(dest), ports[1], protocol=STREAM)

    def canonical(address) -> str:
        return str(getattr(address, "ipv4_mapped", None) or address)

    expected = (canonical(source), ports[0], canonical(dest), ports[1])
    for encoded in (ProxyProtocolV1().pack(result), encode_v2(result)):
        header = parse(encoded, vendor=None, allow_v1=True)
        assert (header.source_ip, header.source_port, header.destination_ip) == expected[:3]
        assert (header.destination_port, header.length) == (ports[1], len(encoded))


# --- pitfalls table (security-anchors §3.3), one test per row --------------------------------


def test_pitfall_01_untrusted_peer_gets_no_identity_without_a_vendor() -> None:
    # A forged 0xEA parses like a real one: the parser cannot know who sent it. The listener
    # passes a vendor only on LB listeners and only trusts LB source CIDRs (listener tests).
    assert parse(TCP4_AWS, vendor=None, allow_v1=False).endpoint_id is None


def test_pitfall_02_only_the_first_of_two_headers_is_consumed() -> None:
    header = parse(TCP4_AWS + TCP4_PLAIN, vendor=Vendor.AWS, allow_v1=False)
    assert header.length == len(TCP4_AWS)
    assert header_length(TCP4_AWS + TCP4_PLAIN, allow_v1=False) == len(TCP4_AWS)


@pytest.mark.parametrize("vector", [TCP4_PLAIN, TCP4_AWS, TCP4_AZURE, TCP4_GCP, LOCAL])
def test_pitfall_03_every_truncation_is_rejected(vector: bytes) -> None:
    for size in range(len(vector)):
        assert reason_of(vector[:size], vendor=Vendor.AWS) == "truncated", size


@pytest.mark.parametrize(
    ("fam", "length"), [(0x11, 11), (0x12, 0), (0x21, 35), (0x22, 12), (0x31, 215), (0x32, 36)]
)
def test_pitfall_03_len_below_the_family_address_block_is_rejected(fam: int, length: int) -> None:
    data = v2(bytes(length), fam=fam)
    assert reason_of(data) == "truncated"
    with pytest.raises(ProxyHeaderError):
        header_length(data[:16], allow_v1=False)


def test_pitfall_04_len_over_the_cap_is_rejected_from_the_fixed_block_alone() -> None:
    with pytest.raises(ProxyHeaderError) as caught:
        header_length(v2(b"", length=0xFFFF), allow_v1=False)
    assert caught.value.reason == "too_long"


def test_pitfall_04_len_at_the_cap_is_accepted() -> None:
    at_cap = MAX_V2_LENGTH - 16
    assert header_length(v2(b"", length=at_cap), allow_v1=False) == MAX_V2_LENGTH
    padded = v2(ADDR4 + tlv(0x04, bytes(at_cap - 12 - 3)))
    assert parse(padded, vendor=None, allow_v1=False).length == MAX_V2_LENGTH
    with pytest.raises(ProxyHeaderError):
        header_length(v2(b"", length=at_cap + 1), allow_v1=False)


def test_pitfall_04_v1_without_crlf_within_107_bytes_is_rejected() -> None:
    line = b"PROXY UNKNOWN " + b"x" * 200
    with pytest.raises(ProxyHeaderError) as caught:
        header_length(line[:MAX_V1_LENGTH], allow_v1=True)
    assert caught.value.reason == "too_long"
    assert reason_of(line[: MAX_V1_LENGTH - 2] + b"x\r\n", allow_v1=True) == "too_long"


def test_pitfall_04_v1_of_exactly_107_bytes_is_accepted() -> None:
    line = b"PROXY UNKNOWN ".ljust(MAX_V1_LENGTH - 2, b"x") + b"\r\n"
    assert parse(line, vendor=None, allow_v1=True).length == MAX_V1_LENGTH


@pytest.mark.parametrize("index", range(12))
def test_pitfall_05_every_signature_byte_is_compared(index: int) -> None:
    data = bytearray(TCP4_PLAIN)
    data[index] ^= 0x40
    assert reason_of(bytes(data)) == "bad_signature"
    with pytest.raises(ProxyHeaderError):
        header_length(bytes(data[: index + 1]), allow_v1=True)


@pytest.mark.parametrize("ver_cmd", [0x01, 0x11, 0x31, 0x41, 0xF1, 0x10, 0x30])
def test_pitfall_05_version_nibble_must_be_2(ver_cmd: int) -> None:
    data = v2(ADDR4, ver_cmd=ver_cmd)
    assert reason_of(data) == "bad_version"
    with pytest.raises(ProxyHeaderError):
        header_length(data[:13], allow_v1=False)


@pytest.mark.parametrize("command", range(2, 16))
def test_pitfall_05_command_must_be_local_or_proxy(command: int) -> None:
    assert reason_of(v2(ADDR4, ver_cmd=0x20 | command)) == "bad_command"


ADDRESS_SIZES = {0x00: 0, 0x11: 12, 0x12: 12, 0x21: 36, 0x22: 36, 0x31: 216, 0x32: 216}


@pytest.mark.parametrize("fam", range(256))
def test_pitfall_05_only_the_seven_family_bytes_are_accepted(fam: int) -> None:
    data = v2(bytes(ADDRESS_SIZES.get(fam, 216)), fam=fam)
    if fam in ADDRESS_SIZES:
        assert parse(data, vendor=None, allow_v1=False).length == len(data)
    else:
        assert reason_of(data) == "bad_family"


def test_pitfall_05_v1_is_rejected_when_disabled() -> None:
    assert reason_of(ENCODED["v1_tcp4"], allow_v1=False) == "v1_disabled"
    with pytest.raises(ProxyHeaderError):
        header_length(b"PRO", allow_v1=False)


def test_pitfall_05_neither_signature_is_rejected_at_the_first_byte() -> None:
    with pytest.raises(ProxyHeaderError) as caught:
        header_length(b"\x16", allow_v1=True)
    assert caught.value.reason == "bad_signature"


@pytest.mark.parametrize(
    "tlvs",
    [
        pytest.param(b"\xea\x00", id="tlv-shorter-than-3-bytes"),
        pytest.param(b"\x04", id="one-stray-byte"),
        pytest.param(tlv(0x04, b"ab", length=3), id="value-overruns-len"),
        pytest.param(tlv(0x04, b"") + tlv(0xE0, b"", length=1), id="second-tlv-overruns"),
        pytest.param(tlv(0x20, b"\x01\x00\x00"), id="ssl-shorter-than-client-and-verify"),
        pytest.param(
            tlv(0x20, b"\x01\x00\x00\x00\x00" + tlv(0x21, b"TL", length=7)),
            id="ssl-sub-tlv-overruns-parent",
        ),
        pytest.param(tlv(0x20, b"\x01\x00\x00\x00\x00\x21\x00"), id="ssl-sub-tlv-too-short"),
    ],
)
def test_pitfall_06_tlv_overruns_are_rejected(tlvs: bytes) -> None:
    assert reason_of(v2(ADDR4 + tlvs)) == "tlv_overflow"


def test_pitfall_06_ssl_tlv_from_the_encoder_is_well_formed() -> None:
    ssl = ProxyProtocolSSLTLV(has_ssl=True, version="TLSv1.3", cipher="TLS_AES_128_GCM_SHA256")
    encoded = encode_v2(ipv4(*CLIENT, protocol=STREAM, tlv=ProxyProtocolTLV(ssl=ssl)))
    assert parse(encoded, vendor=None, allow_v1=False).length == len(encoded)


@pytest.mark.parametrize(
    ("vendor", "value_tlv"),
    [
        pytest.param(Vendor.AWS, tlv(0xEA, b""), id="aws-empty"),
        pytest.param(Vendor.AWS, aws(b""), id="aws-subtype-only"),
        pytest.param(Vendor.AWS, aws(b"vpce_0123"), id="aws-underscore"),
        pytest.param(Vendor.AWS, aws(b"vpce-0123\n"), id="aws-trailing-newline"),
        pytest.param(Vendor.AWS, aws(b"vpce-\xc3\xa9"), id="aws-non-ascii"),
        pytest.param(Vendor.AZURE, tlv(0xEE, b""), id="azure-empty"),
        pytest.param(Vendor.AZURE, tlv(0xEE, b"\x01\x04\x03\x02"), id="azure-4"),
        pytest.param(Vendor.AZURE, tlv(0xEE, b"\x01\x04\x03\x02\x01\x00"), id="azure-6"),
        pytest.param(Vendor.GCP, tlv(0xE0, b""), id="gcp-empty"),
        pytest.param(Vendor.GCP, tlv(0xE0, bytes(7)), id="gcp-7"),
        pytest.param(Vendor.GCP, tlv(0xE0, bytes(9)), id="gcp-9"),
    ],
)
def test_pitfall_06_vendor_tlv_lengths_are_exact(vendor: Vendor, value_tlv: bytes) -> None:
    assert reason_of(v2(ADDR4 + value_tlv), vendor=vendor) == "bad_vendor_tlv"


def test_pitfall_07_duplicate_aws_tlvs_are_rejected() -> None:
    data = v2(ADDR4 + aws(b"vpce-aaa") + aws(b"vpce-bbb"))
    for vendor in VENDORS:
        assert reason_of(data, vendor=vendor) == "duplicate_tlv"


def test_pitfall_07_duplicate_ssl_sub_tlvs_are_rejected() -> None:
    ssl = b"\x01\x00\x00\x00\x00" + tlv(0x21, b"TLSv1.3") + tlv(0x21, b"TLSv1.2")
    assert reason_of(v2(ADDR4 + tlv(0x20, ssl))) == "duplicate_tlv"


@pytest.mark.parametrize(
    ("vendor", "value_tlv", "endpoint_id"),
    [
        (Vendor.AZURE, tlv(0xEE, b"\x01\xff\x00\x00\x00"), "azure:255"),
        (Vendor.AZURE, tlv(0xEE, b"\x01\x00\x00\x00\xff"), f"azure:{0xFF000000}"),
        (Vendor.GCP, tlv(0xE0, bytes(7) + b"\xff"), "gcp:255"),
        (Vendor.GCP, tlv(0xE0, b"\xff" * 8), f"gcp:{2**64 - 1}"),
        (Vendor.AWS, aws(b"VPCE-ABC-123"), "aws:VPCE-ABC-123"),
    ],
)
def test_pitfall_08_vendor_ids_decode_with_their_own_endianness(
    vendor: Vendor, value_tlv: bytes, endpoint_id: str
) -> None:
    assert parse(v2(ADDR4 + value_tlv), vendor=vendor, allow_v1=False).endpoint_id == endpoint_id


def test_pitfall_09_ipv6_source_is_kept_as_text() -> None:
    addresses = IPv6Address("2001:db8::7").packed + IPv6Address("::1").packed + ADDR4[8:]
    header = parse(v2(addresses, fam=0x21), vendor=None, allow_v1=False)
    assert (header.source_ip, header.destination_ip, header.source_port) == (
        "2001:db8::7",
        "::1",
        51234,
    )


def test_pitfall_09_ipv4_mapped_ipv6_is_normalised_to_ipv4() -> None:
    mapped = IPv6Address("::ffff:203.0.113.7").packed + IPv6Address("::ffff:10.0.0.2").packed
    header = parse(v2(mapped + ADDR4[8:], fam=0x21), vendor=None, allow_v1=False)
    assert (header.source_ip, header.destination_ip) == ("203.0.113.7", "10.0.0.2")
    v1 = b"PROXY TCP6 ::ffff:203.0.113.7 ::ffff:10.0.0.2 51234 443\r\n"
    assert parse(v1, vendor=None, allow_v1=True).source_ip == "203.0.113.7"


def test_pitfall_10_the_result_is_one_immutable_value() -> None:
    # One connection context holding this value is the listener's part (listener tests).
    header = parse(TCP4_AWS, vendor=Vendor.AWS, allow_v1=False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        header.source_ip = "10.9.9.9"  # type: ignore[misc]
    assert header == parse(TCP4_AWS, vendor=Vendor.AWS, allow_v1=False)


def test_pitfall_11_local_carries_no_identity_whatever_follows() -> None:
    body = ADDR4 + aws(b"vpce-forged") + tlv(0x02, b"evil.example") + b"\xea\x01"
    data = v2(body, ver_cmd=0x20, fam=0x11)
    header = parse(data + CLIENT_HELLO, vendor=Vendor.AWS, allow_v1=False)
    assert header == ProxyHeader(2, True, None, None, None, None, None, None, len(data))


def test_pitfall_11_local_does_not_assume_len_zero_or_an_address_block() -> None:
    data = v2(b"\x00\x01\x02", ver_cmd=0x20, fam=0x21)
    assert parse(data, vendor=None, allow_v1=False).length == 16 + 3


def test_pitfall_12_header_length_never_reaches_into_the_client_hello() -> None:
    # Handing the socket to TLS afterwards, and comparing SNIs, are the listener's part.
    data = v2(ADDR4 + tlv(0x02, b"logs.eu-1.citadel.example"))
    assert header_length(data[:16], allow_v1=False) == len(data)
    header = parse(data + CLIENT_HELLO, vendor=None, allow_v1=False)
    assert (header.length, header.authority) == (len(data), "logs.eu-1.citadel.example")


@pytest.mark.parametrize("fam", [0x12, 0x22, 0x32])
def test_pitfall_13_datagram_families_parse(fam: int) -> None:
    data = v2(bytes(ADDRESS_SIZES[fam]), fam=fam)
    assert parse(data, vendor=None, allow_v1=False).local is False


# --- CRC32C, vendor isolation, other TLVs -----------------------------------------------------


def test_bitwise_crc32c_matches_the_standard_check_value() -> None:
    assert bitwise_crc32c(b"123456789") == 0xE3069283


def crc_header() -> bytes:
    tlvs = ProxyProtocolTLV(init={0xEA: b"\x01vpce-0abc"}, crc32c=0, authority="a.example")
    return with_good_crc(encode_v2(ipv4(*CLIENT, protocol=STREAM, tlv=tlvs)))


def test_crc32c_good_is_accepted() -> None:
    assert parse(crc_header(), vendor=Vendor.AWS, allow_v1=False).endpoint_id == "aws:vpce-0abc"


@pytest.mark.parametrize("flip_at", [0, 13, 17, 27, -1])
def test_crc32c_bad_is_rejected(flip_at: int) -> None:
    data = bytearray(crc_header())
    if flip_at == 13:  # keep the family valid: stream -> datagram
        data[13] = 0x12
    else:
        data[flip_at] ^= 0x01
    data = bytes(data)
    if flip_at == 0:
        assert reason_of(data) == "bad_signature"
    else:
        assert reason_of(data, vendor=Vendor.AWS) == "crc_mismatch"


def test_crc32c_of_wrong_length_is_rejected() -> None:
    assert reason_of(v2(ADDR4 + tlv(0x03, b"\x00\x00\x00"))) == "bad_tlv_length"


VENDOR_VECTORS = {Vendor.AWS: TCP4_AWS, Vendor.AZURE: TCP4_AZURE, Vendor.GCP: TCP4_GCP}


@pytest.mark.parametrize("sender", list(VENDOR_VECTORS))
@pytest.mark.parametrize("configured", VENDORS)
def test_vendor_tlvs_are_decoded_only_for_the_configured_vendor(
    sender: Vendor, configured: Vendor | None
) -> None:
    header = parse(VENDOR_VECTORS[sender], vendor=configured, allow_v1=False)
    if configured is sender:
        assert header.endpoint_id is not None
        assert header.endpoint_id.startswith(f"{sender}:")
    else:
        assert header.endpoint_id is None


def test_other_vendors_malformed_custom_tlvs_are_ignored() -> None:
    data = v2(ADDR4 + tlv(0xEE, b"\x01\x02") + tlv(0xE0, b"x"))
    assert parse(data, vendor=Vendor.AWS, allow_v1=False).endpoint_id is None


def test_aws_tlv_with_another_subtype_is_ignored() -> None:
    data = v2(ADDR4 + aws(b"\xff\xfe anything", subtype=0x02))
    assert parse(data, vendor=Vendor.AWS, allow_v1=False).endpoint_id is None


def test_azure_tlv_with_another_subtype_is_ignored() -> None:
    data = v2(ADDR4 + tlv(0xEE, b"\x02\x01"))
    assert parse(data, vendor=Vendor.AZURE, allow_v1=False).endpoint_id is None


def test_authority_must_be_utf8() -> None:
    assert reason_of(v2(ADDR4 + tlv(0x02, b"\xff.example"))) == "bad_authority"


def test_unique_id_is_at_most_128_bytes() -> None:
    assert parse(v2(ADDR4 + tlv(0x05, bytes(128))), vendor=None, allow_v1=False).local is False
    assert reason_of(v2(ADDR4 + tlv(0x05, bytes(129)))) == "bad_tlv_length"


# --- v1 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        pytest.param(b"PROXY TCP4 203.0.113.7 10.0.0.2 51234 443\n", id="bare-lf"),
        pytest.param(b"PROXY TCP4 203.0.113.7 10.0.0.2 51234 443\rX\n", id="bare-cr"),
        pytest.param(b"PROXY TCP4 203.0.113.7  10.0.0.2 51234 443\r\n", id="double-space"),
        pytest.param(b"PROXY TCP4 203.0.113.7 10.0.0.2 51234 443 \r\n", id="trailing-space"),
        pytest.param(b"PROXY TCP4 203.0.113.7 10.0.0.2 51234\r\n", id="missing-field"),
        pytest.param(b"PROXY TCP4 203.0.113.7 10.0.0.2 51234 0443\r\n", id="leading-zero"),
        pytest.param(b"PROXY TCP4 203.0.113.7 10.0.0.2 51234 +443\r\n", id="signed-port"),
        pytest.param(b"PROXY TCP4 203.0.113.7 10.0.0.2 51234 65536\r\n", id="port-too-big"),
        pytest.param(b"PROXY TCP4 203.0.113.07 10.0.0.2 51234 443\r\n", id="octet-zero"),
        pytest.param(b"PROXY TCP4 2001:db8::7 10.0.0.2 51234 443\r\n", id="v6-in-tcp4"),
        pytest.param(b"PROXY TCP6 203.0.113.7 2001:db8::2 51234 443\r\n", id="v4-in-tcp6"),
        pytest.param(b"PROXY TCP6 fe80::1%eth0 2001:db8::2 51234 443\r\n", id="scope-id"),
        pytest.param(b"PROXY TCP5 203.0.113.7 10.0.0.2 51234 443\r\n", id="bad-protocol"),
        pytest.param(b"PROXY UNKNOWNX\r\n", id="unknown-suffix"),
        pytest.param(b"PROXY\tTCP4 203.0.113.7 10.0.0.2 51234 443\r\n", id="tab"),
        pytest.param(b"PROXY TCP4 203.0.113.7 10.0.0.2 5\xd9\xa1 443\r\n", id="non-ascii"),
        pytest.param(b"PROXY TCP4 203.0.113.7 10.0.0.2 \xd9\xa1 443\r\n", id="arabic-digit"),
    ],
)
def test_v1_strict_field_validation(line: bytes) -> None:
    assert reason_of(line, allow_v1=True) in ("v1_malformed", "bad_signature")


def test_v1_unknown_with_addresses_is_local() -> None:
    header = parse(b"PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n", vendor=None, allow_v1=True)
    assert (header.local, header.source_ip, header.endpoint_id) == (True, None, None)


def test_v1_ports_at_the_bounds() -> None:
    header = parse(b"PROXY TCP4 1.2.3.4 5.6.7.8 0 65535\r\n", vendor=None, allow_v1=True)
    assert (header.source_port, header.destination_port) == (0, 65535)


# --- structure and fuzzing ------------------------------------------------------------------


def test_errors_are_value_errors_with_a_reason() -> None:
    error = ProxyHeaderError(proxy_protocol.Reason.TRUNCATED)
    assert isinstance(error, ValueError)
    assert error.reason == "truncated"


def test_parser_has_no_unbounded_loops_by_construction() -> None:
    tree = ast.parse(inspect.getsource(proxy_protocol))
    assert not [node for node in ast.walk(tree) if isinstance(node, ast.While)]
    function_names = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            called = {
                call.func.id
                for call in ast.walk(node)
                if isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
            }
            assert node.name not in called, f"{node.name} is recursive"
    assert "_walk_tlvs" in function_names


ALLOW_V1 = [True, False]
v1_ish = st.text(alphabet="PROXYTCP46UNKNOW0123456789.:abcdef \r\n%+-").map(str.encode)
any_bytes = st.one_of(
    st.binary(max_size=300),
    st.binary(max_size=200).map(lambda tail: b"PROXY " + tail),
    v1_ish.map(lambda tail: b"PROXY " + tail),
    st.binary(max_size=300).map(lambda tail: SIGNATURE + tail),
)


@pytest.mark.parametrize("allow_v1", ALLOW_V1)
@pytest.mark.parametrize("vendor", VENDORS)
@given(data=any_bytes)
def test_fuzz_arbitrary_bytes_parse_or_raise_proxy_header_error(
    vendor: Vendor | None, allow_v1: bool, data: bytes
) -> None:
    result = outcome(data, vendor=vendor, allow_v1=allow_v1)
    if isinstance(result, ProxyHeader):
        assert result.length <= len(data)


ver_cmds = st.one_of(st.sampled_from([0x20, 0x21]), st.integers(0, 255))
fams = st.one_of(st.sampled_from([0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32]), st.integers(0, 255))


@pytest.mark.parametrize("vendor", VENDORS)
@given(
    ver_cmd=ver_cmds,
    fam=fams,
    length=st.one_of(st.integers(0, 300), st.integers(0, 0xFFFF)),
    body=st.binary(max_size=400),
)
def test_fuzz_signature_prefixed_random_tails(
    vendor: Vendor | None, ver_cmd: int, fam: int, length: int, body: bytes
) -> None:
    data = v2(body, ver_cmd=ver_cmd, fam=fam, length=length)
    result = outcome(data, vendor=vendor, allow_v1=True)
    if isinstance(result, ProxyHeader):
        assert result.length == 16 + length <= len(data)


tlv_kinds = st.one_of(
    st.sampled_from([0x01, 0x02, 0x03, 0x04, 0x05, 0x20, 0x21, 0x30, 0xE0, 0xEA, 0xEE]),
    st.integers(0, 255),
)
random_tlv = st.builds(
    lambda kind, value, skew: tlv(kind, value, length=max(0, len(value) + skew)),
    tlv_kinds,
    st.one_of(
        st.binary(max_size=40),
        st.builds(lambda inner: b"\x01\x00\x00\x00\x00" + inner, st.binary(max_size=30)),
        st.from_regex(rb"\A\x01vpce-[0-9a-f]{1,17}\Z"),
    ),
    st.one_of(st.just(0), st.integers(-3, 3)),
)


@pytest.mark.parametrize("vendor", VENDORS)
@given(tlvs=st.lists(random_tlv, max_size=6), local=st.booleans())
def test_fuzz_structured_tlv_lists(vendor: Vendor | None, tlvs: list[bytes], local: bool) -> None:
    data = v2(ADDR4 + b"".join(tlvs), ver_cmd=0x20 if local else 0x21)
    result = outcome(data, vendor=vendor, allow_v1=False)
    if local:
        assert isinstance(result, ProxyHeader)
        assert result.local
    if isinstance(result, ProxyHeader) and result.endpoint_id is not None:
        assert vendor is not None
        assert result.endpoint_id.startswith(f"{vendor}:")


def framing(prefix: bytes, allow_v1: bool) -> int | str | None:
    try:
        return header_length(prefix, allow_v1=allow_v1)
    except ProxyHeaderError as error:
        return f"error:{error.reason}"


@pytest.mark.parametrize("allow_v1", ALLOW_V1)
@given(data=any_bytes, tail=st.binary(min_size=1, max_size=20))
def test_fuzz_header_length_is_consistent_on_every_prefix(
    allow_v1: bool, data: bytes, tail: bytes
) -> None:
    seen: int | str | None = None
    for size in range(len(data) + 1):
        now = framing(data[:size], allow_v1)
        if isinstance(seen, str):
            # Still rejected; only the reason may sharpen ("P" with v1 off, then "POST").
            assert isinstance(now, str)
            continue
        if seen is not None:
            assert now == seen, "a length, once known, never changes with more bytes"
        elif isinstance(now, int):
            assert size <= now, "the length is known by the time the header has ended"
        seen = now
    if isinstance(seen, int):
        n = seen
        # parse() reads nothing beyond n: what follows the header cannot change the outcome.
        first = outcome(data[:n], vendor=Vendor.AWS, allow_v1=allow_v1)
        assert first == outcome(data[:n] + tail, vendor=Vendor.AWS, allow_v1=allow_v1)
        if len(data) >= n:
            assert first == outcome(data, vendor=Vendor.AWS, allow_v1=allow_v1)
        else:
            assert first == "truncated"
    else:
        result = outcome(data, vendor=Vendor.AWS, allow_v1=allow_v1)
        assert not isinstance(result, ProxyHeader)


def test_ip_addresses_in_results_are_canonical() -> None:
    header = parse(b"PROXY TCP6 2001:DB8:0:0::7 ::1 1 2\r\n", vendor=None, allow_v1=True)
    assert header.source_ip == str(ip_address("2001:db8::7"))

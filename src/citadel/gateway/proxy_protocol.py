"""PROXY protocol v1/v2 header parsing (pure: no I/O), hardened per haproxy's spec.

Invariants this module holds (security-anchors §3):

- Exactly one header is parsed at the start of a connection; bytes after it are application
  data (a second signature is not a second header).
- A header is accepted only when complete. `header_length()` says how many bytes to read, so
  the listener never consumes a byte of the TLS ClientHello that follows.
- v2: all 12 signature bytes, version nibble 2, command LOCAL/PROXY, and one of the seven
  family/transport bytes; `len` is capped at `MAX_V2_LENGTH`; the address block must fit in
  `len`; every TLV (and every sub-TLV of `0x20 SSL`) must fit in its parent; a TLV type may
  appear once; a `0x03 CRC32C` TLV must match.
- LOCAL (and v1 `UNKNOWN`) carries no identity: addresses and TLVs are skipped, not trusted.
  PROXY over AF_UNSPEC or AF_UNIX is not LOCAL: it has no IP addresses, but its TLVs count.
- Custom-range TLVs (0xE0-0xEF) collide across vendors, so only the configured vendor's TLV
  is decoded, with exact length checks, into a tagged key (`aws:`, `azure:`, `gcp:`).
- v1 is off unless enabled: one line of at most 107 bytes ending in CRLF, strictly validated.
- Only `ProxyHeaderError` escapes, and every loop is bounded by the buffer length.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from enum import StrEnum

MAX_V2_LENGTH = 2048
MAX_V1_LENGTH = 107

_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
_FIXED = 16  # signature, ver_cmd, fam, len
_V1_PREFIX = b"PROXY "
_LOCAL, _PROXY = 0x0, 0x1
_AF_UNSPEC, _AF_INET, _AF_INET6, _AF_UNIX = 0x0, 0x1, 0x2, 0x3
# family/transport byte -> size of the address block it announces
_ADDRESS_SIZES = {0x00: 0, 0x11: 12, 0x12: 12, 0x21: 36, 0x22: 36, 0x31: 216, 0x32: 216}
_TLV_HEADER = 3

_TYPE_AUTHORITY = 0x02
_TYPE_CRC32C = 0x03
_TYPE_UNIQUE_ID = 0x05
_TYPE_SSL = 0x20
_SSL_PREFIX = 5  # client(1) + verify(4), then sub-TLVs
_MAX_UNIQUE_ID = 128

_TYPE_AWS, _SUBTYPE_AWS_VPCE_ID = 0xEA, 0x01
_TYPE_AZURE, _SUBTYPE_AZURE_LINKID = 0xEE, 0x01
_TYPE_GCP = 0xE0
_AWS_VPCE_ID = re.compile(rb"[A-Za-z0-9-]+")
_V1_PORT = re.compile(r"0|[1-9][0-9]{0,4}")


class Vendor(StrEnum):
    """The load balancer vendor whose private-link TLV a listener trusts."""

    AWS = "aws"  # TLV 0xEA, subtype 0x01 VPCE ID, ASCII
    AZURE = "azure"  # TLV 0xEE, subtype 0x01, uint32 LINKID little-endian
    GCP = "gcp"  # TLV 0xE0, uint64 pscConnectionId big-endian


class Reason(StrEnum):
    """Why a header was rejected (the `reason` of a `ProxyHeaderError`)."""

    BAD_SIGNATURE = "bad_signature"
    BAD_VERSION = "bad_version"
    BAD_COMMAND = "bad_command"
    BAD_FAMILY = "bad_family"
    TRUNCATED = "truncated"
    TOO_LONG = "too_long"
    TLV_OVERFLOW = "tlv_overflow"
    DUPLICATE_TLV = "duplicate_tlv"
    BAD_TLV_LENGTH = "bad_tlv_length"
    CRC_MISMATCH = "crc_mismatch"
    BAD_AUTHORITY = "bad_authority"
    BAD_VENDOR_TLV = "bad_vendor_tlv"
    V1_DISABLED = "v1_disabled"
    V1_MALFORMED = "v1_malformed"


class ProxyHeaderError(ValueError):
    """Invalid or incomplete header; `.reason` is a short snake_case code for logs."""

    reason: str

    def __init__(self, reason: Reason) -> None:
        super().__init__(f"invalid PROXY protocol header: {reason}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ProxyHeader:
    """What one PROXY header says about the connection behind the load balancer."""

    version: int  # 1 or 2
    local: bool  # LOCAL command (v2) or "PROXY UNKNOWN" (v1): no identity
    source_ip: str | None  # canonical text, IPv4-mapped IPv6 as IPv4; None if not an IP family
    source_port: int | None
    destination_ip: str | None
    destination_port: int | None
    endpoint_id: str | None  # "aws:vpce-...", "azure:<LINKID>", "gcp:<PSC id>" or None
    authority: str | None  # TLV 0x02: the SNI the load balancer saw
    length: int  # total bytes the header occupied


def header_length(prefix: bytes, *, allow_v1: bool) -> int | None:
    """How many bytes the header at the start of `prefix` occupies, or None if more are needed.

    Raises ProxyHeaderError as soon as the prefix cannot start a valid header.
    """
    if not prefix:
        return None
    if prefix[0] == _SIGNATURE[0]:
        return _v2_length(prefix)
    return _v1_length(prefix, allow_v1=allow_v1)


def parse(data: bytes, *, vendor: Vendor | None, allow_v1: bool) -> ProxyHeader:
    """Parse exactly one header at the start of `data`; bytes after it are ignored."""
    length = header_length(data, allow_v1=allow_v1)
    if length is None or len(data) < length:
        raise ProxyHeaderError(Reason.TRUNCATED)
    header = bytes(data[:length])
    if header[0] == _SIGNATURE[0]:
        return _parse_v2(header, vendor)
    return _parse_v1(header)


# --- framing -------------------------------------------------------------------------------


def _v2_length(prefix: bytes) -> int | None:
    seen = min(len(prefix), len(_SIGNATURE))
    if prefix[:seen] != _SIGNATURE[:seen]:
        raise ProxyHeaderError(Reason.BAD_SIGNATURE)
    if len(prefix) <= 12:
        return None
    version, command = prefix[12] >> 4, prefix[12] & 0x0F
    if version != 2:
        raise ProxyHeaderError(Reason.BAD_VERSION)
    if command not in (_LOCAL, _PROXY):
        raise ProxyHeaderError(Reason.BAD_COMMAND)
    if len(prefix) <= 13:
        return None
    family = prefix[13]
    if family not in _ADDRESS_SIZES:
        raise ProxyHeaderError(Reason.BAD_FAMILY)
    if len(prefix) < _FIXED:
        return None
    body_length = int.from_bytes(prefix[14:16], "big")
    if _FIXED + body_length > MAX_V2_LENGTH:
        raise ProxyHeaderError(Reason.TOO_LONG)
    if command == _PROXY and body_length < _ADDRESS_SIZES[family]:
        raise ProxyHeaderError(Reason.TRUNCATED)
    return _FIXED + body_length


def _v1_length(prefix: bytes, *, allow_v1: bool) -> int | None:
    seen = min(len(prefix), len(_V1_PREFIX))
    if prefix[:seen] != _V1_PREFIX[:seen]:
        raise ProxyHeaderError(Reason.BAD_SIGNATURE)
    if not allow_v1:
        raise ProxyHeaderError(Reason.V1_DISABLED)
    # A CR at index 106 or later would make the line longer than 107 bytes with its LF.
    window = prefix[: MAX_V1_LENGTH - 1]
    cr, lf = window.find(b"\r"), window.find(b"\n")
    if lf != -1 and (cr == -1 or lf < cr):
        raise ProxyHeaderError(Reason.V1_MALFORMED)  # bare LF
    if cr == -1:
        if len(prefix) >= MAX_V1_LENGTH - 1:
            raise ProxyHeaderError(Reason.TOO_LONG)
        return None
    if cr + 1 == len(prefix):
        return None
    if prefix[cr + 1] != ord("\n"):
        raise ProxyHeaderError(Reason.V1_MALFORMED)  # bare CR
    return cr + 2


# --- v2 ------------------------------------------------------------------------------------


def _parse_v2(header: bytes, vendor: Vendor | None) -> ProxyHeader:
    if header[12] & 0x0F == _LOCAL:
        # Health checks: use the socket's endpoints; skip `len` bytes, trust nothing in them.
        return ProxyHeader(2, True, None, None, None, None, None, None, len(header))
    family = header[13] >> 4
    addresses_end = _FIXED + _ADDRESS_SIZES[header[13]]
    source_ip = destination_ip = None
    source_port = destination_port = None
    if family == _AF_INET:
        source_ip = str(ipaddress.IPv4Address(header[16:20]))
        destination_ip = str(ipaddress.IPv4Address(header[20:24]))
    elif family == _AF_INET6:
        source_ip = _canonical_ip(ipaddress.IPv6Address(header[16:32]))
        destination_ip = _canonical_ip(ipaddress.IPv6Address(header[32:48]))
    if family in (_AF_INET, _AF_INET6):
        source_port = int.from_bytes(header[addresses_end - 4 : addresses_end - 2], "big")
        destination_port = int.from_bytes(header[addresses_end - 2 : addresses_end], "big")

    tlvs = _walk_tlvs(header, addresses_end, len(header))
    if _TYPE_SSL in tlvs:
        start, end = tlvs[_TYPE_SSL]
        if end - start < _SSL_PREFIX:
            raise ProxyHeaderError(Reason.TLV_OVERFLOW)
        _walk_tlvs(header, start + _SSL_PREFIX, end)
    if _TYPE_CRC32C in tlvs:
        _check_crc32c(header, *tlvs[_TYPE_CRC32C])
    if _TYPE_UNIQUE_ID in tlvs:
        start, end = tlvs[_TYPE_UNIQUE_ID]
        if end - start > _MAX_UNIQUE_ID:
            raise ProxyHeaderError(Reason.BAD_TLV_LENGTH)
    authority = None
    if _TYPE_AUTHORITY in tlvs:
        start, end = tlvs[_TYPE_AUTHORITY]
        try:
            authority = header[start:end].decode("utf-8")
        except UnicodeDecodeError:
            raise ProxyHeaderError(Reason.BAD_AUTHORITY) from None
    return ProxyHeader(
        version=2,
        local=False,
        source_ip=source_ip,
        source_port=source_port,
        destination_ip=destination_ip,
        destination_port=destination_port,
        endpoint_id=_endpoint_id(header, tlvs, vendor),
        authority=authority,
        length=len(header),
    )


def _walk_tlvs(buffer: bytes, start: int, end: int) -> dict[int, tuple[int, int]]:
    """Map each TLV type in buffer[start:end] to its value's (start, end) offsets."""
    found: dict[int, tuple[int, int]] = {}
    position = start
    # Each TLV consumes at least 3 bytes, so this many rounds always reach `end` (or fail).
    for _ in range((end - start) // _TLV_HEADER + 1):
        if position == end:
            return found
        if end - position < _TLV_HEADER:
            raise ProxyHeaderError(Reason.TLV_OVERFLOW)
        kind = buffer[position]
        value_start = position + _TLV_HEADER
        value_end = value_start + int.from_bytes(buffer[position + 1 : value_start], "big")
        if value_end > end:
            raise ProxyHeaderError(Reason.TLV_OVERFLOW)
        if kind in found:
            raise ProxyHeaderError(Reason.DUPLICATE_TLV)
        found[kind] = (value_start, value_end)
        position = value_end
    raise ProxyHeaderError(Reason.TLV_OVERFLOW)  # unreachable: the bound above is exact


def _check_crc32c(header: bytes, start: int, end: int) -> None:
    if end - start != 4:
        raise ProxyHeaderError(Reason.BAD_TLV_LENGTH)
    zeroed = header[:start] + bytes(4) + header[end:]
    if _crc32c(zeroed) != int.from_bytes(header[start:end], "big"):
        raise ProxyHeaderError(Reason.CRC_MISMATCH)


def _endpoint_id(
    header: bytes, tlvs: dict[int, tuple[int, int]], vendor: Vendor | None
) -> str | None:
    """Decode the configured vendor's private-link TLV; other vendors' TLVs mean nothing."""
    if vendor is Vendor.AWS and _TYPE_AWS in tlvs:
        value = header[slice(*tlvs[_TYPE_AWS])]
        if not value:
            raise ProxyHeaderError(Reason.BAD_VENDOR_TLV)
        if value[0] != _SUBTYPE_AWS_VPCE_ID:
            return None  # another AWS subtype: not an endpoint identity
        if not _AWS_VPCE_ID.fullmatch(value[1:]):
            raise ProxyHeaderError(Reason.BAD_VENDOR_TLV)
        return f"aws:{value[1:].decode('ascii')}"
    if vendor is Vendor.AZURE and _TYPE_AZURE in tlvs:
        value = header[slice(*tlvs[_TYPE_AZURE])]
        if not value:
            raise ProxyHeaderError(Reason.BAD_VENDOR_TLV)
        if value[0] != _SUBTYPE_AZURE_LINKID:
            return None  # another Azure subtype: not an endpoint identity
        if len(value) != 5:
            raise ProxyHeaderError(Reason.BAD_VENDOR_TLV)
        return f"azure:{int.from_bytes(value[1:], 'little')}"
    if vendor is Vendor.GCP and _TYPE_GCP in tlvs:
        value = header[slice(*tlvs[_TYPE_GCP])]
        if len(value) != 8:
            raise ProxyHeaderError(Reason.BAD_VENDOR_TLV)
        return f"gcp:{int.from_bytes(value, 'big')}"
    return None


def _crc32c_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
        table.append(crc)
    return tuple(table)


_CRC32C_TABLE = _crc32c_table()


def _crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), as PP2_TYPE_CRC32C uses."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC32C_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


# --- v1 ------------------------------------------------------------------------------------


def _parse_v1(header: bytes) -> ProxyHeader:
    line = header[:-2]
    if any(byte < 0x20 or byte > 0x7E for byte in line):
        raise ProxyHeaderError(Reason.V1_MALFORMED)
    fields = line.decode("ascii").split(" ")
    protocol = fields[1] if len(fields) > 1 else ""
    if protocol == "UNKNOWN":
        # The receiver ignores the rest of the line and uses the socket's endpoints.
        return ProxyHeader(1, True, None, None, None, None, None, None, len(header))
    if protocol not in ("TCP4", "TCP6") or len(fields) != 6:
        raise ProxyHeaderError(Reason.V1_MALFORMED)
    _, _, source, destination, source_port, destination_port = fields
    return ProxyHeader(
        version=1,
        local=False,
        source_ip=_v1_address(source, protocol),
        source_port=_v1_port(source_port),
        destination_ip=_v1_address(destination, protocol),
        destination_port=_v1_port(destination_port),
        endpoint_id=None,
        authority=None,
        length=len(header),
    )


def _v1_address(text: str, protocol: str) -> str:
    if "%" in text:  # an IPv6 scope id is not part of an address
        raise ProxyHeaderError(Reason.V1_MALFORMED)
    try:
        if protocol == "TCP4":
            return str(ipaddress.IPv4Address(text))
        return _canonical_ip(ipaddress.IPv6Address(text))
    except ValueError:
        raise ProxyHeaderError(Reason.V1_MALFORMED) from None


def _v1_port(text: str) -> int:
    if not _V1_PORT.fullmatch(text) or int(text) > 65535:
        raise ProxyHeaderError(Reason.V1_MALFORMED)
    return int(text)


def _canonical_ip(address: ipaddress.IPv6Address) -> str:
    mapped = address.ipv4_mapped
    return str(mapped) if mapped is not None else str(address)

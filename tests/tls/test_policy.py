"""The server context every listener uses (`citadel.kit.tls`) offers Mozilla intermediate's
key exchange groups, versions and suites and nothing else, checked by real handshakes on
loopback with clients that offer one choice at a time."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
from pathlib import Path

import pytest

from citadel.crypto.barrier import Barrier
from citadel.kit.tls import GROUPS, server_context, set_groups
from citadel.pki.authority import ServerCertificate, ensure_api_certificate


@pytest.fixture
def certificate(tmp_path: Path) -> ServerCertificate:
    barrier = Barrier({1: os.urandom(32)})
    return ensure_api_certificate(tmp_path, barrier, b"pw", ["localhost", "127.0.0.1"])


def _handshake(certificate: ServerCertificate, client: ssl.SSLContext) -> tuple[str, int] | None:
    """(version, cipher bits) of a handshake with a listener serving `server_context`, or
    None when the server refuses it."""
    server_ctx = server_context(
        certificate.cert_file, certificate.key_file, certificate.key_password
    )
    client.load_verify_locations(cafile=str(certificate.ca_file))

    async def scenario() -> tuple[str, int] | None:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_ctx)
        port = server.sockets[0].getsockname()[1]

        def connect() -> tuple[str, int] | None:
            raw = socket.create_connection(("127.0.0.1", port), timeout=10)
            try:
                with client.wrap_socket(raw, server_hostname="localhost") as tls:
                    _, version, bits = tls.cipher() or ("", "", 0)
                    return version, bits
            except ssl.SSLError:
                return None

        try:
            return await asyncio.to_thread(connect)
        finally:
            server.close()

    return asyncio.run(scenario())


def _client(*, group: str | None = None, version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if group is not None:
        assert set_groups(ctx, (group,))
    if version is not None:
        ctx.minimum_version = ctx.maximum_version = version
    return ctx


@pytest.mark.parametrize("group", ["X25519", "P-256", "P-384"])
def test_the_intermediate_groups_are_accepted(certificate: ServerCertificate, group: str) -> None:
    assert _handshake(certificate, _client(group=group)) is not None


@pytest.mark.parametrize("group", ["X448", "P-521", "ffdhe2048"])
def test_other_groups_are_refused(certificate: ServerCertificate, group: str) -> None:
    assert _handshake(certificate, _client(group=group)) is None


def test_the_groups_are_exactly_intermediates() -> None:
    assert GROUPS == ("X25519", "P-256", "P-384")


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_tls_1_2_and_1_3_are_served(
    certificate: ServerCertificate, version: ssl.TLSVersion
) -> None:
    answer = _handshake(certificate, _client(version=version))
    assert answer is not None
    assert answer[0] == {"TLSv1_2": "TLSv1.2", "TLSv1_3": "TLSv1.3"}[version.name]


def test_tls_1_1_is_refused(certificate: ServerCertificate) -> None:
    client = _client()
    client.set_ciphers("DEFAULT:@SECLEVEL=0")
    client.minimum_version = ssl.TLSVersion.TLSv1_1
    client.maximum_version = ssl.TLSVersion.TLSv1_1

    assert _handshake(certificate, client) is None


def test_a_tls_1_2_suite_without_forward_secrecy_is_refused(
    certificate: ServerCertificate,
) -> None:
    client = _client(version=ssl.TLSVersion.TLSv1_2)
    client.set_ciphers("AES128-GCM-SHA256:AES256-SHA")

    assert _handshake(certificate, client) is None


@pytest.mark.parametrize("mode", [ssl.CERT_NONE, ssl.CERT_OPTIONAL, ssl.CERT_REQUIRED])
def test_the_group_list_is_set_whatever_the_verify_mode(mode: ssl.VerifyMode) -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.verify_mode = mode

    assert set_groups(ctx, GROUPS) is True

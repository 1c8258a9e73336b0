"""A running listener presents its renewed certificate without a restart (issue 17.9).

A real uvicorn server on loopback serves the context `citadel.kit.tls.server_context` builds,
as the control plane's listeners do; the renewer asks `ensure_api_certificate` at the time a
settable clock gives. Renewal is triggered by moving the clock and calling `check()` on the
server's own event loop (as `run()` does), never by waiting.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import uvicorn
from cryptography import x509

from citadel.crypto.barrier import Barrier
from citadel.kit.clock import SettableClock
from citadel.kit.tls import server_context
from citadel.pki.authority import ServerCertificate, ensure_api_certificate
from citadel.pki.renewal import CertificateRenewer

NAMES = ["localhost", "127.0.0.1"]


async def _app(scope: dict, receive: object, send: object) -> None:
    assert scope["type"] in ("http", "lifespan")
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b"ok"})  # type: ignore[operator]


def _presented(port: int, ca_file: Path) -> x509.Certificate:
    """The certificate a new, verifying TLS client is shown."""
    ctx = ssl.create_default_context(cafile=str(ca_file))
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _serving(ctx: ssl.SSLContext, port: int) -> uvicorn.Server:
    config = uvicorn.Config(
        _app,
        host="127.0.0.1",
        port=port,
        ssl_context_factory=lambda _config, _default: ctx,
        log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    asyncio.get_running_loop().create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    return server


def test_a_running_listener_presents_the_renewed_certificate(tmp_path: Path) -> None:
    barrier = Barrier({1: os.urandom(32)})
    clock = SettableClock(datetime.now(UTC) - timedelta(days=65))

    def ensure() -> ServerCertificate:
        return ensure_api_certificate(tmp_path, barrier, b"pw", NAMES, now=clock.now())

    first = ensure()
    ctx = server_context(first.cert_file, first.key_file, first.key_password)
    renewer = CertificateRenewer("api", ensure, [ctx], first)
    port = _free_port()

    async def scenario() -> tuple[x509.Certificate, bool, x509.Certificate, bool, x509.Certificate]:
        server = await _serving(ctx, port)
        try:
            before = await asyncio.to_thread(_presented, port, first.ca_file)
            early = renewer.check()  # just issued: 90 of 90 days left
            unchanged = await asyncio.to_thread(_presented, port, first.ca_file)
            clock.advance(days=65)  # now the wall clock: 25 days left, less than a third
            renewed = renewer.check()
            after = await asyncio.to_thread(_presented, port, first.ca_file)
            return before, early, unchanged, renewed, after
        finally:
            server.should_exit = True
            await asyncio.sleep(0)

    before, early, unchanged, renewed, after = asyncio.run(scenario())

    assert early is False
    assert unchanged.serial_number == before.serial_number
    assert renewed is True
    assert after.serial_number != before.serial_number
    assert after.not_valid_after_utc - before.not_valid_after_utc > timedelta(days=64)
    assert after.not_valid_after_utc - after.not_valid_before_utc <= timedelta(days=90, minutes=5)


def test_a_half_written_pair_is_not_loaded_and_the_old_certificate_stays(tmp_path: Path) -> None:
    barrier = Barrier({1: os.urandom(32)})
    first = ensure_api_certificate(tmp_path, barrier, b"pw", NAMES)
    ctx = server_context(first.cert_file, first.key_file, first.key_password)
    other = ensure_api_certificate(tmp_path / "other", barrier, b"pw", NAMES)
    renewer = CertificateRenewer("api", lambda: first, [ctx], first)
    served = first.cert_file.read_bytes()
    first.cert_file.write_bytes(other.cert_file.read_bytes())  # the new certificate, old key

    assert renewer.check() is False

    first.cert_file.write_bytes(served)
    port = _free_port()

    async def scenario() -> x509.Certificate:
        server = await _serving(ctx, port)
        try:
            return await asyncio.to_thread(_presented, port, first.ca_file)
        finally:
            server.should_exit = True
            await asyncio.sleep(0)

    presented = asyncio.run(scenario())
    assert presented == x509.load_pem_x509_certificate(served)


def test_a_component_presents_its_renewed_client_certificate(tmp_path: Path) -> None:
    from citadel.contract.client import ComponentTls
    from citadel.crypto.keyring import Keyring
    from citadel.pki.components import ensure_component_certificate

    keyring = Keyring(root=os.urandom(32))
    clock = SettableClock(datetime.now(UTC) - timedelta(days=65))

    def ensure() -> ServerCertificate:
        made = ensure_component_certificate(tmp_path, keyring, "allocator", now=clock.now())
        return ServerCertificate(made.ca_file, made.cert_file, made.key_file, made.key_password)

    first = ensure()
    tls = ComponentTls(first.ca_file, first.cert_file, first.key_file, first.key_password)
    renewer = CertificateRenewer("allocator", ensure, [tls.client_context()], first)
    server = ensure_api_certificate(tmp_path / "pki", keyring.barrier, b"pw", NAMES)
    server_ctx = server_context(
        server.cert_file, server.key_file, server.key_password, client_ca=server.ca_file
    )
    seen: list[bytes] = []

    async def scenario() -> None:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
            seen.append(der)
            writer.close()

        listener = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_ctx)
        port = listener.sockets[0].getsockname()[1]

        def connect() -> None:
            raw = socket.create_connection(("127.0.0.1", port), timeout=10)
            with tls.client_context().wrap_socket(raw, server_hostname="localhost") as conn:
                conn.recv(1)

        try:
            await asyncio.to_thread(connect)
            clock.advance(days=65)
            assert renewer.check() is True
            await asyncio.to_thread(connect)
        finally:
            listener.close()

    asyncio.run(scenario())

    before, after = (x509.load_der_x509_certificate(der) for der in seen)
    assert after.serial_number != before.serial_number
    assert after == x509.load_pem_x509_certificate(first.cert_file.read_bytes())


def test_a_follower_serves_the_pair_another_process_renewed(tmp_path: Path) -> None:
    from citadel.kit.tls import CertificateFollower

    barrier = Barrier({1: os.urandom(32)})
    clock = SettableClock(datetime.now(UTC) - timedelta(days=65))
    first = ensure_api_certificate(tmp_path, barrier, b"pw", NAMES, now=clock.now())
    ctx = server_context(first.cert_file, first.key_file, first.key_password)
    ticks = [0.0]
    CertificateFollower(
        ctx,
        first.cert_file,
        lambda: server_context(first.cert_file, first.key_file, b"pw"),
        every_s=60,
        monotonic=lambda: ticks[0],
    )
    port = _free_port()

    async def scenario() -> list[x509.Certificate]:
        server = await _serving(ctx, port)
        shown = []
        try:
            shown.append(await asyncio.to_thread(_presented, port, first.ca_file))
            clock.advance(days=65)
            ensure_api_certificate(tmp_path, barrier, b"pw", NAMES, now=clock.now())  # "allocator"
            shown.append(await asyncio.to_thread(_presented, port, first.ca_file))  # not yet
            ticks[0] = 61.0
            shown.append(await asyncio.to_thread(_presented, port, first.ca_file))  # notices
            shown.append(await asyncio.to_thread(_presented, port, first.ca_file))
            shown.append(await asyncio.to_thread(_presented, port, first.ca_file))
        finally:
            server.should_exit = True
            await asyncio.sleep(0)
        return shown

    before, unchecked, noticing, after, again = asyncio.run(scenario())

    renewed = x509.load_pem_x509_certificate(first.cert_file.read_bytes())
    assert unchecked.serial_number == before.serial_number
    assert renewed.serial_number != before.serial_number
    assert noticing == after == again == renewed

"""The control plane's root wires the renewal of its certificate (issue 17.9, ADR 18): once
the certificate is due, the renewer re-issues it and both listeners' contexts present the new
one on their next handshake."""

from __future__ import annotations

import asyncio
import socket
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509

from citadel.bootstrap import Services, api_certificate_names
from citadel.config import Settings
from citadel.pki.authority import ensure_api_certificate
from citadel.roots import control_plane


def _presented(ctx: ssl.SSLContext, ca_file: Path) -> x509.Certificate:
    """The certificate a new client of a listener serving `ctx` is shown."""

    async def scenario() -> bytes:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=ctx)
        port = server.sockets[0].getsockname()[1]

        def connect() -> bytes:
            client = ssl.create_default_context(cafile=str(ca_file))
            raw = socket.create_connection(("127.0.0.1", port), timeout=10)
            with client.wrap_socket(raw, server_hostname="localhost") as tls:
                der = tls.getpeercert(binary_form=True)
            assert der is not None
            return der

        try:
            return await asyncio.to_thread(connect)
        finally:
            server.close()

    return x509.load_der_x509_certificate(asyncio.run(scenario()))


def test_the_control_plane_presents_its_renewed_certificate(
    services: Services, data_dir: Path, postgres_url: str | None
) -> None:
    keyring = services.keyring
    services.close()
    settings = Settings(data_dir=data_dir, database_url=postgres_url, _env_file=None)
    process = control_plane.build(settings, admin_email=None)
    try:
        first = _presented(process.public_tls, process.certificate.ca_file)
        (data_dir / "pki" / "api.crt").unlink()  # as the clock leaves it 65 days on:
        ensure_api_certificate(
            data_dir / "pki",
            keyring.barrier,
            keyring.tls_key_password(),
            api_certificate_names(settings),
            now=datetime.now(UTC) - timedelta(days=65),
        )

        assert process.renewer.check() is True

        on_disk = x509.load_pem_x509_certificate(process.certificate.cert_file.read_bytes())
        assert on_disk.serial_number != first.serial_number
        assert _presented(process.public_tls, process.certificate.ca_file) == on_disk
        assert process.renewer.check() is False
    finally:
        process.close()

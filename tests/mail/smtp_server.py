"""A real SMTP submission server for the tests (aiosmtpd): STARTTLS with a certificate from a
CA of the test's own, AUTH required after it, and every accepted message kept."""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.providers.kmip_server import Identity, issue, make_ca

USER, PASSWORD = "citadel", "smtp-secret-for-tests"


@dataclass
class Received:
    """What the server accepted: each message, and each AUTH attempt's outcome."""

    messages: list[EmailMessage] = field(default_factory=list)
    logins: list[tuple[str, bool]] = field(default_factory=list)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


class _Handler:
    def __init__(self, received: Received) -> None:
        self.received = received

    async def handle_DATA(self, server, session, envelope) -> str:
        parsed = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.messages.append(parsed)
        return "250 OK"


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    ca_file: Path
    received: Received


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write_identity(folder: Path, ca: Identity, leaf: Identity) -> tuple[Path, Path, Path]:
    ca_file, cert_file, key_file = folder / "ca.crt", folder / "smtp.crt", folder / "smtp.key"
    ca_file.write_bytes(ca.cert_pem)
    cert_file.write_bytes(leaf.cert_pem)
    key_file.write_bytes(leaf.key_pem)
    return ca_file, cert_file, key_file


@contextmanager
def smtp_server(folder: Path, *, starttls: bool = True) -> Iterator[SmtpServer]:
    """Run the server on a free loopback port until the block ends. Without `starttls` it
    offers no TLS at all (and so no AUTH): a server Citadel must refuse to talk to."""
    folder.mkdir(parents=True, exist_ok=True)
    ca = make_ca("smtp test CA")
    ca_file, cert_file, key_file = _write_identity(folder, ca, issue(ca, "smtp", server=True))
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert_file, key_file)
    received = Received()

    def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode(),
            auth_data.password.decode(),
        ) == (USER, PASSWORD)
        received.logins.append((mechanism, ok))
        return AuthResult(success=ok)

    options: dict = {"auth_require_tls": True}
    if starttls:
        options |= {
            "tls_context": tls,
            "require_starttls": True,
            "auth_required": True,
            "authenticator": authenticate,
        }
    port = _free_port()
    controller = Controller(_Handler(received), hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, ca_file, received)
    finally:
        controller.stop()

"""Delivering a message: SMTP with STARTTLS and authentication, or the operator's maildir.

SMTP never sends a password or a message over a connection that did not upgrade to TLS with a
certificate the platform trusts (the system's roots, or ``smtp_ca_file``); a server that does
not offer STARTTLS is refused. With no ``smtp_host``, mail goes to ``<data-dir>/mail`` (a
standard maildir, mode 0700): nothing leaves the machine, and `citadel up` says so at start.
"""

from __future__ import annotations

import mailbox
import os
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Protocol

from citadel.config import Settings
from citadel.kit.clock import Clock, SystemClock
from citadel.log import get_logger

log = get_logger(__name__)

MAILDIR = "mail"
"""The maildir's name under the data directory."""


@dataclass(frozen=True)
class Message:
    """One plain-text message to one address."""

    to: str
    subject: str
    body: str


class Undelivered(Exception):
    """The message could not be handed over; the text says why (never the message body)."""


class Mailer(Protocol):
    """Hands a message over for delivery, or raises `Undelivered`."""

    def send(self, message: Message) -> None: ...

    def describe(self) -> str:
        """Where mail goes, in words for the start-up log."""
        ...


@dataclass(frozen=True)
class SmtpMailer:
    """An SMTP submission server: STARTTLS always, AUTH when a user name is configured."""

    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    timeout_s: float = 10.0
    clock: Clock = field(default_factory=SystemClock)

    def send(self, message: Message) -> None:
        tls = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                smtp.ehlo()
                if not smtp.has_extn("starttls"):
                    raise Undelivered(f"{self.host}:{self.port} does not offer STARTTLS")
                smtp.starttls(context=tls)
                smtp.ehlo()
                if self.username is not None:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(_email(message, self.sender, self.clock))
        except (OSError, smtplib.SMTPException) as exc:
            raise Undelivered(f"{self.host}:{self.port}: {type(exc).__name__}") from None

    def describe(self) -> str:
        return f"SMTP {self.host}:{self.port} (STARTTLS)"


@dataclass(frozen=True)
class MaildirMailer:
    """A maildir on this machine, readable by the operator only."""

    path: Path
    sender: str
    clock: Clock = field(default_factory=SystemClock)

    def send(self, message: Message) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            box = mailbox.Maildir(self.path, create=True)
            os.chmod(self.path, 0o700)
            box.add(_email(message, self.sender, self.clock))
        except OSError as exc:
            raise Undelivered(f"{self.path}: {exc.strerror}") from None

    def describe(self) -> str:
        return f"the maildir {self.path} (no SMTP server configured: nothing leaves this machine)"


def mailer_from(settings: Settings) -> Mailer:
    """The mailer `settings` describe: SMTP when ``smtp_host`` is set, else the maildir."""
    if settings.smtp_host is None:
        return MaildirMailer(settings.data_dir / MAILDIR, settings.mail_from)
    password = None
    if settings.smtp_password_file is not None:
        password = settings.smtp_password_file.read_text().strip()
    return SmtpMailer(
        settings.smtp_host,
        settings.smtp_port,
        settings.mail_from,
        username=settings.smtp_username,
        password=password,
        ca_file=settings.smtp_ca_file,
    )


def deliver(mailer: Mailer, message: Message) -> bool:
    """Send `message`; a failure is logged (address and reason, never the body) and reported
    as False, since the change that caused it is already committed."""
    try:
        mailer.send(message)
    except Undelivered as exc:
        log.warning("mail.undelivered", to=message.to, subject=message.subject, reason=str(exc))
        return False
    log.info("mail.sent", to=message.to, subject=message.subject)
    return True


def _email(message: Message, sender: str, clock: Clock) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = message.to
    mail["Subject"] = message.subject
    mail["Date"] = format_datetime(clock.now())
    mail["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    mail.set_content(message.body)
    return mail

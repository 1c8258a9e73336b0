"""Delivery against a real SMTP server (aiosmtpd) and a real maildir."""

from __future__ import annotations

import mailbox
import stat

import pytest

from citadel.config import Settings
from citadel.mail.delivery import (
    MaildirMailer,
    Message,
    SmtpMailer,
    Undelivered,
    deliver,
    mailer_from,
)
from tests.mail.smtp_server import PASSWORD, USER, smtp_server

LETTER = Message("ana@example.com", "You are invited", "Open https://citadel.example/x\n")


def mailer(smtp, **changes) -> SmtpMailer:
    options = {
        "username": USER,
        "password": PASSWORD,
        "ca_file": smtp.ca_file,
        "sender": "Citadel <citadel@example.com>",
    } | changes
    return SmtpMailer(smtp.host, smtp.port, **options)


def test_a_message_goes_over_starttls_with_authentication(smtp):
    mailer(smtp).send(LETTER)

    (received,) = smtp.received.to("ana@example.com")
    assert received["Subject"] == "You are invited"
    assert received["From"] == "Citadel <citadel@example.com>"
    assert received.get_content().splitlines() == ["Open https://citadel.example/x"]
    assert smtp.received.logins == [("PLAIN", True)]


def test_a_wrong_password_is_undelivered(smtp):
    with pytest.raises(Undelivered):
        mailer(smtp, password="wrong").send(LETTER)
    assert smtp.received.messages == []


def test_a_server_certificate_from_an_unknown_ca_is_refused_before_any_password(smtp):
    with pytest.raises(Undelivered, match="SSLCertVerificationError"):
        mailer(smtp, ca_file=None).send(LETTER)
    assert smtp.received.logins == []
    assert smtp.received.messages == []


def test_a_server_without_starttls_gets_neither_password_nor_message(tmp_path):
    with smtp_server(tmp_path / "plain", starttls=False) as plain:
        with pytest.raises(Undelivered, match="does not offer STARTTLS"):
            mailer(plain).send(LETTER)
        assert plain.received.messages == []


def test_a_closed_port_is_undelivered_and_deliver_reports_it():
    closed = SmtpMailer("127.0.0.1", 1, "citadel@example.com", timeout_s=2)
    assert deliver(closed, LETTER) is False


def test_without_smtp_mail_goes_to_a_maildir_only_the_operator_reads(tmp_path):
    settings = Settings(data_dir=tmp_path)
    box = mailer_from(settings)
    assert isinstance(box, MaildirMailer)

    assert deliver(box, LETTER) is True

    path = tmp_path / "mail"
    assert stat.S_IMODE(path.stat().st_mode) == 0o700
    (received,) = list(mailbox.Maildir(path, create=False))
    assert received["To"] == "ana@example.com"
    assert str(path) in box.describe()


def test_settings_with_an_smtp_host_give_an_smtp_mailer(tmp_path, smtp):
    secret = tmp_path / "smtp.password"
    secret.write_text(PASSWORD + "\n")
    settings = Settings(
        data_dir=tmp_path,
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        smtp_username=USER,
        smtp_password_file=secret,
        smtp_ca_file=smtp.ca_file,
    )

    deliver(mailer_from(settings), LETTER)

    assert len(smtp.received.to("ana@example.com")) == 1

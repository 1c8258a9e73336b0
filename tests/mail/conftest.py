from __future__ import annotations

import pytest

from tests.mail.smtp_server import SmtpServer, smtp_server


@pytest.fixture
def smtp(tmp_path) -> SmtpServer:
    with smtp_server(tmp_path / "smtp") as server:
        yield server

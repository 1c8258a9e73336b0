"""The gateway's root wires renewal for both of its certificates (issue 17.9, ADR 18): worker 0
re-issues a due one and loads it; another worker loads what worker 0 wrote."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from citadel.config import Settings
from citadel.crypto.keyring import open_keyring
from citadel.crypto.platform import open_platform_key
from citadel.gateway.certificates import ensure_gateway_certificate, gateway_hostnames
from citadel.pki.components import ensure_component_certificate
from citadel.roots import gateway

OPTIONS = gateway.GatewayOptions(
    host="127.0.0.1", port=0, domain="citadel.localhost", regions=["local"], wait_s=0
)


def _settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, _env_file=None)


def _age_certificates(data_dir: Path, days: int) -> None:
    """Re-issue both gateway certificates as if `days` ago (a third of 90 is then left)."""
    settings = _settings(data_dir)
    keyring = open_keyring(data_dir / "keys" / "keyring.wrapped", open_platform_key(settings))
    then = datetime.now(UTC) - timedelta(days=days)
    for path in (data_dir / "pki" / "gateway-server.crt", data_dir / "pki/components/gateway.crt"):
        path.unlink()
    ensure_gateway_certificate(
        data_dir / "pki",
        keyring.barrier,
        keyring.tls_key_password(),
        gateway_hostnames(OPTIONS.domain, OPTIONS.regions),
        now=then,
    )
    ensure_component_certificate(data_dir, keyring, "gateway", now=then)


def test_worker_0_renews_both_certificates_and_another_worker_follows(data_dir: Path) -> None:
    (data_dir / "run").mkdir(mode=0o700, exist_ok=True)
    (data_dir / "run" / "endpoints.json").write_text(
        json.dumps({"internal_url": "https://127.0.0.1:8444"})
    )
    process = gateway.build(_settings(data_dir), OPTIONS)
    follower = gateway.build(_settings(data_dir), OPTIONS)  # another worker's copy
    _age_certificates(data_dir, days=65)  # as the clock would leave them, 65 days on

    server, component = process.renewer(0), process.component_renewer(0)
    assert component is not None
    assert server.check() is True
    assert component.check() is True
    assert server.check() is False  # renewed: nothing more to do

    other, other_component = follower.renewer(1), follower.component_renewer(1)
    assert other_component is not None
    assert other.check() is True
    assert other_component.check() is True

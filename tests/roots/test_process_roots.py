"""Each process's composition root turns settings into that process's parts, and says what
is missing when it cannot."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from citadel.bootstrap import Services
from citadel.config import Settings
from citadel.roots import allocator, control_plane, gateway
from citadel.roots.component import NotReady
from citadel.runtime.sandbox import BubblewrapSandbox


def _settings(data_dir: Path, postgres_url: str | None = None) -> Settings:
    return Settings(data_dir=data_dir, database_url=postgres_url, _env_file=None)


def _announce(data_dir: Path, **endpoints: str) -> None:
    (data_dir / "run").mkdir(mode=0o700, exist_ok=True)
    (data_dir / "run" / "endpoints.json").write_text(json.dumps(endpoints))


@pytest.fixture
def sandboxes() -> None:
    reason = BubblewrapSandbox.available()
    if reason is not None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"the deployment sandbox cannot run on this CI machine: {reason}")
        pytest.skip(f"the deployment sandbox cannot run here: {reason}")


def test_the_control_plane_root_creates_the_first_owner_once(
    services: Services, data_dir: Path, postgres_url: str | None
) -> None:
    services.close()  # the root opens its own, on the same empty database
    first = control_plane.build(_settings(data_dir, postgres_url), admin_email="o@example.com")
    try:
        assert first.first_owner is not None
        assert first.first_owner.email == "o@example.com"
        assert first.certificate.cert_file.exists()
        assert first.public_app is not first.internal_app
    finally:
        first.close()
    again = control_plane.build(_settings(data_dir, postgres_url), admin_email="o@example.com")
    again.close()

    assert again.first_owner is None


def test_the_gateway_root_serves_the_persisted_snapshot_without_a_control_plane(
    data_dir: Path,
) -> None:
    options = gateway.GatewayOptions(
        host="127.0.0.1", port=0, domain="citadel.localhost", regions=["local"], wait_s=0
    )

    process = gateway.build(_settings(data_dir), options)

    assert process.control_plane is None
    assert process.keeper.table.version == 0
    assert (data_dir / "pki" / "components" / "gateway.crt").exists()


def test_the_gateway_root_fetches_from_the_announced_control_plane(data_dir: Path) -> None:
    _announce(data_dir, internal_url="https://127.0.0.1:8444")
    options = gateway.GatewayOptions(
        host="127.0.0.1", port=0, domain="citadel.localhost", regions=["local"], wait_s=0
    )

    process = gateway.build(_settings(data_dir), options)

    assert process.control_plane is not None
    assert process.control_plane.routes_url.startswith("https://127.0.0.1:8444/")
    assert process.keeper.control_plane is process.control_plane


def test_the_gateway_root_needs_the_platform_key(tmp_path: Path) -> None:
    options = gateway.GatewayOptions(
        host="127.0.0.1", port=0, domain="citadel.localhost", regions=["local"], wait_s=0
    )

    with pytest.raises(NotReady, match="no platform key"):
        gateway.build(_settings(tmp_path), options)


@pytest.mark.usefixtures("sandboxes")
def test_the_allocator_root_wires_the_allocator_to_the_announced_control_plane(
    data_dir: Path,
) -> None:
    _announce(data_dir, internal_url="https://127.0.0.1:8444")

    process = allocator.build(_settings(data_dir), wait_s=0, key_check_interval_s=5)
    process.control_plane.close()

    assert process.internal_url == "https://127.0.0.1:8444"
    assert process.allocator.control_plane is process.control_plane
    assert process.allocator.key_check_interval_s == 5
    assert (data_dir / "pki" / "components" / "allocator.crt").exists()


@pytest.mark.usefixtures("sandboxes")
def test_the_allocator_root_waits_for_the_control_plane(data_dir: Path) -> None:
    with pytest.raises(NotReady, match="no internal_url"):
        allocator.build(_settings(data_dir), wait_s=0)


@pytest.mark.usefixtures("sandboxes")
def test_the_allocator_root_needs_the_platform_key(tmp_path: Path) -> None:
    _announce(tmp_path, internal_url="https://127.0.0.1:8444")

    with pytest.raises(NotReady, match="no platform key"):
        allocator.build(_settings(tmp_path), wait_s=0)

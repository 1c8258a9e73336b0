"""The joining host's side against the served API (tests/cli/conftest.py): a host whose
joined certificate expired refuses to start saying to join again, and `--join` with a new
token replaces the expired membership (a current one is kept: the next start joins nothing)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from citadel.bootstrap import Services
from citadel.config import Settings
from citadel.contract.messages import ComponentKind
from citadel.join.host import certificate_request, joined_host
from citadel.join.schemas import JoinRole
from citadel.pki.components import sign_joining_csr
from citadel.roots.component import NotReady, open_component_keys
from citadel.roots.join import join_once
from tests.cli.conftest import LocalApi, local_api

__all__ = ["local_api"]  # the fixture: the served API with the platform's organization


def expired_membership(services: Services, host_dir: Path) -> None:
    """`<host_dir>/join/` as a host that joined as an allocator 100 days ago left it."""
    folder = host_dir / "join"
    folder.mkdir(parents=True, mode=0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.load_pem_x509_csr(certificate_request(key, JoinRole.ALLOCATOR, "alloc-b"))
    cert, ca = sign_joining_csr(
        services.settings.data_dir,
        services.keyring,
        csr,
        subject="alloc-b",
        kind=ComponentKind.ALLOCATOR,
        hostnames=[],
        now=datetime.now(UTC) - timedelta(days=100),
    )
    (folder / "allocator.crt").write_bytes(cert)
    (folder / "ca.crt").write_bytes(ca)
    (folder / "allocator.key").write_bytes(b"")  # never read: the certificate is checked first
    facts = {"role": "allocator", "name": "alloc-b", "internal_url": "https://127.0.0.1:1"}
    (folder / "allocator.json").write_text(json.dumps(facts))


def mint(local_api: LocalApi) -> tuple[str, str]:
    """A new allocator token for alloc-b and the API's base URL."""
    result = local_api.run(
        "platform", "join-token", "--role", "allocator", "--name", "alloc-b", "-o", "json"
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if not line[:4].isdigit()]
    endpoints = json.loads((local_api.data_dir / "run" / "endpoints.json").read_text())
    return json.loads("\n".join(lines))["token"], endpoints["api_url"]


def test_an_expired_membership_refuses_to_start_saying_to_join_again(
    services: Services, tmp_path: Path
) -> None:
    host_dir = tmp_path / "host-b"
    expired_membership(services, host_dir)
    with pytest.raises(NotReady, match="has expired: join again with a new token"):
        open_component_keys(Settings(data_dir=host_dir), "allocator")


def test_join_with_a_new_token_replaces_an_expired_membership(
    local_api: LocalApi, services: Services, tmp_path: Path
) -> None:
    host_dir = tmp_path / "host-b"
    expired_membership(services, host_dir)
    token, api_url = mint(local_api)
    token_file = tmp_path / "token"
    token_file.write_text(token)
    ca_file = tmp_path / "ca.crt"
    shutil.copyfile(services.settings.data_dir / "pki" / "ca.crt", ca_file)
    joined = join_once(
        host_dir,
        JoinRole.ALLOCATOR,
        url=api_url,
        token_file=token_file,
        ca_file=ca_file,
        ca_sha256=None,
        name="alloc-b",
    )
    cert = x509.load_pem_x509_certificate(joined.cert_file.read_bytes())
    assert cert.not_valid_after_utc > datetime.now(UTC) + timedelta(days=80)
    assert joined.internal_url.endswith(f":{services.settings.internal_port}")
    assert open_component_keys(Settings(data_dir=host_dir), "allocator").joined is not None


def test_a_current_membership_is_kept_on_the_next_start(
    local_api: LocalApi, services: Services, tmp_path: Path
) -> None:
    token, api_url = mint(local_api)
    token_file = tmp_path / "token"
    token_file.write_text(token)
    ca_file = services.settings.data_dir / "pki" / "ca.crt"
    args = {"url": api_url, "token_file": token_file, "ca_file": ca_file, "ca_sha256": None}
    first = join_once(tmp_path / "host-b", JoinRole.ALLOCATOR, name="alloc-b", **args)
    again = join_once(tmp_path / "host-b", JoinRole.ALLOCATOR, name="alloc-b", **args)
    assert again.cert_file.read_bytes() == first.cert_file.read_bytes()
    assert joined_host(tmp_path / "host-b", JoinRole.ALLOCATOR) == first

"""Every TLS listener of a real `citadel up` passes sslyze's check against Mozilla's
"intermediate" configuration (issue 17.9): the public API, the internal API (mTLS: sslyze
presents the allocator's certificate) and the gateway; and so does a metrics endpoint, served
as the components' roots serve theirs.

sslyze pins a `cryptography` older than ours, so it lives in its own virtualenv,
``.venv-sslyze`` (scripts/test.sh makes it), and runs as a subprocess. One scan takes a second or
two; the whole test about 30 s here, most of it `citadel up` and its gateway starting.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from citadel.bootstrap import Services
from tests.e2e.conftest import citadel_up, wait_for_gateway

SSLYZE = Path(__file__).resolve().parents[2] / ".venv-sslyze" / "bin" / "sslyze"

pytestmark = pytest.mark.e2e


def _sslyze() -> Path:
    if SSLYZE.exists():
        return SSLYZE
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"sslyze is missing at {SSLYZE} (scripts/test.sh installs it)")
    pytest.skip(f"sslyze is not installed at {SSLYZE} (scripts/test.sh installs it)")


def _client_certificate(services: Services, data_dir: Path, tmp_path: Path) -> tuple[Path, Path]:
    """The allocator's client certificate, its key written unencrypted for sslyze (so no
    password goes on a command line)."""
    from citadel.pki.components import ensure_component_certificate

    made = ensure_component_certificate(data_dir, services.keyring, "allocator")
    key = serialization.load_pem_private_key(made.key_file.read_bytes(), made.key_password)
    key_file = tmp_path / "allocator.key"
    key_file.touch(mode=0o600)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return made.cert_file, key_file


def _scan(sslyze: Path, target: str, ca_file: str, tmp_path: Path, *client: Path) -> dict:
    out = tmp_path / f"sslyze-{target.replace(':', '-')}.json"
    command = [
        str(sslyze),
        "--mozilla_config=intermediate",
        f"--certinfo_ca_file={ca_file}",
        f"--json_out={out}",
        target,
    ]
    if client:
        command[1:1] = ["--cert", str(client[0]), "--key", str(client[1])]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{target} is not Mozilla intermediate:\n{result.stdout}"
    return json.loads(out.read_text())


def _port(url: str) -> str:
    return url.rstrip("/").rsplit(":", 1)[1].split("/")[0]


def test_every_listener_meets_mozilla_intermediate(
    services: Services, data_dir: Path, postgres_url: str | None, tmp_path: Path
) -> None:
    sslyze = _sslyze()
    cert, key = _client_certificate(services, data_dir, tmp_path)
    services.close()
    with citadel_up(data_dir, postgres_url, tmp_path) as (endpoints, _, _):
        wait_for_gateway(endpoints)
        ca = endpoints["ca_file"]
        scans = {
            "public API": _scan(sslyze, f"localhost:{_port(endpoints['api_url'])}", ca, tmp_path),
            "internal API": _scan(
                sslyze, f"localhost:{_port(endpoints['internal_url'])}", ca, tmp_path, cert, key
            ),
            "gateway": _scan(sslyze, f"localhost:{_port(endpoints['gateway_url'])}", ca, tmp_path),
        }

    for name, scan in scans.items():
        assert _curves(scan) == {"X25519", "secp256r1", "secp384r1"}, name


def _curves(scan: dict) -> set[str]:
    result = scan["server_scan_results"][0]["scan_result"]
    return {c["name"] for c in result["elliptic_curves"]["result"]["supported_curves"]}


def test_a_metrics_listener_meets_mozilla_intermediate(tmp_path: Path) -> None:
    from prometheus_client import CollectorRegistry

    from citadel.crypto.keyring import Keyring
    from citadel.kit.metrics import serve_metrics
    from citadel.pki.metrics import ensure_metrics_certificate, metrics_tls_context

    sslyze = _sslyze()
    keyring = Keyring(root=os.urandom(32))
    certificate = ensure_metrics_certificate(tmp_path, keyring, "gateway", host="127.0.0.1")
    server = serve_metrics(
        CollectorRegistry(),
        host="127.0.0.1",
        port=0,
        tls=metrics_tls_context(certificate),
        token="t" * 32,
    )
    try:
        scan = _scan(sslyze, f"localhost:{server.port}", str(certificate.ca_file), tmp_path)
    finally:
        server.close()

    assert _curves(scan) == {"X25519", "secp256r1", "secp384r1"}

"""TLS material and data directories: one platform CA issues every certificate (ECDSA P-256).

* ``server``: what clients see from every contender (haproxy, nginx, the gateway, the backend
  over TLS): ``*.local.citadel.localhost``, ``localhost``, ``127.0.0.1``.
* ``node``: the backend's certificate on its mTLS unix socket, named as the gateway expects a
  node (``<deployment>.node.citadel.internal``).
* ``upstream_client``: a client certificate for haproxy's mTLS-upstream variant; the gateway
  uses its own component certificate, issued from its data directory's keyring.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from citadel.crypto.keyring import open_keyring
from citadel.crypto.providers.local import LocalKeyFile
from citadel.pki.authority import ensure_ca, issue_leaf

DEPLOYMENT = "be4c0000" + "0" * 24
ALIAS = "bench"
DOMAIN = "citadel.localhost"
HOSTNAME = f"{ALIAS}.local.{DOMAIN}"


@dataclass(frozen=True)
class Material:
    """Paths of the certificates and keys (unencrypted PEM) and the template data directory."""

    root: Path
    ca: Path
    server_cert: Path
    server_key: Path
    server_pem: Path  # certificate and key in one file, as haproxy wants it
    node_cert: Path
    node_key: Path
    upstream_client_pem: Path
    data_dir: Path

    def gateway_data_dir(self, name: str) -> Path:
        """A copy of the template data directory (same keyring and CA) for one gateway."""
        target = self.root / f"data-{name}"
        if not target.exists():
            shutil.copytree(self.data_dir, target)
        return target


def make_material(root: Path) -> Material:
    """Create the CA (inside a gateway data directory with a platform key) and the leaves."""
    data_dir = root / "data"
    keyring = open_keyring(
        data_dir / "keys" / "keyring.wrapped",
        LocalKeyFile.create_or_open(data_dir / "keys" / "platform.key"),
    )
    ca = ensure_ca(data_dir / "pki", keyring.barrier)
    tls = root / "tls"
    tls.mkdir(parents=True, exist_ok=True)
    server = _pair(tls, "server", [f"*.local.{DOMAIN}", "localhost", "127.0.0.1"], ca)
    node = _pair(tls, "node", [f"{DEPLOYMENT}.node.citadel.internal", "localhost", "127.0.0.1"], ca)
    client = _pair(tls, "upstream-client", ["haproxy"], ca, client=True)
    server_pem = tls / "server.pem"
    server_pem.write_bytes(server[0].read_bytes() + server[1].read_bytes())
    client_pem = tls / "upstream-client.pem"
    client_pem.write_bytes(client[0].read_bytes() + client[1].read_bytes())
    return Material(
        root=root,
        ca=data_dir / "pki" / "ca.crt",
        server_cert=server[0],
        server_key=server[1],
        server_pem=server_pem,
        node_cert=node[0],
        node_key=node[1],
        upstream_client_pem=client_pem,
        data_dir=data_dir,
    )


def _pair(directory: Path, name: str, hostnames: list[str], ca, *, client: bool = False):  # type: ignore[no-untyped-def]
    cert, key = issue_leaf(ca[0], ca[1], hostnames, client=client)
    cert_file, key_file = directory / f"{name}.crt", directory / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file

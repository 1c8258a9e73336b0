"""Where a deployment lives on disk: the layout the control plane, allocator and gateway share.

::

    <data-dir>/deployments/<id>/      root, 0700
        volume/      the encrypted volume (gocryptfs ciphertext), root, 0700 (ADR 16)
        data/        the plaintext view of `volume/` while it is mounted; /data in the sandbox
        run/         the deployment uid's, 0700, never encrypted: /run/citadel in the sandbox
            node.sock    the node's unix socket (the gateway connects here; ADR 9)
            tls/         node.key, node.crt, ca.crt (the node's mTLS identity)
        upgrade/     only while an older release's plaintext directory moves into the volume

The socket and the node's TLS files stay outside the FUSE mount: a unix socket on FUSE is
fragile, and the gateway must reach the socket whether or not the volume is open.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

NODE_SOCKET = "node.sock"


@dataclass(frozen=True)
class DeploymentDirs:
    """The paths of one deployment under the data directory."""

    root: Path

    @classmethod
    def of(cls, data_dir: Path, deployment_id: str) -> DeploymentDirs:
        """The layout of `deployment_id` under `data_dir`."""
        return cls(data_dir / "deployments" / deployment_id)

    @property
    def volume(self) -> Path:
        """The ciphertext directory."""
        return self.root / "volume"

    @property
    def data(self) -> Path:
        """The mount point of the plaintext view (the node's /data)."""
        return self.root / "data"

    @property
    def run(self) -> Path:
        """The node's socket and TLS files, outside the encrypted volume."""
        return self.root / "run"

    @property
    def tls(self) -> Path:
        """The node's key, certificate and the platform CA."""
        return self.run / "tls"

    @property
    def socket(self) -> Path:
        """The node's unix socket."""
        return self.run / NODE_SOCKET

    @property
    def upgrade(self) -> Path:
        """Where an older release's plaintext files wait to move into the volume."""
        return self.root / "upgrade"

    @property
    def own_entries(self) -> frozenset[str]:
        """Names directly under `root` that belong to this layout."""
        return frozenset(p.name for p in (self.volume, self.data, self.run, self.upgrade))


def node_socket_path(data_dir: Path, deployment_id: str) -> Path:
    """The unix socket the gateway connects to for `deployment_id`."""
    return DeploymentDirs.of(data_dir, deployment_id).socket

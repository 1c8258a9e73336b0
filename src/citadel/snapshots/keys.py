"""The keys of a deployment's snapshots, derived from its data key (ADR 30).

::

    data key (32 bytes, unwrapped by the allocator's key provider, never stored unwrapped)
      └─ snapshot key = HKDF-SHA256(data key, info = "citadel snapshots v1" | deployment id)
           ├─ naming key     = HKDF-SHA256(snapshot key, info = "citadel snapshot blob names v1")
           └─ encryption key = HKDF-SHA256(snapshot key, info = "citadel snapshot encryption v1")

A snapshot key belongs to one deployment: the same data key under another deployment id gives
another key, so one deployment's snapshots never open with another's key. There is no other
copy of it: destroying the data key (or revoking the customer key that wraps it, so the
allocator cannot unwrap it) makes every snapshot of the deployment unreadable.

The naming key names blobs by a keyed hash of their plaintext (dedup without revealing
content); the encryption key is the AES-256-GCM key of blobs and manifests (`format`).

Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 32
KEY_VERSION = 1
_SNAPSHOT_INFO = b"citadel snapshots v1\x00"
_NAMING_INFO = b"citadel snapshot blob names v1"
_ENCRYPTION_INFO = b"citadel snapshot encryption v1"


def _hkdf(secret: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(secret)


def snapshot_key(data_key: bytes, deployment_id: str) -> bytes:
    """The key every snapshot of `deployment_id` is named and encrypted under (32 bytes)."""
    if len(data_key) != KEY_BYTES:
        raise ValueError("a data key is 32 bytes")
    if not deployment_id:
        raise ValueError("a snapshot key names its deployment")
    return _hkdf(data_key, _SNAPSHOT_INFO + deployment_id.encode())


@dataclass(frozen=True)
class SnapshotKeys:
    """The two sub-keys of one deployment's snapshot key (left out of ``repr``)."""

    deployment_id: str
    naming: bytes = field(repr=False)
    encryption: bytes = field(repr=False)


def sub_keys(key: bytes, deployment_id: str) -> SnapshotKeys:
    """The naming and encryption keys of a snapshot key."""
    if len(key) != KEY_BYTES:
        raise ValueError("a snapshot key is 32 bytes")
    return SnapshotKeys(deployment_id, _hkdf(key, _NAMING_INFO), _hkdf(key, _ENCRYPTION_INFO))

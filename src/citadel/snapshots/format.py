"""How snapshots look in a repository (ADR 30): names, blobs, manifests. Version 1.

Per deployment, under the repository's root (a directory or an S3 prefix)::

    <deployment_id>/blobs/<first 2 hex of the blob id>/<blob id>
    <deployment_id>/snapshots/<snapshot uuid>

A **blob** is one chunk (at most `CHUNK_BYTES`) of a staged file. Its id is
``HMAC-SHA256(naming key, plaintext)`` in hex: the same chunk gets the same id within a
deployment (so an unchanged segment is stored once, whichever snapshot holds it), and the id
says nothing about the content to anyone without the key. Ids differ between deployments.

A **manifest** (`Manifest`) is the snapshot: the node's `StagedSnapshot` (its name, indices,
metadata...), each file's path, size, SHA-256 and blob ids, the end time and the state. It is
named by the snapshot's uuid alone; the snapshot's name, index names and file paths exist
only inside it.

Every object is encrypted the same way, under the deployment's encryption key::

    version (1 byte, 0x01) | nonce (12 random bytes) | AES-256-GCM(plaintext) with its tag

The associated data binds the object to where it belongs: its kind, the format version, the
deployment id and the blob id (or the snapshot uuid). A blob copied under another id, or a
manifest under another uuid or deployment, does not open. Nothing in a repository is
plaintext but the deployment ids and the layout above.

Pure: no I/O (random nonces only).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from enum import StrEnum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr, ValidationError

from citadel.contract.snapshot_jobs import SnapshotEntry, StagedSnapshot
from citadel.snapshots.errors import SnapshotCorrupt, SnapshotUnreadable
from citadel.snapshots.keys import SnapshotKeys

FORMAT_VERSION = 1
CHUNK_BYTES = 4 * 1024 * 1024  # a staged file is stored in blobs of at most this many bytes
BLOBS = "blobs"
SNAPSHOTS = "snapshots"
_VERSION_BYTE = bytes([FORMAT_VERSION])
_NONCE = 12
_OVERHEAD = 1 + _NONCE + 16
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # Elasticsearch uuids: url-safe base64
_BLOB_ID = re.compile(r"^[0-9a-f]{64}$")


class SnapshotState(StrEnum):
    """A snapshot's ``state``, as Elasticsearch names them."""

    SUCCESS = "SUCCESS"
    FAILED = "FAILED"


def safe_name(value: str, what: str) -> str:
    """`value` when it can be one path segment (a deployment id, a uuid, a job id); else
    ValueError. Names come from the node, which the allocator does not trust with paths."""
    if not _SAFE_NAME.match(value):
        raise ValueError(f"not a valid {what}")
    return value


# -- names --------------------------------------------------------------------------------


def blob_id(keys: SnapshotKeys, plaintext: bytes) -> str:
    """The keyed hash naming a blob (64 hex characters)."""
    return hmac.new(keys.naming, plaintext, hashlib.sha256).hexdigest()


def blobs_prefix(deployment_id: str) -> str:
    """Where a deployment's blobs are (a key prefix)."""
    return f"{safe_name(deployment_id, 'deployment id')}/{BLOBS}/"


def snapshots_prefix(deployment_id: str) -> str:
    """Where a deployment's manifests are (a key prefix)."""
    return f"{safe_name(deployment_id, 'deployment id')}/{SNAPSHOTS}/"


def blob_key(deployment_id: str, blob: str) -> str:
    """``<deployment>/blobs/<2 hex>/<blob id>``."""
    if not _BLOB_ID.match(blob):
        raise ValueError("not a blob id")
    return f"{blobs_prefix(deployment_id)}{blob[:2]}/{blob}"


def manifest_key(deployment_id: str, uuid: str) -> str:
    """``<deployment>/snapshots/<uuid>``."""
    return snapshots_prefix(deployment_id) + safe_name(uuid, "snapshot uuid")


def blob_of_key(key: str) -> str | None:
    """The blob id a repository key names (None for anything else)."""
    name = key.rsplit("/", 1)[-1]
    return name if _BLOB_ID.match(name) else None


def uuid_of_key(key: str) -> str | None:
    """The snapshot uuid a manifest's repository key names (None for anything else)."""
    name = key.rsplit("/", 1)[-1]
    return name if _SAFE_NAME.match(name) else None


# -- encryption ---------------------------------------------------------------------------


def _aad(kind: str, deployment_id: str, name: str) -> bytes:
    return f"citadel-snapshot-{kind}\x00v{FORMAT_VERSION}\x00{deployment_id}\x00{name}".encode()


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return _VERSION_BYTE + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _open(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    if len(sealed) < _OVERHEAD or sealed[:1] != _VERSION_BYTE:
        raise InvalidTag
    return AESGCM(key).decrypt(sealed[1 : 1 + _NONCE], sealed[1 + _NONCE :], aad)


def seal_blob(keys: SnapshotKeys, blob: str, plaintext: bytes) -> bytes:
    """A blob's ciphertext."""
    return _seal(keys.encryption, plaintext, _aad("blob", keys.deployment_id, blob))


def open_blob(keys: SnapshotKeys, blob: str, sealed: bytes) -> bytes:
    """A blob's plaintext, checked against its id; `SnapshotCorrupt` when it does not open or
    is not the content its id names."""
    try:
        plaintext = _open(keys.encryption, sealed, _aad("blob", keys.deployment_id, blob))
    except InvalidTag as exc:
        raise SnapshotCorrupt(f"blob {blob[:12]}… does not open") from exc
    if not hmac.compare_digest(blob_id(keys, plaintext), blob):
        raise SnapshotCorrupt(f"blob {blob[:12]}… is not the content it names")
    return plaintext


# -- manifests ----------------------------------------------------------------------------


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ManifestFile(_Frozen):
    """One staged file: where it goes back, how long it is, its SHA-256, its blobs in order."""

    path: StrictStr
    size: StrictInt
    sha256: StrictStr
    blobs: tuple[StrictStr, ...] = ()


class Manifest(_Frozen):
    """One snapshot in the repository (encrypted; named by its uuid)."""

    format: StrictInt = FORMAT_VERSION
    deployment_id: StrictStr
    snapshot: StagedSnapshot
    state: SnapshotState = SnapshotState.SUCCESS
    end_time: float
    reason: StrictStr | None = None
    files: tuple[ManifestFile, ...] = ()
    new_bytes: StrictInt = 0

    def entry(self) -> SnapshotEntry:
        """The snapshot as the node's ``GET _snapshot`` shows it."""
        staged = self.snapshot
        return SnapshotEntry(
            name=staged.name,
            uuid=staged.uuid,
            state=self.state.value,
            start_time=staged.start_time,
            end_time=self.end_time,
            indices=tuple(i.name for i in staged.indices),
            size_bytes=sum(f.size for f in self.files),
            new_bytes=self.new_bytes,
            file_count=len(self.files),
            metadata=staged.metadata,
            policy=staged.policy,
            reason=self.reason,
        )

    def blob_ids(self) -> set[str]:
        """Every blob this snapshot references."""
        return {b for f in self.files for b in f.blobs}


def seal_manifest(keys: SnapshotKeys, manifest: Manifest) -> bytes:
    """A manifest's ciphertext (its JSON, encrypted; the uuid in the associated data)."""
    aad = _aad("manifest", keys.deployment_id, manifest.snapshot.uuid)
    return _seal(keys.encryption, manifest.model_dump_json().encode(), aad)


def open_manifest(keys: SnapshotKeys, uuid: str, sealed: bytes) -> Manifest:
    """The manifest stored as `uuid`; `SnapshotUnreadable` when it does not open with these
    keys (another deployment's, a destroyed key) or is not one of this deployment's."""
    try:
        plaintext = _open(keys.encryption, sealed, _aad("manifest", keys.deployment_id, uuid))
    except InvalidTag as exc:
        raise SnapshotUnreadable("a snapshot manifest does not open with this key") from exc
    try:
        manifest = Manifest.model_validate_json(plaintext)
    except ValidationError as exc:
        raise SnapshotUnreadable("a snapshot manifest is not of this format") from exc
    if manifest.deployment_id != keys.deployment_id or manifest.snapshot.uuid != uuid:
        raise SnapshotUnreadable("a snapshot manifest names another snapshot")
    return manifest

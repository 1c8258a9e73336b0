"""The snapshot key hierarchy and the object format: one deployment's keys, blobs bound to
their ids, manifests bound to their uuid and deployment."""

from __future__ import annotations

import os

import pytest

from citadel.contract.snapshot_jobs import StagedSnapshot
from citadel.snapshots.errors import SnapshotCorrupt, SnapshotUnreadable
from citadel.snapshots.format import (
    Manifest,
    blob_id,
    blob_key,
    manifest_key,
    open_blob,
    open_manifest,
    seal_blob,
    seal_manifest,
)
from citadel.snapshots.keys import snapshot_key, sub_keys

DATA_KEY = bytes(range(32))


def test_a_snapshot_key_is_derived_per_deployment_and_data_key() -> None:
    key = snapshot_key(DATA_KEY, "dep-a")
    assert len(key) == 32
    assert key == snapshot_key(DATA_KEY, "dep-a")
    assert key != snapshot_key(DATA_KEY, "dep-b")
    assert key != snapshot_key(os.urandom(32), "dep-a")
    assert key != DATA_KEY
    keys = sub_keys(key, "dep-a")
    assert len({keys.naming, keys.encryption, key}) == 3
    assert key.hex() not in repr(keys)
    assert keys.naming.hex() not in repr(keys)


def test_a_data_key_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        snapshot_key(b"short", "dep-a")


def test_blob_ids_are_keyed_hashes_of_the_content() -> None:
    a = sub_keys(snapshot_key(DATA_KEY, "dep-a"), "dep-a")
    b = sub_keys(snapshot_key(DATA_KEY, "dep-b"), "dep-b")
    assert blob_id(a, b"segment") == blob_id(a, b"segment")
    assert blob_id(a, b"segment") != blob_id(b, b"segment")  # no cross-deployment dedup
    assert blob_id(a, b"segment") != blob_id(a, b"segment!")
    assert blob_key("dep-a", blob_id(a, b"x")).startswith(f"dep-a/blobs/{blob_id(a, b'x')[:2]}/")


def test_a_blob_opens_only_under_its_own_id_and_key() -> None:
    keys = sub_keys(snapshot_key(DATA_KEY, "dep-a"), "dep-a")
    one, two = blob_id(keys, b"one"), blob_id(keys, b"two")
    sealed = seal_blob(keys, one, b"one")
    assert b"one" not in sealed[13:]
    assert open_blob(keys, one, sealed) == b"one"
    with pytest.raises(SnapshotCorrupt):
        open_blob(keys, two, sealed)  # copied under another id
    other = sub_keys(snapshot_key(os.urandom(32), "dep-a"), "dep-a")
    with pytest.raises(SnapshotCorrupt):
        open_blob(other, one, sealed)
    # the right key and id, but content that is not what the id names
    with pytest.raises(SnapshotCorrupt):
        open_blob(keys, one, seal_blob(keys, one, b"not one"))


def test_a_manifest_opens_only_as_its_own_uuid() -> None:
    keys = sub_keys(snapshot_key(DATA_KEY, "dep-a"), "dep-a")
    manifest = Manifest(
        deployment_id="dep-a",
        snapshot=StagedSnapshot(name="s1", uuid="u1", start_time=1.0),
        end_time=2.0,
    )
    sealed = seal_manifest(keys, manifest)
    assert open_manifest(keys, "u1", sealed) == manifest
    with pytest.raises(SnapshotUnreadable):
        open_manifest(keys, "u2", sealed)


def test_names_from_the_node_cannot_leave_their_directory() -> None:
    for bad in ("../x", "a/b", "", ".hidden", "x" * 65):
        with pytest.raises(ValueError, match="not a valid"):
            manifest_key("dep-a", bad)

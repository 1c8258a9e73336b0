"""The barrier seals secrets bound to their context."""

import os

import pytest

from citadel.crypto.barrier import Barrier, SealBroken


def test_sealed_value_opens_with_its_context():
    barrier = Barrier({1: os.urandom(32)})
    sealed = barrier.seal(b"seed", context="users.totp_secret:u1")
    assert b"seed" not in sealed
    assert barrier.open(sealed, context="users.totp_secret:u1") == b"seed"


def test_sealed_value_does_not_open_in_another_rows_context():
    barrier = Barrier({1: os.urandom(32)})
    sealed = barrier.seal(b"seed", context="users.totp_secret:u1")
    with pytest.raises(SealBroken):
        barrier.open(sealed, context="users.totp_secret:u2")


def test_one_flipped_bit_is_detected():
    barrier = Barrier({1: os.urandom(32)})
    sealed = bytearray(barrier.seal(b"seed", context="c"))
    sealed[-1] ^= 1
    with pytest.raises(SealBroken):
        barrier.open(bytes(sealed), context="c")


def test_rotation_seals_with_the_newest_key_and_opens_old_values():
    k1, k2 = os.urandom(32), os.urandom(32)
    old = Barrier({1: k1}).seal(b"old", context="c")
    rotated = Barrier({1: k1, 2: k2})
    assert rotated.seal(b"new", context="c")[2] == 2
    assert rotated.open(old, context="c") == b"old"


def test_unknown_key_version_and_garbage_are_refused():
    barrier = Barrier({1: os.urandom(32)})
    with pytest.raises(SealBroken):
        barrier.open(b"c1\x09" + b"\x00" * 40, context="c")
    with pytest.raises(SealBroken):
        barrier.open(b"nope", context="c")

"""The audit chain's digest is keyed and covers every field and its predecessor."""

from citadel.audit.chain import GENESIS, link


def test_digest_changes_with_any_field_the_predecessor_or_the_key():
    fields = {"action": "org.updated", "seq": 1, "details": {"a": 1}}
    base = link(b"k" * 32, GENESIS, fields)
    assert link(b"k" * 32, GENESIS, {**fields, "seq": 2}) != base
    assert link(b"k" * 32, GENESIS, {**fields, "details": {"a": 2}}) != base
    assert link(b"k" * 32, "1" * 64, fields) != base
    assert link(b"j" * 32, GENESIS, fields) != base


def test_digest_does_not_depend_on_key_order():
    a = link(b"k" * 32, GENESIS, {"x": 1, "y": 2})
    b = link(b"k" * 32, GENESIS, {"y": 2, "x": 1})
    assert a == b

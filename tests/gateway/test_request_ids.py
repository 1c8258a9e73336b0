"""Request ids drawn in batches: 16 hexadecimal digits, never repeated."""

from __future__ import annotations

import string

from citadel.gateway.request_ids import BATCH, ID_HEX, RequestIds


def test_ids_are_sixteen_hex_digits_and_unique_across_batches() -> None:
    ids = RequestIds()
    drawn = [ids.next() for _ in range(BATCH * 3 + 5)]
    assert all(len(i) == ID_HEX and set(i) <= set(string.hexdigits.lower()) for i in drawn)
    assert len(set(drawn)) == len(drawn)


def test_two_sources_do_not_share_ids() -> None:
    first, second = RequestIds(), RequestIds()
    assert {first.next() for _ in range(BATCH)}.isdisjoint(second.next() for _ in range(BATCH))

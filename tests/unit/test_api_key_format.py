"""The API key format: prefix, public id, 190-bit secret, CRC32 checksum."""

import re

from citadel.authn import api_key_format as fmt


def test_new_key_matches_the_published_scanner_pattern():
    key = fmt.new_key()
    assert re.fullmatch(r"cit_live_[0-9A-Za-z]{50}", key.text)
    assert key.text[len(fmt.PREFIX) :].startswith(key.key_id)


def test_new_keys_are_unique():
    assert len({fmt.new_key().text for _ in range(1000)}) == 1000


def test_a_well_formed_key_parses_to_its_id():
    key = fmt.new_key()
    assert fmt.parse_key(key.text) == key


def test_one_changed_character_fails_the_checksum():
    key = fmt.new_key().text
    i = len(fmt.PREFIX) + 20
    flipped = key[:i] + ("A" if key[i] != "A" else "B") + key[i + 1 :]
    assert fmt.parse_key(flipped) is None


def test_wrong_prefix_length_or_alphabet_is_refused():
    key = fmt.new_key().text
    assert fmt.parse_key("xyz_live_" + key[9:]) is None
    assert fmt.parse_key(key + "a") is None
    assert fmt.parse_key(key[:-7] + "-" + key[-6:]) is None
    assert fmt.parse_key("") is None


def test_digest_depends_on_the_pepper():
    key = fmt.new_key().text
    assert fmt.digest(b"a" * 32, key) != fmt.digest(b"b" * 32, key)
    assert len(fmt.digest(b"a" * 32, key)) == 32

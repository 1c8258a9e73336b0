"""Field types beyond the basics: ``ip``, the ``lowercase`` normalizer, refused types, and
the data stream ``@timestamp`` rule. Pure (no node)."""

from __future__ import annotations

import pytest

from citadel.node.errors import DocumentParsing, MapperParsing
from citadel.node.store import mapping as mp


def props(**fields):
    return {"properties": fields}


def test_an_ip_field_is_accepted_and_indexes_the_canonical_address():
    mappings = mp.normalize_mappings(props(addr={"type": "ip"}))
    indexed = mp.index_document(mappings, {"addr": "2001:DB8::0001"}, "1")
    assert indexed.values == [("addr", "2001:db8::1", None)]


def test_an_ipv4_value_is_kept_as_written():
    mappings = mp.normalize_mappings(props(addr={"type": "ip"}))
    assert mp.index_document(mappings, {"addr": "10.0.0.1"}, "1").values == [
        ("addr", "10.0.0.1", None)
    ]


def test_a_malformed_ip_is_a_document_parsing_error_naming_the_field():
    mappings = mp.normalize_mappings(props(addr={"type": "ip"}))
    with pytest.raises(DocumentParsing) as caught:
        mp.index_document(mappings, {"addr": "not-an-ip"}, "1")
    assert "failed to parse field [addr] of type [ip]" in caught.value.reason


def test_a_malformed_ip_is_skipped_with_ignore_malformed():
    mappings = mp.normalize_mappings(props(addr={"type": "ip", "ignore_malformed": True}))
    assert mp.index_document(mappings, {"addr": "x"}, "1").values == []


def test_an_ip_null_value_must_be_an_address():
    with pytest.raises(MapperParsing):
        mp.normalize_mappings(props(addr={"type": "ip", "null_value": "nope"}))


def test_the_lowercase_normalizer_lowercases_keywords_at_index_time():
    mappings = mp.normalize_mappings(props(tag={"type": "keyword", "normalizer": "lowercase"}))
    assert mp.index_document(mappings, {"tag": "MiXeD"}, "1").values == [("tag", "mixed", None)]


def test_an_unknown_normalizer_is_refused():
    with pytest.raises(MapperParsing) as caught:
        mp.normalize_mappings(props(tag={"type": "keyword", "normalizer": "my_norm"}))
    assert "normalizer [my_norm] not found for field [tag]" in caught.value.reason


@pytest.mark.parametrize(
    "kind", ["nested", "geo_point", "geo_shape", "dense_vector", "flattened", "join"]
)
def test_types_this_node_cannot_hold_are_refused_by_name(kind):
    with pytest.raises(MapperParsing) as caught:
        mp.normalize_mappings(props(place={"type": kind}))
    assert f"field type [{kind}]" in caught.value.reason
    assert "not supported" in caught.value.reason


def test_a_nested_type_inside_an_object_is_refused_with_its_path():
    with pytest.raises(MapperParsing) as caught:
        mp.normalize_mappings(props(user={"properties": {"tags": {"type": "nested"}}}))
    assert "(field [user.tags])" in caught.value.reason


def test_a_data_stream_document_without_timestamp_is_refused():
    mappings = mp.normalize_mappings(
        {"_data_stream_timestamp": {"enabled": True}, **props(**{"@timestamp": {"type": "date"}})}
    )
    with pytest.raises(DocumentParsing) as caught:
        mp.index_document(mappings, {"message": "hi"}, "1")
    assert "data stream timestamp field [@timestamp] is missing" in caught.value.reason


def test_a_data_stream_document_with_timestamp_is_indexed():
    mappings = mp.normalize_mappings(
        {"_data_stream_timestamp": {"enabled": True}, **props(**{"@timestamp": {"type": "date"}})}
    )
    indexed = mp.index_document(mappings, {"@timestamp": "2024-01-01"}, "1")
    assert indexed.values[0][0] == "@timestamp"

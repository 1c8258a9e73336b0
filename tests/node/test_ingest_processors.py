"""Processors, grok, dissect and dates of the ingest pipelines (pure)."""

from __future__ import annotations

import pytest

from citadel.node.errors import EsError
from citadel.node.ingest.dissect import Dissect
from citadel.node.ingest.document import IngestDocument
from citadel.node.ingest.grok import compile_grok
from citadel.node.ingest.pipeline import parse_pipeline
from citadel.node.ingest.runner import Executor


def run(processors, source):
    doc = IngestDocument(source, {"_index": "i", "_id": "1"}, {"timestamp": "t"})
    kept = Executor(lambda name: None).run(parse_pipeline("p", {"processors": processors}), doc)
    return doc.source if kept else None


def test_grok_captures_and_converts():
    grok = compile_grok("%{IP:client} %{WORD:method} %{NUMBER:bytes:int}")
    assert grok.match("10.0.0.1 GET 512") == {"client": "10.0.0.1", "method": "GET", "bytes": 512}


def test_dissect_append_and_padding():
    dissect = Dissect("%{+name} %{+name} %{level->} %{msg}", " ")
    assert dissect.parse("John Smith INFO   hello world") == {
        "name": "John Smith",
        "level": "INFO",
        "msg": "hello world",
    }


def test_date_in_a_time_zone():
    source = run(
        [{"date": {"field": "d", "formats": ["yyyy-MM-dd HH:mm"], "timezone": "+02:00"}}],
        {"d": "2020-01-02 10:30"},
    )
    assert source["@timestamp"] == "2020-01-02T10:30:00.000+02:00"


def test_set_copy_from_and_override_false():
    source = run(
        [
            {"set": {"field": "b", "copy_from": "a"}},
            {"set": {"field": "a", "value": "new", "override": False}},
        ],
        {"a": {"x": 1}},
    )
    assert source == {"a": {"x": 1}, "b": {"x": 1}}


def test_convert_split_join_gsub_kv_json():
    source = run(
        [
            {"convert": {"field": "n", "type": "integer"}},
            {"split": {"field": "csv", "separator": ","}},
            {"join": {"field": "csv", "separator": "-", "target_field": "joined"}},
            {"gsub": {"field": "g", "pattern": "(\\d+)", "replacement": "<$1>"}},
            {"kv": {"field": "q", "field_split": "&", "value_split": "=", "target_field": "kv"}},
            {"json": {"field": "j", "target_field": "parsed"}},
        ],
        {"n": "7", "csv": "a,b", "g": "x12y", "q": "a=1&b=2", "j": '{"k": [1]}'},
    )
    assert source["n"] == 7
    assert source["csv"] == ["a", "b"]
    assert source["joined"] == "a-b"
    assert source["g"] == "x<12>y"
    assert source["kv"] == {"a": "1", "b": "2"}
    assert source["parsed"] == {"k": [1]}


def test_convert_failure_names_the_value():
    with pytest.raises(EsError, match=r"unable to convert \[x\] to integer"):
        run([{"convert": {"field": "n", "type": "integer"}}], {"n": "x"})


def test_drop_returns_nothing():
    assert run([{"drop": {}}], {"a": 1}) is None

"""The Painless statements update-by-query runs (pure), and the ones it refuses."""

from __future__ import annotations

import pytest

from citadel.node.errors import IllegalArgument
from citadel.node.reindex.scripts import ScriptError, parse_script


@pytest.mark.parametrize(
    ("source", "before", "after"),
    [
        ("ctx._source.age++", {"age": 29}, {"age": 30}),
        ("--ctx._source.age", {"age": 29}, {"age": 28}),
        ("ctx._source.n += 2.5", {"n": 1}, {"n": 3.5}),
        ("ctx._source.s += 'x'", {"s": "a"}, {"s": "ax"}),
        ("ctx._source.a.b = 'v'", {"a": {}}, {"a": {"b": "v"}}),
        ("ctx._source.x = null; ctx._source.remove('y')", {"y": 1}, {"x": None}),
        ("ctx._source.age++", {"age": 2**31 - 1}, {"age": -(2**31)}),
    ],
)
def test_supported_statements(source, before, after):
    assert parse_script({"source": source, "lang": "painless"})(before) == after


def test_params_are_read():
    script = parse_script({"source": "ctx._source.tag = params.t", "params": {"t": "new"}})
    assert script({}) == {"tag": "new"}


@pytest.mark.parametrize(
    "source",
    ["ctx._source.age = ctx._source.age * 2", "if (ctx._source.a) { ctx.op = 'delete' }", ""],
)
def test_anything_else_is_refused(source):
    with pytest.raises(IllegalArgument):
        parse_script({"source": source})


def test_other_languages_are_refused():
    with pytest.raises(IllegalArgument):
        parse_script({"source": "ctx._source.a = 1", "lang": "expression"})


def test_incrementing_a_missing_field_is_a_runtime_error():
    with pytest.raises(ScriptError):
        parse_script("ctx._source.age++")({})

"""Mustache rendering as Elasticsearch renders search templates (pure)."""

from __future__ import annotations

import pytest

from citadel.node.scripts.errors import ScriptException
from citadel.node.scripts.mustache import (
    MAX_STEPS,
    java_double,
    render_source,
    stringify,
    url_encode,
)


def test_variables_are_json_escaped_and_triple_braces_raw():
    params = {"q": 'say "hi"\n\\'}
    assert render_source('"{{q}}"', params) == '"say \\"hi\\"\\n\\\\"'
    assert render_source("{{{q}}}|{{&q}}", params) == 'say "hi"\n\\|say "hi"\n\\'


def test_non_ascii_and_slashes_are_not_escaped():
    assert render_source("{{q}}", {"q": "é/<b>"}) == "é/<b>"


def test_missing_and_null_values_print_nothing():
    assert render_source("[{{a}}][{{b}}]", {"b": None}) == "[][]"


@pytest.mark.parametrize(
    ("value", "printed"),
    [
        (True, "true"),
        (False, "false"),
        (20, "20"),
        (0.1, "0.1"),
        (1e20, "1.0E20"),
        (1.5e-5, "1.5E-5"),
        (12345678.9, "1.23456789E7"),
        (100.0, "100.0"),
        (["a", 1], "[a, 1]"),
        ({"k": "v"}, "{k=v}"),
    ],
)
def test_values_print_as_java_prints_them(value, printed):
    assert stringify(value) == printed


def test_dotted_names_walk_objects_and_lists():
    params = {"a": {"b": ["x", "y"]}}
    assert render_source("{{a.b.1}}{{a.b.size}}{{a.c}}", params) == "y2"


def test_sections_iterate_lists_and_skip_falsy_values():
    template = "{{#l}}<{{.}}>{{/l}}{{#e}}E{{/e}}{{#s}}S{{/s}}{{#f}}F{{/f}}{{#o}}{{k}}{{/o}}"
    params = {"l": [1, 2], "e": [], "s": "", "f": False, "o": {"k": "K"}}
    assert render_source(template, params) == "<1><2>K"


def test_inverted_sections_render_when_a_section_would_not():
    assert render_source("{{^a}}none{{/a}}{{^b}}B{{/b}}", {"b": [1]}) == "none"


def test_outer_names_are_visible_inside_sections():
    assert (
        render_source(
            "{{#items}}{{name}}@{{site}} {{/items}}",
            {
                "site": "s",
                "items": [{"name": "a"}, {"name": "b"}],
            },
        )
        == "a@s b@s "
    )


def test_to_json_writes_lists_and_objects_as_json():
    params = {"terms": {"status": ["a", "b"]}, "word": "x"}
    template = '{"terms": {{#toJson}}terms{{/toJson}}, "w": "{{#toJson}}word{{/toJson}}"}'
    assert render_source(template, params) == '{"terms": {"status":["a","b"]}, "w": "x"}'


def test_join_uses_a_comma_or_the_given_delimiter():
    params = {"tags": ["a", "b", 3]}
    assert render_source("{{#join}}tags{{/join}}", params) == "a,b,3"
    template = "{{#join delimiter='||'}}tags{{/join delimiter='||'}}"
    assert render_source(template, params) == "a||b||3"


def test_join_of_something_not_a_list_leaves_the_name():
    assert render_source("{{#join}}word{{/join}}", {"word": "x"}) == "word"


def test_url_encodes_the_rendered_body_as_java_does():
    assert render_source("{{#url}}{{u}}{{/url}}", {"u": "a b/c~é*"}) == "a+b%2Fc%7E%C3%A9*"
    assert url_encode("-._*") == "-._*"


def test_functions_need_one_plain_name():
    with pytest.raises(ScriptException, match="one and only one identifier"):
        render_source("{{#toJson}}{{a}}{{/toJson}}", {})


def test_unclosed_section_is_a_script_exception():
    with pytest.raises(ScriptException) as caught:
        render_source('{"a": "{{#x}}"}', {})
    assert caught.value.body()["error"]["lang"] == "mustache"


def test_partials_are_refused():
    with pytest.raises(ScriptException, match="partials are not supported"):
        render_source("{{>other}}", {})


def test_rendering_is_bounded_in_steps():
    template = "{{#a}}{{#a}}{{#a}}{{/a}}{{/a}}{{/a}}"
    with pytest.raises(ScriptException, match=f"more than {MAX_STEPS} steps"):
        render_source(template, {"a": list(range(200))})


def test_standalone_section_lines_leave_no_blank_lines():
    assert render_source("a\n{{#x}}\nb\n{{/x}}\nc", {"x": True}) == "a\nb\nc"


def test_java_double_special_values():
    assert (java_double(float("nan")), java_double(-0.0)) == ("NaN", "-0.0")

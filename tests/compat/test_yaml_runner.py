"""The YAML interpreter's pure parts: paths, stash, and the assertions' semantics."""

from __future__ import annotations

import pytest

from tests.compat.yaml_runner import (
    Stash,
    StepFailed,
    check_assertion,
    contains,
    is_truthy,
    lookup,
    parse_string_body,
    path_template,
    regex_matches,
    should_skip,
    split_path,
    values_equal,
)


def test_escaped_dot_stays_in_the_key():
    assert split_path(r"settings.index\.number_of_shards.0") == [
        "settings",
        "index.number_of_shards",
        "0",
    ]


def test_lookup_walks_maps_and_list_indexes():
    body = {"hits": {"hits": [{"_id": "a"}, {"_id": "b"}]}}
    assert lookup(body, "hits.hits.1._id", Stash()) == "b"


def test_lookup_of_a_missing_key_is_none():
    assert lookup({"a": {}}, "a.b.c", Stash()) is None


def test_stashed_value_names_a_path_segment():
    stash = Stash(values={"master": "node-1"})
    assert lookup({"nodes": {"node-1": {"ok": True}}}, "nodes.$master.ok", stash) is True


def test_stash_resolves_whole_and_embedded_references():
    stash = Stash(values={"id": 7, "name": "x"})
    assert stash.resolve({"id": "$id", "path": "/docs/${name}"}) == {"id": 7, "path": "/docs/x"}


def test_numbers_match_by_value_but_strings_do_not_match_numbers():
    assert values_equal(1, 1.0)
    assert not values_equal("1", 1)


def test_map_match_is_equality_not_subset():
    assert not values_equal({}, {"is_write_index": False})


def test_regex_is_in_comments_mode_and_searches_text():
    assert regex_matches(r"/Hot\ threads\ at/", "::: Hot threads at 2026")
    assert regex_matches("/[0-9]+/", 42)


def test_is_true_follows_the_value_text():
    assert [is_truthy(v) for v in (None, "", "false", 0, False, {}, "a", 1)] == [
        False,
        False,
        False,
        False,
        False,
        True,
        True,
        True,
    ]


def test_contains_matches_a_subset_of_a_list_element():
    modules = [{"name": "x-pack-ent-search", "version": "9"}, {"name": "other"}]
    assert contains(modules, {"name": "x-pack-ent-search"})


def test_failed_match_names_the_api_and_path():
    stash = Stash(body={"tagline": "nope"})
    with pytest.raises(StepFailed) as failed:
        check_assertion("match", {"tagline": "You Know, for Search"}, stash, "info")
    assert failed.value.group == "match failed: info tagline"


def test_path_template_names_the_path_parts():
    assert (
        path_template("/get_test/_doc/1", {"index": "get_test", "id": "1"}) == "/{index}/_doc/{id}"
    )


def test_skip_names_unsupported_features():
    assert should_skip({"features": ["allowed_warnings"]}) is None
    assert should_skip({"features": "node_roles"}) == "unsupported features: node_roles"


def test_a_json_string_body_is_parsed_so_stashed_values_resolve_inside_it():
    args = parse_string_body({"id": "x", "body": '{"ids": ["$key"], "n": 1}'})
    assert Stash(values={"key": "abc"}).resolve(args) == {
        "id": "x",
        "body": {"ids": ["abc"], "n": 1},
    }


def test_a_string_body_of_several_json_values_becomes_a_list():
    args = parse_string_body({"body": '{"index": {}}\n{"a": "$v"}\n'})
    assert Stash(values={"v": 2}).resolve(args)["body"] == [{"index": {}}, {"a": 2}]


def test_a_string_body_that_is_not_json_stays_a_string():
    assert parse_string_body({"body": "not json {"}) == {"body": "not json {"}

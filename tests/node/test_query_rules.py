"""Query rules through REST: rulesets, rules, listing counts and the _test evaluation."""

from __future__ import annotations

import pytest

from citadel.node.query_rules.rules import (
    Criterion,
    criterion_matches,
    levenshtein_similarity,
)
from tests.node.builders import client_as, error_of


def pinned(rule_id, criteria, ids=("d1",), **extra):
    return {
        "rule_id": rule_id,
        "type": "pinned",
        "criteria": criteria,
        "actions": {"ids": list(ids)},
        **extra,
    }


def exact(key, *values):
    return {"type": "exact", "metadata": key, "values": list(values)}


def put(es, name, *rules):
    return es.put(f"/_query_rules/{name}", json={"rules": list(rules)})


def test_put_ruleset_creates_then_updates(es):
    response = put(es, "rs", pinned("r1", [exact("q", "a")]))
    assert response.status_code == 201
    assert response.json() == {"result": "created"}
    assert put(es, "rs", pinned("r2", [exact("q", "b")])).json() == {"result": "updated"}
    assert es.get("/_query_rules/rs").json() == {
        "ruleset_id": "rs",
        "rules": [pinned("r2", [exact("q", "b")])],
    }


def test_rules_are_kept_in_priority_order_unprioritized_last(es):
    put(
        es,
        "rs",
        pinned("late", [exact("q", "a")]),
        pinned("second", [exact("q", "a")], priority=5),
        pinned("first", [exact("q", "a")], priority=1),
    )
    rules = es.get("/_query_rules/rs").json()["rules"]
    assert [r["rule_id"] for r in rules] == ["first", "second", "late"]


def test_listing_counts_rules_criteria_and_types(es):
    put(
        es,
        "rs",
        pinned("r1", [exact("q", "a"), {"type": "always"}]),
        {
            "rule_id": "r2",
            "type": "exclude",
            "criteria": [exact("q", "b")],
            "actions": {"ids": ["x"]},
        },
    )
    assert es.get("/_query_rules").json() == {
        "count": 1,
        "results": [
            {
                "ruleset_id": "rs",
                "rule_total_count": 2,
                "rule_criteria_types_counts": {"exact": 2, "always": 1},
                "rule_type_counts": {"pinned": 1, "exclude": 1},
            }
        ],
    }


def test_rule_put_get_delete_and_the_last_rule_takes_the_ruleset(es):
    body = {
        "type": "pinned",
        "criteria": [exact("q", "a")],
        "actions": {"docs": [{"_index": "i", "_id": "1"}]},
    }
    assert es.put("/_query_rules/rs/_rule/r1", json=body).json() == {"result": "created"}
    assert es.get("/_query_rules/rs/_rule/r1").json() == {"rule_id": "r1", **body}
    assert es.delete("/_query_rules/rs/_rule/r1").json() == {"acknowledged": True}
    error_of(es.get("/_query_rules/rs"), 404)


def test_missing_ruleset_and_rule_are_404(es):
    assert error_of(es.get("/_query_rules/nope"), 404)["type"] == "resource_not_found_exception"
    put(es, "rs", pinned("r1", [exact("q", "a")]))
    error_of(es.get("/_query_rules/rs/_rule/nope"), 404)
    error_of(es.delete("/_query_rules/nope"), 404)


@pytest.mark.parametrize(
    "rule",
    [
        {"rule_id": "r", "type": "pinned", "criteria": [exact("q", "a")], "actions": {}},
        {
            "rule_id": "r",
            "type": "pinned",
            "criteria": [exact("q", "a")],
            "actions": {"ids": ["a"], "docs": []},
        },
        {"rule_id": "r", "type": "boost", "criteria": [exact("q", "a")], "actions": {"ids": ["a"]}},
        {
            "rule_id": "r",
            "type": "pinned",
            "criteria": [{"type": "exact", "metadata": "q"}],
            "actions": {"ids": ["a"]},
        },
        {
            "rule_id": "r",
            "type": "pinned",
            "criteria": [{"type": "gt", "metadata": "n", "values": ["x"]}],
            "actions": {"ids": ["a"]},
        },
        {
            "rule_id": "r",
            "type": "pinned",
            "criteria": [exact("q", "a")],
            "actions": {"ids": [str(i) for i in range(101)]},
        },
        {
            "rule_id": "r",
            "type": "pinned",
            "criteria": [exact("q", "a")],
            "actions": {"ids": ["a"]},
            "priority": -1,
        },
        {
            "rule_id": "r",
            "type": "pinned",
            "criteria": [exact("q", "a")],
            "actions": {"ids": ["a"]},
            "boost": 2,
        },
    ],
    ids=[
        "no-action",
        "ids-and-docs",
        "unknown-type",
        "no-values",
        "numeric-text",
        "too-many-ids",
        "negative-priority",
        "unknown-field",
    ],
)
def test_bad_rules_are_400(es, rule):
    assert put(es, "rs", rule).status_code == 400


def test_empty_ruleset_is_400(es):
    error_of(put(es, "rs"), 400)


def test_test_lists_matching_rules_in_order(es):
    put(
        es,
        "rs",
        pinned("r1", [exact("q", "search")]),
        pinned("r2", [{"type": "contains", "metadata": "q", "values": ["kibana"]}]),
        pinned("r3", [exact("q", "search"), exact("country", "us")]),
        {
            "rule_id": "r4",
            "type": "exclude",
            "criteria": [exact("q", "search")],
            "actions": {"ids": ["x"]},
        },
    )
    out = es.post(
        "/_query_rules/rs/_test", json={"match_criteria": {"q": "search", "country": "fr"}}
    )
    assert out.json() == {
        "total_matched_rules": 2,
        "matched_rules": [
            {"ruleset_id": "rs", "rule_id": "r1"},
            {"ruleset_id": "rs", "rule_id": "r4"},
        ],
    }


def test_test_needs_match_criteria_and_an_existing_ruleset(es):
    error_of(es.post("/_query_rules/nope/_test", json={}), 400)
    error_of(es.post("/_query_rules/nope/_test", json={"match_criteria": {"q": "a"}}), 404)


def test_a_rule_none_of_whose_criteria_apply_does_not_match(es):
    put(es, "rs", pinned("r1", [exact("q", "a")]))
    out = es.post("/_query_rules/rs/_test", json={"match_criteria": {"other": "a"}}).json()
    assert out["total_matched_rules"] == 0


@pytest.mark.parametrize(
    ("kind", "values", "given", "expected"),
    [
        ("exact", ["10"], 10.0, True),
        ("exact", ["puggle"], "Puggle", False),
        ("prefix", ["pug"], "puggles", True),
        ("suffix", ["gles"], "puggles", True),
        ("contains", ["ggl"], "puggles", True),
        ("contains", ["ggl"], 5, False),
        ("lt", ["10"], 9, True),
        ("lte", ["10"], "10", True),
        ("gt", ["10"], "10", False),
        ("gte", ["10"], "x", False),
        ("fuzzy", ["rescue dogs"], "rescue dog", True),
        ("fuzzy", ["rescue dogs"], "cats", False),
    ],
)
def test_criterion_types(kind, values, given, expected):
    assert criterion_matches(Criterion(kind, "k", tuple(values)), given) is expected


def test_levenshtein_similarity_is_lucenes():
    assert levenshtein_similarity("kitten", "sitting") == pytest.approx(1 - 3 / 7)
    assert levenshtein_similarity("", "") == 1.0


def test_query_rules_need_manage_search_query_rules(node_app, node_services):
    with client_as(node_app, node_services, "bob", [], cluster=["monitor"]) as bob:
        assert bob.get("/_query_rules").status_code == 403
    with client_as(
        node_app, node_services, "ann", [], cluster=["manage_search_query_rules"]
    ) as ann:
        assert ann.get("/_query_rules").status_code == 200

"""The data explorer's pure decisions: what the query runner sends, how documents are paged,
how a search's aggregations become tables and bars, and whether the deployment's traffic
filters admit the browser."""

from __future__ import annotations

import pytest

from citadel.console.deployment_client import DeploymentRefused, _refusal, path_of
from citadel.console.explorer_results import (
    MAX_HITS,
    PAGE_SIZE,
    RESULT_WINDOW,
    AttachedRuleset,
    aggregation_tables,
    check_query,
    documents_window,
    filters_admit,
    number,
    size_in_bytes,
    total_hits,
)
from citadel.errors import BadRequest


@pytest.mark.parametrize("index", ["logs", "logs-*", "a,b", "-old,logs*", "_all", "ünïcode"])
def test_an_index_name_or_pattern_is_run(index):
    assert check_query(index, '{"query": {"match_all": {}}}').index == index


@pytest.mark.parametrize(
    "index",
    [
        "",
        "logs/_doc/1",
        "logs/_delete_by_query",
        "_bulk",
        "_security",
        "logs?refresh=true",
        "logs#x",
        "logs search",
        "..%2f_bulk",
        "a" * 256,
    ],
)
def test_an_index_that_is_a_path_or_an_api_is_refused_naming_the_field(index):
    with pytest.raises(BadRequest) as refused:
        check_query(index, "{}")
    assert refused.value.fields == ["index"]
    assert "only runs _search" in refused.value.message


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "JSON object"),
        (f'{{"size": {MAX_HITS + 1}}}', "size"),
        ('{"size": -1}', "size"),
        ('{"size": "10"}', "size"),
        ('{"size": true}', "size"),
        ('{"q": "' + "x" * 70_000 + '"}', "64 KiB"),
    ],
)
def test_a_body_that_is_not_a_bounded_search_is_refused_naming_the_field(body, why):
    with pytest.raises(BadRequest) as refused:
        check_query("logs", body)
    assert refused.value.fields == ["body"]
    assert why in refused.value.message


def test_an_empty_body_is_the_default_search():
    assert check_query("logs", "  ").body == {}


@pytest.mark.parametrize(
    ("given", "start"),
    [
        (None, 0),
        ("", 0),
        ("abc", 0),
        ("-20", 0),
        ("40", 40),
        ("45", 40),
        ("9999999", 0),
        (str(RESULT_WINDOW), RESULT_WINDOW - PAGE_SIZE),
    ],
)
def test_documents_are_paged_within_the_result_window(given, start):
    assert documents_window(given) == start


def test_the_index_of_a_path_is_one_percent_encoded_segment():
    assert path_of("logs", "_search") == "/logs/_search"
    assert path_of("a/b?c", "_search") == "/a%2Fb%3Fc/_search"
    assert path_of("logs-*,x", "_search") == "/logs-*,x/_search"


def test_a_terms_aggregation_is_a_table_of_buckets_with_bars_relative_to_the_largest():
    answer = {
        "by_level": {
            "doc_count_error_upper_bound": 0,
            "sum_other_doc_count": 0,
            "buckets": [
                {"key": "info", "doc_count": 8, "avg_ms": {"value": 12.5}},
                {"key": "warn", "doc_count": 4, "avg_ms": {"value": None}},
                {"key": "error", "doc_count": 2},
            ],
        }
    }
    (table,) = aggregation_tables(answer)
    assert table.name == "by_level"
    assert table.columns == ("key", "doc_count", "avg_ms")
    assert table.rows == (("info", "8", "12.5"), ("warn", "4", "—"), ("error", "2", "—"))
    assert [(b.label, b.value, b.percent) for b in table.bars] == [
        ("info", "8", 100.0),
        ("warn", "4", 50.0),
        ("error", "2", 25.0),
    ]


def test_date_histogram_buckets_are_labelled_by_their_key_as_string():
    answer = {
        "per_day": {
            "buckets": [
                {"key": 1_700_000_000_000, "key_as_string": "2023-11-14", "doc_count": 0},
            ]
        }
    }
    (table,) = aggregation_tables(answer)
    assert table.rows == (("2023-11-14", "0"),)
    assert table.bars[0].percent == 0.0  # no division by a zero largest count


def test_keyed_buckets_and_composite_keys_have_labels():
    answer = {
        "ranges": {"buckets": {"cheap": {"doc_count": 3}, "dear": {"doc_count": 1}}},
        "pairs": {"buckets": [{"key": {"host": "a", "code": 200}, "doc_count": 5}]},
    }
    ranges, pairs = aggregation_tables(answer)
    assert ranges.rows == (("cheap", "3"), ("dear", "1"))
    assert pairs.rows == (("host=a, code=200", "5"),)


def test_metrics_are_tables_of_their_values_without_bars():
    answer = {
        "avg_ms": {"value": 2.0},
        "stats": {"count": 3, "min": 1.0, "max": 3.0, "avg": 2.0, "sum": 6.0},
        "p": {"values": {"50.0": 2.0, "99.0": 2.98}},
        "errors": {"doc_count": 2, "avg_ms": {"value": 7.25}},
    }
    avg, stats, percentiles, single = aggregation_tables(answer)
    assert (avg.columns, avg.rows, avg.bars) == (("value",), (("2",),), ())
    assert stats.rows == (("count", "3"), ("min", "1"), ("max", "3"), ("avg", "2"), ("sum", "6"))
    assert percentiles.rows == (("values.50.0", "2"), ("values.99.0", "2.98"))
    assert (single.columns, single.rows) == (("doc_count", "avg_ms"), (("2", "7.25"),))


@pytest.mark.parametrize(
    ("value", "shown"),
    [(3, "3"), (3.0, "3"), (0.125, "0.125"), (1 / 3, "0.3333"), (None, "—"), (True, "true")],
)
def test_numbers_read_as_people_write_them(value, shown):
    assert number(value) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [("512", "512 B"), ("2048", "2.0 KiB"), (str(3 * 1024**3), "3.0 GiB"), (None, "—")],
)
def test_sizes_are_in_binary_units(value, shown):
    assert size_in_bytes(value) == shown


def test_total_hits_is_read_from_either_shape():
    assert total_hits({"total": {"value": 7, "relation": "eq"}}) == 7
    assert total_hits({"total": 4}) == 4
    assert total_hits({}) == 0


def test_a_refusal_keeps_the_deployments_error_type_and_reason():
    body = {
        "error": {"type": "index_not_found_exception", "reason": "no such index [nope]"},
        "status": 404,
    }
    refused = _refusal(404, body)
    assert isinstance(refused, DeploymentRefused)
    assert (refused.status, refused.code) == (404, "index_not_found_exception")
    assert "no such index [nope]" in refused.message
    assert _refusal(503, body).status == 502  # the deployment's failure is a bad gateway to us
    assert _refusal(404, {}).error_type == "http_404"


OFFICE = AttachedRuleset("r1", "ip", [{"source": "203.0.113.0/24"}])
LINK = AttachedRuleset("r2", "vpce", [{"source": "vpce-0a1b2c3d4e5f60718"}])


@pytest.mark.parametrize(
    ("rulesets", "address", "admitted"),
    [
        ([], "198.51.100.7", True),  # no filter: anyone with credentials
        ([OFFICE], "203.0.113.9", True),
        ([OFFICE], "198.51.100.7", False),
        ([OFFICE], "::ffff:203.0.113.9", True),  # IPv4-mapped, as the gateway reads it
        ([OFFICE], None, False),
        ([LINK], "203.0.113.9", False),  # a browser comes through no private endpoint
        ([LINK, OFFICE], "203.0.113.9", True),  # any associated ruleset admits
    ],
)
def test_the_deployments_filters_are_applied_to_the_browsers_address(rulesets, address, admitted):
    assert filters_admit(rulesets, address) is admitted

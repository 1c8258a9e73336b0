"""The _rank_eval metrics (pure), on small hand-worked rankings."""

from __future__ import annotations

import math

import pytest

from citadel.node.errors import EsError
from citadel.node.rank_eval.metrics import Metric, combine, evaluate
from citadel.node.rank_eval.spec import parse_metric, parse_spec


def keys(*ids):
    return [("i", i) for i in ids]


RATINGS = {("i", "a"): 1, ("i", "c"): 0, ("i", "d"): 2}


def test_precision_counts_unrated_hits_as_irrelevant():
    result = evaluate(Metric("precision"), keys("a", "b", "c"), RATINGS)
    assert result.score == pytest.approx(1 / 3)
    assert result.details == {"precision": {"relevant_docs_retrieved": 1, "docs_retrieved": 3}}
    assert result.ratings == [1, None, 0]


def test_precision_can_ignore_unlabeled_hits():
    result = evaluate(Metric("precision", ignore_unlabeled=True), keys("a", "b", "c"), RATINGS)
    assert result.score == 0.5


def test_precision_threshold_and_window():
    metric = Metric("precision", k=2, relevant_rating_threshold=2)
    result = evaluate(metric, keys("d", "a", "c"), RATINGS)
    assert (result.score, result.details["precision"]["docs_retrieved"]) == (0.5, 2)


def test_recall_over_every_relevant_rated_document():
    result = evaluate(Metric("recall"), keys("a", "b"), RATINGS)
    assert result.score == 0.5
    assert result.details == {"recall": {"relevant_docs_retrieved": 1, "relevant_docs": 2}}


def test_mean_reciprocal_rank_is_one_over_the_first_relevant_rank():
    result = evaluate(Metric("mean_reciprocal_rank"), keys("c", "b", "a"), RATINGS)
    assert (result.score, result.details) == (
        1 / 3,
        {"mean_reciprocal_rank": {"first_relevant": 3}},
    )
    none = evaluate(Metric("mean_reciprocal_rank"), keys("c"), RATINGS)
    assert (none.score, none.details["mean_reciprocal_rank"]["first_relevant"]) == (0.0, -1)


def test_dcg_and_its_normalized_form():
    ids = [str(n) for n in range(6)]
    ratings = {("i", i): r for i, r in zip(ids, [3, 2, 3, 0, 1, 2], strict=True)}
    # 7/1 + 3/log2(3) + 7/2 + 0 + 1/log2(6) + 3/log2(7)
    expected = 7 + 3 / math.log2(3) + 3.5 + 1 / math.log2(6) + 3 / math.log2(7)
    assert evaluate(Metric("dcg"), keys(*ids), ratings).score == pytest.approx(expected)
    normalized = evaluate(Metric("dcg", normalize=True), keys(*ids), ratings)
    ideal = 7 + 7 / math.log2(3) + 3 / 2 + 3 / math.log2(5) + 1 / math.log2(6)
    assert normalized.score == pytest.approx(expected / ideal)
    assert normalized.details["dcg"]["ideal_dcg"] == pytest.approx(ideal)


def test_dcg_unrated_hits_take_unknown_doc_rating_or_nothing():
    plain = evaluate(Metric("dcg"), keys("x", "a"), RATINGS)
    assert plain.score == pytest.approx(1 / math.log2(3))
    assert plain.details["dcg"]["unrated_docs"] == 1
    assumed = evaluate(Metric("dcg", unknown_doc_rating=1), keys("x", "a"), RATINGS)
    assert assumed.score == pytest.approx(1 + 1 / math.log2(3))


def test_expected_reciprocal_rank_cascade():
    ratings = {("i", "a"): 3, ("i", "b"): 2}
    result = evaluate(
        Metric("expected_reciprocal_rank", maximum_relevance=3), keys("a", "b", "z"), ratings
    )
    # P(a) = 7/8, P(b) = 3/8: 7/8 + (1/8)(3/8)/2
    assert result.score == pytest.approx(7 / 8 + (1 / 8) * (3 / 8) / 2)
    assert result.details == {"expected_reciprocal_rank": {"unrated_docs": 1}}


def test_combine_is_the_mean_and_nan_for_none():
    assert combine([1.0, 0.0]) == 0.5
    assert math.isnan(combine([]))


@pytest.mark.parametrize(
    ("metric", "reason"),
    [
        ({"precision": {"k": 0}}, "Window size k must be positive."),
        ({"precision": {"x": 1}}, "[precision] unknown field [x]"),
        ({"expected_reciprocal_rank": {}}, "Required [maximum_relevance]"),
        ({"nope": {}}, "unknown metric [nope]"),
        ({"precision": {}, "recall": {}}, "exactly one metric"),
    ],
)
def test_bad_metrics_are_refused(metric, reason):
    with pytest.raises(EsError, match=reason.replace("[", r"\[").replace("]", r"\]")):
        parse_metric(metric)


def test_spec_refuses_both_a_request_and_template_params():
    body = {
        "requests": [
            {"id": "q", "request": {}, "params": {"a": 1}, "template_id": "t", "ratings": []}
        ],
        "metric": {"precision": {}},
    }
    with pytest.raises(EsError, match="Ambiguous rated request"):
        parse_spec(body)


def test_spec_refuses_duplicate_ratings():
    rating = {"_index": "i", "_id": "1", "rating": 1}
    body = {
        "requests": [{"id": "q", "request": {}, "ratings": [rating, rating]}],
        "metric": {"recall": {}},
    }
    with pytest.raises(EsError, match="Found duplicate rated document key"):
        parse_spec(body)


def test_spec_refuses_aggregations_in_a_rated_search():
    body = {
        "requests": [{"id": "q", "request": {"aggs": {}}, "ratings": []}],
        "metric": {"recall": {}},
    }
    with pytest.raises(EsError, match="should not contain aggregations"):
        parse_spec(body)

"""The ``_rank_eval`` metrics, computed as Elasticsearch's rank-eval module computes them. Pure.

Each metric reads the search's hits (at most its ``k``, the size the search is run with)
joined to the request's ratings by ``(_index, _id)``; a hit without a rating is *unrated*.

- ``precision``: rated hits at or above ``relevant_rating_threshold`` over the hits counted
  (unrated hits count as irrelevant unless ``ignore_unlabeled``).
- ``recall``: relevant hits over every relevant rated document.
- ``mean_reciprocal_rank``: 1 / the rank of the first relevant hit (0 when none).
- ``dcg``: sum of (2^rating - 1) / log2(rank + 1), unrated hits taking ``unknown_doc_rating``
  (or left out); ``normalize`` divides by the ideal ordering of the rated documents.
- ``expected_reciprocal_rank``: the cascade model with P(relevant) = (2^rating - 1) /
  2^``maximum_relevance``.

The overall ``metric_score`` is the mean over the requests that ran.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DocKey = tuple[str, str]
_LOG2 = math.log(2)


@dataclass(frozen=True)
class Metric:
    """One metric and its parameters (defaults as in Elasticsearch)."""

    name: str
    k: int = 10
    relevant_rating_threshold: int = 1
    ignore_unlabeled: bool = False
    normalize: bool = False
    unknown_doc_rating: int | None = None
    maximum_relevance: int | None = None


@dataclass(frozen=True)
class Evaluation:
    """One request's score, its hits with their ratings, and the metric's breakdown."""

    score: float
    ratings: list[int | None]
    details: dict[str, Any]


def evaluate(metric: Metric, hits: Sequence[DocKey], ratings: Mapping[DocKey, int]) -> Evaluation:
    """Score one search's `hits` (in rank order) against `ratings`."""
    hits = list(hits)[: metric.k]
    rated = [ratings.get(hit) for hit in hits]
    score, details = _METRICS[metric.name](metric, rated, ratings)
    return Evaluation(score, rated, {metric.name: details})


def combine(scores: Sequence[float]) -> float:
    """The mean of the requests' scores (NaN when none ran, as Elasticsearch's 0/0)."""
    return sum(scores) / len(scores) if scores else math.nan


def _precision(metric: Metric, rated: list[int | None], _: Mapping[DocKey, int]) -> Any:
    relevant = irrelevant = 0
    for rating in rated:
        if rating is None:
            irrelevant += 0 if metric.ignore_unlabeled else 1
        elif rating >= metric.relevant_rating_threshold:
            relevant += 1
        else:
            irrelevant += 1
    retrieved = relevant + irrelevant
    score = relevant / retrieved if retrieved else 0.0
    return score, {"relevant_docs_retrieved": relevant, "docs_retrieved": retrieved}


def _recall(metric: Metric, rated: list[int | None], ratings: Mapping[DocKey, int]) -> Any:
    threshold = metric.relevant_rating_threshold
    retrieved = sum(1 for r in rated if r is not None and r >= threshold)
    relevant = sum(1 for r in ratings.values() if r >= threshold)
    score = retrieved / relevant if relevant else 0.0
    return score, {"relevant_docs_retrieved": retrieved, "relevant_docs": relevant}


def _reciprocal_rank(metric: Metric, rated: list[int | None], _: Mapping[DocKey, int]) -> Any:
    first = -1
    for rank, rating in enumerate(rated, start=1):
        if rating is not None and rating >= metric.relevant_rating_threshold:
            first = rank
            break
    return (0.0 if first == -1 else 1.0 / first), {"first_relevant": first}


def _dcg(metric: Metric, rated: list[int | None], ratings: Mapping[DocKey, int]) -> Any:
    gains = [metric.unknown_doc_rating if r is None else r for r in rated]
    unrated = sum(1 for r in rated if r is None)
    dcg = _discounted(gains)
    score, ideal = dcg, 0.0
    if metric.normalize:
        best = sorted(ratings.values(), reverse=True)[: len(gains)]
        ideal = _discounted(list(best))
        score = dcg / ideal if ideal != 0 else 0.0
    details: dict[str, Any] = {"dcg": dcg}
    if ideal != 0:
        details.update({"ideal_dcg": ideal, "normalized_dcg": dcg / ideal})
    details["unrated_docs"] = unrated
    return score, details


def _discounted(gains: Sequence[int | None]) -> float:
    total = 0.0
    for rank, rating in enumerate(gains, start=1):
        if rating is not None:
            total += (2.0**rating - 1) / (math.log(rank + 1) / _LOG2)
    return total


def _expected_reciprocal_rank(
    metric: Metric, rated: list[int | None], _: Mapping[DocKey, int]
) -> Any:
    assert metric.maximum_relevance is not None
    gains = [metric.unknown_doc_rating if r is None else r for r in rated]
    unrated = sum(1 for r in rated if r is None)
    remaining, err = 1.0, 0.0
    for rank, rating in enumerate(gains, start=1):
        if rating is None:
            continue
        relevance = (2.0**rating - 1) / 2.0**metric.maximum_relevance
        err += remaining * relevance / rank
        remaining *= 1 - relevance
    return err, {"unrated_docs": unrated}


_METRICS = {
    "precision": _precision,
    "recall": _recall,
    "mean_reciprocal_rank": _reciprocal_rank,
    "dcg": _dcg,
    "expected_reciprocal_rank": _expected_reciprocal_rank,
}
METRIC_NAMES = tuple(_METRICS)

"""The generated corpus and queries, deterministic by seed (standard library only).

Documents: a 6-word `title` and a 160-word `body` drawn from a Zipf vocabulary (rank r has
weight 1/r) of pronounceable made-up words, a `tag` keyword (20 values, also Zipf), a `count`
integer in [0, 10000) and a `timestamp` in 2025 (ISO 8601, UTC): about 1 KB of JSON each.

The corpus is written once as an Elasticsearch `_bulk` body (action line, source line) so the
node is sent the file's bytes as they are and the in-process engines parse the same lines.
Queries draw their words from the same Zipf distribution as the text (a query log's shape:
frequent words are asked for often), so some match most of the corpus and some a handful.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

INDEX = "bench"
BATCH = 1000
VOCABULARY_SIZE = 50_000
TAG_COUNT = 20
COUNT_RANGE = 10_000
TITLE_WORDS, BODY_WORDS = 6, 160
YEAR_START = datetime(2025, 1, 1, tzinfo=UTC)
YEAR_SECONDS = 365 * 86_400
DAY_MS = 86_400_000
CORPUS_FILE, QUERIES_FILE = "corpus.ndjson", "queries.json"
_ONSETS = "bdfghjklmnprstvz"
_VOWELS = "aeiou"
_SYLLABLES = [c + v for c in _ONSETS for v in _VOWELS]


def word(rank: int) -> str:
    """The made-up word of a vocabulary rank: two or more syllables, lowercase letters only."""
    n, out = rank + len(_SYLLABLES), []
    while n:
        n, digit = divmod(n, len(_SYLLABLES))
        out.append(_SYLLABLES[digit])
    return "".join(reversed(out))


def vocabulary(size: int = VOCABULARY_SIZE) -> list[str]:
    """`size` distinct words, most frequent first."""
    return [word(rank) for rank in range(size)]


def zipf_weights(size: int) -> list[float]:
    """Cumulative Zipf weights (exponent 1) for `random.choices(cum_weights=...)`."""
    return list(itertools.accumulate(1.0 / (rank + 1) for rank in range(size)))


TAGS = [f"tag{i:02d}" for i in range(TAG_COUNT)]


@dataclass(frozen=True)
class Queries:
    """Every query of a run: match texts, filtered (word, tag, lo, hi), aggregation ranges."""

    match: list[str]
    filtered: list[tuple[str, str, int, int]]
    aggregations: list[tuple[int, int]]

    @classmethod
    def load(cls, directory: Path) -> Queries:
        raw = json.loads((directory / QUERIES_FILE).read_text())
        return cls(
            match=raw["match"],
            filtered=[tuple(f) for f in raw["filtered"]],  # type: ignore[misc]
            aggregations=[tuple(a) for a in raw["aggregations"]],  # type: ignore[misc]
        )


def documents(docs: int, seed: int) -> Iterator[tuple[str, dict[str, object]]]:
    """(id, source) of every document of the corpus."""
    rng = random.Random(seed)
    words, cum = vocabulary(), zipf_weights(VOCABULARY_SIZE)
    tag_cum = zipf_weights(TAG_COUNT)
    for i in range(docs):
        stamp = YEAR_START + timedelta(seconds=rng.randrange(YEAR_SECONDS))
        yield (
            str(i),
            {
                "title": " ".join(rng.choices(words, cum_weights=cum, k=TITLE_WORDS)),
                "body": " ".join(rng.choices(words, cum_weights=cum, k=BODY_WORDS)),
                "tag": rng.choices(TAGS, cum_weights=tag_cum)[0],
                "count": rng.randrange(COUNT_RANGE),
                "timestamp": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        )


def make_queries(match: int, filtered: int, aggregations: int, seed: int) -> Queries:
    """One- and two-word match texts, filtered queries and aggregation ranges."""
    rng = random.Random(seed + 1)
    words, cum = vocabulary(), zipf_weights(VOCABULARY_SIZE)

    def text() -> str:
        return " ".join(rng.choices(words, cum_weights=cum, k=rng.choice((1, 2))))

    def window(low: int, high: int) -> tuple[int, int]:
        width = rng.randrange(low, high)
        start = rng.randrange(COUNT_RANGE - width)
        return start, start + width

    return Queries(
        match=[text() for _ in range(match)],
        filtered=[
            (rng.choices(words, cum_weights=cum)[0], rng.choice(TAGS), *window(1000, 5000))
            for _ in range(filtered)
        ],
        aggregations=[window(2000, 8000) for _ in range(aggregations)],
    )


def write_corpus(directory: Path, docs: int, queries: Queries, seed: int) -> int:
    """Write the `_bulk` body and the queries into `directory`; returns the corpus's bytes."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / CORPUS_FILE).open("w") as out:
        for doc_id, source in documents(docs, seed):
            action = {"index": {"_index": INDEX, "_id": doc_id}}
            out.write(json.dumps(action, separators=(",", ":")) + "\n")
            out.write(json.dumps(source, separators=(",", ":")) + "\n")
    (directory / QUERIES_FILE).write_text(json.dumps(asdict(queries)))
    return (directory / CORPUS_FILE).stat().st_size


def batches(directory: Path, size: int = BATCH) -> Iterator[list[bytes]]:
    """The corpus's lines (action, source, action, ...), `size` documents at a time."""
    with (directory / CORPUS_FILE).open("rb") as f:
        while lines := list(itertools.islice(f, 2 * size)):
            yield lines


def parse_batch(lines: list[bytes]) -> list[tuple[str, dict[str, object]]]:
    """(id, source) pairs of a batch's lines, as an engine in process reads them."""
    return [
        (json.loads(lines[i])["index"]["_id"], json.loads(lines[i + 1]))
        for i in range(0, len(lines), 2)
    ]


def epoch_ms(timestamp: str) -> int:
    """Milliseconds since the epoch of an ISO 8601 UTC timestamp of the corpus."""
    return int(datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp() * 1000)

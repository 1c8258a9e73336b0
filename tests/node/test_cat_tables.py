"""The ``_cat`` table renderer (pure): columns, aliases, wildcards, sorting, units, help."""

from __future__ import annotations

import pytest

from citadel.node.errors import IllegalArgument
from citadel.node.http import cat
from citadel.node.http.cat import ByteSize, Duration, col, num

COLUMNS = (
    col("index", "i", "idx", desc="index name"),
    num("docs.count", "dc", desc="available docs"),
    num("store.size", "ss", desc="store size"),
    col("uuid", "id", desc="index uuid", default=False),
)
ROWS = [
    {"index": "b", "docs.count": 2, "store.size": ByteSize(2048), "uuid": "u-b"},
    {"index": "a", "docs.count": 10, "store.size": ByteSize(100), "uuid": "u-a"},
]


def render(**query):
    return cat.render(COLUMNS, ROWS, {k: str(v) for k, v in query.items()})


def test_default_columns_leave_out_the_non_default_ones():
    assert render(format="json").body == [
        {"index": "b", "docs.count": "2", "store.size": "2kb"},
        {"index": "a", "docs.count": "10", "store.size": "100b"},
    ]


def test_text_pads_columns_and_right_aligns_numbers():
    assert render(v="").body == (
        "index docs.count store.size\nb              2        2kb\na             10       100b\n"
    )


def test_an_alias_is_shown_under_the_alias():
    assert render(h="i,dc", format="json").body[0] == {"i": "b", "dc": "2"}


def test_wildcards_match_names_and_aliases():
    shown = [d.header for d in cat.display(COLUMNS, "*.*")]
    assert shown == ["docs.count", "store.size"]
    assert [d.header for d in cat.display(COLUMNS, "i*")] == ["index", "uuid"]


def test_an_unknown_column_is_refused():
    with pytest.raises(IllegalArgument, match=r"header \[nope\] not found"):
        render(h="nope")


@pytest.mark.parametrize(
    ("spec", "order"),
    [
        ("index", ["a", "b"]),
        ("dc", ["b", "a"]),
        ("docs.count:desc", ["a", "b"]),
        ("store.size", ["a", "b"]),
        ("ss:asc", ["a", "b"]),
    ],
)
def test_rows_sort_on_typed_values(spec, order):
    assert [r["index"] for r in render(s=spec, format="json").body] == order


def test_sorting_on_an_unknown_column_is_refused():
    with pytest.raises(IllegalArgument, match="Unable to sort by unknown sort key `nope`"):
        render(s="nope:desc")


def test_bytes_renders_whole_units():
    body = render(bytes="kb", format="json", h="ss").body
    assert body == [{"ss": "2"}, {"ss": "0"}]


def test_an_unknown_bytes_unit_is_refused():
    with pytest.raises(IllegalArgument, match=r"\[bytes\]"):
        render(bytes="zb")


def test_an_unknown_format_is_refused():
    with pytest.raises(IllegalArgument, match="unsupported format"):
        render(format="csv")


def test_help_lists_columns_aliases_and_descriptions():
    lines = render(help="").body.splitlines()
    assert lines[0].split("|")[0].strip() == "index"
    assert lines[0].split("|")[1].strip() == "i,idx"
    assert lines[0].split("|")[2].strip() == "index name"
    assert len(lines) == len(COLUMNS)


def test_empty_cells_are_null_in_json_and_blank_in_text():
    rows = [{"index": "x", "docs.count": None, "store.size": None}]
    assert cat.render(COLUMNS, rows, {"format": "json"}).body == [
        {"index": "x", "docs.count": None, "store.size": None}
    ]
    assert cat.render(COLUMNS, rows, {}).body == "x  \n"


def test_timestamps_go_with_ts_false():
    columns = (col("epoch", "t"), col("timestamp", "ts"), num("count"))
    rows = [{"epoch": 1, "timestamp": "00:00:01", "count": 3}]
    assert cat.render(columns, rows, {"ts": "false", "format": "json"}).body == [{"count": "3"}]


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0b"), (1023, "1023b"), (1024, "1kb"), (1536, "1.5kb"), (5 * 1024**3, "5gb")],
)
def test_human_bytes(size, text):
    assert cat.human_bytes(size) == text


@pytest.mark.parametrize(
    ("millis", "unit", "text"),
    [(1500, None, "1.5s"), (150, None, "150ms"), (90_000, None, "1.5m"), (1500, "s", "1")],
)
def test_durations(millis, unit, text):
    assert cat.format_cell(Duration(millis), cat.Units(time=unit)) == text


def test_an_empty_table_is_empty_text_or_just_the_header():
    assert cat.render(COLUMNS, [], {}).body == ""
    assert cat.render(COLUMNS, [], {"v": ""}).body == "index docs.count store.size\n"

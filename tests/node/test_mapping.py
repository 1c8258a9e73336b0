"""Pure rules of the store: index names, mappings, dynamic mapping, values, dates, _source."""

from __future__ import annotations

import pytest

from citadel.node.errors import DocumentParsing, IllegalArgument, InvalidIndexName, MapperParsing
from citadel.node.store import dates
from citadel.node.store import mapping as mp
from citadel.node.store import source as src
from citadel.node.store.indices import nest_settings, normalize_settings, resolve_names


def props(**fields):
    return {"properties": fields}


def indexed(mappings, source, doc_id="1", limits=None):
    return mp.index_document(mappings, source, doc_id, limits)


# -- index names -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["books", "logs-2024.01.01", "a_b", "ünïcode", ".hidden", "x" * 255, "1"]
)
def test_valid_index_names_are_accepted(name):
    assert mp.validate_index_name(name) == name


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("Books", "must be lowercase"),
        ("a b", "must not contain the following characters"),
        ("a,b", "must not contain the following characters"),
        ("a*", "must not contain the following characters"),
        ('a"b', "must not contain the following characters"),
        ("a\\b", "must not contain the following characters"),
        ("a|b", "must not contain the following characters"),
        ("a<b", "must not contain the following characters"),
        ("a?b", "must not contain the following characters"),
        ("a#b", "must not contain '#'"),
        ("a:b", "must not contain ':'"),
        ("_a", "must not start with '_', '-', or '+'"),
        ("-a", "must not start with '_', '-', or '+'"),
        ("+a", "must not start with '_', '-', or '+'"),
        (".", "must not be '.' or '..'"),
        ("..", "must not be '.' or '..'"),
        ("x" * 256, "index name is too long, (256 > 255)"),
        ("é" * 128, "index name is too long"),
        ("", "must not be empty"),
    ],
)
def test_invalid_index_names_are_refused_like_elasticsearch(name, problem):
    with pytest.raises(InvalidIndexName) as caught:
        mp.validate_index_name(name)
    assert problem in caught.value.reason
    assert caught.value.status == 400
    assert caught.value.body()["error"]["index"] == name


# -- mappings --------------------------------------------------------------------------------


def test_every_documented_field_type_is_accepted():
    body = props(
        t={"type": "text"},
        k={"type": "keyword", "ignore_above": 10},
        l={"type": "long"},
        i={"type": "integer"},
        s={"type": "short"},
        b={"type": "byte"},
        d={"type": "double"},
        f={"type": "float"},
        h={"type": "half_float"},
        sf={"type": "scaled_float", "scaling_factor": 100},
        dt={"type": "date", "format": "yyyy-MM-dd||epoch_millis"},
        bo={"type": "boolean"},
        o={"type": "object", "properties": {"x": {"type": "keyword"}}},
    )
    normalized = mp.normalize_mappings(body)
    kinds = {f.path: f.type for f in mp.fields_of(normalized).values()}
    assert kinds["sf"] == "scaled_float"
    assert kinds["o"] == "object"
    assert kinds["o.x"] == "keyword"


def test_an_unknown_field_type_is_a_mapper_parsing_error():
    with pytest.raises(MapperParsing, match=r"No handler for type \[strnig\] declared on field"):
        mp.normalize_mappings(props(title={"type": "strnig"}))


def test_an_unknown_parameter_is_a_mapper_parsing_error():
    with pytest.raises(MapperParsing, match=r"unknown parameter \[analyser\] on mapper \[title\]"):
        mp.normalize_mappings(props(title={"type": "text", "analyser": "standard"}))


def test_unknown_root_parameters_are_refused():
    with pytest.raises(MapperParsing, match="Root mapping definition has unsupported parameters"):
        mp.normalize_mappings({"_doc": props(title={"type": "text"})})


def test_scaled_float_requires_a_scaling_factor():
    with pytest.raises(MapperParsing, match=r"Field \[scaling_factor\] is required"):
        mp.normalize_mappings(props(price={"type": "scaled_float"}))


def test_an_invalid_date_format_is_refused():
    with pytest.raises(MapperParsing, match="format"):
        mp.normalize_mappings(props(when={"type": "date", "format": "yyyy-qq"}))


def test_multi_fields_are_flattened_with_dots():
    mappings = mp.normalize_mappings(
        props(title={"type": "text", "fields": {"raw": {"type": "keyword"}}})
    )
    assert mp.fields_of(mappings)["title.raw"].type == "keyword"
    assert mp.text_fields(mappings) == ["title"]


def test_an_object_cannot_be_a_multi_field():
    with pytest.raises(MapperParsing, match="cannot be used in multi field"):
        mp.normalize_mappings(props(title={"type": "text", "fields": {"o": {"properties": {}}}}))


def test_dotted_property_names_become_objects():
    mappings = mp.normalize_mappings(props(**{"user.name": {"type": "keyword"}}))
    assert mappings == {"properties": {"user": {"properties": {"name": {"type": "keyword"}}}}}


def test_fields_without_a_type_are_objects():
    mappings = mp.normalize_mappings(props(meta={"properties": {"a": {"type": "long"}}}))
    assert mp.fields_of(mappings)["meta"].is_object


def test_merging_adds_fields_and_keeps_the_old_ones():
    current = mp.normalize_mappings(props(a={"type": "keyword"}))
    merged = mp.merge_mappings(current, mp.normalize_mappings(props(b={"type": "long"})))
    assert set(merged["properties"]) == {"a", "b"}


def test_merging_cannot_change_a_field_type():
    current = mp.normalize_mappings(props(a={"type": "keyword"}))
    with pytest.raises(
        IllegalArgument, match=r"cannot be changed from type \[keyword\] to \[long\]"
    ):
        mp.merge_mappings(current, mp.normalize_mappings(props(a={"type": "long"})))


def test_merging_cannot_turn_an_object_into_a_value():
    current = mp.normalize_mappings(props(a={"properties": {"b": {"type": "long"}}}))
    with pytest.raises(IllegalArgument, match="can't merge a non object mapping"):
        mp.merge_mappings(current, mp.normalize_mappings(props(a={"type": "long"})))


def test_merging_may_raise_ignore_above_but_not_change_a_format():
    current = mp.normalize_mappings(
        props(k={"type": "keyword", "ignore_above": 5}, d={"type": "date", "format": "yyyy"})
    )
    merged = mp.merge_mappings(
        current, mp.normalize_mappings(props(k={"type": "keyword", "ignore_above": 50}))
    )
    assert merged["properties"]["k"]["ignore_above"] == 50
    with pytest.raises(IllegalArgument, match=r"Cannot update parameter \[format\]"):
        mp.merge_mappings(
            current, mp.normalize_mappings(props(d={"type": "date", "format": "yyyy-MM"}))
        )


def test_merging_adds_multi_fields():
    current = mp.normalize_mappings(props(t={"type": "text"}))
    merged = mp.merge_mappings(
        current,
        mp.normalize_mappings(props(t={"type": "text", "fields": {"kw": {"type": "keyword"}}})),
    )
    assert mp.fields_of(merged)["t.kw"].type == "keyword"


def test_canonical_mappings_sort_properties_by_name():
    mappings = mp.canonical(props(b={"type": "long"}, a={"type": "long"}))
    assert list(mappings["properties"]) == ["a", "b"]


# -- dynamic mapping -------------------------------------------------------------------------


def test_dynamic_mapping_follows_elasticsearch_defaults():
    result = indexed(
        {},
        {
            "title": "Quick fox",
            "count": 3,
            "price": 9.5,
            "ok": True,
            "when": "2024-01-15T10:00:00Z",
            "day": "2024-01-15",
            "slashed": "2024/01/15",
            "year": "2015",
            "user": {"name": "ann"},
        },
    )
    fields = mp.fields_of(result.mappings)
    assert result.mappings_changed
    assert fields["title"].definition == {
        "type": "text",
        "fields": {"keyword": {"type": "keyword", "ignore_above": 256}},
    }
    assert fields["title.keyword"].type == "keyword"
    assert fields["count"].type == "long"
    assert fields["price"].type == "float"
    assert fields["ok"].type == "boolean"
    assert fields["when"].definition == {"type": "date"}
    assert fields["day"].type == "date"
    assert fields["slashed"].definition["format"] == dates.DYNAMIC_SLASH_FORMAT
    assert fields["year"].type == "text"  # a bare year stays a string
    assert fields["user"].is_object
    assert fields["user.name"].type == "text"


def test_an_array_is_mapped_by_its_first_value():
    result = indexed({}, {"tags": [None, "a", "b"]})
    assert mp.fields_of(result.mappings)["tags"].type == "text"
    assert result.texts == {"tags": ["a", "b"]}


def test_null_and_empty_arrays_add_no_mapping():
    result = indexed({}, {"a": None, "b": []})
    assert not result.mappings_changed
    assert result.values == []


def test_dotted_document_keys_are_objects():
    result = indexed({}, {"user.name": "ann", "user": {"age": 3}})
    fields = mp.fields_of(result.mappings)
    assert fields["user"].is_object
    assert fields["user.name"].type == "text"
    assert fields["user.age"].type == "long"


def test_a_document_that_adds_nothing_returns_the_same_mappings():
    mappings = mp.normalize_mappings(props(n={"type": "long"}))
    result = indexed(mappings, {"n": 1})
    assert not result.mappings_changed
    assert result.mappings == mappings


def test_indexing_never_modifies_the_given_mappings():
    mappings = mp.normalize_mappings(props(n={"type": "long"}))
    snapshot = repr(mappings)
    indexed(mappings, {"n": 1, "new": "x", "obj": {"deep": 1}})
    assert repr(mappings) == snapshot


def test_strict_mappings_refuse_new_fields():
    mappings = mp.normalize_mappings({"dynamic": "strict", **props(a={"type": "long"})})
    with pytest.raises(DocumentParsing, match=r"dynamic introduction of \[b\] within \[_doc\]"):
        indexed(mappings, {"a": 1, "b": 2})


def test_dynamic_false_keeps_new_fields_unindexed():
    mappings = mp.normalize_mappings({"dynamic": False, **props(a={"type": "long"})})
    result = indexed(mappings, {"a": 1, "b": 2, "c": {"d": 1}})
    assert not result.mappings_changed
    assert result.values == [("a", None, 1.0)]


def test_disabled_objects_are_not_indexed():
    mappings = mp.normalize_mappings(props(blob={"type": "object", "enabled": False}))
    result = indexed(mappings, {"blob": {"anything": [1, "x", {"y": True}]}})
    assert result.values == []
    assert not result.mappings_changed


def test_numeric_detection_maps_numeric_strings_as_numbers():
    result = indexed({"numeric_detection": True}, {"n": "42", "f": "1.5"})
    fields = mp.fields_of(result.mappings)
    assert (fields["n"].type, fields["f"].type) == ("long", "float")


def test_metadata_fields_cannot_appear_in_a_document():
    with pytest.raises(DocumentParsing, match=r"Field \[_id\] is a metadata field"):
        indexed({}, {"_id": "x"})


@pytest.mark.parametrize("key", ["", " ", "a..b", ".a", "a."])
def test_ambiguous_field_names_are_refused(key):
    with pytest.raises(DocumentParsing):
        indexed({}, {key: 1})


def test_a_document_must_be_an_object():
    with pytest.raises(DocumentParsing):
        indexed({}, ["not", "an", "object"])


def test_the_total_fields_limit_stops_mapping_explosions():
    source = {f"f{i}": i for i in range(20)}
    with pytest.raises(DocumentParsing, match=r"Limit of total fields \[10\]"):
        indexed({}, source, limits=mp.Limits(total_fields=10))


def test_the_depth_limit_stops_deep_objects():
    source: dict = {}
    node = source
    for _ in range(30):
        node["a"] = {}
        node = node["a"]
    node["leaf"] = 1
    with pytest.raises(DocumentParsing, match=r"Limit of mapping depth \[20\]"):
        indexed({}, source)


def test_copy_to_indexes_values_under_the_target_too():
    mappings = mp.normalize_mappings(
        props(
            first={"type": "text", "copy_to": "full"},
            last={"type": "text", "copy_to": "full"},
            full={"type": "text"},
        )
    )
    result = indexed(mappings, {"first": "Ada", "last": "Lovelace"})
    assert result.texts["full"] == ["Ada", "Lovelace"]


# -- values ----------------------------------------------------------------------------------


def test_values_become_doc_values_rows_and_text():
    mappings = mp.normalize_mappings(
        props(
            title={"type": "text", "fields": {"keyword": {"type": "keyword"}}},
            tags={"type": "keyword"},
            year={"type": "integer"},
            price={"type": "float"},
            when={"type": "date"},
            ok={"type": "boolean"},
        )
    )
    result = indexed(
        mappings,
        {
            "title": ["Quick fox", "Lazy dog"],
            "tags": ["a", "b"],
            "year": "1998",
            "price": 9.5,
            "when": "1970-01-02",
            "ok": False,
        },
    )
    assert result.texts == {"title": ["Quick fox", "Lazy dog"]}
    assert sorted(result.values, key=repr) == sorted(
        [
            ("title", None, None),
            ("title.keyword", "Quick fox", None),
            ("title.keyword", "Lazy dog", None),
            ("tags", "a", None),
            ("tags", "b", None),
            ("year", None, 1998.0),
            ("price", None, 9.5),
            ("when", None, 86_400_000.0),
            ("ok", "false", 0.0),
        ],
        key=repr,
    )


def test_keywords_longer_than_ignore_above_are_not_indexed():
    mappings = mp.normalize_mappings(props(k={"type": "keyword", "ignore_above": 3}))
    assert indexed(mappings, {"k": ["abc", "abcd"]}).values == [("k", "abc", None)]


def test_numbers_and_booleans_index_as_keyword_text():
    mappings = mp.normalize_mappings(props(k={"type": "keyword"}))
    assert indexed(mappings, {"k": [7, True]}).values == [("k", "7", None), ("k", "true", None)]


def test_booleans_accept_strings_true_and_false():
    mappings = mp.normalize_mappings(props(b={"type": "boolean"}))
    assert indexed(mappings, {"b": ["true", "false"]}).values == [
        ("b", "true", 1.0),
        ("b", "false", 0.0),
    ]


def test_dates_accept_epoch_millis_and_iso_with_zones():
    mappings = mp.normalize_mappings(props(d={"type": "date"}))
    result = indexed(mappings, {"d": [0, "1700000000000", "1970-01-01T01:00:00+01:00"]})
    assert [num for _, _, num in result.values] == [0.0, 1_700_000_000_000.0, 0.0]


def test_long_values_with_decimals_are_truncated():
    mappings = mp.normalize_mappings(props(n={"type": "long"}))
    assert indexed(mappings, {"n": 3.9}).values == [("n", None, 3.0)]


def test_scaled_floats_are_rounded_to_their_factor():
    mappings = mp.normalize_mappings(props(p={"type": "scaled_float", "scaling_factor": 10}))
    assert indexed(mappings, {"p": 1.26}).values == [("p", None, 1.3)]


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("long", "abc"),
        ("long", True),
        ("integer", 2**31),
        ("byte", 128),
        ("double", "1_000"),
        ("date", "yesterday"),
        ("date", True),
        ("boolean", "yes"),
        ("keyword", {"an": "object"}),
        ("text", {"an": "object"}),
        ("float", 1e39),
    ],
)
def test_a_wrong_value_for_a_mapped_field_is_a_document_parsing_error(kind, value):
    mappings = mp.normalize_mappings(props(f={"type": kind}))
    with pytest.raises(DocumentParsing, match=rf"failed to parse field \[f\] of type \[{kind}\]"):
        indexed(mappings, {"f": value}, doc_id="7")


def test_ignore_malformed_skips_bad_values():
    mappings = mp.normalize_mappings(props(n={"type": "long", "ignore_malformed": True}))
    assert indexed(mappings, {"n": ["x", 2]}).values == [("n", None, 2.0)]


def test_a_value_where_an_object_is_mapped_is_refused():
    mappings = mp.normalize_mappings(props(user={"properties": {"name": {"type": "text"}}}))
    with pytest.raises(DocumentParsing, match="tried to parse field"):
        indexed(mappings, {"user": "ann"})


def test_null_value_stands_in_for_null():
    mappings = mp.normalize_mappings(props(s={"type": "keyword", "null_value": "NULL"}))
    assert indexed(mappings, {"s": None}).values == [("s", "NULL", None)]


def test_a_text_field_gets_one_exists_marker_however_many_values():
    mappings = mp.normalize_mappings(props(t={"type": "text"}))
    assert indexed(mappings, {"t": ["a", "b", ""]}).values == [("t", None, None)]


# -- dates -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "millis"),
    [
        ("1970-01-01", 0),
        ("1970-01-01T00:00:01Z", 1000),
        ("1970-01-01T00:00:00.5Z", 500),
        ("1970-01-01T01:00:00+01:00", 0),
        ("1970-01-01T00:00", 0),
        ("1970", 0),
        ("1970-02", 31 * 86_400_000),
        (1234, 1234),
        ("-1000", -1000),
    ],
)
def test_the_default_date_format_reads_iso_and_epoch_millis(value, millis):
    assert dates.parse_date(value) == millis


def test_custom_java_style_formats_are_understood():
    assert dates.parse_date("02.01.1970 00:00", "dd.MM.yyyy HH:mm") == 86_400_000
    assert dates.parse_date("1970/01/02", "yyyy/MM/dd HH:mm:ss Z||yyyy/MM/dd Z") == 86_400_000
    assert dates.parse_date("1", "epoch_second") == 1000


def test_an_unreadable_date_raises():
    with pytest.raises(dates.DateFormatError):
        dates.parse_date("2024-13-45")


def test_millis_format_back_to_iso():
    assert dates.format_millis(86_400_123) == "1970-01-02T00:00:00.123Z"


# -- settings and expressions ----------------------------------------------------------------


def test_settings_are_flattened_to_index_keys_with_string_values():
    flat = normalize_settings({"number_of_shards": 3, "index": {"refresh_interval": "1s"}})
    assert flat == {"index.number_of_shards": "3", "index.refresh_interval": "1s"}
    assert nest_settings(flat) == {"index": {"number_of_shards": "3", "refresh_interval": "1s"}}


@pytest.mark.parametrize(
    "settings",
    [
        {"number_of_shards": 0},
        {"number_of_replicas": -1},
        {"index.uuid": "x"},
        {"number_of_shards": "x"},
    ],
)
def test_bad_settings_are_refused(settings):
    with pytest.raises(IllegalArgument):
        normalize_settings(settings)


NAMES = ["books", "logs-1", "logs-2", ".hidden"]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("books", ["books"]),
        ("logs-*", ["logs-1", "logs-2"]),
        ("_all", ["books", "logs-1", "logs-2"]),
        ("*", ["books", "logs-1", "logs-2"]),
        (None, ["books", "logs-1", "logs-2"]),
        ("books,logs-2", ["books", "logs-2"]),
        ("logs-*,-logs-1", ["logs-2"]),
        (".h*", [".hidden"]),
        ("nothing-*", []),
    ],
)
def test_index_expressions_resolve_to_concrete_names(expression, expected):
    assert resolve_names(expression, NAMES) == expected


def test_wildcards_expand_only_to_allowed_indices():
    assert resolve_names("*", NAMES, allowed=lambda n: n.startswith("logs")) == ["logs-1", "logs-2"]


def test_a_missing_concrete_index_is_a_404_unless_ignored():
    with pytest.raises(Exception, match=r"no such index \[nope\]"):
        resolve_names("books,nope", NAMES)
    assert resolve_names("books,nope", NAMES, ignore_unavailable=True) == ["books"]


def test_an_empty_wildcard_is_a_404_when_no_indices_are_not_allowed():
    with pytest.raises(Exception, match="no such index"):
        resolve_names("nothing-*", NAMES, allow_no_indices=False)


# -- _source filtering -----------------------------------------------------------------------

DOC = {"title": "t", "user": {"name": "ann", "age": 3}, "tags": ["a"], "items": [{"x": 1, "y": 2}]}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (src.FETCH_ALL, DOC),
        (src.parse_source_params({"_source": "false"}), None),
        (
            src.parse_source_params({"_source": "title,user.name"}),
            {"title": "t", "user": {"name": "ann"}},
        ),
        (
            src.parse_source_params({"_source_includes": "user"}),
            {"user": {"name": "ann", "age": 3}},
        ),
        (
            src.parse_source_params({"_source_excludes": "user.*,items"}),
            {"title": "t", "user": {}, "tags": ["a"]},
        ),
        (src.parse_source({"includes": ["items.x"]}), {"items": [{"x": 1}]}),
        (src.parse_source(["t*"]), {"title": "t", "tags": ["a"]}),
    ],
)
def test_source_filters_pick_paths(spec, expected):
    assert src.apply(spec, DOC) == expected

"""``_field_caps``: capabilities per field, merged across indices as Elasticsearch does."""

from __future__ import annotations

from tests.node.builders import error_of

MAPPINGS = {
    "properties": {
        "title": {"type": "text", "fields": {"raw": {"type": "keyword"}}},
        "count": {"type": "long", "doc_values": False},
        "user": {"properties": {"name": {"type": "keyword", "meta": {"unit": "none"}}}},
    }
}


def test_a_text_field_is_searchable_and_not_aggregatable(es):
    es.put("/a", json={"mappings": MAPPINGS})
    body = es.post("/a/_field_caps?fields=title").json()
    assert body == {
        "indices": ["a"],
        "fields": {
            "title": {
                "text": {
                    "type": "text",
                    "metadata_field": False,
                    "searchable": True,
                    "aggregatable": False,
                }
            }
        },
    }


def test_wildcards_reach_multi_fields_objects_and_meta(es):
    es.put("/a", json={"mappings": MAPPINGS})
    fields = es.get("/a/_field_caps?fields=title*,user*").json()["fields"]
    assert fields["title.raw"]["keyword"]["aggregatable"] is True
    assert fields["user"]["object"]["searchable"] is False
    assert fields["user.name"]["keyword"]["meta"] == {"unit": ["none"]}


def test_doc_values_false_is_not_aggregatable(es):
    es.put("/a", json={"mappings": MAPPINGS})
    fields = es.get("/a/_field_caps?fields=count").json()["fields"]
    assert fields["count"]["long"]["aggregatable"] is False


def test_filters_drop_metadata_multifields_and_parents(es):
    es.put("/a", json={"mappings": MAPPINGS})
    every = es.get("/a/_field_caps?fields=*").json()["fields"]
    assert every["_id"]["_id"]["metadata_field"] is True
    some = es.get("/a/_field_caps?fields=*&filters=-metadata,-multifield,-parent").json()
    assert sorted(some["fields"]) == ["count", "title", "user.name"]
    only = es.get("/a/_field_caps?fields=*&filters=%2Bmetadata").json()["fields"]
    assert all(name.startswith("_") for name in only)


def test_types_select_fields_by_type(es):
    es.put("/a", json={"mappings": MAPPINGS})
    fields = es.get("/a/_field_caps?fields=*&types=keyword").json()["fields"]
    assert sorted(fields) == ["title.raw", "user.name"]


def test_conflicting_types_list_their_indices(es):
    es.put("/a", json={"mappings": {"properties": {"x": {"type": "long"}}}})
    es.put("/b", json={"mappings": {"properties": {"x": {"type": "keyword", "index": False}}}})
    es.put("/c")
    body = es.get("/a,b,c/_field_caps?fields=x&include_unmapped=true").json()
    assert body["indices"] == ["a", "b", "c"]
    assert body["fields"]["x"]["long"]["indices"] == ["a"]
    assert body["fields"]["x"]["keyword"]["searchable"] is False
    assert body["fields"]["x"]["unmapped"]["indices"] == ["c"]


def test_non_searchable_indices_are_named_when_indices_disagree(es):
    es.put("/a", json={"mappings": {"properties": {"x": {"type": "keyword"}}}})
    es.put("/b", json={"mappings": {"properties": {"x": {"type": "keyword", "index": False}}}})
    entry = es.get("/a,b/_field_caps?fields=x").json()["fields"]["x"]["keyword"]
    assert entry["searchable"] is False
    assert entry["non_searchable_indices"] == ["b"]
    assert "indices" not in entry


def test_index_filter_keeps_the_indices_with_matches(es):
    es.put("/a/_doc/1?refresh=true", json={"n": 1})
    es.put("/b/_doc/1?refresh=true", json={"n": 5})
    body = {"index_filter": {"range": {"n": {"gte": 3}}}}
    assert es.post("/a,b/_field_caps?fields=n", json=body).json()["indices"] == ["b"]


def test_empty_fields_are_dropped_when_asked(es):
    es.put("/a", json={"mappings": MAPPINGS})
    es.put("/a/_doc/1?refresh=true", json={"title": "hello"})
    url = "/a/_field_caps?fields=*&filters=-metadata&include_empty_fields=false"
    assert sorted(es.get(url).json()["fields"]) == ["title", "title.raw"]


def test_fields_are_required(es):
    es.put("/a")
    assert "fields" in error_of(es.get("/a/_field_caps"), 400)["reason"]


def test_runtime_mappings_are_refused_by_name(es):
    es.put("/a")
    body = {"fields": ["*"], "runtime_mappings": {"r": {"type": "keyword"}}}
    reason = error_of(es.post("/a/_field_caps", json=body), 400)["reason"]
    assert "runtime_mappings" in reason

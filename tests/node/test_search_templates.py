"""Search templates through the REST API: _search/template, _render/template, _msearch/template."""

from __future__ import annotations

import json

import pytest

from citadel.node.search.templates import parse_template_request, search_body
from tests.node.builders import client_as, error_of

NDJSON = {"content-type": "application/x-ndjson"}
TEMPLATE = {"query": {"match": {"title": "{{q}}"}}, "size": "{{size}}"}


@pytest.fixture
def books(es):
    es.put("/books", json={"mappings": {"properties": {"title": {"type": "text"}}}})
    for i, title in enumerate(["red fox", "blue fox", "green frog"], start=1):
        es.put(f"/books/_doc/{i}", json={"title": title})
    es.post("/books/_refresh")
    return es


def put_template(es, name="tpl", source=TEMPLATE):
    body = {"script": {"lang": "mustache", "source": source}}
    assert es.put(f"/_scripts/{name}", json=body).status_code == 200


def ids(response):
    assert response.status_code == 200, response.text
    return sorted(hit["_id"] for hit in response.json()["hits"]["hits"])


def test_inline_template_searches_as_the_rendered_body(books):
    body = {"source": TEMPLATE, "params": {"q": "fox", "size": 10}}
    assert ids(books.post("/books/_search/template", json=body)) == ["1", "2"]


def test_string_source_is_rendered_too(books):
    source = '{"query": {"match": {"title": "{{q}}"}}}'
    assert ids(
        books.post("/books/_search/template", json={"source": source, "params": {"q": "frog"}})
    ) == ["3"]


def test_stored_template_by_id(books):
    put_template(books)
    body = {"id": "tpl", "params": {"q": "fox", "size": 1}}
    response = books.post("/books/_search/template", json=body)
    assert len(response.json()["hits"]["hits"]) == 1
    assert response.json()["hits"]["total"]["value"] == 2


def test_to_json_params_reach_the_query(books):
    source = '{"query": {"terms": {"_id": {{#toJson}}wanted{{/toJson}}}}}'
    body = {"source": source, "params": {"wanted": ["1", "3"]}}
    assert ids(books.post("/books/_search/template", json=body)) == ["1", "3"]


def test_explain_flag_adds_explanations(books):
    body = {"source": TEMPLATE, "params": {"q": "fox", "size": 1}, "explain": True}
    hit = books.post("/books/_search/template", json=body).json()["hits"]["hits"][0]
    assert "_explanation" in hit


def test_rendered_explain_is_replaced_by_the_request_flag(books):
    source = {"query": {"match_all": {}}, "explain": True}
    hit = books.post("/books/_search/template", json={"source": source}).json()["hits"]["hits"][0]
    assert "_explanation" not in hit


def test_profile_true_is_a_400_naming_it(books):
    body = {"source": TEMPLATE, "params": {"q": "fox"}, "profile": True}
    assert (
        "[profile] is not supported"
        in error_of(books.post("/books/_search/template", json=body), 400)["reason"]
    )


def test_missing_stored_template_is_404(books):
    error = error_of(books.post("/books/_search/template", json={"id": "nope"}), 404)
    assert error["reason"] == "unable to find script [nope] in cluster state"


def test_stored_painless_script_is_not_a_template(books):
    books.put("/_scripts/p", json={"script": {"lang": "painless", "source": "1"}})
    assert (
        "[mustache] scripts only"
        in error_of(books.post("/books/_search/template", json={"id": "p"}), 400)["reason"]
    )


def test_template_is_required(books):
    error = error_of(books.post("/books/_search/template", json={"params": {}}), 400)
    assert error["reason"] == "Validation Failed: 1: template is missing;"


def test_unknown_body_field_is_refused(books):
    error = error_of(books.post("/books/_search/template", json={"source": "{}", "x": 1}), 400)
    assert "unknown field [x]" in error["reason"]


def test_rendering_to_something_not_json_is_a_400(books):
    body = {"source": '{"query": {{q}} }', "params": {"q": "oops"}}
    assert (
        error_of(books.post("/books/_search/template", json=body), 400)["type"]
        == "x_content_parse_exception"
    )


def test_rendered_body_is_checked_as_a_search_body(books):
    body = {"source": '{"nonsense": 1}'}
    assert (
        error_of(books.post("/books/_search/template", json=body), 400)["type"]
        == "parsing_exception"
    )


def test_scroll_through_a_template(books):
    body = {"source": {"query": {"match_all": {}}, "size": 2}}
    first = books.post("/books/_search/template?scroll=1m", json=body).json()
    assert len(first["hits"]["hits"]) == 2
    rest = books.post("/_search/scroll", json={"scroll_id": first["_scroll_id"], "scroll": "1m"})
    assert len(rest.json()["hits"]["hits"]) == 1


def test_unknown_url_parameter_is_refused(books):
    body = {"source": "{}"}
    assert (
        "unrecognized parameter: [size]"
        in error_of(books.post("/books/_search/template?size=1", json=body), 400)["reason"]
    )


def test_render_template_inline_and_stored(es):
    put_template(es)
    out = es.post("/_render/template", json={"id": "tpl", "params": {"q": "a b", "size": 5}}).json()
    assert out == {"template_output": {"query": {"match": {"title": "a b"}}, "size": "5"}}
    out = es.post("/_render/template/tpl", json={"params": {"q": "x"}}).json()
    assert out["template_output"]["size"] == ""
    out = es.post(
        "/_render/template",
        json={"source": '{"a": [{{#join}}l{{/join}}]}', "params": {"l": [1, 2]}},
    )
    assert out.json() == {"template_output": {"a": [1, 2]}}


def test_msearch_template_answers_each_search(books):
    put_template(books)
    lines = [
        {},
        {"id": "tpl", "params": {"q": "fox", "size": 10}},
        {"index": "books"},
        {"source": {"query": {"match": {"title": "{{q}}"}}}, "params": {"q": "frog"}},
        {},
        {"id": "nope"},
    ]
    body = "".join(json.dumps(line) + "\n" for line in lines)
    out = books.post("/books/_msearch/template", content=body, headers=NDJSON).json()
    first, second, third = out["responses"]
    assert (first["status"], first["hits"]["total"]["value"]) == (200, 2)
    assert [h["_id"] for h in second["hits"]["hits"]] == ["3"]
    assert (third["status"], third["error"]["type"]) == (404, "resource_not_found_exception")


def test_templated_search_needs_read_on_the_index(books, node_app, node_services):
    books.put("/other", json={})
    indices = [{"names": ["other"], "privileges": ["read"]}]
    with client_as(node_app, node_services, "bob", indices) as bob:
        body = {"source": {"query": {"match_all": {}}}}
        assert bob.post("/books/_search/template", json=body).status_code == 403
        assert bob.post("/other/_search/template", json=body).status_code == 200


def test_body_id_and_source_last_one_wins():
    parsed = parse_template_request({"source": "{}", "id": "x"})
    assert (parsed.source, parsed.id) == (None, "x")
    parsed = parse_template_request({"id": "x"}, stored_id="y")
    assert parsed.id == "y"


def test_search_body_drops_profile_false_and_keeps_the_rest():
    parsed = parse_template_request({"source": '{"size": 1, "profile": false}'})
    assert search_body(parsed, lambda _: "") == {"size": 1}

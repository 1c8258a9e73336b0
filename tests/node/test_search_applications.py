"""Search applications and behavioral analytics collections through REST."""

from __future__ import annotations

from tests.node.builders import client_as, error_of

TEMPLATE = {
    "script": {
        "source": {"query": {"term": {"{{field}}": "{{value}}"}}},
        "params": {"field": "tag", "value": "a"},
    },
    "dictionary": {
        "properties": {
            "field": {"type": "string", "enum": ["tag", "other"]},
            "value": {"type": "string"},
        },
        "additionalProperties": False,
    },
}


def setup_app(es, name="app"):
    es.put("/i1", json={"mappings": {"properties": {"tag": {"type": "keyword"}}}})
    es.put("/i1/_doc/1?refresh=true", json={"tag": "a"})
    es.put("/i1/_doc/2?refresh=true", json={"tag": "b"})
    return es.put(
        f"/_application/search_application/{name}", json={"indices": ["i1"], "template": TEMPLATE}
    )


def test_put_get_list_delete(es):
    response = setup_app(es)
    assert (response.status_code, response.json()) == (201, {"result": "created"})
    got = es.get("/_application/search_application/app").json()
    assert got["name"] == "app"
    assert got["indices"] == ["i1"]
    assert got["template"]["script"]["lang"] == "mustache"
    assert got["template"]["script"]["source"] == '{"query":{"term":{"{{field}}":"{{value}}"}}}'
    listed = es.get("/_application/search_application?q=ap*").json()
    assert listed["count"] == 1
    assert listed["results"][0]["name"] == "app"
    assert es.get("/_application/search_application?q=zz*").json()["count"] == 0
    assert es.delete("/_application/search_application/app").json() == {"acknowledged": True}
    error_of(es.get("/_application/search_application/app"), 404)


def test_create_flag_refuses_an_existing_application(es):
    setup_app(es)
    response = es.put("/_application/search_application/app?create=true", json={"indices": ["i1"]})
    error_of(response, 409)


def test_indices_must_exist(es):
    response = es.put("/_application/search_application/app", json={"indices": ["nope"]})
    assert error_of(response, 404)["type"] == "index_not_found_exception"


def test_search_renders_the_template_with_request_params_over_defaults(es):
    setup_app(es)
    hits = es.post("/_application/search_application/app/_search", json={}).json()["hits"]
    assert [h["_id"] for h in hits["hits"]] == ["1"]
    out = es.post("/_application/search_application/app/_search", json={"params": {"value": "b"}})
    assert [h["_id"] for h in out.json()["hits"]["hits"]] == ["2"]


def test_params_outside_the_dictionary_are_400(es):
    setup_app(es)
    response = es.post(
        "/_application/search_application/app/_search", json={"params": {"field": "x"}}
    )
    assert error_of(response, 400)["type"] == "action_request_validation_exception"


def test_render_query_answers_the_rendered_body(es):
    setup_app(es)
    out = es.post(
        "/_application/search_application/app/_render_query", json={"params": {"value": "b"}}
    )
    assert out.json() == {"query": {"term": {"tag": "b"}}}


def test_a_template_that_does_not_compile_is_400(es):
    es.put("/i1")
    bad = {"indices": ["i1"], "template": {"script": {"source": "{{#a}}"}}}
    error_of(es.put("/_application/search_application/app", json=bad), 400)


def test_search_needs_read_on_the_indices(node_app, node_services, es):
    setup_app(es)
    with client_as(
        node_app, node_services, "bob", [], cluster=["manage_search_application"]
    ) as bob:
        assert bob.get("/_application/search_application/app").status_code == 200
        assert bob.post("/_application/search_application/app/_search").status_code == 403


def test_analytics_collections(es):
    assert es.put("/_application/analytics/c1").json() == {"acknowledged": True, "name": "c1"}
    error_of(es.put("/_application/analytics/c1"), 400)
    stream = {"event_data_stream": {"name": "behavioral_analytics-events-c1"}}
    assert es.get("/_application/analytics/c1").json() == {"c1": stream}
    assert es.get("/_application/analytics").json() == {"c1": stream}
    assert es.delete("/_application/analytics/c1").json() == {"acknowledged": True}
    error_of(es.get("/_application/analytics/c1"), 404)


def test_events_are_accepted_and_checked(es):
    es.put("/_application/analytics/c1")
    event = {"session": {"id": "s"}, "user": {"id": "u"}, "page": {"url": "https://x"}}
    response = es.post("/_application/analytics/c1/event/page_view", json=event)
    assert (response.status_code, response.json()) == (202, {"accepted": True})
    error_of(es.post("/_application/analytics/c1/event/search", json=event), 400)
    error_of(es.post("/_application/analytics/c1/event/nope", json=event), 400)
    error_of(es.post("/_application/analytics/c2/event/page_view", json=event), 404)

"""Stored scripts through the REST API: _scripts, _script_context, _script_language."""

from __future__ import annotations

from tests.node.builders import client_as, error_of

TEMPLATE = {"query": {"match": {"message": "{{q}}"}}, "size": "{{size}}"}


def test_mustache_object_source_is_stored_as_json_text(es):
    body = {"script": {"lang": "mustache", "source": TEMPLATE, "params": {"q": "x"}}}
    assert es.put("/_scripts/tpl", json=body).json() == {"acknowledged": True}
    assert es.get("/_scripts/tpl").json() == {
        "_id": "tpl",
        "found": True,
        "script": {
            "lang": "mustache",
            "source": '{"query":{"match":{"message":"{{q}}"}},"size":"{{size}}"}',
            "options": {"content_type": "application/json"},
        },
    }


def test_painless_is_stored_as_written(es):
    body = {"script": {"lang": "painless", "source": "Math.log(_score * 2)"}}
    assert es.post("/_scripts/s", json=body).status_code == 200
    got = es.get("/_scripts/s").json()["script"]
    assert got == {"lang": "painless", "source": "Math.log(_score * 2)", "options": {}}


def test_missing_script_is_404_found_false(es):
    response = es.get("/_scripts/nope")
    assert (response.status_code, response.json()) == (404, {"_id": "nope", "found": False})


def test_delete_removes_and_a_second_delete_is_404(es):
    es.put("/_scripts/s", json={"script": {"lang": "painless", "source": "1"}})
    assert es.delete("/_scripts/s").json() == {"acknowledged": True}
    error = error_of(es.delete("/_scripts/s"), 404)
    assert error["type"] == "resource_not_found_exception"
    assert error["reason"] == "stored script [s] does not exist"


def test_put_replaces_a_script(es):
    es.put("/_scripts/s", json={"script": {"lang": "painless", "source": "1"}})
    es.put("/_scripts/s", json={"script": {"lang": "mustache", "source": "{}"}})
    assert es.get("/_scripts/s").json()["script"]["lang"] == "mustache"


def test_unsupported_language_is_refused(es):
    error = error_of(
        es.put("/_scripts/s", json={"script": {"lang": "expression", "source": "1"}}), 400
    )
    assert error["reason"] == "unable to put stored script with unsupported lang [expression]"


def test_lang_and_source_are_required(es):
    error = error_of(es.put("/_scripts/s", json={"script": {"source": "1"}}), 400)
    assert error["reason"] == "must specify lang for stored script"
    error = error_of(es.put("/_scripts/s", json={"script": {"lang": "painless"}}), 400)
    assert error["reason"] == "must specify source for stored script"


def test_broken_mustache_is_a_script_exception_and_not_stored(es):
    body = {"script": {"lang": "mustache", "source": '{"a": "{{#x}}"}'}}
    assert error_of(es.put("/_scripts/t", json=body), 400)["type"] == "script_exception"
    assert es.get("/_scripts/t").status_code == 404


def test_context_in_the_path_is_checked(es):
    body = {"script": {"lang": "painless", "source": "1"}}
    assert es.put("/_scripts/s/score", json=body).status_code == 200
    error = error_of(es.put("/_scripts/s/nonsense", json=body), 400)
    assert error["reason"] == "Unknown context [nonsense]"
    mustache = {"script": {"lang": "mustache", "source": "{}"}}
    error = error_of(es.put("/_scripts/t/score", json=mustache), 400)
    assert "does not know how to handle context [score]" in error["reason"]


def test_compiler_options_other_than_content_type_are_refused(es):
    body = {"script": {"lang": "painless", "source": "1", "options": {"x": "y"}}}
    assert "illegal compiler options" in error_of(es.put("/_scripts/s", json=body), 400)["reason"]


def test_id_with_hash_is_refused(es):
    body = {"script": {"lang": "painless", "source": "1"}}
    error = error_of(es.put("/_scripts/a%23b", json=body), 400)
    assert error["type"] == "action_request_validation_exception"


def test_oversized_source_is_refused(es):
    body = {"script": {"lang": "painless", "source": "1" * 65_536}}
    assert (
        "exceeded max allowed stored script size"
        in error_of(es.put("/_scripts/s", json=body), 400)["reason"]
    )


def test_script_context_lists_the_template_context(es):
    contexts = es.get("/_script_context").json()["contexts"]
    assert [c["name"] for c in contexts] == ["template"]
    assert contexts[0]["methods"][0] == {
        "name": "execute",
        "return_type": "java.lang.String",
        "params": [],
    }


def test_script_language_lists_mustache_only(es):
    assert es.get("/_script_language").json() == {
        "types_allowed": ["inline", "stored"],
        "language_contexts": [{"language": "mustache", "contexts": ["template"]}],
    }


def test_painless_execute_is_a_400_naming_it(es):
    body = {"script": {"source": "params.a / params.b", "params": {"a": 1, "b": 2}}}
    error = error_of(es.post("/_scripts/painless/_execute", json=body), 400)
    assert "[_scripts/painless/_execute] is not supported" in error["reason"]


def test_scripts_need_the_manage_privilege(node_app, node_services):
    indices = [{"names": ["*"], "privileges": ["read"]}]
    with client_as(node_app, node_services, "bob", indices) as bob:
        assert bob.get("/_scripts/x").status_code == 403
        body = {"script": {"lang": "painless", "source": "1"}}
        assert bob.put("/_scripts/x", json=body).status_code == 403

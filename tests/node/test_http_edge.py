"""The node's HTTP edge: content codings, the common parameters, content types.

Pure parts (`filter_path`, `output`, `encoding`, `media_type`) are tested as tables; the rest
through the real ASGI app in process, and the official clients over TLS with compression on.
"""

from __future__ import annotations

import gzip
import json
import tracemalloc
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from citadel.node.errors import ContentTooLarge
from citadel.node.http.app import NodeApp
from citadel.node.http.encoding import BodyDecoder, UnreadableBody, accepts_gzip
from citadel.node.http.filter_path import parse_filter_path
from citadel.node.http.output import pretty_json
from citadel.node.routes import build_router
from citadel.node.services import NodeServices
from tests.node.builders import ELASTIC, client_of
from tests.node.process import make_tls, start_node

JSON = {"content-type": "application/json"}
GZIP_JSON = {**JSON, "content-encoding": "gzip"}


def gzip_bomb(decoded_size: int) -> bytes:
    """A gzip stream of `decoded_size` zero bytes, built without holding them."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    parts = [packer.compress(block) for _ in range(decoded_size >> 20)]
    return b"".join(parts) + packer.flush()


def error_of(response: Any) -> dict[str, Any]:
    return response.json()["error"]


# -- filter_path: Elasticsearch's documented examples and FilterPath's rules ----------------

SEARCH = {
    "took": 3,
    "timed_out": False,
    "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
    "hits": {
        "total": {"value": 2, "relation": "eq"},
        "max_score": 1.6,
        "hits": [
            {"_index": "twitter", "_id": "0", "_score": 1.6, "_source": {"title": "a", "n": 1}},
            {"_index": "twitter", "_id": "1", "_score": 1.2, "_source": {"title": "b", "n": 2}},
        ],
    },
}
STATE = {
    "metadata": {
        "indices": {
            "my-index-000001": {"state": "open", "settings": {"shards": 1}},
            "logstash-1": {"state": "open", "settings": {"shards": 1}},
        }
    },
    "routing_table": {
        "indices": {
            "my-index-000001": {
                "shards": {"0": [{"state": "STARTED", "primary": True}, {"state": "UNASSIGNED"}]}
            }
        }
    },
}

FILTER_CASES = [
    # the examples of Elasticsearch's "Response filtering" documentation
    (
        SEARCH,
        "took,hits.hits._id,hits.hits._score",
        {"took": 3, "hits": {"hits": [{"_id": "0", "_score": 1.6}, {"_id": "1", "_score": 1.2}]}},
    ),
    (
        STATE,
        "metadata.indices.*.stat*",
        {
            "metadata": {
                "indices": {"my-index-000001": {"state": "open"}, "logstash-1": {"state": "open"}}
            }
        },
    ),
    (
        STATE,
        "routing_table.indices.**.state",
        {
            "routing_table": {
                "indices": {
                    "my-index-000001": {
                        "shards": {"0": [{"state": "STARTED"}, {"state": "UNASSIGNED"}]}
                    }
                }
            }
        },
    ),
    ({"count": 5, "_shards": {"total": 5}}, "-_shards", {"count": 5}),
    (
        STATE,
        "metadata.indices.*.state,-metadata.indices.logstash-*",
        {"metadata": {"indices": {"my-index-000001": {"state": "open"}}}},
    ),
    (
        SEARCH,
        "hits.hits._source",
        {
            "hits": {
                "hits": [{"_source": {"title": "a", "n": 1}}, {"_source": {"title": "b", "n": 2}}]
            }
        },
    ),
    # FilterPath's rules
    (SEARCH, "nothing.here", {}),
    (SEARCH, "took.deeper", {}),  # a scalar under a path that goes on is dropped
    (SEARCH, " took , ,", {"took": 3}),  # tokens trimmed, empty ones ignored
    (
        SEARCH,
        "hits.hits._source.title,hits.total.value",
        {
            "hits": {
                "total": {"value": 2},
                "hits": [{"_source": {"title": "a"}}, {"_source": {"title": "b"}}],
            }
        },
    ),
    (SEARCH, "_shards,_shards.total", {"_shards": SEARCH["_shards"]}),  # a shorter path wins
    (SEARCH, "_shards.total,_shards", {"_shards": SEARCH["_shards"]}),
    (SEARCH, "*", SEARCH),
    (SEARCH, "**", SEARCH),
    (SEARCH, "t*k,tim*_out", {"took": 3, "timed_out": False}),
    (SEARCH, "**._id", {"hits": {"hits": [{"_id": "0"}, {"_id": "1"}]}}),
    (SEARCH, "**.took", {}),  # ** stands for at least one level
    ({"a.b": {"c": 1}, "a": {"b": 2}}, "a\\.b", {"a.b": {"c": 1}}),
    ({"a.b": {"c": 1}, "a": {"b": 2}}, "a.b", {"a": {"b": 2}}),
    ({"a": [1, {"b": 2, "c": 3}, [{"b": 4}]]}, "a.b", {"a": [{"b": 2}, [{"b": 4}]]}),
    ({"a": {}, "b": []}, "a,b", {"a": {}, "b": []}),  # a final match keeps empties
    ({"a": {}, "b": []}, "a.x,b.x", {}),  # includes drop empty containers
    # exclusions
    ({"a": {"b": 1, "c": 2}, "d": 3}, "-a.b", {"a": {"c": 2}, "d": 3}),
    ({"a": {"b": 1}, "d": 3}, "-a.b", {"d": 3}),  # emptied by the exclusion: dropped
    ({"a": {}, "e": [], "d": 3}, "-a.b,-e.b", {"a": {}, "e": [], "d": 3}),  # empty before: kept
    ({"a": [{"b": 1, "c": 2}, {"b": 3}]}, "-a.b", {"a": [{"c": 2}]}),
    ({"a": [1, 2]}, "-a.b", {"a": [1, 2]}),  # scalars stay under an exclusion
    (
        SEARCH,
        "-**._source,-_shards,-hits.total,-hits.max_score,-timed_out",
        {
            "took": 3,
            "hits": {
                "hits": [
                    {"_index": "twitter", "_id": "0", "_score": 1.6},
                    {"_index": "twitter", "_id": "1", "_score": 1.2},
                ]
            },
        },
    ),
    (
        SEARCH,
        "hits.hits._source,-hits.hits._source.n",
        {"hits": {"hits": [{"_source": {"title": "a"}}, {"_source": {"title": "b"}}]}},
    ),
    ({"a": 1}, "-*", {}),
    ([{"index": "a", "health": "green"}], "index", [{"index": "a"}]),  # _cat?format=json
]


@pytest.mark.parametrize(("body", "filter_path", "expected"), FILTER_CASES)
def test_filter_path_filters_as_elasticsearch_does(body, filter_path, expected):
    paths = parse_filter_path(filter_path)
    assert paths is not None
    assert paths.apply(body) == expected


@pytest.mark.parametrize("raw", [None, "", " , ", ","])
def test_an_empty_filter_path_filters_nothing(raw):
    assert parse_filter_path(raw) is None


# -- pretty ---------------------------------------------------------------------------------


def test_pretty_is_jacksons_layout():
    value = {"name": "n", "tags": ["a", 1], "empty": {}, "none": [], "x": {"y": None}}
    assert pretty_json(value) == (
        "{\n"
        '  "name" : "n",\n'
        '  "tags" : [\n    "a",\n    1\n  ],\n'
        '  "empty" : { },\n'
        '  "none" : [ ],\n'
        '  "x" : {\n    "y" : null\n  }\n'
        "}"
    )


# -- request decoding (pure) ----------------------------------------------------------------


def decode(raw: bytes, coding: str | None, limit: int = 1 << 20, chunk: int = 7) -> bytes:
    decoder = BodyDecoder(coding, limit)
    for i in range(0, len(raw), chunk):
        decoder.feed(raw[i : i + chunk])
    return decoder.finish()


BODY = b'{"title": "hello"}' * 50


def _flip(raw: bytes, at: int) -> bytes:
    damaged = bytearray(raw)
    damaged[at] ^= 0xFF
    return bytes(damaged)


@pytest.mark.parametrize(
    ("coding", "raw"),
    [
        (None, BODY),
        ("identity", BODY),
        ("gzip", gzip.compress(BODY, mtime=0)),
        ("x-gzip", gzip.compress(BODY, mtime=0)),
        ("GZIP", gzip.compress(BODY, mtime=0)),
        (
            "gzip",
            gzip.compress(BODY[:100], mtime=0) + gzip.compress(BODY[100:], mtime=0),
        ),  # two members
        ("deflate", zlib.compress(BODY)),  # zlib-wrapped, as RFC 9110 means it
        ("deflate", zlib.compress(BODY)[2:-4]),  # raw deflate, as some clients send it
    ],
)
def test_bodies_decode_in_any_chunking(coding, raw):
    assert decode(raw, coding) == BODY
    assert decode(raw, coding, chunk=1) == BODY
    assert decode(raw, coding, chunk=len(raw)) == BODY


def test_an_empty_gzip_body_is_empty():
    assert decode(b"", "gzip") == b""


@pytest.mark.parametrize(
    ("coding", "raw"),
    [
        ("gzip", b"not gzip at all"),
        ("gzip", gzip.compress(BODY, mtime=0)[:-10]),  # truncated
        ("gzip", _flip(gzip.compress(BODY, mtime=0), -5)),  # wrong CRC in the trailer
        ("gzip", _flip(gzip.compress(BODY, mtime=0), 20)),  # a damaged block
        ("deflate", zlib.compress(BODY) + b"junk"),
        ("deflate", b"\xff"),
    ],
)
def test_corrupt_or_truncated_bodies_are_unreadable(coding, raw):
    with pytest.raises(UnreadableBody):
        decode(raw, coding)


def test_the_decoded_size_is_capped():
    with pytest.raises(ContentTooLarge):
        decode(gzip_bomb(8 << 20), "gzip", limit=1 << 20, chunk=4096)
    assert len(decode(gzip.compress(bytes(1 << 20)), "gzip", limit=1 << 20)) == 1 << 20


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, False),
        ("", False),
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("deflate", False),
        ("gzip;q=0", False),
        ("gzip; q=0.5", True),
        ("*", True),
        ("*;q=0, deflate", False),
        ("identity, *;q=1", True),
        ("gzip;q=0, *", False),
    ],
)
def test_accept_encoding(header, expected):
    assert accepts_gzip(header) is expected


# -- through the app ------------------------------------------------------------------------


@pytest.fixture
def small_app(node_services: NodeServices) -> NodeApp:
    """The node with a 1 MiB body limit."""
    return NodeApp(build_router(node_services), node_services.realm, max_body=1 << 20)


@pytest.fixture
def small(small_app: NodeApp) -> Iterator[TestClient]:
    with client_of(small_app, ELASTIC) as client:
        yield client


@pytest.fixture
def books(es: TestClient) -> TestClient:
    mappings = {"properties": {"title": {"type": "text"}, "n": {"type": "integer"}}}
    assert es.put("/books", json={"mappings": mappings}).status_code == 200
    for i in range(30):
        doc = {"title": f"book number {i} " + "words " * 20, "n": i}
        assert es.put(f"/books/_doc/{i}?refresh=true", json=doc).status_code in (200, 201)
    return es


def test_a_gzipped_body_is_indexed(es):
    raw = gzip.compress(json.dumps({"title": "compressed"}).encode())
    response = es.put("/notes/_doc/1", content=raw, headers=GZIP_JSON)
    assert response.status_code == 201, response.text
    assert es.get("/notes/_doc/1").json()["_source"] == {"title": "compressed"}


def test_a_deflated_bulk_is_indexed(es):
    lines = b'{"index":{"_index":"d","_id":"1"}}\n{"n":1}\n'
    headers = {"content-type": "application/x-ndjson", "content-encoding": "deflate"}
    response = es.post("/_bulk", content=zlib.compress(lines), headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["errors"] is False


def test_a_corrupt_gzip_body_is_a_400(es):
    raw = gzip.compress(b'{"title": "x"}')
    response = es.put("/notes/_doc/1", content=raw[:-6], headers=GZIP_JSON)
    assert response.status_code == 400
    assert error_of(response)["type"] == "illegal_argument_exception"
    assert "gzip" in error_of(response)["reason"]


def test_an_unknown_content_encoding_is_a_400(es):
    headers = {**JSON, "content-encoding": "br"}
    response = es.put("/notes/_doc/1", content=b'{"a": 1}', headers=headers)
    assert response.status_code == 400
    assert "Content-Encoding [br]" in error_of(response)["reason"]


def test_a_gzip_bomb_is_a_413_without_inflating_past_the_cap(small):
    bomb = gzip_bomb(256 << 20)  # 256 MiB of zeros in about 250 KiB
    tracemalloc.start()
    try:
        response = small.post("/notes/_doc", content=bomb, headers=GZIP_JSON)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 413
    assert error_of(response)["type"] == "content_too_long_exception"
    # the cap (1 MiB) plus the compressed body and the test's own copies, never the 256 MiB
    assert peak < 8 << 20, peak


def test_a_decoded_body_at_the_cap_is_accepted(small):
    doc = json.dumps({"pad": "x" * ((1 << 20) - 20)}).encode()
    assert len(doc) <= 1 << 20
    response = small.put("/notes/_doc/1", content=gzip.compress(doc), headers=GZIP_JSON)
    assert response.status_code == 201, response.text


def test_responses_are_gzipped_when_asked(books):
    response = books.post("/books/_search", json={"size": 30}, headers={"accept-encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "Accept-Encoding"
    assert len(response.json()["hits"]["hits"]) == 30  # httpx inflated it


def test_responses_are_plain_when_gzip_is_not_accepted(books):
    for accept in ("identity", "gzip;q=0", "deflate"):
        response = books.post(
            "/books/_search", json={"size": 30}, headers={"accept-encoding": accept}
        )
        assert "content-encoding" not in response.headers
        assert response.headers["vary"] == "Accept-Encoding"
        assert int(response.headers["content-length"]) == len(response.content)


def test_tiny_responses_are_not_gzipped(es):
    response = es.get("/_cluster/health", headers={"accept-encoding": "gzip"})
    assert response.status_code == 200
    assert "content-encoding" not in response.headers


def test_security_answers_are_never_gzipped(es):
    for i in range(20):
        es.put(f"/_security/user/user{i}", json={"password": "password-1234", "roles": []})
    response = es.get("/_security/user", headers={"accept-encoding": "gzip"})
    assert response.status_code == 200
    assert len(response.content) > 1024
    assert "content-encoding" not in response.headers


def test_head_keeps_the_headers_of_the_get(books):
    get = books.get("/books", headers={"accept-encoding": "gzip"})
    head = books.head("/books", headers={"accept-encoding": "gzip"})
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    for name in ("content-type", "content-encoding", "vary", "x-elastic-product"):
        assert head.headers.get(name) == get.headers.get(name), name


def test_pretty_indents_json(es):
    response = es.get("/_cluster/health?pretty")
    assert response.text.startswith('{\n  "cluster_name" : ')
    assert response.text.endswith("}\n")


def test_pretty_errors_are_indented_too(es):
    response = es.get("/missing?pretty")
    assert response.status_code == 404
    assert response.text.startswith('{\n  "error" : {\n')


def test_pretty_leaves_cat_text_alone(books):
    columns = "h=health,status,index,docs.count"  # store sizes move with merges between calls
    plain = books.get(f"/_cat/indices?v&{columns}").text
    assert plain.splitlines()[0].split() == ["health", "status", "index", "docs.count"]
    assert books.get(f"/_cat/indices?v&{columns}&pretty").text == plain


def test_cat_keeps_its_format(books):
    rows = books.get("/_cat/indices?format=json&filter_path=index").json()
    assert rows == [{"index": "books"}]


def test_filter_path_applies_to_a_search(books):
    response = books.post(
        "/books/_search?filter_path=hits.hits._id,-hits.hits._score",
        json={"size": 2, "sort": [{"n": "asc"}]},
    )
    assert response.json() == {"hits": {"hits": [{"_id": "0"}, {"_id": "1"}]}}


def test_filter_path_matching_nothing_is_an_empty_object(es):
    assert es.get("/?filter_path=nope").json() == {}


def test_filter_path_never_filters_errors(es):
    response = es.get("/missing?filter_path=nothing")
    assert error_of(response)["type"] == "index_not_found_exception"


def test_common_parameters_never_trip_unknown_parameter_checks(books):
    query = "pretty=false&human=true&error_trace=false&filter_path=hits.total&format=json"
    response = books.post(f"/books/_search?{query}", json={"query": {"match_all": {}}})
    assert response.status_code == 200, response.text
    assert response.json() == {"hits": {"total": {"value": 30, "relation": "eq"}}}
    assert books.get(f"/books/_count?{query}").status_code == 200


def test_error_trace_adds_a_short_stack_trace(books):
    response = books.post("/books/_search?error_trace=true&bogus=1", json={})
    assert response.status_code == 400
    error = error_of(response)
    trace = error["stack_trace"]
    assert trace.startswith("illegal_argument_exception: ")
    assert "\tat " in trace
    assert "/" not in trace.split("\n", 1)[1]  # file names only, no paths
    assert error["root_cause"][0]["stack_trace"] == trace


def test_no_stack_trace_without_error_trace(books):
    response = books.post("/books/_search?bogus=1", json={})
    assert "stack_trace" not in error_of(response)


@pytest.mark.parametrize("fmt", ["yaml", "cbor", "smile", "txt"])
def test_formats_other_than_json_are_refused(es, fmt):
    response = es.get(f"/?format={fmt}")
    assert response.status_code == 400
    assert error_of(response)["reason"].startswith(f"unsupported format [{fmt}]")


@pytest.mark.parametrize("fmt", ["yaml", "smile"])
def test_cat_refuses_binary_and_yaml_formats(books, fmt):
    assert books.get(f"/_cat/indices?format={fmt}").status_code == 400


def test_a_bad_boolean_common_parameter_is_a_400(es):
    response = es.get("/?pretty=yes")
    assert response.status_code == 400
    assert "only [true] or [false]" in error_of(response)["reason"]


# -- content types --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=UTF-8",
        "application/vnd.elasticsearch+json; compatible-with=8",
        "application/vnd.elasticsearch+json;compatible-with=9",
        "application/*",
    ],
)
def test_json_media_types_are_read(es, content_type):
    response = es.put("/notes/_doc/1", content=b'{"a": 1}', headers={"content-type": content_type})
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data", "application/yaml"],
)
def test_other_media_types_are_a_406_in_elasticsearchs_words(es, content_type):
    response = es.put("/notes/_doc/1", content=b'{"a": 1}', headers={"content-type": content_type})
    assert response.status_code == 406
    assert response.json() == {
        "error": f"Content-Type header [{content_type}] is not supported",
        "status": 406,
    }


def test_a_body_without_content_type_is_a_406(es):
    response = es.put("/notes/_doc/1", content=b'{"a": 1}')  # httpx names no type for bytes
    assert response.status_code == 406
    assert response.json() == {"error": "Content-Type header is missing", "status": 406}


def test_a_malformed_content_type_is_a_400(es):
    response = es.put("/notes/_doc/1", content=b'{"a": 1}', headers={"content-type": "json"})
    assert response.status_code == 400
    assert error_of(response)["type"] == "media_type_header_exception"


def test_a_request_without_body_needs_no_content_type(es):
    assert es.get("/").status_code == 200


# -- the official clients, compression on, over TLS ------------------------------------------


def test_official_clients_with_http_compress(tmp_path, official_client):
    tls = make_tls(tmp_path / "tls")
    node = start_node(tmp_path / "data", tls)
    scenario = Path(__file__).with_name("edge_client_scenario.py")
    try:
        result = official_client.run(
            scenario, node.url, str(tls.ca), "elastic-test-password", timeout=600
        )
    finally:
        node.stop()
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout)
    assert seen["search"] == ["1"]
    assert (seen["bulk_ok"], seen["bulk_errors"], seen["bulk_count"]) == (2000, 0, 2000)
    assert seen["filtered"] == {"hits": {"hits": [{"_id": "0"}, {"_id": "1"}, {"_id": "2"}]}}


def test_a_gzip_bomb_to_the_real_node_is_a_413(tmp_path):
    tls = make_tls(tmp_path / "tls")
    node = start_node(tmp_path / "data", tls)
    try:
        rss_before = _rss(node.proc.pid)
        bomb = gzip_bomb(1 << 30)  # 1 GiB of zeros, about 1 MiB on the wire
        with node.client(auth=ELASTIC) as client:
            response = client.post("/notes/_doc", content=bomb, headers=GZIP_JSON)
            assert response.status_code == 413
            assert client.get("/").status_code == 200
        growth = _rss(node.proc.pid) - rss_before
    finally:
        node.stop()
    assert growth < 300 << 20, growth  # the 100 MiB cap and allocator slack, never the GiB


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")

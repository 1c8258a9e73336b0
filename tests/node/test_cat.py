"""The ``_cat`` APIs through the REST API: indices, count, health, shards, segments, the node."""

from __future__ import annotations

from tests.node.builders import client_as, error_of


def make_index(es, name, replicas=0, **settings):
    body = {"settings": {"number_of_replicas": replicas, **settings}}
    response = es.put(f"/{name}", json=body)
    assert response.status_code == 200, response.text


def test_cat_lists_the_endpoints(es):
    text = es.get("/_cat").text
    assert text.startswith("=^.^=\n")
    assert "/_cat/indices\n" in text
    assert "/_cat/health\n" in text


# -- indices ---------------------------------------------------------------------------------


def test_cat_indices_prints_a_table_with_headers(es):
    make_index(es, "books")
    es.put("/books/_doc/1", json={"title": "one"})
    es.put("/books/_doc/2", params={"refresh": "true"}, json={"title": "two"})
    response = es.get("/_cat/indices", params={"v": "true"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    header, row, *rest = response.text.splitlines()
    assert rest == []
    assert header.split() == [
        "health",
        "status",
        "index",
        "uuid",
        "pri",
        "rep",
        "docs.count",
        "docs.deleted",
        "store.size",
        "pri.store.size",
        "dataset.size",
    ]
    cells = row.split()
    assert cells[:3] == ["green", "open", "books"]
    assert cells[4:8] == ["1", "0", "2", "0"]
    assert header.index("docs.count") + len("docs.count") == row.index(" 2 ") + 2  # right-aligned


def test_cat_indices_without_v_has_no_header(es):
    make_index(es, "books")
    lines = es.get("/_cat/indices").text.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("green")


def test_an_index_with_replicas_is_yellow_on_one_node(es):
    es.put("/logs")  # one replica by default, which one node cannot hold
    row = es.get("/_cat/indices", params={"format": "json"}).json()[0]
    assert (row["health"], row["rep"]) == ("yellow", "1")


def test_cat_indices_as_json_gives_strings(es):
    make_index(es, "books")
    es.put("/books/_doc/1", params={"refresh": "true"}, json={"title": "one"})
    body = es.get("/_cat/indices", params={"format": "json"}).json()
    assert len(body) == 1
    row = body[0]
    assert row["status"] == "open"
    assert row["index"] == "books"
    assert (row["pri"], row["rep"], row["docs.count"]) == ("1", "0", "1")
    assert row["store.size"].endswith("b")
    assert row["uuid"] == es.get("/books").json()["books"]["settings"]["index"]["uuid"]


def test_cat_indices_selects_columns_and_sorts(es):
    es.put("/b")
    es.put("/a")
    es.put("/a/_doc/1", params={"refresh": "true"}, json={"x": 1})
    text = es.get("/_cat/indices", params={"h": "index,docs.count", "s": "index:desc"}).text
    assert text.splitlines() == ["b 0", "a 1"]


def test_cat_indices_filters_by_health(es):
    make_index(es, "green-one")
    es.put("/yellow-one")
    body = es.get("/_cat/indices", params={"health": "yellow", "format": "json", "h": "i"})
    assert body.json() == [{"i": "yellow-one"}]


def test_cat_indices_for_one_pattern(es):
    es.put("/logs-1")
    es.put("/other")
    body = es.get("/_cat/indices/logs-*", params={"format": "json", "bytes": "b"}).json()
    assert [r["index"] for r in body] == ["logs-1"]
    assert body[0]["store.size"].isdigit()


def test_cat_indices_for_a_missing_index_is_404(es):
    assert es.get("/_cat/indices/nope").status_code == 404


def test_cat_indices_with_an_unknown_column_is_400(es):
    assert es.get("/_cat/indices", params={"h": "nope"}).status_code == 400


def test_an_unknown_parameter_is_400(es):
    error = error_of(es.get("/_cat/indices", params={"nope": "1"}), 400)
    assert "unrecognized parameter: [nope]" in error["reason"]


def test_cat_indices_shows_only_indices_the_user_may_monitor(es, node_app, node_services):
    es.put("/logs-1")
    es.put("/books")
    grants = [{"names": ["logs-*"], "privileges": ["manage"]}]
    with client_as(node_app, node_services, "ops", grants) as ops:
        body = ops.get("/_cat/indices", params={"format": "json"}).json()
        assert [r["index"] for r in body] == ["logs-1"]
        assert ops.get("/_cat/indices/books").status_code == 403


def test_help_describes_the_columns(es):
    text = es.get("/_cat/indices", params={"help": ""}).text
    assert text.splitlines()[0].split("|")[0].strip() == "health"
    assert "docs.count" in text


# -- count, health ---------------------------------------------------------------------------


def test_cat_count_counts_searchable_documents(es):
    make_index(es, "a")
    make_index(es, "b")
    es.put("/a/_doc/1", params={"refresh": "true"}, json={"x": 1})
    es.put("/b/_doc/1", params={"refresh": "true"}, json={"x": 1})
    assert es.get("/_cat/count", params={"format": "json"}).json()[0]["count"] == "2"
    assert es.post("/_cat/count/a", params={"format": "json", "h": "count"}).json() == [
        {"count": "1"}
    ]


def test_cat_count_needs_read(es, node_app, node_services):
    es.put("/books")
    grants = [{"names": ["books"], "privileges": ["monitor"]}]
    with client_as(node_app, node_services, "ops", grants) as ops:
        assert ops.get("/_cat/count/books").status_code == 403


def test_cat_health_is_one_line(es):
    es.put("/logs")
    row = es.get("/_cat/health", params={"format": "json"}).json()[0]
    assert row["status"] == "yellow"
    assert (row["node.total"], row["shards"], row["unassign"]) == ("1", "1", "1")
    assert row["active_shards_percent"] == "50.0%"
    assert row["epoch"].isdigit()


def test_cat_health_without_timestamps(es):
    row = es.get("/_cat/health", params={"format": "json", "ts": "false"}).json()[0]
    assert "epoch" not in row
    assert "timestamp" not in row


# -- shards, segments, recovery --------------------------------------------------------------


def test_cat_shards_lists_the_primary_and_unassigned_replicas(es):
    es.put("/logs")
    rows = es.get("/_cat/shards", params={"format": "json"}).json()
    assert [(r["prirep"], r["state"]) for r in rows] == [("p", "STARTED"), ("r", "UNASSIGNED")]
    assert rows[0]["node"] == "node-1"
    assert rows[1]["node"] is None


def test_cat_segments_lists_committed_segments(es):
    make_index(es, "books")
    es.put("/books/_doc/1", params={"refresh": "true"}, json={"title": "one"})
    rows = es.get("/_cat/segments/books", params={"format": "json"}).json()
    assert sum(int(r["docs.count"]) for r in rows) == 1
    assert all(r["committed"] == "true" for r in rows)


def test_cat_recovery_reports_a_new_index_as_an_empty_store(es):
    make_index(es, "books")
    row = es.get("/_cat/recovery", params={"format": "json"}).json()[0]
    assert (row["index"], row["type"], row["stage"]) == ("books", "empty_store", "done")


# -- the node --------------------------------------------------------------------------------


def test_cat_nodes_shows_the_one_node_as_master(es):
    row = es.get("/_cat/nodes", params={"format": "json"}).json()[0]
    assert (row["name"], row["master"], row["node.role"]) == ("node-1", "*", "dm")
    assert row["ip"]
    assert row["heap.percent"] is None  # no JVM


def test_cat_nodes_full_id_is_the_master_id(es):
    full = es.get("/_cat/nodes", params={"format": "json", "full_id": "true", "h": "id"}).json()
    short = es.get("/_cat/nodes", params={"format": "json", "h": "id"}).json()
    master = es.get("/_cat/master", params={"format": "json"}).json()[0]
    assert full[0]["id"] == master["id"]
    assert short[0]["id"] == master["id"][:4]


def test_cat_allocation_counts_shards(es):
    es.put("/a")
    es.put("/b")
    row = es.get("/_cat/allocation", params={"format": "json", "bytes": "b"}).json()[0]
    assert row["shards"] == "2"
    assert int(row["disk.total"]) >= int(row["disk.used"])


def test_cat_thread_pool_filters_by_pattern(es):
    rows = es.get("/_cat/thread_pool/ref*", params={"format": "json"}).json()
    assert [r["name"] for r in rows] == ["refresh"]


def test_what_a_plain_node_has_none_of_is_an_empty_table(es):
    for name in ("plugins", "repositories", "pending_tasks", "fielddata", "circuit_breaker"):
        response = es.get(f"/_cat/{name}", params={"format": "json"})
        assert response.json() == [], name


def test_an_empty_table_in_text_is_empty(es):
    response = es.get("/_cat/fielddata")
    assert (response.status_code, response.text) == (200, "")


def test_snapshots_of_a_missing_repository_is_404(es):
    error = error_of(es.get("/_cat/snapshots/backups"), 404)
    assert error["type"] == "repository_missing_exception"


def test_cluster_level_cat_needs_monitor(es, node_app, node_services):
    with client_as(node_app, node_services, "ops", [], cluster=["monitor"]) as ops:
        assert ops.get("/_cat/health").status_code == 200
    with client_as(node_app, node_services, "nobody", []) as nobody:
        assert nobody.get("/_cat/health").status_code == 403

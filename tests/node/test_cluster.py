"""``_cluster`` APIs through the REST API: health, settings, state, stats, allocation explain."""

from __future__ import annotations

import pytest

from tests.node.builders import client_as, error_of


def make_index(es, name, replicas=0):
    response = es.put(f"/{name}", json={"settings": {"number_of_replicas": replicas}})
    assert response.status_code == 200, response.text


# -- health ----------------------------------------------------------------------------------


def test_health_is_green_when_no_index_asks_for_replicas(es):
    make_index(es, "books")
    body = es.get("/_cluster/health").json()
    assert body["status"] == "green"
    assert (body["number_of_nodes"], body["active_primary_shards"]) == (1, 1)
    assert body["cluster_name"] == "test-cluster"


def test_health_is_yellow_when_replicas_cannot_be_assigned(es):
    es.put("/logs")
    body = es.get("/_cluster/health").json()
    assert (body["status"], body["unassigned_shards"]) == ("yellow", 1)
    assert body["active_shards_percent_as_number"] == 50.0


def test_health_by_index_and_shard(es):
    make_index(es, "books")
    body = es.get("/_cluster/health/books", params={"level": "shards"}).json()
    shard = body["indices"]["books"]["shards"]["0"]
    assert shard["primary_active"] is True
    assert shard["status"] == "green"


def test_waiting_for_a_status_already_reached_answers_at_once(es):
    es.put("/logs")
    response = es.get("/_cluster/health", params={"wait_for_status": "yellow"})
    assert response.status_code == 200
    assert response.json()["timed_out"] is False


def test_waiting_for_a_status_never_reached_times_out_with_408(es):
    es.put("/logs")
    response = es.get("/_cluster/health", params={"wait_for_status": "green", "timeout": "100ms"})
    assert response.status_code == 408
    assert response.json()["timed_out"] is True


def test_health_of_a_missing_index_is_red_after_the_timeout(es):
    response = es.get("/_cluster/health/nope", params={"timeout": "50ms"})
    assert response.status_code == 408
    assert response.json()["status"] == "red"


@pytest.mark.parametrize(
    "params", [{"level": "nodes"}, {"wait_for_status": "blue"}, {"wait_for_nodes": "x"}]
)
def test_bad_health_parameters_are_400(es, params):
    assert es.get("/_cluster/health", params=params).status_code == 400


# -- settings --------------------------------------------------------------------------------


def test_settings_start_empty(es):
    assert es.get("/_cluster/settings").json() == {"persistent": {}, "transient": {}}


def test_defaults_are_shown_on_request(es):
    body = es.get("/_cluster/settings", params={"include_defaults": "", "flat_settings": ""})
    assert body.json()["defaults"]["cluster.max_voting_config_exclusions"] == "10"


def test_a_known_setting_can_be_reset(es):
    body = {"transient": {"indices.recovery.max_bytes_per_sec": None}}
    response = es.put("/_cluster/settings", json=body)
    assert response.json() == {"acknowledged": True, "persistent": {}, "transient": {}}


def test_an_honoured_setting_is_stored(es):
    body = {"persistent": {"cluster.max_voting_config_exclusions": 3}}
    assert es.put("/_cluster/settings", json=body).status_code == 200
    flat = es.get("/_cluster/settings", params={"flat_settings": "true"}).json()
    assert flat["persistent"] == {"cluster.max_voting_config_exclusions": "3"}


def test_a_setting_the_node_does_not_honour_is_400_naming_it(es):
    response = es.put("/_cluster/settings", json={"persistent": {"search.max_buckets": 10}})
    assert "search.max_buckets" in error_of(response, 400)["reason"]


def test_an_unknown_setting_is_400_as_in_elasticsearch(es):
    response = es.put("/_cluster/settings", json={"transient": {"foo.bar": 1}})
    assert error_of(response, 400)["reason"] == "transient setting [foo.bar], not recognized"


def test_changing_settings_needs_manage(es, node_app, node_services):
    body = {"transient": {"indices.recovery.max_bytes_per_sec": None}}
    with client_as(node_app, node_services, "ops", [], cluster=["monitor"]) as ops:
        assert ops.get("/_cluster/settings").status_code == 200
        assert ops.put("/_cluster/settings", json=body).status_code == 403


# -- state, stats ----------------------------------------------------------------------------


def test_state_describes_the_node_and_its_indices(es):
    es.put("/logs")
    body = es.get("/_cluster/state").json()
    master = body["master_node"]
    assert list(body["nodes"]) == [master]
    assert body["metadata"]["indices"]["logs"]["state"] == "open"
    copies = body["routing_table"]["indices"]["logs"]["shards"]["0"]
    assert [(c["primary"], c["state"], c["node"]) for c in copies] == [
        (True, "STARTED", master),
        (False, "UNASSIGNED", None),
    ]


def test_state_by_metric_and_index(es):
    make_index(es, "a")
    make_index(es, "b")
    body = es.get("/_cluster/state/metadata/a").json()
    assert set(body) == {"cluster_name", "cluster_uuid", "metadata"}
    assert list(body["metadata"]["indices"]) == ["a"]


def test_an_unknown_state_metric_is_400(es):
    assert es.get("/_cluster/state/nope").status_code == 400


def test_stats_count_indices_and_documents(es):
    make_index(es, "books")
    es.put("/books/_doc/1", params={"refresh": "true"}, json={"title": "one"})
    body = es.get("/_cluster/stats").json()
    assert body["indices"]["count"] == 1
    assert body["indices"]["docs"]["count"] == 1
    assert {"name": "text", "count": 1, "index_count": 1} in body["indices"]["mappings"][
        "field_types"
    ]
    assert body["nodes"]["count"]["total"] == 1


# -- allocation, reroute, voting exclusions, the rest ----------------------------------------


def test_explaining_with_nothing_unassigned_is_400(es):
    make_index(es, "books")
    error = error_of(es.get("/_cluster/allocation/explain"), 400)
    assert "there are no unassigned shards" in error["reason"]


def test_explaining_an_unassigned_replica(es):
    es.put("/logs")
    body = es.get("/_cluster/allocation/explain").json()
    assert (body["index"], body["primary"], body["can_allocate"]) == ("logs", False, "no")
    assert body["node_allocation_decisions"][0]["deciders"][0]["decider"] == "same_shard"


def test_explaining_a_started_primary(es):
    make_index(es, "books")
    body = {"index": "books", "shard": 0, "primary": True}
    answer = es.post("/_cluster/allocation/explain", json=body).json()
    assert (answer["current_state"], answer["can_remain_on_current_node"]) == ("started", "yes")


def test_reroute_without_commands_is_acknowledged(es):
    assert es.post("/_cluster/reroute", params={"metric": "none"}).json() == {"acknowledged": True}


def test_reroute_commands_are_refused(es):
    body = {"commands": [{"move": {"index": "a", "shard": 0, "from_node": "x", "to_node": "y"}}]}
    assert "move" in error_of(es.post("/_cluster/reroute", json=body), 400)["reason"]


def test_voting_exclusions_of_absent_nodes_show_in_the_state(es):
    assert es.post("/_cluster/voting_config_exclusions?node_ids=n1,n2").status_code == 200
    state = es.get("/_cluster/state/metadata").json()
    exclusions = state["metadata"]["cluster_coordination"]["voting_config_exclusions"]
    assert exclusions == [
        {"node_id": "n1", "node_name": "_absent_"},
        {"node_id": "n2", "node_name": "_absent_"},
    ]
    assert es.delete("/_cluster/voting_config_exclusions").status_code == 200
    state = es.get("/_cluster/state/metadata").json()
    assert state["metadata"]["cluster_coordination"]["voting_config_exclusions"] == []


def test_excluding_the_node_itself_is_refused(es):
    assert es.post("/_cluster/voting_config_exclusions?node_names=node-1").status_code == 400


def test_voting_exclusions_are_bounded_by_the_setting(es):
    es.put("/_cluster/settings", json={"transient": {"cluster.max_voting_config_exclusions": 1}})
    response = es.post("/_cluster/voting_config_exclusions?node_ids=n1,n2")
    assert "cluster.max_voting_config_exclusions" in error_of(response, 400)["reason"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/_cluster/pending_tasks", {"tasks": []}),
        ("/_remote/info", {}),
    ],
)
def test_what_one_node_has_none_of(es, path, body):
    assert es.get(path).json() == body


def test_no_dangling_indices(es):
    assert es.get("/_dangling").json()["dangling_indices"] == []

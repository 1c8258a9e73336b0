"""Snapshots on a real `citadel node`: ``found-snapshots``, its jobs and staging, restores,
the restore before the first start, SLM.

These tests play the allocator only over the node's own internal routes
(`tests.node.snapshot_node.Allocator`): they read the staged directory, post a `JobResult` and
push a catalog, and lay out a restore directory from a staged one they kept. No repository,
no encryption: the real allocator's end-to-end is tests/runtime/test_snapshot_worker.py.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from citadel.contract.snapshot_jobs import (
    JOBS_PATH,
    RESTORE_DIR,
    RESTORE_INITIAL,
    STAGED_FILE,
    STAGING_DIR,
    JobKind,
    StagedSnapshot,
)
from citadel.node.snapshots.importing import replace_store_if_restoring
from tests.node.process import ELASTIC_PASSWORD, make_tls, start_node
from tests.node.snapshot_node import (
    Allocator,
    PlayingAllocator,
    lay_out,
    start_snapshot_node,
    wait_for,
)

SCENARIO = Path(__file__).with_name("snapshot_client_scenario.py")
REPO = "/_snapshot/found-snapshots"


class Deployment:
    """A node with the platform's snapshot defaults, an ``elastic`` client, and the test's
    allocator with a directory where it keeps what the node staged."""

    def __init__(self, root: Path, defaults: tuple[str, ...] | None = None) -> None:
        self.root = root
        self.tls = make_tls(_mkdir(root / "tls"))
        self.data = root / "data"
        kwargs = {} if defaults is None else {"defaults": defaults}
        self.node = start_snapshot_node(self.data, self.tls, **kwargs)
        self.es = self.node.client(auth=("elastic", ELASTIC_PASSWORD))
        self.allocator = Allocator(self.node, self.data, [])
        self.repository = _mkdir(root / "repository")

    def close(self) -> None:
        self.es.close()
        self.node.stop()

    def snapshot(self, name: str, body: dict | None = None) -> StagedSnapshot:
        """Create `name` and complete its job as the allocator; what was staged."""
        answer = self.es.put(f"{REPO}/{name}", json=body or {})
        assert answer.json() == {"accepted": True}, answer.text
        (job,) = [j for j in self.allocator.jobs() if j.kind is JobKind.CREATE]
        staged = self.allocator.staged(job)
        self.allocator.complete_create(job, self.repository)
        return staged


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    d = Deployment(tmp_path)
    try:
        yield d
    finally:
        d.close()


def _index(es: httpx.Client, index: str, docs: dict[str, dict]) -> None:
    for doc_id, doc in docs.items():
        assert es.put(f"/{index}/_doc/{doc_id}", json=doc).status_code == 201
    assert es.post(f"/{index}/_refresh").status_code == 200


def _error(answer: httpx.Response) -> tuple[int, str, str]:
    error = answer.json()["error"]
    return answer.status_code, error["type"], error["reason"]


# -- create: the job queue and the staging layout ------------------------------------------


def test_a_create_stages_hard_links_the_store_and_queues_a_job(deployment):
    es = deployment.es
    _index(es, "books", {"1": {"title": "Dune"}, "2": {"title": "Emma"}})
    _index(es, "films", {"1": {"title": "Alien"}})
    assert es.put(
        "/_security/user/reader", json={"password": "reader-pass", "roles": []}
    ).is_success

    answer = es.put(
        f"{REPO}/first",
        json={"indices": "books", "metadata": {"why": "test"}, "include_global_state": False},
    )

    assert answer.status_code == 200
    assert answer.json() == {"accepted": True}
    (job,) = deployment.allocator.jobs()
    assert (job.kind, job.snapshot) == (JobKind.CREATE, "first")
    directory = deployment.data / STAGING_DIR / job.uuid
    staged = StagedSnapshot.model_validate_json((directory / STAGED_FILE).read_bytes())
    assert [i.name for i in staged.indices] == ["books"]
    (books,) = staged.indices
    assert books.doc_count == 2
    assert books.translog["max_seq_no"] >= 1
    assert books.metadata["mappings"]["properties"]["title"]["type"] == "text"
    assert staged.metadata == {"why": "test"}
    segments = [
        f for f in books.files if not f.endswith(("meta.json", ".managed.json", "checkpoint.json"))
    ]
    assert segments, books.files
    for rel in segments:  # the engine's own file, not a copy
        engine_file = deployment.data / "indices" / books.uuid / rel.split("/", 2)[2]
        assert (directory / rel).stat().st_ino == engine_file.stat().st_ino
    with sqlite3.connect(directory / "store" / "node.db") as db:
        assert db.execute("SELECT name FROM indices ORDER BY name").fetchall() == [
            ("books",),
            ("films",),
        ]
        assert db.execute("SELECT 1 FROM users WHERE username = 'reader'").fetchone()
    current = es.get(f"{REPO}/_current").json()
    assert [(s["snapshot"], s["state"]) for s in current["snapshots"]] == [("first", "IN_PROGRESS")]

    deployment.allocator.complete_create(job, deployment.repository)

    assert not directory.exists()
    assert deployment.allocator.jobs() == []
    got = es.get(f"{REPO}/first").json()["snapshots"][0]
    assert got["state"] == "SUCCESS"
    assert got["indices"] == ["books"]
    assert got["metadata"] == {"why": "test"}
    assert got["shards"] == {"total": 1, "failed": 0, "successful": 1}
    assert got["include_global_state"] is False


def test_the_internal_routes_answer_only_the_allocators_token(deployment):
    with deployment.node.client(auth=("elastic", ELASTIC_PASSWORD)) as es:
        absent = es.get("/_citadel/nothing_here")
        without = es.get(JOBS_PATH)
        wrong = es.get(JOBS_PATH, headers={"X-Citadel-Metrics-Token": "not-it"})
    for refused in (without, wrong):
        assert refused.status_code == absent.status_code
        assert refused.json()["error"]["type"] == absent.json()["error"]["type"]


def test_a_name_taken_is_refused_and_date_math_names_resolve(deployment):
    _index(deployment.es, "books", {"1": {"title": "Dune"}})
    deployment.snapshot("taken")

    again = deployment.es.put(f"{REPO}/taken")
    dated = deployment.es.put(f"{REPO}/%3Cdaily-%7Bnow%2Fd%7D%3E")

    assert _error(again)[:2] == (400, "invalid_snapshot_name_exception")
    assert dated.json() == {"accepted": True}
    (job,) = deployment.allocator.jobs()
    assert job.snapshot.startswith("daily-20")


# -- reading ------------------------------------------------------------------------------


def test_get_lists_sorts_pages_and_reports_status(deployment):
    _index(deployment.es, "books", {"1": {"title": "Dune"}})
    for name in ("b-snap", "a-snap", "c-snap"):
        deployment.snapshot(name)
    es = deployment.es

    by_name = es.get(f"{REPO}/*", params={"sort": "name", "order": "desc", "size": "2"}).json()
    terse = es.get(f"{REPO}/a-snap", params={"verbose": "false"}).json()["snapshots"][0]
    status = es.get(f"{REPO}/a-snap/_status").json()["snapshots"][0]
    missing = es.get(f"{REPO}/nope")

    assert [s["snapshot"] for s in by_name["snapshots"]] == ["c-snap", "b-snap"]
    assert (by_name["total"], by_name["remaining"]) == (3, 1)
    assert sorted(terse) == ["data_streams", "indices", "repository", "snapshot", "state", "uuid"]
    assert status["state"] == "SUCCESS"
    assert status["shards_stats"]["done"] == 1
    assert status["stats"]["total"]["size_in_bytes"] > 0
    assert _error(missing)[:2] == (404, "snapshot_missing_exception")
    assert es.get("/_snapshot/found-snapshots").json()["found-snapshots"]["type"] == "fs"
    assert list(es.get("/_snapshot/_all").json()) == ["found-snapshots"]
    everywhere = es.get("/_snapshot/_all/_all").json()["snapshots"]
    assert sorted(s["snapshot"] for s in everywhere) == ["a-snap", "b-snap", "c-snap"]


def test_unsupported_parameters_are_400s_naming_them(deployment):
    _index(deployment.es, "books", {"1": {"title": "Dune"}})
    deployment.snapshot("s1")
    es = deployment.es

    partial = es.put(f"{REPO}/s2", json={"partial": True})
    unknown = es.put(f"{REPO}/s2", json={"indeces": "books"})
    after = es.get(f"{REPO}/_all", params={"after": "x"})
    shards = es.post(f"{REPO}/s1/_restore", json={"index_settings": {"number_of_shards": 2}})
    unshard = es.post(
        f"{REPO}/s1/_restore", json={"ignore_index_settings": ["index.number_of_shards"]}
    )
    features = es.post(f"{REPO}/s1/_restore", json={"feature_states": ["security"]})
    other = es.put("/_snapshot/my-repo", json={"type": "fs", "settings": {"location": "/x"}})
    managed = es.put("/_snapshot/found-snapshots", json={"type": "fs", "settings": {}})

    for answer, named in (
        (partial, "partial"),
        (unknown, "indeces"),
        (after, "after"),
        (shards, "index.number_of_shards"),
        (unshard, "index.number_of_shards"),
        (features, "feature_states"),
        (other, "my-repo"),
        (managed, "found-snapshots"),
    ):
        status, _, reason = _error(answer)
        assert status == 400, answer.text
        assert named in reason, answer.text
    assert deployment.allocator.jobs() == []


def test_without_the_platform_defaults_there_is_no_repository(tmp_path):
    tls = make_tls(_mkdir(tmp_path / "tls"))
    node = start_node(tmp_path / "data", tls)
    try:
        with node.client(auth=("elastic", ELASTIC_PASSWORD)) as es:
            listed = es.get("/_snapshot")
            repo = es.get(REPO)
            create = es.put(f"{REPO}/s1")
            snapshots = es.get(f"{REPO}/_all")
            policy = es.get("/_slm/policy/cloud-snapshot-policy")
            policies = es.get("/_slm/policy")
    finally:
        node.stop()
    assert listed.json() == {}
    for answer in (repo, create, snapshots):
        assert _error(answer) == (404, "repository_missing_exception", "[found-snapshots] missing")
    assert policy.status_code == 404
    assert policies.json() == {}


# -- wait_for_completion, delete ------------------------------------------------------------


def test_wait_for_completion_is_bounded_by_master_timeout(deployment):
    _index(deployment.es, "books", {"1": {"title": "Dune"}})

    answer = deployment.es.put(
        f"{REPO}/slow", params={"wait_for_completion": "true", "master_timeout": "1s"}
    )

    assert _error(answer)[:2] == (503, "process_cluster_event_timeout_exception")
    assert [j.snapshot for j in deployment.allocator.jobs()] == ["slow"]  # still queued


def test_delete_waits_for_the_allocator_and_a_running_snapshot_is_refused(deployment):
    _index(deployment.es, "books", {"1": {"title": "Dune"}})
    deployment.snapshot("old")
    deployment.es.put(f"{REPO}/running")
    es = deployment.es

    refused = es.delete(f"{REPO}/running")
    (create,) = deployment.allocator.jobs()
    with PlayingAllocator(deployment.allocator, deployment.repository):
        deleted = es.delete(f"{REPO}/old")

    assert _error(refused)[:2] == (503, "concurrent_snapshot_execution_exception")
    assert deleted.json() == {"acknowledged": True}
    assert [s["snapshot"] for s in es.get(f"{REPO}/_all").json()["snapshots"]] == ["running"]
    assert create.snapshot == "running"


# -- restore -------------------------------------------------------------------------------


def test_a_restore_renames_and_refuses_an_open_index(deployment):
    es = deployment.es
    _index(es, "books", {"1": {"title": "Dune"}, "2": {"title": "Emma"}})
    assert es.post(
        "/_aliases", json={"actions": [{"add": {"index": "books", "alias": "reading"}}]}
    ).is_success
    deployment.snapshot("s1")

    onto_open = es.post(f"{REPO}/s1/_restore", json={"indices": "books"})
    accepted = es.post(
        f"{REPO}/s1/_restore",
        json={
            "indices": "boo*",
            "rename_pattern": "(.+)",
            "rename_replacement": "old-$1",
            "include_aliases": False,
        },
    )
    (job,) = deployment.allocator.jobs()
    deployment.allocator.complete_restore(job, deployment.repository)

    status, kind, reason = _error(onto_open)
    assert (status, kind) == (500, "snapshot_restore_exception")
    assert "an open index with same name already exists" in reason
    assert accepted.json() == {"accepted": True}
    assert (job.kind, job.indices) == (JobKind.RESTORE, ("books",))
    assert not (deployment.data / RESTORE_DIR / job.job_id).exists()
    hits = es.post("/old-books/_search", json={"query": {"match": {"title": "emma"}}}).json()
    assert [h["_id"] for h in hits["hits"]["hits"]] == ["2"]
    assert es.get("/old-books/_alias").json() == {"old-books": {"aliases": {}}}
    assert es.put("/old-books/_doc/3", json={"title": "Persuasion"}).status_code == 201


def test_a_restore_changes_and_drops_settings_as_asked(deployment):
    es = deployment.es
    settings = {"index": {"max_result_window": 500, "refresh_interval": "2s"}}
    assert es.put("/books", json={"settings": settings}).is_success
    _index(es, "books", {"1": {"title": "Dune"}})
    deployment.snapshot("s1")

    with PlayingAllocator(deployment.allocator, deployment.repository):
        answer = es.post(
            f"{REPO}/s1/_restore",
            params={"wait_for_completion": "true"},
            json={
                "rename_pattern": "books",
                "rename_replacement": "tuned",
                "index_settings": {"index.refresh_interval": "5s"},
                "ignore_index_settings": ["index.max_result_window"],
            },
        )

    assert answer.json()["snapshot"]["indices"] == ["tuned"]
    got = es.get("/tuned/_settings", params={"flat_settings": "true"}).json()["tuned"]["settings"]
    assert got["index.refresh_interval"] == "5s"
    assert "index.max_result_window" not in got


def test_a_restore_with_global_state_brings_back_templates_and_pipelines(deployment):
    es = deployment.es
    template = {"index_patterns": ["logs-*"], "template": {"settings": {"index.hidden": False}}}
    assert es.put("/_index_template/logs", json=template).is_success
    pipeline = {"processors": [{"set": {"field": "seen", "value": True}}]}
    assert es.put("/_ingest/pipeline/mark", json=pipeline).is_success
    _index(es, "books", {"1": {"title": "Dune"}})
    deployment.snapshot("s1")
    assert es.delete("/_index_template/logs").is_success
    assert es.delete("/_ingest/pipeline/mark").is_success
    assert es.put("/_ingest/pipeline/later", json=pipeline).is_success

    with PlayingAllocator(deployment.allocator, deployment.repository):
        answer = es.post(
            f"{REPO}/s1/_restore",
            params={"wait_for_completion": "true"},
            json={
                "indices": "books",
                "rename_pattern": "(.+)",
                "rename_replacement": "r-$1",
                "include_global_state": True,
            },
        )

    assert answer.json()["snapshot"]["indices"] == ["r-books"]
    assert es.get("/_index_template/logs").status_code == 200
    assert es.get("/_ingest/pipeline/mark").status_code == 200
    assert es.get("/_ingest/pipeline/later").status_code == 404  # replaced, as Elasticsearch


def test_a_data_streams_backing_indices_come_back_with_the_stream(deployment):
    es = deployment.es
    template = {"index_patterns": ["logs-*"], "data_stream": {}}
    assert es.put("/_index_template/logs", json=template).is_success
    doc = {"@timestamp": "2026-12-07T08:00:00Z", "message": "hello"}
    assert es.post("/logs-app/_doc", params={"refresh": "true"}, json=doc).status_code == 201
    staged = deployment.snapshot("s1")
    assert es.delete("/_data_stream/logs-app").is_success

    with PlayingAllocator(deployment.allocator, deployment.repository):
        answer = es.post(
            f"{REPO}/s1/_restore",
            params={"wait_for_completion": "true"},
            json={"indices": ".ds-logs-app-*"},
        )
    assert es.delete("/_data_stream/logs-app").is_success
    with PlayingAllocator(deployment.allocator, deployment.repository):
        by_name = es.post(
            f"{REPO}/s1/_restore",
            params={"wait_for_completion": "true"},
            json={"indices": "logs-app"},
        )

    assert list(staged.global_metadata["data_streams"]) == ["logs-app"]
    assert es.get(f"{REPO}/s1").json()["snapshots"][0]["data_streams"] == ["logs-app"]
    assert answer.json()["snapshot"]["indices"][0].startswith(".ds-logs-app-")
    assert by_name.json()["snapshot"]["indices"] == answer.json()["snapshot"]["indices"]
    streams = es.get("/_data_stream/logs-app").json()["data_streams"]
    assert [s["name"] for s in streams] == ["logs-app"]
    assert es.get("/logs-app/_count").json()["count"] == 1


def test_a_restore_over_a_closed_index_replaces_it(deployment):
    es = deployment.es
    _index(es, "books", {"1": {"title": "Dune"}})
    deployment.snapshot("s1")
    _index(es, "books", {"2": {"title": "Emma"}})
    assert es.post("/books/_close").is_success

    with PlayingAllocator(deployment.allocator, deployment.repository):
        answer = es.post(f"{REPO}/s1/_restore", params={"wait_for_completion": "true"})

    assert answer.json()["snapshot"]["indices"] == ["books"]
    assert es.get("/books/_count").json()["count"] == 1


def test_the_official_clients_create_list_and_restore(tmp_path, official_client):
    d = Deployment(tmp_path)
    try:
        with PlayingAllocator(d.allocator, d.repository):
            result = official_client.run(
                SCENARIO, d.node.url, str(d.tls.ca), ELASTIC_PASSWORD, timeout=300
            )
    finally:
        d.close()
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout)
    assert seen["repositories"] == ["found-snapshots"]
    assert seen["created_state"] == "SUCCESS"
    assert seen["created_indices"] == ["books"]
    assert seen["created_metadata"] == {"taken_by": "client"}
    assert (seen["listed"], seen["listed_total"]) == (["nightly-1"], 1)
    assert seen["terse_keys"] == [
        "data_streams",
        "indices",
        "repository",
        "snapshot",
        "state",
        "uuid",
    ]
    assert seen["restored"] == ["restored-books"]
    assert seen["restored_ids"] == ["1", "2"]
    assert seen["onto_open"] == "snapshot_restore_exception"


# -- the restore before the first start ----------------------------------------------------


def _source_snapshot(root: Path) -> tuple[Path, StagedSnapshot]:
    """A deployment with a user, an API key's owner and two indices, snapshotted; the kept
    snapshot directory and its description."""
    d = Deployment(root)
    try:
        es = d.es
        _index(es, "books", {"1": {"title": "Dune"}, "2": {"title": "Emma"}})
        _index(es, "films", {"1": {"title": "Alien"}})
        user = {"password": "reader-pass", "roles": ["viewer"]}
        assert es.put("/_security/user/reader", json=user).is_success
        staged = d.snapshot("full")
    finally:
        d.close()
    return d.repository / staged.uuid, staged


def test_an_initial_restore_with_the_store_brings_the_whole_deployment_back(tmp_path):
    kept, staged = _source_snapshot(tmp_path / "source")
    target = tmp_path / "target"
    lay_out(kept, target / "data" / RESTORE_DIR / RESTORE_INITIAL, staged, include_store=True)

    d = Deployment(target)
    try:
        with d.node.client(auth=("reader", "reader-pass")) as reader:
            whoami = reader.get("/_security/_authenticate")
        count = d.es.get("/books/_count").json()["count"]
        films = d.es.post("/films/_search", json={"query": {"match": {"title": "alien"}}}).json()
        write = d.es.put("/books/_doc/3", json={"title": "Persuasion"})
    finally:
        d.close()
    assert whoami.json()["username"] == "reader"
    assert count == 2
    assert films["hits"]["total"]["value"] == 1
    assert write.status_code == 201
    assert not (target / "data" / RESTORE_DIR / RESTORE_INITIAL).exists()


def test_an_initial_restore_without_the_store_imports_the_indices(tmp_path):
    kept, staged = _source_snapshot(tmp_path / "source")
    target = tmp_path / "target"
    lay_out(kept, target / "data" / RESTORE_DIR / RESTORE_INITIAL, staged, include_store=False)

    d = Deployment(target)
    try:
        with d.node.client(auth=("reader", "reader-pass")) as reader:
            refused = reader.get("/_security/_authenticate")
        names = sorted(
            d.es.get("/_cat/indices", params={"h": "index", "format": "json"}).json(),
            key=lambda r: r["index"],
        )
        count = d.es.get("/books/_count").json()["count"]
    finally:
        d.close()
    assert refused.status_code == 401  # the store did not come back: no such user
    assert [r["index"] for r in names] == ["books", "films"]
    assert count == 2


def test_an_initial_restore_interrupted_after_the_store_finishes_at_the_next_start(tmp_path):
    kept, staged = _source_snapshot(tmp_path / "source")
    data = tmp_path / "target" / "data"
    directory = data / RESTORE_DIR / RESTORE_INITIAL
    lay_out(kept, directory, staged, include_store=True)
    assert replace_store_if_restoring(data)  # a first start got this far, then died
    (data / "indices" / staged.indices[0].uuid / "index").mkdir(parents=True)  # half placed

    d = Deployment(tmp_path / "target")
    try:
        count = d.es.get("/books/_count").json()["count"]
        with d.node.client(auth=("reader", "reader-pass")) as reader:
            whoami = reader.get("/_security/_authenticate")
    finally:
        d.close()
    assert count == 2
    assert whoami.status_code == 200
    assert not directory.exists()


# -- SLM -----------------------------------------------------------------------------------


def test_the_platform_policy_follows_the_defaults_and_can_be_changed(deployment):
    es = deployment.es
    policy = es.get("/_slm/policy/cloud-snapshot-policy").json()["cloud-snapshot-policy"]

    assert policy["policy"] == {
        "schedule": "0 */30 * * * ?",
        "name": "<cloud-snapshot-{now/d}>",
        "repository": "found-snapshots",
        "config": {"include_global_state": True},
        "retention": {"max_count": 5},
    }
    assert policy["version"] == 1
    assert policy["next_execution_millis"] > policy["modified_date_millis"]

    changed = {
        **policy["policy"],
        "schedule": "0 0 1,13 * * ?",
        "retention": {"expire_after": "30d", "min_count": 2, "max_count": 10},
    }
    assert es.put("/_slm/policy/cloud-snapshot-policy", json=changed).json() == {
        "acknowledged": True
    }
    again = es.get("/_slm/policy/cloud-snapshot-policy").json()["cloud-snapshot-policy"]
    assert (again["version"], again["policy"]["schedule"]) == (2, "0 0 1,13 * * ?")

    bad_cron = es.put("/_slm/policy/mine", json={**changed, "schedule": "0 0 1 ? * MON"})
    bad_repo = es.put("/_slm/policy/mine", json={**changed, "repository": "elsewhere"})
    undeletable = es.delete("/_slm/policy/cloud-snapshot-policy")
    assert _error(bad_cron)[0] == 400
    assert "day-of-week" in _error(bad_cron)[2]
    assert _error(bad_repo)[0] == 400
    assert "elsewhere" in _error(bad_repo)[2]
    assert _error(undeletable)[0] == 400

    assert es.put("/_slm/policy/mine", json=changed).is_success
    assert sorted(es.get("/_slm/policy").json()) == ["cloud-snapshot-policy", "mine"]
    assert es.delete("/_slm/policy/mine").json() == {"acknowledged": True}
    assert es.get("/_slm/policy/mine").status_code == 404
    assert es.get("/_slm/status").json() == {"operation_mode": "RUNNING"}


def test_execute_takes_a_policy_snapshot_and_retention_deletes_beyond_max_count(deployment):
    es = deployment.es
    _index(es, "books", {"1": {"title": "Dune"}})
    policy = es.get("/_slm/policy/cloud-snapshot-policy").json()["cloud-snapshot-policy"]["policy"]
    assert es.put(
        "/_slm/policy/cloud-snapshot-policy", json={**policy, "retention": {"max_count": 1}}
    ).is_success

    names = []
    for _ in range(2):
        executed = es.post("/_slm/policy/cloud-snapshot-policy/_execute").json()
        (job,) = deployment.allocator.jobs()
        assert job.snapshot == executed["snapshot_name"]
        running = es.get("/_slm/policy/cloud-snapshot-policy").json()["cloud-snapshot-policy"]
        assert running["in_progress"]["name"] == job.snapshot
        deployment.allocator.complete_create(job, deployment.repository)
        names.append(executed["snapshot_name"])
    assert es.post("/_slm/_execute_retention").json() == {"acknowledged": True}
    (delete,) = deployment.allocator.jobs()
    deployment.allocator.complete_delete(delete)

    assert names[0].startswith("cloud-snapshot-20")
    assert delete.kind is JobKind.DELETE
    assert delete.snapshot == names[0]
    left = es.get(f"{REPO}/_all").json()["snapshots"]
    assert [s["snapshot"] for s in left] == [names[1]]
    assert left[0]["metadata"] == {"policy": "cloud-snapshot-policy"}
    stats = es.get("/_slm/stats").json()
    assert stats["total_snapshots_taken"] == 2
    assert stats["total_snapshots_deleted"] == 1
    (own,) = [p for p in stats["policy_stats"] if p["policy"] == "cloud-snapshot-policy"]
    assert (own["snapshots_taken"], own["snapshots_deleted"]) == (2, 1)
    last = es.get("/_slm/policy/cloud-snapshot-policy").json()["cloud-snapshot-policy"]
    assert last["last_success"]["snapshot_name"] == names[1]


def test_the_scheduler_takes_the_policys_snapshots_on_schedule(tmp_path):
    d = Deployment(tmp_path, defaults=("--snapshot-interval-s", "2"))
    try:
        _index(d.es, "books", {"1": {"title": "Dune"}})
        policy = d.es.get("/_slm/policy/cloud-snapshot-policy").json()["cloud-snapshot-policy"]
        job = wait_for(lambda: d.allocator.jobs(), timeout=15)[0]
    finally:
        d.close()
    assert policy["policy"]["schedule"] == "*/2 * * * * ?"
    assert job.kind is JobKind.CREATE
    assert job.snapshot.startswith("cloud-snapshot-")


def test_a_node_restarted_keeps_its_pending_jobs_and_sweeps_strays(deployment):
    _index(deployment.es, "books", {"1": {"title": "Dune"}})
    deployment.es.put(f"{REPO}/pending")
    deployment.es.close()
    deployment.node.stop()
    strays = [deployment.data / STAGING_DIR / "stray", deployment.data / RESTORE_DIR / "stray"]
    for stray in strays:  # what a crash mid-staging or mid-import would leave
        _mkdir(stray / "files")

    deployment.node = start_snapshot_node(deployment.data, deployment.tls)
    deployment.allocator.node = deployment.node
    deployment.es = deployment.node.client(auth=("elastic", ELASTIC_PASSWORD))
    (job,) = deployment.allocator.jobs()
    deployment.allocator.complete_create(job, deployment.repository)

    assert job.snapshot == "pending"
    assert not any(stray.exists() for stray in strays)
    assert deployment.es.get(f"{REPO}/pending").json()["snapshots"][0]["state"] == "SUCCESS"


def test_a_snapshot_being_restored_cannot_be_deleted(deployment):
    _index(deployment.es, "books", {"1": {"title": "Dune"}})
    deployment.snapshot("s1")
    restore = {"rename_pattern": "(.+)", "rename_replacement": "copy-$1"}
    assert deployment.es.post(f"{REPO}/s1/_restore", json=restore).json() == {"accepted": True}

    refused = deployment.es.delete(f"{REPO}/s1")

    assert _error(refused)[:2] == (503, "concurrent_snapshot_execution_exception")
    assert "restore in progress" in _error(refused)[2]


def test_monitor_snapshot_may_list_but_not_take_or_restore(deployment):
    es = deployment.es
    _index(es, "books", {"1": {"title": "Dune"}})
    deployment.snapshot("s1")
    role = {"cluster": ["monitor_snapshot"], "indices": []}
    assert es.put("/_security/role/snapshot_viewer", json=role).is_success
    user = {"password": "viewer-pass", "roles": ["snapshot_viewer"]}
    assert es.put("/_security/user/viewer", json=user).is_success

    with deployment.node.client(auth=("viewer", "viewer-pass")) as viewer:
        listed = viewer.get(f"{REPO}/_all")
        create = viewer.put(f"{REPO}/s2")
        restore = viewer.post(
            f"{REPO}/s1/_restore", json={"rename_pattern": "(.+)", "rename_replacement": "x-$1"}
        )
        policy = viewer.put("/_slm/policy/mine", json={})

    assert [s["snapshot"] for s in listed.json()["snapshots"]] == ["s1"]
    for refused in (create, restore, policy):
        assert _error(refused)[:2] == (403, "security_exception")
    assert deployment.allocator.jobs() == []

"""Run by the official Elasticsearch client (8.x or 9.x) in its own virtualenv, against a node
with the managed repository (the test plays the allocator meanwhile).

Usage: python snapshot_client_scenario.py <module> <url> <ca> <password>
Prints one JSON object of observations. Standalone: the client virtualenvs lack Citadel.
"""

from __future__ import annotations

import importlib
import json
import sys


def main() -> None:
    module, url, ca, password = sys.argv[1:5]
    es_mod = importlib.import_module(module)
    es = es_mod.Elasticsearch(
        url, ca_certs=ca, basic_auth=("elastic", password), request_timeout=60
    )
    seen: dict[str, object] = {}
    es.index(index="books", id="1", document={"title": "Dune"}, refresh=True)
    es.index(index="books", id="2", document={"title": "Emma"}, refresh=True)
    seen["repositories"] = sorted(es.snapshot.get_repository().body)
    created = es.snapshot.create(
        repository="found-snapshots",
        snapshot="nightly-1",
        indices="books",
        metadata={"taken_by": "client"},
        wait_for_completion=True,
    ).body
    seen["created_state"] = created["snapshot"]["state"]
    seen["created_indices"] = created["snapshot"]["indices"]
    seen["created_metadata"] = created["snapshot"]["metadata"]
    listed = es.snapshot.get(repository="found-snapshots", snapshot="_all").body
    seen["listed"] = [s["snapshot"] for s in listed["snapshots"]]
    seen["listed_total"] = listed["total"]
    one = es.snapshot.get(repository="found-snapshots", snapshot="nightly-*", verbose=False).body
    seen["terse_keys"] = sorted(one["snapshots"][0])
    restored = es.snapshot.restore(
        repository="found-snapshots",
        snapshot="nightly-1",
        indices="books",
        rename_pattern="(.+)",
        rename_replacement="restored-$1",
        wait_for_completion=True,
    ).body
    seen["restored"] = restored["snapshot"]["indices"]
    es.indices.refresh(index="restored-books")
    hits = es.search(index="restored-books", query={"match_all": {}}).body["hits"]["hits"]
    seen["restored_ids"] = sorted(h["_id"] for h in hits)
    try:
        es.snapshot.restore(repository="found-snapshots", snapshot="nightly-1", indices="books")
        seen["onto_open"] = "accepted"
    except es_mod.ApiError as exc:
        seen["onto_open"] = exc.body["error"]["type"]
    print(json.dumps(seen))


if __name__ == "__main__":
    main()

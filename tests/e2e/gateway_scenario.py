"""Run by the official `elasticsearch` client (9.x venv) against a deployment via the gateway.

Usage: python gateway_scenario.py <gateway url> <ca file> <deployment id> <elastic password>
Standalone: the client virtualenv does not have Citadel installed.
"""

from __future__ import annotations

import json
import sys

from elasticsearch import Elasticsearch, helpers


def main() -> None:
    url, ca, deployment, password = sys.argv[1:5]
    route = {"X-Found-Cluster": deployment}
    es = Elasticsearch(url, ca_certs=ca, basic_auth=("elastic", password), headers=route)
    out: dict = {"cluster": es.info()["cluster_name"]}
    key = es.security.create_api_key(name="e2e")
    es = Elasticsearch(url, ca_certs=ca, api_key=(key["id"], key["api_key"]), headers=route)
    docs = (
        {"_index": "e2e", "_id": str(i), "_source": {"title": f"document number {i}", "n": i}}
        for i in range(1000)
    )
    ok, _ = helpers.bulk(es, docs, chunk_size=250)
    es.indices.refresh(index="e2e")
    out["bulk_ok"] = ok
    out["count"] = es.count(index="e2e")["count"]
    hits = es.search(index="e2e", query={"match": {"title": "number 42"}}, size=1)["hits"]
    out["top_hit"] = hits["hits"][0]["_id"]
    print(json.dumps(out))


if __name__ == "__main__":
    main()

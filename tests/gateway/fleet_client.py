"""Run by an official client's interpreter (`.venv-es9`): one deployment through two gateways.

Usage: python fleet_client.py <module> <gateway A url> <gateway B url> <ca file> <deployment id>
       <elastic password>
Writes documents through A, then through B, and reads every document and a search through
each; prints one JSON object with what each gateway answered. Standalone: the client
virtualenv does not have Citadel installed.
"""

from __future__ import annotations

import importlib
import json
import sys


def main() -> None:
    module, url_a, url_b, ca, deployment, password = sys.argv[1:7]
    client = importlib.import_module(module)
    helpers = importlib.import_module(f"{module}.helpers")
    route = {"X-Found-Cluster": deployment}

    def connect(url: str):
        return client.Elasticsearch(
            url, ca_certs=ca, basic_auth=("elastic", password), headers=route, max_retries=0
        )

    a, b = connect(url_a), connect(url_b)
    helpers.bulk(a, ({"_index": "fleet", "_id": f"a{i}", "via": "a", "n": i} for i in range(50)))
    b.index(index="fleet", id="b0", document={"via": "b", "n": 50})
    b.indices.refresh(index="fleet")
    out: dict = {}
    for name, es in (("a", a), ("b", b)):
        hits = es.search(index="fleet", query={"match_all": {}}, size=100, sort=["n"])["hits"]
        out[name] = {
            "cluster": es.info()["cluster_name"],
            "count": es.count(index="fleet")["count"],
            "ids": [h["_id"] for h in hits["hits"]],
            "b0": es.get(index="fleet", id="b0")["_source"],
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()

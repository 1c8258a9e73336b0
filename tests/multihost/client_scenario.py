"""Run by an official `elasticsearch` client (its own virtualenv) against one deployment through
a gateway, by the deployment's name: index documents, count them.

Usage: python client_scenario.py <module> <url> <ca file> <elastic password> <index> <docs>
(``docs`` 0: only count; a missing index counts 0). Prints {"cluster", "indexed", "count"}
as JSON. Standalone: the client's virtualenv does not have Citadel installed.
"""

from __future__ import annotations

import importlib
import json
import sys


def main() -> None:
    module, url, ca, password, index, docs = sys.argv[1:7]
    client = importlib.import_module(module)
    helpers = importlib.import_module(f"{module}.helpers")
    es = client.Elasticsearch(url, ca_certs=ca, basic_auth=("elastic", password))
    out: dict = {"cluster": es.info()["cluster_name"], "indexed": 0}
    if int(docs):
        actions = (
            {"_index": index, "_id": str(i), "_source": {"title": f"document {i}", "n": i}}
            for i in range(int(docs))
        )
        out["indexed"], _ = helpers.bulk(es, actions, chunk_size=250)
        es.indices.refresh(index=index)
    try:
        out["count"] = es.count(index=index)["count"]
    except client.NotFoundError:  # no such index (e.g. restored from before it was made)
        out["count"] = 0
    print(json.dumps(out))


if __name__ == "__main__":
    main()

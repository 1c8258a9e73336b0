"""Run by an official Elasticsearch client (8.x or 9.x) with ``http_compress=True``.

That is what ``cloud_id`` turns on: request bodies gzipped, gzip asked for in answers.
Usage: python edge_client_scenario.py <module: elasticsearch|elasticsearch8> <url> <ca> <password>
Prints one JSON object of observations; standalone (the client virtualenvs lack Citadel).
"""

from __future__ import annotations

import importlib
import json
import sys


def main() -> None:
    module, url, ca, password = sys.argv[1:5]
    es_mod = importlib.import_module(module)
    helpers = importlib.import_module(f"{module}.helpers")
    es = es_mod.Elasticsearch(
        url, ca_certs=ca, basic_auth=("elastic", password), http_compress=True
    )
    out: dict = {"info_version": es.info()["version"]["number"]}
    es.indices.create(index="notes", mappings={"properties": {"text": {"type": "text"}}})
    es.index(index="notes", id="1", document={"text": "compressed hello " * 200})
    es.index(index="notes", id="2", document={"text": "plain goodbye"})
    es.indices.refresh(index="notes")
    hits = es.search(index="notes", query={"match": {"text": "hello"}})["hits"]["hits"]
    out["search"] = [h["_id"] for h in hits]
    actions = ({"_index": "bulk", "_id": str(i), "_source": {"n": i}} for i in range(2000))
    ok, errors = helpers.bulk(es, actions, chunk_size=500)
    es.indices.refresh(index="bulk")
    out["bulk_ok"] = ok
    out["bulk_errors"] = len(errors) if isinstance(errors, list) else errors
    out["bulk_count"] = es.count(index="bulk")["count"]
    filtered = es.search(index="bulk", size=3, sort=[{"n": "asc"}], filter_path=["hits.hits._id"])
    out["filtered"] = filtered.body
    print(json.dumps(out))


if __name__ == "__main__":
    main()

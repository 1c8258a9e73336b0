"""Run by the official Elasticsearch client (8.x or 9.x) in its own virtualenv.

Usage: python client_scenario.py <module: elasticsearch|elasticsearch8> <url> <ca> <password>
Prints one JSON object of observations; the pytest side asserts on it. Standalone on
purpose: the client virtualenvs do not have Citadel installed.
"""

from __future__ import annotations

import importlib
import json
import sys

CORPUS = [
    {
        "_id": "1",
        "title": "The quick brown fox",
        "tags": ["animals", "classic"],
        "year": 1998,
        "price": 9.5,
        "published": "1998-03-01",
        "in_stock": True,
    },
    {
        "_id": "2",
        "title": "Quick recipes for busy people",
        "tags": ["cooking"],
        "year": 2015,
        "price": 21.0,
        "published": "2015-06-10",
        "in_stock": True,
    },
    {
        "_id": "3",
        "title": "The lazy dog sleeps",
        "tags": ["animals"],
        "year": 2003,
        "price": 5.0,
        "published": "2003-01-20",
        "in_stock": False,
    },
    {
        "_id": "4",
        "title": "Brown bread baking",
        "tags": ["cooking", "classic"],
        "year": 2010,
        "price": 15.0,
        "published": "2010-11-05",
        "in_stock": True,
    },
    {
        "_id": "5",
        "title": "Foxes of the northern forest",
        "tags": ["animals", "nature"],
        "year": 2021,
        "price": 30.0,
        "published": "2021-02-14",
        "in_stock": True,
    },
    {
        "_id": "6",
        "title": "A history of bread",
        "tags": ["history"],
        "year": 1987,
        "price": 12.5,
        "published": "1987-09-30",
        "in_stock": False,
    },
]


def main() -> None:
    module, url, ca, password = sys.argv[1:5]
    es_mod = importlib.import_module(module)
    helpers = importlib.import_module(f"{module}.helpers")
    out: dict = {}
    es = es_mod.Elasticsearch(url, ca_certs=ca, basic_auth=("elastic", password))
    out["info_version"] = es.info()["version"]["number"]
    key = es.security.create_api_key(name="scenario", expiration="1d")
    es = es_mod.Elasticsearch(url, ca_certs=ca, api_key=(key["id"], key["api_key"]))
    out["authenticated_as"] = es.security.authenticate()["username"]

    es.indices.create(
        index="books",
        mappings={
            "properties": {
                "title": {"type": "text"},
                "tags": {"type": "keyword"},
                "year": {"type": "integer"},
                "price": {"type": "float"},
                "published": {"type": "date"},
                "in_stock": {"type": "boolean"},
            }
        },
    )
    for doc in CORPUS:
        body = {k: v for k, v in doc.items() if k != "_id"}
        es.index(index="books", id=doc["_id"], document=body)
    es.indices.refresh(index="books")

    def ids(**query) -> list[str]:
        return [h["_id"] for h in es.search(index="books", **query)["hits"]["hits"]]

    out["match_and"] = ids(query={"match": {"title": {"query": "quick fox", "operator": "and"}}})
    out["match_or_top"] = ids(query={"match": {"title": "quick fox"}})[:1]
    out["term_tag"] = sorted(ids(query={"term": {"tags": "cooking"}}))
    out["range_year"] = ids(
        query={"range": {"year": {"gte": 2003, "lt": 2016}}}, sort=[{"year": "asc"}]
    )
    out["range_date"] = sorted(ids(query={"range": {"published": {"lt": "2000-01-01"}}}))
    out["bool"] = ids(
        query={
            "bool": {
                "must": [{"match": {"title": "bread"}}],
                "filter": [{"term": {"in_stock": True}}],
            }
        }
    )
    out["sorted_price_desc"] = ids(query={"match_all": {}}, sort=[{"price": "desc"}], size=3)
    out["count_animals"] = es.count(index="books", query={"term": {"tags": "animals"}})["count"]

    actions = (
        {"_index": "bulk-test", "_id": str(i), "_source": {"n": i, "text": f"doc {i}"}}
        for i in range(10_000)
    )
    ok, errors = helpers.bulk(es, actions, chunk_size=1000)
    es.indices.refresh(index="bulk-test")
    out["bulk_ok"] = ok
    out["bulk_errors"] = len(errors) if isinstance(errors, list) else errors
    out["bulk_count"] = es.count(index="bulk-test")["count"]
    print(json.dumps(out))


if __name__ == "__main__":
    main()

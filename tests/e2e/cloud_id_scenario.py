"""Run by an official client's interpreter (8.x or 9.x): a user's program connecting by Cloud ID.

Arguments: cloud_id, CA file, elastic password. The client runs with its default settings
(which for ``cloud_id`` means gzipped request bodies and gzip answers) and resolves
``<deployment id>.<region>.<domain>`` itself, through the system's resolver (on a Debian
machine set up by ``make test``, libnss-myhostname answers *.localhost with loopback). Prints
what it saw as JSON.
"""

from __future__ import annotations

import importlib
import json
import sys

try:  # 9.x installs as `elasticsearch`, 8.x (beside it) as `elasticsearch8`
    elasticsearch = importlib.import_module("elasticsearch")
except ModuleNotFoundError:
    elasticsearch = importlib.import_module("elasticsearch8")
helpers = importlib.import_module(f"{elasticsearch.__name__}.helpers")
Elasticsearch = elasticsearch.Elasticsearch


def main() -> None:
    cloud_id, ca, password = sys.argv[1:4]
    es = Elasticsearch(cloud_id=cloud_id, basic_auth=("elastic", password), ca_certs=ca)
    out: dict = {"client": elasticsearch.__versionstr__, "version": es.info()["version"]["number"]}
    es.indices.create(
        index="events-1",
        mappings={
            "properties": {
                "title": {"type": "text"},
                "kind": {"type": "keyword"},
                "n": {"type": "long"},
                "at": {"type": "date"},
            }
        },
    )
    kinds = ("alpha", "beta", "gamma")
    docs = (
        {
            "_index": "events-1",
            "_id": str(i),
            "_source": {
                "title": f"event number {i} about {kinds[i % 3]} things",
                "kind": kinds[i % 3],
                "n": i,
                "at": f"2026-01-{1 + i % 28:02d}T12:00:00Z",
            },
        }
        for i in range(600)
    )
    ok, _ = helpers.bulk(es, docs, chunk_size=200)
    es.indices.refresh(index="events-1")
    out["bulk_ok"] = ok
    found = es.search(
        index="events-1",
        query={"match": {"title": "beta"}},
        highlight={"fields": {"title": {}}},
        size=3,
    )
    out["match_total"] = found["hits"]["total"]["value"]
    out["highlight"] = found["hits"]["hits"][0]["highlight"]["title"][0]
    aggs = es.search(
        index="events-1",
        size=0,
        aggs={
            "kinds": {"terms": {"field": "kind"}, "aggs": {"top_n": {"max": {"field": "n"}}}},
            "days": {"date_histogram": {"field": "at", "calendar_interval": "day"}},
            "n_stats": {"stats": {"field": "n"}},
        },
    )["aggregations"]
    out["kinds"] = {
        b["key"]: [b["doc_count"], b["top_n"]["value"]] for b in aggs["kinds"]["buckets"]
    }
    out["days"] = len(aggs["days"]["buckets"])
    out["n_stats"] = aggs["n_stats"]
    page, after, seen = 0, None, 0
    while True:
        body = {"sort": [{"n": "asc"}], "size": 250}
        if after is not None:
            body["search_after"] = after
        hits = es.search(index="events-1", **body)["hits"]["hits"]
        if not hits:
            break
        seen += len(hits)
        after = hits[-1]["sort"]
        page += 1
    out["search_after"] = [page, seen]
    scrolled = 0
    answer = es.search(index="events-1", scroll="1m", size=100, query={"term": {"kind": "alpha"}})
    scroll_id = answer["_scroll_id"]
    while answer["hits"]["hits"]:
        scrolled += len(answer["hits"]["hits"])
        answer = es.scroll(scroll_id=scroll_id, scroll="1m")
        scroll_id = answer["_scroll_id"]
    es.clear_scroll(scroll_id=scroll_id)
    out["scrolled"] = scrolled
    es.indices.put_alias(index="events-1", name="events")
    out["alias_count"] = es.count(index="events")["count"]
    print(json.dumps(out))


if __name__ == "__main__":
    main()

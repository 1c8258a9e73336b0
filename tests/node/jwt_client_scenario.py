"""Run by the official Elasticsearch client (8.x or 9.x) in its own virtualenv: bearer JWTs.

Usage: python jwt_client_scenario.py <module: elasticsearch|elasticsearch8> <url> <ca>
<viewer token> <forged token>. Prints one JSON object of observations; the pytest side
asserts on it. Standalone on purpose: the client virtualenvs do not have Citadel installed.
"""

from __future__ import annotations

import importlib
import json
import sys


def main() -> None:
    module, url, ca, viewer, forged = sys.argv[1:6]
    es_mod = importlib.import_module(module)
    out: dict = {}
    es = es_mod.Elasticsearch(url, ca_certs=ca, bearer_auth=viewer)
    me = es.security.authenticate()
    out["username"] = me["username"]
    out["roles"] = me["roles"]
    out["realm"] = me["authentication_realm"]
    out["count"] = es.count(index="books")["count"]
    out["hits"] = sorted(
        h["_id"] for h in es.search(index="books", query={"match_all": {}})["hits"]["hits"]
    )
    try:
        es.index(index="books", id="9", document={"title": "not allowed"})
        out["write"] = "allowed"
    except es_mod.AuthorizationException as exc:
        out["write"] = exc.meta.status
    try:
        es_mod.Elasticsearch(url, ca_certs=ca, bearer_auth=forged).security.authenticate()
        out["forged"] = "accepted"
    except es_mod.AuthenticationException as exc:
        out["forged"] = exc.meta.status
    print(json.dumps(out))


if __name__ == "__main__":
    main()

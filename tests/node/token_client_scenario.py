"""Run by the official Elasticsearch client (8.x or 9.x) in its own virtualenv: the node's
bearer tokens (``security.get_token``, ``bearer_auth``, ``security.invalidate_token``).

Usage: python token_client_scenario.py <module: elasticsearch|elasticsearch8> <url> <ca>
<password>. Prints one JSON object of observations; the pytest side asserts on it. Standalone
on purpose: the client virtualenvs do not have Citadel installed.
"""

from __future__ import annotations

import importlib
import json
import sys


def main() -> None:
    module, url, ca, password = sys.argv[1:5]
    es_mod = importlib.import_module(module)
    out: dict = {}
    admin = es_mod.Elasticsearch(url, ca_certs=ca, basic_auth=("elastic", password))
    first = admin.security.get_token(grant_type="password", username="elastic", password=password)
    out["type"] = first["type"]
    out["expires_in"] = first["expires_in"]
    me = es_mod.Elasticsearch(url, ca_certs=ca, bearer_auth=first["access_token"])
    who = me.security.authenticate()
    out["username"] = who["username"]
    out["authentication_type"] = who["authentication_type"]
    second = admin.security.get_token(
        grant_type="refresh_token", refresh_token=first["refresh_token"]
    )
    try:
        admin.security.get_token(grant_type="refresh_token", refresh_token=first["refresh_token"])
        out["second_refresh"] = "accepted"
    except es_mod.BadRequestError as exc:
        out["second_refresh"] = [exc.meta.status, exc.body["error"]]
    invalidated = admin.security.invalidate_token(token=second["access_token"])
    out["invalidated"] = invalidated["invalidated_tokens"]
    try:
        es_mod.Elasticsearch(
            url, ca_certs=ca, bearer_auth=second["access_token"]
        ).security.authenticate()
        out["after_invalidation"] = "accepted"
    except es_mod.AuthenticationException as exc:
        out["after_invalidation"] = exc.meta.status
    own = admin.security.get_token(grant_type="client_credentials")
    out["client_credentials_refresh"] = "refresh_token" in own
    print(json.dumps(out))


if __name__ == "__main__":
    main()

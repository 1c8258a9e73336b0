"""Run by an official client's interpreter (`.venv-es9`): what it raises for a gateway answer.

Usage: python client_errors.py <module> <gateway url> <ca file> <X-Found-Cluster>
Prints one JSON object: the exception's class, status, ``error`` and ``str()``, and its body.
Standalone: the client virtualenv does not have Citadel installed.
"""

from __future__ import annotations

import importlib
import json
import sys


def main() -> None:
    module, url, ca, cluster = sys.argv[1:5]
    client = importlib.import_module(module)
    es = client.Elasticsearch(
        url,
        ca_certs=ca,
        basic_auth=("elastic", "unused"),
        headers={"X-Found-Cluster": cluster},
        retry_on_status=(),  # a 503 is the answer under test, not a reason to retry
        max_retries=0,
    )
    try:
        es.info()
    except client.ApiError as error:
        seen = {
            "class": type(error).__name__,
            "status": error.status_code,
            "error": error.error,
            "message": str(error),
            "body": error.body,
        }
        print(json.dumps(seen))
        return
    raise SystemExit("the client raised nothing")


if __name__ == "__main__":
    main()

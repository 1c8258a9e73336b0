"""Calling a deployment through the gateway as the signed-in member (the data explorer).

Invariants:

- Every call goes to the deployment's public endpoint, the one its Connect section shows
  (``https://<id>.<region>.<deployment domain>:<gateway port>``), over TLS verified against
  the platform CA. The gateway treats the console like any client: it routes by name, applies
  the deployment's traffic filters (to this control plane's address: the console sends no PROXY
  header) and forwards to the node, whose JWT realm checks the member's token.
- The member's deployment token travels in the ``Authorization`` header only: never in a
  page, a URL or a log line. It lives as long as the page's request.
- Only JSON answers of at most `MAX_ANSWER_BYTES` are read; the connection is closed when the
  page is done with it.
- A refusal keeps the deployment's error ``type`` and ``reason`` (`DeploymentRefused`, with
  the deployment's 4xx status, or 502 for its 5xx); no answer at all is
  `DeploymentUnreachable`.

The console may not import httpx (its import contract: it calls the services, never an HTTP
API of ours), so this client is the standard library's `http.client`.
"""

from __future__ import annotations

import http.client
import json
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn
from urllib.parse import quote, urlencode

from citadel.errors import CitadelError
from citadel.log import get_logger

log = get_logger(__name__)

MAX_ANSWER_BYTES = 8 * 1024 * 1024
TIMEOUT_S = 15.0


class DeploymentRefused(CitadelError):
    """The deployment (or the gateway in front of it) answered with an error. The page shows
    the deployment's reason with its error type in the place of our code."""

    code = "explorer.deployment_refused"
    status = 502
    default_message = "The deployment refused the request."

    def __init__(self, status: int, error_type: str, reason: str) -> None:
        super().__init__(f"The deployment answered {status}: {reason}")
        self.status = status if 400 <= status < 500 else 502
        self.deployment_status = status
        self.error_type = error_type
        self.code = error_type  # shown as the error's code: the type an ES client would show


class DeploymentUnreachable(CitadelError):
    """No answer from the deployment's endpoint (no route, TLS failure, timeout)."""

    code = "explorer.deployment_unreachable"
    status = 502
    default_message = (
        "The deployment did not answer through the gateway. Check that it is running, then "
        "reload the page."
    )


@dataclass(frozen=True)
class Endpoint:
    """Where a deployment answers (its public name and the gateway's port) and the CA its
    certificate is checked against."""

    host: str
    port: int
    ca_file: Path


def path_of(*segments: str) -> str:
    """A request path from segments, each percent-encoded (an index name never adds a
    segment of its own): ``path_of("logs", "_search")`` is ``/logs/_search``."""
    return "/" + "/".join(quote(s, safe=",*") for s in segments)


class DeploymentSession:
    """One page's calls to a deployment, as one member: a keep-alive connection that
    carries the token, closed at the end of the block."""

    def __init__(self, endpoint: Endpoint, token: str, timeout_s: float = TIMEOUT_S) -> None:
        self._endpoint = endpoint
        try:
            context = ssl.create_default_context(cafile=str(endpoint.ca_file))
        except (OSError, ssl.SSLError) as exc:  # the platform has no CA yet
            self._unreachable(exc)
        self._connection = http.client.HTTPSConnection(
            endpoint.host, endpoint.port, timeout=timeout_s, context=context
        )
        self._headers = {
            "authorization": f"Bearer {token}",
            "accept": "application/json",
            "user-agent": "citadel-console-explorer",
        }

    def __enter__(self) -> DeploymentSession:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._connection.close()

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """``GET path?params``: the answer's JSON."""
        return self.call("GET", path, params=params)

    def post(self, path: str, body: Any, params: Mapping[str, str] | None = None) -> Any:
        """``POST path`` with a JSON body: the answer's JSON."""
        return self.call("POST", path, params=params, body=body)

    def put(self, path: str, body: Any) -> Any:
        """``PUT path`` with a JSON body: the answer's JSON."""
        return self.call("PUT", path, body=body)

    def delete(self, path: str) -> Any:
        """``DELETE path``: the answer's JSON."""
        return self.call("DELETE", path)

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> Any:
        """One request; the answer's JSON, or `DeploymentRefused` / `DeploymentUnreachable`."""
        target = path + (f"?{urlencode(params)}" if params else "")
        headers = dict(self._headers)
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["content-type"] = "application/json"
        try:
            self._connection.request(method, target, body=payload, headers=headers)
            answer = self._connection.getresponse()
            data = answer.read(MAX_ANSWER_BYTES + 1)
        except (OSError, http.client.HTTPException) as exc:
            self._connection.close()
            self._unreachable(exc)
        if len(data) > MAX_ANSWER_BYTES:
            self._connection.close()
            raise DeploymentRefused(502, "explorer.answer_too_large", "the answer is too large")
        parsed = _json(data)
        if answer.status >= 400:
            raise _refusal(answer.status, parsed)
        if parsed is None:
            raise DeploymentRefused(502, "explorer.not_json", "the answer is not JSON")
        return parsed

    def _unreachable(self, exc: BaseException) -> NoReturn:
        log.warning(
            "explorer.deployment_unreachable",
            host=self._endpoint.host,
            port=self._endpoint.port,
            error_type=type(exc).__name__,
        )
        raise DeploymentUnreachable() from None


def _json(data: bytes) -> Any:
    if not data:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


def _refusal(status: int, body: Any) -> DeploymentRefused:
    """The refusal an Elasticsearch error body describes (``{"error": {"type", "reason"}}``,
    or a bare string ``error`` as some answers have)."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        kind = str(error.get("type") or "error")
        reason = str(error.get("reason") or "no reason given")
        return DeploymentRefused(status, kind, reason)
    if isinstance(error, str):
        return DeploymentRefused(status, "error", error)
    return DeploymentRefused(status, f"http_{status}", "no error document")

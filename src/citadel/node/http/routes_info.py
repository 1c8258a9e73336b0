"""``GET /_info/{target}`` (cluster info) and ``GET /_ssl/certificates``. Both need ``monitor``.

``_info`` answers only what the node counts: ``ingest`` (documents through pipelines on the
write path, `citadel.node.ingest.stats`; no byte counts or per-processor figures). ``http``
(connections are the server's, not counted here), ``thread_pool`` and ``script`` are a 400
naming them; ``_all`` is the sections the node has. ``_ssl/certificates`` describes the
certificates the node serves with (``--cert``, every certificate in the file, the first with its
private key) and the client CA it trusts (``--client-ca``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography import x509

from citadel.node.errors import IllegalArgument
from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.router import Router, cluster
from citadel.node.ingest.stats import STATS
from citadel.node.services import NodeServices

TARGETS = ("http", "ingest", "thread_pool", "script")
COUNTED = ("ingest",)


def register(router: Router, services: NodeServices) -> None:
    """Add the routes to `router`."""
    info = cluster("monitor")
    router.add("GET", "/_info/_all", lambda r: cluster_info(services, r, "_all"), info)
    router.add("GET", "/_info/{target}", lambda r: cluster_info(services, r), info)
    router.add("GET", "/_ssl/certificates", lambda r: certificates(services, r), cluster("monitor"))


def cluster_info(
    services: NodeServices, request: NodeRequest, target: str | None = None
) -> NodeResponse:
    """``GET /_info/{target}``."""
    _no_params(request)
    wanted = _targets(target or request.params["target"])
    body: dict[str, Any] = {"cluster_name": services.info.cluster_name}
    if "ingest" in wanted:
        body["ingest"] = STATS.body()
    return NodeResponse(body=body)


def _targets(text: str) -> list[str]:
    names = [t for t in text.split(",") if t]
    if "_all" in names:
        if len(names) > 1:
            raise IllegalArgument(f"[_all] cannot be used with other targets: [{text}]")
        return list(COUNTED)
    for name in names:
        if name not in TARGETS:
            raise IllegalArgument(f"request [/_info/{text}] contains unrecognized target: [{name}]")
        if name not in COUNTED:
            raise IllegalArgument(
                f"[{name}] statistics are not kept by this node (it counts: {', '.join(COUNTED)})"
            )
    if not names:
        raise IllegalArgument("no target given to /_info")
    return names


def certificates(services: NodeServices, request: NodeRequest) -> NodeResponse:
    """``GET /_ssl/certificates``."""
    _no_params(request)
    out: list[dict[str, Any]] = []
    info = services.info
    if info.cert_path:
        out += describe_pem(info.cert_path, keyed=True)
    if info.client_ca_path:
        out += describe_pem(info.client_ca_path, keyed=False)
    return NodeResponse(body=out)


def describe_pem(path: str, *, keyed: bool) -> list[dict[str, Any]]:
    """Each certificate of a PEM file as Elasticsearch describes it (the first one carries the
    private key when `keyed`)."""
    try:
        found = x509.load_pem_x509_certificates(Path(path).read_bytes())
    except (OSError, ValueError):
        return []
    return [
        {
            "path": path,
            "format": "PEM",
            "alias": None,
            "subject_dn": cert.subject.rfc4514_string(),
            "serial_number": format(cert.serial_number, "x"),
            "has_private_key": keyed and number == 0,
            "expiry": cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "issuer": cert.issuer.rfc4514_string(),
        }
        for number, cert in enumerate(found)
    ]


def _no_params(request: NodeRequest) -> None:
    if request.query:
        unknown = ",".join(sorted(request.query))
        raise IllegalArgument(
            f"request [{request.path}] contains unrecognized parameter: [{unknown}]"
        )

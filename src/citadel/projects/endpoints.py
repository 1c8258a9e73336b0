"""Where a project is reached (ADR 28): its endpoint URLs and its cloud_id. Pure, no I/O.

Every application of a project has its own host under the gateway,
``<alias>.<app>.<region>.<deployment_domain>``; the URL names the gateway's port unless it is
443. The cloud_id is the one the official clients expand: ``<name>:`` and base64 of
``<region>.<domain>:<port>$<alias>.es$<alias>.kb``, which a client turns into
``https://<alias>.es.<region>.<domain>:<port>``.
"""

from __future__ import annotations

import base64

from citadel.projects.models import Project
from citadel.projects.types import APPS, ProjectType

ENDPOINT_KEYS: dict[str, str] = {
    "es": "elasticsearch",
    "kb": "kibana",
    "apm": "apm",
    "ingest": "ingest",
}
"""The key of each application's URL in a project's `endpoints` object."""


def host(row: Project, app: str, domain: str) -> str:
    """The host name of one application of a project."""
    return f"{row.alias}.{app}.{row.region_id}.{domain}"


def endpoints(row: Project, domain: str, port: int) -> dict[str, str]:
    """The project's `endpoints`: one URL per application of its type, keyed as the API keys
    them (``elasticsearch``, ``kibana``, ``apm``, ``ingest``)."""
    suffix = "" if port == 443 else f":{port}"
    return {
        ENDPOINT_KEYS[app]: f"https://{host(row, app, domain)}{suffix}"
        for app in APPS[ProjectType(row.type)]
    }


def cloud_id(row: Project, domain: str, port: int) -> str:
    """``<name>:base64("<region>.<domain>:<port>$<alias>.es$<alias>.kb")``; a ``:`` in the
    name becomes ``-`` (clients split the cloud_id at its first colon)."""
    text = f"{row.region_id}.{domain}:{port}${row.alias}.es${row.alias}.kb"
    label = row.name.replace(":", "-")
    return f"{label}:{base64.b64encode(text.encode()).decode()}"

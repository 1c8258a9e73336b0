"""A serverless project's node (``citadel node --project-type T``, ADR 28).

A project's node is the same node as a deployment's, told three things more at start:

* ``GET /`` answers as an Elastic serverless project does (`root_body`): ``build_flavor``
  ``"serverless"`` and a client-compatibility version, `COMPATIBILITY_VERSION`, not a release
  (clients that check the version accept it; nothing else of the node changes with it);
* the reserved superuser is ``admin`` (`ADMIN`), not ``elastic``: the allocator's password
  descriptor and its reset flag set it exactly as they set ``elastic`` on a deployment's node;
  the type's built-in roles come from `citadel.node.security.project_roles`;
* the content the type implies is installed at every start where it is missing
  (`install_content`): for Observability and Security the ``logs``, ``metrics`` and
  ``traces`` data stream templates (``logs-*-*``, ``metrics-*-*``, ``traces-*-*``, priority
  100 as Elasticsearch's own, each composed of ``<name>@mappings``), so the first bulk write
  to ``logs-generic-default`` creates a data stream; for Security also the alerts index
  ``.alerts-security.alerts-default`` (hidden) behind the write alias
  ``.alerts-security.alerts``. What exists is left alone, a customer's change included; what
  was deleted comes back at the next start, as Elasticsearch reinstalls its own templates.
  One the store refuses (a customer's template of the same priority overlapping it) is logged
  and skipped: the node starts all the same.
"""

from __future__ import annotations

from typing import Any

import structlog

from citadel.kit.clock import Clock
from citadel.node.errors import EsError
from citadel.node.security.project_roles import OBSERVABILITY, PROJECT_TYPES, SECURITY
from citadel.node.store import catalog as meta
from citadel.node.store import indices, templates
from citadel.node.store.connection import Store

__all__ = ["ADMIN", "COMPATIBILITY_VERSION", "PROJECT_TYPES", "install_content", "root_body"]

log = structlog.get_logger(__name__)

ADMIN = "admin"
COMPATIBILITY_VERSION = "8.11.0"
"""What ``GET /`` on a project says its version is: the client-compatibility version Elastic's
serverless projects answer (the official 8.x and 9.x clients accept it)."""

ALERTS_INDEX = ".alerts-security.alerts-default"
ALERTS_ALIAS = ".alerts-security.alerts"
MANAGED = {"managed": True, "managed_by": "citadel"}

_ECS_BASE: dict[str, Any] = {
    "@timestamp": {"type": "date"},
    "data_stream": {
        "properties": {
            "type": {"type": "keyword"},
            "dataset": {"type": "keyword"},
            "namespace": {"type": "keyword"},
        }
    },
    "message": {"type": "text"},
    "host": {"properties": {"name": {"type": "keyword"}}},
    "service": {"properties": {"name": {"type": "keyword"}}},
    "event": {"properties": {"dataset": {"type": "keyword"}}},
}
_STREAM_MAPPINGS: dict[str, dict[str, Any]] = {
    "logs": {
        **_ECS_BASE,
        "log": {"properties": {"level": {"type": "keyword"}}},
    },
    "metrics": {
        **_ECS_BASE,
        "metricset": {"properties": {"name": {"type": "keyword"}}},
    },
    "traces": {
        **_ECS_BASE,
        "trace": {"properties": {"id": {"type": "keyword"}}},
        "span": {"properties": {"id": {"type": "keyword"}}},
        "transaction": {"properties": {"id": {"type": "keyword"}}},
    },
}
_ALERT_MAPPINGS: dict[str, Any] = {
    "@timestamp": {"type": "date"},
    "kibana": {
        "properties": {
            "alert": {
                "properties": {
                    "uuid": {"type": "keyword"},
                    "status": {"type": "keyword"},
                    "workflow_status": {"type": "keyword"},
                    "severity": {"type": "keyword"},
                    "risk_score": {"type": "float"},
                    "reason": {"type": "text"},
                    "rule": {
                        "properties": {
                            "name": {"type": "keyword"},
                            "uuid": {"type": "keyword"},
                        }
                    },
                }
            }
        }
    },
}

STREAMS_BY_TYPE: dict[str, tuple[str, ...]] = {
    OBSERVABILITY: ("logs", "metrics", "traces"),
    SECURITY: ("logs", "metrics", "traces"),
}


def root_body(
    node_name: str, cluster_name: str, cluster_uuid: str, lucene_version: str
) -> dict[str, Any]:
    """``GET /`` on a project's node: Elastic's serverless answer."""
    return {
        "name": node_name,
        "cluster_name": cluster_name,
        "cluster_uuid": cluster_uuid,
        "version": {
            "number": COMPATIBILITY_VERSION,
            "build_flavor": "serverless",
            "build_type": "citadel",
            "build_hash": "citadel",
            "build_date": "2023-10-31",
            "build_snapshot": False,
            "lucene_version": lucene_version,
            "minimum_wire_compatibility_version": COMPATIBILITY_VERSION,
            "minimum_index_compatibility_version": COMPATIBILITY_VERSION,
        },
        "tagline": "You Know, for Search",
    }


def stream_templates(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The component template ``<name>@mappings`` and the data stream index template `name`
    (``<name>-*-*``), as their PUT bodies."""
    component = {
        "template": {"mappings": {"properties": _STREAM_MAPPINGS[name]}},
        "version": 1,
        "_meta": {**MANAGED, "description": f"mappings of the {name} data streams"},
    }
    index_template = {
        "index_patterns": [f"{name}-*-*"],
        "data_stream": {},
        "composed_of": [f"{name}@mappings"],
        "priority": 100,
        "version": 1,
        "_meta": {**MANAGED, "description": f"the {name} data streams of a project"},
    }
    return component, index_template


def alerts_index_body() -> dict[str, Any]:
    """The Security alerts index's create body: hidden, its mappings, the write alias."""
    return {
        "settings": {"index": {"hidden": True}},
        "mappings": {"properties": _ALERT_MAPPINGS},
        "aliases": {ALERTS_ALIAS: {"is_write_index": True, "is_hidden": True}},
    }


def install_content(store: Store, clock: Clock, project_type: str) -> list[str]:
    """Create what `project_type` implies and is missing (module docstring); the names made,
    in order (none on a restart that finds everything)."""
    if project_type not in PROJECT_TYPES:
        raise ValueError(f"not a project type: {project_type!r}")
    made: list[str] = []
    for name in STREAMS_BY_TYPE.get(project_type, ()):
        component, index_template = stream_templates(name)
        with store.write() as conn:
            if meta.get(conn, meta.COMPONENT_TEMPLATE, f"{name}@mappings") is None:
                templates.put_component_template(conn, f"{name}@mappings", component)
                made.append(f"{name}@mappings")
        try:
            with store.write() as conn:
                if meta.get(conn, meta.INDEX_TEMPLATE, name) is None:
                    templates.put_index_template(conn, name, index_template)
                    made.append(name)
        except EsError as exc:
            log.warning("node.project_template_skipped", template=name, reason=exc.reason)
    if project_type == SECURITY:
        try:
            with store.write() as conn:
                if indices.load_catalog(conn).kind(ALERTS_INDEX) is None:
                    indices.create(conn, clock, ALERTS_INDEX, alerts_index_body(), explicit=True)
                    made.append(ALERTS_INDEX)
        except EsError as exc:
            log.warning("node.project_index_skipped", index=ALERTS_INDEX, reason=exc.reason)
    return made

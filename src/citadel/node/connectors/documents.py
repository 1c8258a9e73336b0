"""Connector and sync job documents, as Elasticsearch's connector index holds them. Pure.

Elasticsearch does not run connectors: an external connector service reads these documents
and reports back through the update endpoints. The node stores and returns them the same way.
Each update endpoint changes named fields of the document (`UPDATES`); sync jobs move between
statuses as Elasticsearch allows (`TRANSITIONS`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from citadel.node.errors import IllegalArgument, XContentParseError

STATUSES = ("created", "needs_configuration", "configured", "connected", "error")
JOB_TYPES = ("full", "incremental", "access_control")
TRIGGERS = ("on_demand", "scheduled")
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "pending": ("in_progress", "canceled"),
    "in_progress": ("canceling", "completed", "suspended", "error"),
    "suspended": ("in_progress", "canceled"),
    "canceling": ("canceled", "error"),
    "completed": (),
    "canceled": (),
    "error": (),
}
_PUT_KEYS = frozenset(
    {"description", "index_name", "is_native", "language", "name", "service_type"}
)
# endpoint → the body fields it accepts (one of them required)
UPDATES: dict[str, frozenset[str]] = {
    "_name": frozenset({"name", "description"}),
    "_api_key_id": frozenset({"api_key_id", "api_key_secret_id"}),
    "_configuration": frozenset({"configuration", "values"}),
    "_error": frozenset({"error"}),
    "_index_name": frozenset({"index_name"}),
    "_native": frozenset({"is_native"}),
    "_pipeline": frozenset({"pipeline"}),
    "_scheduling": frozenset({"scheduling"}),
    "_service_type": frozenset({"service_type"}),
    "_status": frozenset({"status"}),
    "_features": frozenset({"features"}),
    "_last_sync": frozenset(
        {
            "last_access_control_sync_error",
            "last_access_control_sync_scheduled_at",
            "last_access_control_sync_status",
            "last_deleted_document_count",
            "last_incremental_sync_scheduled_at",
            "last_indexed_document_count",
            "last_seen",
            "last_sync_error",
            "last_sync_scheduled_at",
            "last_sync_status",
            "last_synced",
            "sync_cursor",
        }
    ),
    "_filtering": frozenset({"filtering", "rules", "advanced_snippet"}),
}
_STATS_KEYS = frozenset(
    {
        "deleted_document_count",
        "indexed_document_count",
        "indexed_document_volume",
        "total_document_count",
        "last_seen",
        "metadata",
    }
)


def _schedule(interval: str = "0 0 0 * * ?") -> dict[str, Any]:
    return {"enabled": False, "interval": interval}


def default_filtering(now: str) -> list[dict[str, Any]]:
    """The DEFAULT domain's filtering of a new connector (include everything)."""
    rules = {
        "advanced_snippet": {"created_at": now, "updated_at": now, "value": {}},
        "rules": [
            {
                "created_at": now,
                "field": "_",
                "id": "DEFAULT",
                "order": 0,
                "policy": "include",
                "rule": "regex",
                "updated_at": now,
                "value": ".*",
            }
        ],
        "validation": {"errors": [], "state": "valid"},
    }
    return [{"domain": "DEFAULT", "draft": rules, "active": copy.deepcopy(rules)}]


def _object(body: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise XContentParseError(f"[{what}] request body must be an object")
    return body


def new_connector(connector_id: str, body: Any, now: str) -> dict[str, Any]:
    """A connector document from a ``PUT|POST _connector`` body."""
    body = _object(body or {}, "connector_put")
    unknown = sorted(set(body) - _PUT_KEYS)
    if unknown:
        raise XContentParseError(f"[connector_put_request] unknown field [{unknown[0]}]")
    is_native = body.get("is_native", False)
    if not isinstance(is_native, bool):
        raise XContentParseError("[connector_put_request] failed to parse field [is_native]")
    return {
        "id": connector_id,
        "api_key_id": None,
        "api_key_secret_id": None,
        "configuration": {},
        "custom_scheduling": {},
        "deleted": False,
        "description": _text(body, "description"),
        "error": None,
        "features": None,
        "filtering": default_filtering(now),
        "index_name": _text(body, "index_name"),
        "is_native": is_native,
        "language": _text(body, "language"),
        "last_access_control_sync_error": None,
        "last_access_control_sync_scheduled_at": None,
        "last_access_control_sync_status": None,
        "last_deleted_document_count": None,
        "last_incremental_sync_scheduled_at": None,
        "last_indexed_document_count": None,
        "last_seen": None,
        "last_sync_error": None,
        "last_sync_scheduled_at": None,
        "last_sync_status": None,
        "last_synced": None,
        "name": _text(body, "name") or "",
        "pipeline": {
            "extract_binary_content": True,
            "name": "search-default-ingestion",
            "reduce_whitespace": True,
            "run_ml_inference": True,
        },
        "scheduling": {
            "access_control": _schedule(),
            "full": _schedule(),
            "incremental": _schedule(),
        },
        "service_type": _text(body, "service_type"),
        "status": "created",
        "sync_cursor": None,
        "sync_now": False,
    }


def _text(body: Mapping[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise XContentParseError(f"failed to parse field [{key}]: a string is expected")
    return value


def update(doc: dict[str, Any], endpoint: str, body: Any, now: str) -> dict[str, Any]:
    """`doc` changed by update endpoint `endpoint` (``_name``, ``_pipeline``, ...)."""
    allowed = UPDATES[endpoint]
    body = _object(body, f"connector_update{endpoint}")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise XContentParseError(f"[connector_update{endpoint}] unknown field [{unknown[0]}]")
    if not set(body) & allowed:
        raise IllegalArgument(f"one of [{', '.join(sorted(allowed))}] is required")
    out = copy.deepcopy(doc)
    if endpoint == "_filtering":
        return _update_filtering(out, body, now)
    if endpoint == "_configuration":
        return _update_configuration(out, body)
    if endpoint == "_status" and body["status"] not in STATUSES:
        raise IllegalArgument(f"Unknown ConnectorStatus [{body['status']}]")
    if endpoint == "_native" and not isinstance(body["is_native"], bool):
        raise XContentParseError("[connector_update_native] failed to parse field [is_native]")
    for object_key in ("pipeline", "scheduling", "features"):
        if object_key in body and not isinstance(body[object_key], Mapping):
            raise XContentParseError(f"[{object_key}] must be an object")
    if endpoint == "_scheduling":
        out["scheduling"] = {**out["scheduling"], **body["scheduling"]}
        return out
    out.update(body)
    return out


def _update_configuration(doc: dict[str, Any], body: Mapping[str, Any]) -> dict[str, Any]:
    if "configuration" in body:
        if not isinstance(body["configuration"], Mapping):
            raise XContentParseError("[configuration] must be an object")
        doc["configuration"] = dict(body["configuration"])
        doc["status"] = "configured"
    if "values" in body:
        values = body["values"]
        if not isinstance(values, Mapping):
            raise XContentParseError("[values] must be an object")
        unknown = sorted(set(values) - set(doc["configuration"]))
        if unknown:
            raise IllegalArgument(
                f"Unknown [configuration] fields in the request payload: [{', '.join(unknown)}]"
            )
        for key, value in values.items():
            doc["configuration"][key] = {**doc["configuration"][key], "value": value}
    return doc


def _update_filtering(doc: dict[str, Any], body: Mapping[str, Any], now: str) -> dict[str, Any]:
    if "filtering" in body:
        if not isinstance(body["filtering"], list):
            raise XContentParseError("[filtering] must be a list")
        doc["filtering"] = body["filtering"]
        return doc
    default = _default_domain(doc)
    draft = default["draft"]
    if "rules" in body:
        if not isinstance(body["rules"], list):
            raise XContentParseError("[rules] must be a list")
        draft["rules"] = body["rules"]
    if "advanced_snippet" in body:
        if not isinstance(body["advanced_snippet"], Mapping):
            raise XContentParseError("[advanced_snippet] must be an object")
        draft["advanced_snippet"] = dict(body["advanced_snippet"])
    draft["validation"] = {"errors": [], "state": "edited"}
    return doc


def _default_domain(doc: dict[str, Any]) -> dict[str, Any]:
    for entry in doc.get("filtering") or []:
        if isinstance(entry, dict) and entry.get("domain") == "DEFAULT":
            return entry
    entry = default_filtering("")[0]
    doc["filtering"] = [*(doc.get("filtering") or []), entry]
    return entry


def validate_filtering(doc: dict[str, Any], body: Any) -> dict[str, Any]:
    """``_filtering/_validation``: the draft's validation state and errors."""
    body = _object(body, "connector_update_filtering_validation")
    validation = body.get("validation")
    if set(body) != {"validation"} or not isinstance(validation, Mapping):
        raise XContentParseError("[validation] is required and must be an object")
    if validation.get("state") not in ("edited", "invalid", "valid"):
        raise IllegalArgument(f"Unknown FilteringValidationState [{validation.get('state')}]")
    out = copy.deepcopy(doc)
    _default_domain(out)["draft"]["validation"] = {
        "errors": list(validation.get("errors") or []),
        "state": validation["state"],
    }
    return out


def activate_filtering(doc: dict[str, Any]) -> dict[str, Any]:
    """``_filtering/_activate``: a valid draft becomes the active filtering."""
    out = copy.deepcopy(doc)
    default = _default_domain(out)
    state = default["draft"].get("validation", {}).get("state")
    if state != "valid":
        raise IllegalArgument(
            f"Filtering draft needs to be validated by the connector service before activation. "
            f"Current validation state [{state}]."
        )
    default["active"] = copy.deepcopy(default["draft"])
    return out


# -- sync jobs ---------------------------------------------------------------------------


def new_sync_job(job_id: str, connector: Mapping[str, Any], body: Any, now: str) -> dict[str, Any]:
    """A pending sync job for `connector` from a ``POST _connector/_sync_job`` body."""
    body = _object(body, "connector_sync_job_post")
    unknown = sorted(set(body) - {"id", "job_type", "trigger_method"})
    if unknown:
        raise XContentParseError(f"[connector_sync_job_post_request] unknown field [{unknown[0]}]")
    job_type = body.get("job_type") or "full"
    trigger = body.get("trigger_method") or "on_demand"
    if job_type not in JOB_TYPES:
        raise IllegalArgument(f"Unknown ConnectorSyncJobType [{job_type}]")
    if trigger not in TRIGGERS:
        raise IllegalArgument(f"Unknown ConnectorSyncJobTriggerMethod [{trigger}]")
    active = _active_filtering(connector)
    return {
        "id": job_id,
        "cancelation_requested_at": None,
        "canceled_at": None,
        "completed_at": None,
        "connector": {
            "id": connector["id"],
            "configuration": connector.get("configuration") or {},
            "filtering": active,
            "index_name": connector.get("index_name"),
            "language": connector.get("language"),
            "pipeline": connector.get("pipeline"),
            "service_type": connector.get("service_type"),
            "sync_cursor": connector.get("sync_cursor"),
        },
        "created_at": now,
        "deleted_document_count": 0,
        "error": None,
        "indexed_document_count": 0,
        "indexed_document_volume": 0,
        "job_type": job_type,
        "last_seen": None,
        "metadata": {},
        "started_at": None,
        "status": "pending",
        "total_document_count": 0,
        "trigger_method": trigger,
        "worker_hostname": None,
    }


def _active_filtering(connector: Mapping[str, Any]) -> Any:
    for entry in connector.get("filtering") or []:
        if isinstance(entry, Mapping) and entry.get("domain") == "DEFAULT":
            return entry.get("active")
    return None


def transition(job: Mapping[str, Any], to: str) -> None:
    """Refuse a status change Elasticsearch refuses (a 400)."""
    current = str(job.get("status"))
    if to not in TRANSITIONS.get(current, ()):
        raise IllegalArgument(
            f"Invalid transition attempt from [{current}] to [{to}]. Such a status transition "
            "is not supported."
        )


def cancel(job: dict[str, Any], now: str) -> dict[str, Any]:
    """``_cancel``: a pending or suspended job is canceled, a running one is canceling."""
    out = dict(job)
    if job["status"] in ("pending", "suspended"):
        out.update(status="canceled", cancelation_requested_at=now, canceled_at=now)
    else:
        transition(job, "canceling")
        out.update(status="canceling", cancelation_requested_at=now)
    return out


def claim(job: dict[str, Any], body: Any, now: str) -> dict[str, Any]:
    """``_claim``: a worker takes the job (it is then in progress)."""
    body = _object(body, "connector_sync_job_claim")
    unknown = sorted(set(body) - {"worker_hostname", "sync_cursor"})
    if unknown:
        raise XContentParseError(f"[connector_sync_job_claim] unknown field [{unknown[0]}]")
    host = body.get("worker_hostname")
    if not isinstance(host, str) or not host:
        raise IllegalArgument("[worker_hostname] of the connector sync job cannot be null.")
    out = {**job, "worker_hostname": host, "status": "in_progress", "last_seen": now}
    out["started_at"] = now
    if "sync_cursor" in body:
        out["connector"] = {**job["connector"], "sync_cursor": body["sync_cursor"]}
    return out


def set_error(job: dict[str, Any], body: Any) -> dict[str, Any]:
    """``_error``: a running job fails with `error`."""
    body = _object(body, "connector_sync_job_error")
    if set(body) != {"error"} or not isinstance(body["error"], str):
        raise XContentParseError("[error] is required and must be a string")
    transition(job, "error")
    return {**job, "status": "error", "error": body["error"]}


def set_stats(job: dict[str, Any], body: Any, now: str) -> dict[str, Any]:
    """``_stats``: the worker's document counts."""
    body = _object(body, "connector_sync_job_update_stats")
    unknown = sorted(set(body) - _STATS_KEYS)
    if unknown:
        raise XContentParseError(f"[connector_sync_job_stats] unknown field [{unknown[0]}]")
    for key in ("deleted_document_count", "indexed_document_count", "indexed_document_volume"):
        if key not in body:
            raise IllegalArgument(f"[{key}] is required")
    for key in _STATS_KEYS - {"last_seen", "metadata"}:
        if key in body and (not isinstance(body[key], int) or isinstance(body[key], bool)):
            raise XContentParseError(f"[{key}] must be a number")
    return {**job, **body, "last_seen": body.get("last_seen") or now}

"""Elasticsearch 8.x's cluster and index privilege names, and which includes which. Pure.

Every name Elasticsearch accepts in a role is accepted here (names are case-insensitive, as
there); anything else, including raw action patterns such as ``cluster:monitor/*``, is a 400.
``includes[p]`` is every privilege whose actions are a subset of ``p``'s in Elasticsearch's
definitions (``ClusterPrivilegeResolver``, ``IndexPrivilege``), so ``_has_privileges`` answers
as Elasticsearch does and a route asking for a privilege is satisfied by any that includes it.

What a privilege does on this node: it opens the node APIs that ask for it or for a privilege
it includes (`ENFORCED_CLUSTER` lists the cluster ones the node's routes ask for today). The
others name features this node does not have (machine learning, watcher, transforms, rollups,
CCR, SLM, SAML/OIDC, bearer tokens, user profiles, service accounts, Fleet secrets, search
applications, ...): they are stored, shown and answered by ``_has_privileges``, and open
nothing, because the APIs they guard answer 400 here for everyone.
"""

from __future__ import annotations

from collections.abc import Mapping

# -- cluster ------------------------------------------------------------------------------

#: The cluster privileges that manage security (``cluster:admin/xpack/security/*``), which
#: ``manage`` leaves out and ``manage_security`` holds.
_SECURITY = frozenset(
    {
        "manage_security",
        "read_security",
        "manage_api_key",
        "manage_own_api_key",
        "grant_api_key",
        "manage_token",
        "manage_saml",
        "manage_oidc",
        "manage_service_account",
        "manage_user_profile",
    }
)
#: Cluster privileges made only of ``cluster:monitor/*`` actions (within ``monitor``).
_MONITOR_ONLY = frozenset(
    {
        "monitor",
        "monitor_ml",
        "monitor_transform",
        "monitor_data_frame_transforms",
        "monitor_watcher",
        "monitor_rollup",
        "monitor_text_structure",
        "monitor_inference",
        "monitor_esql",
        "monitor_stats",
        "monitor_data_stream_global_retention",
        "transport_client",
    }
)
#: Cluster privileges outside security and not only monitoring (within ``manage``).
_OTHER_CLUSTER = frozenset(
    {
        "manage",
        "cancel_task",
        "create_snapshot",
        "monitor_snapshot",
        "monitor_enrich",
        "manage_enrich",
        "manage_ilm",
        "read_ilm",
        "manage_slm",
        "read_slm",
        "manage_index_templates",
        "manage_ingest_pipelines",
        "manage_pipeline",
        "read_pipeline",
        "manage_ml",
        "manage_transform",
        "manage_data_frame_transforms",
        "manage_watcher",
        "manage_rollup",
        "manage_ccr",
        "read_ccr",
        "manage_autoscaling",
        "manage_logstash_pipelines",
        "manage_inference",
        "manage_esql",
        "manage_data_stream_global_retention",
        "manage_search_application",
        "manage_search_synonyms",
        "manage_search_query_rules",
        "manage_behavioral_analytics",
        "post_behavioral_analytics_event",
        "manage_connector",
        "monitor_connector",
        "read_connector_secrets",
        "write_connector_secrets",
        "read_fleet_secrets",
        "write_fleet_secrets",
        "cross_cluster_search",
        "cross_cluster_replication",
    }
)
CLUSTER_PRIVILEGES = frozenset(
    {"all", "none", "delegate_pki"} | _SECURITY | _MONITOR_ONLY | _OTHER_CLUSTER
)

#: Narrower privileges each one includes, beyond itself (closed transitively below).
_CLUSTER_DIRECT: dict[str, frozenset[str]] = {
    "all": CLUSTER_PRIVILEGES - {"none"},
    # `manage` is every cluster action but security's (read_ccr and manage_ccr also hold the
    # has-privileges action, which is security's)
    "manage": (_MONITOR_ONLY | _OTHER_CLUSTER) - {"read_ccr", "manage_ccr"},
    "monitor": _MONITOR_ONLY,
    "manage_security": _SECURITY,
    "manage_api_key": frozenset({"manage_own_api_key", "grant_api_key"}),
    "manage_ml": frozenset({"monitor_ml"}),
    "manage_transform": frozenset(
        {"manage_data_frame_transforms", "monitor_transform", "monitor_data_frame_transforms"}
    ),
    "manage_data_frame_transforms": frozenset(
        {"manage_transform", "monitor_transform", "monitor_data_frame_transforms"}
    ),
    "monitor_transform": frozenset({"monitor_data_frame_transforms"}),
    "monitor_data_frame_transforms": frozenset({"monitor_transform"}),
    "manage_watcher": frozenset({"monitor_watcher"}),
    "manage_rollup": frozenset({"monitor_rollup"}),
    "manage_enrich": frozenset({"monitor_enrich"}),
    "manage_inference": frozenset({"monitor_inference"}),
    "manage_esql": frozenset({"monitor_esql"}),
    "manage_ccr": frozenset({"read_ccr"}),
    "manage_ilm": frozenset({"read_ilm"}),
    "manage_slm": frozenset({"read_slm"}),
    "create_snapshot": frozenset({"monitor_snapshot"}),
    "manage_pipeline": frozenset({"manage_ingest_pipelines", "read_pipeline"}),
    "manage_ingest_pipelines": frozenset({"manage_pipeline", "read_pipeline"}),
    "manage_behavioral_analytics": frozenset({"post_behavioral_analytics_event"}),
    "manage_connector": frozenset({"monitor_connector"}),
    "manage_data_stream_global_retention": frozenset({"monitor_data_stream_global_retention"}),
}

#: The cluster privileges some node API asks for today (the others open nothing here).
ENFORCED_CLUSTER = frozenset(
    {"monitor", "manage_security", "read_security", "manage_api_key", "manage_own_api_key"}
    | {"grant_api_key"}
    | {"manage_token", "manage_oidc"}  # bearer tokens and the OIDC realm (issue 18)
)

# -- index --------------------------------------------------------------------------------

INDEX_PRIVILEGES = frozenset(
    {
        "all",
        "none",
        "read",
        "read_cross_cluster",
        "write",
        "index",
        "create",
        "create_doc",
        "delete",
        "create_index",
        "delete_index",
        "view_index_metadata",
        "manage",
        "monitor",
        "maintenance",
        "auto_configure",
        "manage_ilm",
        "manage_data_stream_lifecycle",
        "manage_follow_index",
        "manage_leader_index",
        "cross_cluster_replication",
        "cross_cluster_replication_internal",
    }
)
_INDEX_DIRECT: dict[str, frozenset[str]] = {
    "all": INDEX_PRIVILEGES - {"none"},
    "manage": frozenset(
        {
            "create_index",
            "delete_index",
            "view_index_metadata",
            "monitor",
            "maintenance",
            "auto_configure",
            "manage_ilm",
            "manage_data_stream_lifecycle",
            "manage_follow_index",
            "manage_leader_index",
        }
    ),
    "write": frozenset({"index", "create", "create_doc", "delete"}),
    "index": frozenset({"create", "create_doc"}),
    "create": frozenset({"create_doc"}),
}
#: The index privileges the node's APIs ask for today.
ENFORCED_INDEX = frozenset(
    {
        "read",
        "index",
        "create",
        "delete",
        "create_index",
        "delete_index",
        "view_index_metadata",
        "manage",
        "monitor",
        "maintenance",
    }
)


def _closure(names: frozenset[str], direct: Mapping[str, frozenset[str]]) -> dict[str, frozenset]:
    out = {}
    for name in names:
        seen, todo = {name}, [name]
        while todo:
            for implied in direct.get(todo.pop(), frozenset()):
                if implied not in seen:
                    seen.add(implied)
                    todo.append(implied)
        out[name] = frozenset(seen - {"none"}) if name != "none" else frozenset()
    return out


CLUSTER_INCLUDES: dict[str, frozenset[str]] = _closure(CLUSTER_PRIVILEGES, _CLUSTER_DIRECT)
INDEX_INCLUDES: dict[str, frozenset[str]] = _closure(INDEX_PRIVILEGES, _INDEX_DIRECT)


def cluster_name(name: str) -> str | None:
    """The canonical (lower-case) cluster privilege `name` stands for, or None if unknown."""
    lowered = name.lower()
    return lowered if lowered in CLUSTER_PRIVILEGES else None


def index_name(name: str) -> str | None:
    """The canonical (lower-case) index privilege `name` stands for, or None if unknown."""
    lowered = name.lower()
    return lowered if lowered in INDEX_PRIVILEGES else None


def is_action_pattern(name: str) -> bool:
    """Whether `name` is an action pattern (``cluster:...``, ``indices:...``), which
    Elasticsearch accepts as a privilege and this node does not."""
    return ":" in name or "/" in name

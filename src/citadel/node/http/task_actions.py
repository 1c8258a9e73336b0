"""The task action name of a request, as Elasticsearch names the transport action a REST call
runs (``indices:data/read/search``, ``cluster:monitor/health``...). Pure.

Routes are named by their pattern's API segment (the first ``_name`` segment, and the one
after it for ``_cluster``, ``_nodes``, ``_cat`` and the like) and method. Elasticsearch's own
name where this node serves the same API; otherwise one of the same shape
(``indices:admin/<api>``, ``cluster:monitor/<api>``...), so ``actions=indices:*`` filters work.
Routes whose handlers register their own task (reindex, by-query) are `SELF_TRACKED`.
"""

from __future__ import annotations

SEARCH = "indices:data/read/search"

# (method or "*", api) -> action
_ACTIONS: dict[tuple[str, str], str] = {
    ("*", "_search"): SEARCH,
    ("*", "_count"): SEARCH,
    ("*", "_search/scroll"): "indices:data/read/scroll",
    ("DELETE", "_search/scroll"): "indices:data/read/scroll/clear",
    ("*", "_msearch"): "indices:data/read/msearch",
    ("*", "_async_search"): "indices:data/read/async_search/submit",
    ("GET", "_async_search"): "indices:data/read/async_search/get",
    ("DELETE", "_async_search"): "indices:data/read/async_search/delete",
    ("*", "_pit"): "indices:data/read/open_point_in_time",
    ("DELETE", "_pit"): "indices:data/read/close_point_in_time",
    ("*", "_explain"): "indices:data/read/explain",
    ("*", "_validate"): "indices:admin/validate/query",
    ("*", "_search_shards"): "indices:admin/shards/search_shards",
    ("*", "_terms_enum"): "indices:data/read/xpack/termsenum/list",
    ("*", "_field_caps"): "indices:data/read/field_caps",
    ("*", "_termvectors"): "indices:data/read/tv",
    ("*", "_mtermvectors"): "indices:data/read/mtv",
    ("GET", "_doc"): "indices:data/read/get",
    ("GET", "_source"): "indices:data/read/get",
    ("PUT", "_doc"): "indices:data/write/index",
    ("POST", "_doc"): "indices:data/write/index",
    ("*", "_create"): "indices:data/write/index",
    ("DELETE", "_doc"): "indices:data/write/delete",
    ("*", "_update"): "indices:data/write/update",
    ("*", "_bulk"): "indices:data/write/bulk",
    ("*", "_mget"): "indices:data/read/mget",
    ("*", "_refresh"): "indices:admin/refresh",
    ("*", "_flush"): "indices:admin/flush",
    ("*", "_forcemerge"): "indices:admin/forcemerge",
    ("*", "_cache"): "indices:admin/cache/clear",
    ("*", "_analyze"): "indices:admin/analyze",
    ("GET", "_mapping"): "indices:admin/mappings/get",
    ("*", "_mapping"): "indices:admin/mapping/put",
    ("GET", "_settings"): "indices:monitor/settings/get",
    ("*", "_settings"): "indices:admin/settings/update",
    ("*", "_stats"): "indices:monitor/stats",
    ("*", "_open"): "indices:admin/open",
    ("*", "_close"): "indices:admin/close",
    ("*", "_rollover"): "indices:admin/rollover",
    ("GET", "_tasks"): "cluster:monitor/tasks/lists",
    ("POST", "_tasks"): "cluster:admin/tasks/cancel",
    ("GET", "_cat/tasks"): "cluster:monitor/tasks/lists",
    ("GET", "_cluster/health"): "cluster:monitor/health",
    ("GET", "_cluster/state"): "cluster:monitor/state",
    ("GET", "_cluster/stats"): "cluster:monitor/stats",
    ("GET", "_cluster/settings"): "cluster:monitor/settings",
    ("PUT", "_cluster/settings"): "cluster:admin/settings/update",
    ("GET", "_nodes"): "cluster:monitor/nodes/info",
    ("GET", "_nodes/stats"): "cluster:monitor/nodes/stats",
    ("GET", "_nodes/usage"): "cluster:monitor/nodes/usage",
    ("GET", "_nodes/hot_threads"): "cluster:monitor/nodes/hot_threads",
    ("GET", "_info"): "cluster:monitor/nodes/stats",
    ("*", "_ingest/pipeline"): "cluster:admin/ingest/pipeline/put",
    ("GET", "_ingest/pipeline"): "cluster:admin/ingest/pipeline/get",
    ("DELETE", "_ingest/pipeline"): "cluster:admin/ingest/pipeline/delete",
    ("GET", "_security/_authenticate"): "cluster:admin/xpack/security/user/authenticate",
}
_TWO_SEGMENT = frozenset({"_cluster", "_nodes", "_cat", "_ingest", "_security", "_search"})
SELF_TRACKED = frozenset({"_reindex", "_update_by_query", "_delete_by_query"})


def api_of(pattern: str) -> str:
    """The API a route pattern names: ``/{index}/_doc/{id}`` -> ``_doc``; ``/`` -> ``""``."""
    segments = [s for s in pattern.strip("/").split("/") if s]
    for i, segment in enumerate(segments):
        if segment.startswith("_"):
            following = segments[i + 1] if i + 1 < len(segments) else ""
            if segment in _TWO_SEGMENT and following and not following.startswith("{"):
                return f"{segment}/{following}"
            return segment
    return ""


def action_for(method: str, pattern: str) -> str | None:
    """The task action of a request on `pattern`; None when its handler registers its own."""
    if pattern.endswith("/_rethrottle"):
        return "cluster:admin/reindex/rethrottle"
    api = api_of(pattern)
    if api in SELF_TRACKED:
        return None
    if api.split("/")[0] == "_nodes":
        segments = pattern.split("/")
        api = next((f"_nodes/{m}" for m in _NODE_METRICS if m in segments), "_nodes")
    found = _ACTIONS.get((method, api)) or _ACTIONS.get(("*", api))
    if found is not None:
        return found
    return _shaped(method, api, pattern)


def elasticsearch_action(method: str, pattern: str) -> str | None:
    """Elasticsearch's own name of the action a request on `pattern` runs, where this node
    serves the same API (the table); None where `action_for` would make one up in its shape."""
    api = api_of(pattern)
    return _ACTIONS.get((method, api)) or _ACTIONS.get(("*", api))


_NODE_METRICS = ("stats", "usage", "hot_threads")


def _shaped(method: str, api: str, pattern: str) -> str:
    reading = method in ("GET", "HEAD")
    name = api.lstrip("_").replace("/_", "/") or "main"
    if api == "":
        if pattern == "/":
            return "cluster:monitor/main"
        verb = {"PUT": "create", "POST": "create"}.get(method, method.lower())
        return "indices:admin/get" if reading else f"indices:admin/{verb}"
    if api.startswith("_security"):
        verb = "get" if reading else method.lower()
        return f"cluster:admin/xpack/security/{name.removeprefix('security/')}/{verb}"
    if pattern.startswith("/{"):
        return f"indices:monitor/{name}" if reading else f"indices:admin/{name}"
    if reading:
        return f"cluster:monitor/{name}"
    return f"cluster:admin/{name}/{method.lower()}"

"""The node's system features, as ``_features`` lists and ``_features/_reset`` resets them.

Only state the node keeps on behalf of a feature and can honestly drop is listed: async search
results (``async_search``) and finished task results (``tasks``). The security realm (users,
roles, API keys) is not offered for reset: Elasticsearch's ``security`` feature would delete
the ``.security`` index, and here that would lock every user out of the deployment.
"""

from __future__ import annotations

from typing import Any

from citadel.node.services import NodeServices

FEATURES = (
    ("async_search", "Manages results of async searches"),
    ("tasks", "Manages task results"),
)


def describe() -> list[dict[str, str]]:
    """``GET _features``."""
    return [{"name": name, "description": text} for name, text in FEATURES]


def reset(services: NodeServices) -> list[dict[str, Any]]:
    """``POST _features/_reset``: drop every feature's state; each one's status."""
    services.async_searches.clear()
    services.tasks.clear_finished()
    return [{"feature_name": name, "status": "SUCCESS"} for name, _text in FEATURES]

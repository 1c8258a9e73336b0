"""Upgrade assistant: ``[/{index}]/_migration/deprecations``, ``_migration/system_features``.

This node runs no deprecation check (it refuses the settings Elasticsearch would warn about
rather than keeping them), so every list is empty; an index expression is still resolved,
a missing index a 404. Its system features (those ``_features`` lists) keep no indices, so
none needs a migration and ``POST _migration/system_features`` is not accepted, as
Elasticsearch answers when nothing needs migrating. Both need ``manage``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from citadel.node import features
from citadel.node.errors import IllegalArgument
from citadel.node.http.messages import NodeRequest, NodeResponse
from citadel.node.http.router import Router, cluster
from citadel.node.services import VERSION, NodeServices
from citadel.node.store import indices

MANAGE = cluster("manage")
NO_MIGRATION = "NO_MIGRATION_NEEDED"


def register(router: Router, services: NodeServices) -> None:
    """Add the migration routes to `router`."""
    routes = MigrationRoutes(services)
    router.add("GET", "/_migration/deprecations", routes.deprecations, MANAGE)
    router.add("GET", "/{index}/_migration/deprecations", routes.deprecations, MANAGE)
    router.add("GET", "/_migration/system_features", routes.feature_status, MANAGE)
    router.add("POST", "/_migration/system_features", routes.feature_upgrade, MANAGE)


class MigrationRoutes:
    """Handlers for the upgrade assistant."""

    def __init__(self, services: NodeServices) -> None:
        self.services = services

    def deprecations(self, request: NodeRequest) -> NodeResponse:
        """``[/{index}]/_migration/deprecations``: no check runs here, so nothing is deprecated."""
        _check_params(request, ())
        expression = request.params.get("index")
        if expression is not None:
            with self.services.store.read() as conn:
                indices.resolve_names(
                    expression, indices.all_names(conn), expand_closed=True, closed_ok=True
                )
        body: dict[str, Any] = {
            "cluster_settings": [],
            "node_settings": [],
            "ml_settings": [],
            "index_settings": {},
            "data_streams": {},
            "templates": {},
            "ilm_policies": {},
        }
        return NodeResponse(body=body)

    def feature_status(self, request: NodeRequest) -> NodeResponse:
        """``GET _migration/system_features``: each feature, none with indices to migrate."""
        _check_params(request, ())
        listed = [
            {
                "feature_name": item["name"],
                "minimum_index_version": VERSION,
                "migration_status": NO_MIGRATION,
                "indices": [],
            }
            for item in features.describe()
        ]
        return NodeResponse(body={"features": listed, "migration_status": NO_MIGRATION})

    def feature_upgrade(self, request: NodeRequest) -> NodeResponse:
        """``POST _migration/system_features``: nothing to migrate, so not accepted."""
        _check_params(request, ())
        body = {"accepted": False, "reason": "No system indices require migration"}
        return NodeResponse(body=body)


def _check_params(request: NodeRequest, known: Iterable[str]) -> None:
    unknown = sorted(p for p in request.query if p not in known and p != "master_timeout")
    if unknown:
        raise IllegalArgument(
            f"request [{request.path}] contains unrecognized parameter: [{','.join(unknown)}]"
        )

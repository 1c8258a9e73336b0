"""The node's route table, assembled from each area's `register` function."""

from __future__ import annotations

from citadel.node.http.router import Router
from citadel.node.services import NodeServices


def build_router(services: NodeServices) -> Router:
    """Every route of the node."""
    from citadel.node.http import (
        routes_aliases,
        routes_async_search,
        routes_by_query,
        routes_cat,
        routes_cluster,
        routes_connectors,
        routes_data_streams,
        routes_documents,
        routes_enrich,
        routes_field_caps,
        routes_indices,
        routes_info,
        routes_ingest,
        routes_lifecycle,
        routes_logstash,
        routes_migration,
        routes_nodes,
        routes_oidc,
        routes_query_rules,
        routes_rank_eval,
        routes_resize,
        routes_saml,
        routes_scripts,
        routes_search,
        routes_search_applications,
        routes_security,
        routes_security_admin,
        routes_shards,
        routes_synonyms,
        routes_templates,
        routes_termvectors,
        routes_tokens,
        routes_xpack,
    )

    router = Router()
    for area in (routes_security, routes_cluster, routes_search, routes_indices, routes_documents):
        area.register(router, services)
    routes_ingest.register(router, services)
    routes_by_query.register(router, services)
    routes_termvectors.register(router, services)
    routes_aliases.register(router, services)
    routes_templates.register(router, services)
    routes_data_streams.register(router, services)
    routes_security_admin.register(router, services)
    routes_saml.register(router, services)
    routes_tokens.register(router, services)
    routes_oidc.register(router, services)
    routes_cat.register(router, services)
    routes_nodes.register(router, services)
    routes_xpack.register(router, services)
    routes_field_caps.register(router, services)
    routes_shards.register(router, services)
    routes_resize.register(router, services)
    routes_scripts.register(router, services)
    routes_synonyms.register(router, services)
    routes_rank_eval.register(router, services)
    routes_async_search.register(router, services)
    routes_info.register(router, services)
    routes_lifecycle.register(router, services)
    routes_enrich.register(router, services)
    routes_connectors.register(router, services)
    routes_query_rules.register(router, services)
    routes_logstash.register(router, services)
    routes_migration.register(router, services)
    routes_search_applications.register(router, services)
    return router

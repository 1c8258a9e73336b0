"""What the node's handlers share: the catalog store, the engine, the realm, identity, clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from citadel.kit.clock import Clock
from citadel.node.engine.engine import Engine
from citadel.node.search.async_search import AsyncSearches
from citadel.node.security.audit import AuditTrail
from citadel.node.security.config import SecurityConfig
from citadel.node.store.connection import Store
from citadel.node.tasks import TaskManager

if TYPE_CHECKING:
    from citadel.node.snapshots.service import NodeSnapshots

VERSION = "8.15.0"
LUCENE_VERSION = "9.11.1"


@dataclass(frozen=True)
class NodeInfo:
    """How the node introduces itself on ``GET /``."""

    node_name: str
    cluster_name: str
    cluster_uuid: str
    version: str = VERSION
    cert_path: str | None = None  # the server certificate (PEM), for ``_ssl/certificates``
    client_ca_path: str | None = None  # the CA client certificates must chain to (mTLS)
    project_type: str | None = None  # a serverless project's node (`citadel.node.project`)


@dataclass(frozen=True)
class NodeServices:
    """Built once by `citadel.node.main`; handed to every route module's `register`."""

    store: Store
    engine: Engine
    realm: object  # citadel.node.security.realm.Realm (typed there, to keep imports one-way)
    clock: Clock
    info: NodeInfo
    tasks: TaskManager  # running requests and background tasks (``_tasks``, ``_cat/tasks``)
    async_searches: AsyncSearches = field(default_factory=AsyncSearches)
    # the platform's security settings (the allocator's security file; empty without one)
    security_config: SecurityConfig = field(default_factory=lambda: SecurityConfig(None))
    # the security audit trail: events kept until the allocator collects them (none while the
    # deployment's audit settings are disabled)
    audit: AuditTrail = field(default_factory=AuditTrail.disabled)
    # citadel.node.security.tokens.TokenService: the bearer tokens SAML, OIDC and
    # ``_security/oauth2/token`` issue (typed there, like the realm)
    tokens: object = None
    # the platform's snapshots (``found-snapshots``, ``_cat/snapshots``): set by
    # `citadel.node.main` once the node's argv is known; None: no repository
    snapshots: NodeSnapshots | None = None

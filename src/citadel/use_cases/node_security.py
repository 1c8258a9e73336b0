"""What a deployment's node is told about its security (`Allocation.security`, ADR 27): the
platform's JWT realm that trusts the control plane's deployment tokens, the customer's own
SAML and OIDC realms, and the security audit settings. A serverless project's runtime instance
(``kind = 'project'``) gets the same realm with the project's audience
(``citadel:project:<id>``), so a deployment's token never opens a project and the reverse.

The JWT realm carries the whole JWK Set (public keys only): a node verifies tokens offline and
learns of a new key with the next allocations document, whose tag changes with the key set
(`citadel.use_cases.internal.tag`).
"""

from __future__ import annotations

import json

from sqlalchemy.orm import Session

from citadel.authn.context import Policies
from citadel.contract.messages import JwtRealm, NodeSecurity
from citadel.crypto.barrier import Barrier
from citadel.deployment_audit import service as deployment_audit
from citadel.deployment_realms import service as deployment_realms
from citadel.deployment_tokens import claims, keys
from citadel.deployment_tokens.tokens import CLOCK_SKEW_S
from citadel.deployments.models import Deployment


def published_jwks(session: Session) -> str:
    """The JWK Set every node's JWT realm trusts, as JSON text."""
    return json.dumps(keys.jwks(session), separators=(",", ":"), sort_keys=True)


def node_security(
    session: Session,
    deployment: Deployment,
    policies: Policies,
    *,
    jwks: str | None = None,
    barrier: Barrier | None = None,
) -> NodeSecurity:
    """The security of `deployment`'s node; `jwks` is `published_jwks` when the caller builds
    many (it is the same for every deployment). `barrier` unseals the OIDC realms' client
    secrets (without it they are left out)."""
    jwt = JwtRealm(
        issuer=policies.token_issuer,
        audience=claims.audience(deployment.id, claims.TokenFor(deployment.kind)),
        jwks=jwks if jwks is not None else published_jwks(session),
        allowed_clock_skew_s=CLOCK_SKEW_S,
    )
    saml, oidc = deployment_realms.realms_for_node(session, deployment.id, barrier)
    return NodeSecurity(
        jwt=jwt,
        saml=saml,
        oidc=oidc,
        audit=deployment_audit.settings_for_node(session, deployment.id),
    )

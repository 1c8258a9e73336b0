"""Join tokens as platform owners mint them (ADR 33): the owner check, then the join domain."""

from __future__ import annotations

from pathlib import Path

from citadel.authn.context import Context
from citadel.join import service
from citadel.join.schemas import JoinRole
from citadel.use_cases.platform import require_platform_owner


def mint_join_token(
    ctx: Context,
    data_dir: Path,
    *,
    role: JoinRole,
    ttl_s: int,
    name: str | None = None,
) -> service.MintedToken:
    """A join token for `role`, minted only by an owner of the platform organization (403
    `platform.forbidden` for anyone else, audited as refused)."""
    require_platform_owner(ctx)
    return service.mint_join_token(ctx, data_dir, role=role, ttl_s=ttl_s, name=name)

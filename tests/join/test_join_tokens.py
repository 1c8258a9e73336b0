"""Join tokens through the API (ADR 33): minted by platform owners only, shown once, stored
as a MAC, redeemed once for a certificate over a real CSR's key, refused when used, expired,
for another name or with a CSR that does not fit the role; every step audited."""

from __future__ import annotations

import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from citadel.audit.models import AuditEvent
from citadel.contract.messages import PREFIX as V1
from citadel.contract.messages import ComponentKind
from citadel.join.host import ca_pin_of, certificate_request
from citadel.join.models import JoinToken
from citadel.join.schemas import JoinRole
from citadel.pki.components import component_kind_of
from tests.fixtures.builders import key_headers, make_api_key, make_org, make_user
from tests.fixtures.internal import as_component

MINT = "/api/v1/platform/join-tokens"
JOIN = "/api/v1/platform/join"


def platform_owner(services) -> tuple[str, dict[str, str]]:
    """The platform organization (the first one) and its owner's API key headers."""
    org = make_org(services, make_user(services), name="Platform")
    services.clock.advance(seconds=1)  # organizations made later are customers'
    return org, key_headers(make_api_key(services, org))


def mint(client, headers, role: str = "allocator", **body) -> dict:
    response = client.post(MINT, json={"role": role, **body}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def csr_for(role: JoinRole, name: str, hostnames: tuple[str, ...] = ()):
    key = ec.generate_private_key(ec.SECP256R1())
    return key, certificate_request(key, role, name, hostnames).decode()


def audited(services, action: str) -> list[AuditEvent]:
    with services.db.read() as session:
        return list(
            session.scalars(
                sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
            )
        )


def test_a_platform_owner_mints_a_token_shown_once_and_stored_as_a_mac(client, services):
    org, headers = platform_owner(services)
    minted = mint(client, headers, "gateway", ttl_s=600)
    assert minted["token"].startswith("cjt_")
    assert minted["role"] == "gateway"
    with services.db.read() as session:
        row = session.get(JoinToken, minted["id"])
        assert row is not None
        assert minted["token"].encode() not in row.token_hash
        assert minted["token"].split("_", 2)[2].encode() not in row.token_hash
        assert (row.expires_at - row.created_at).total_seconds() == 600
    ca = client.get("/api/v1/platform/ca").json()
    assert ca["ca_sha256"] == minted["ca_sha256"] == ca_pin_of(ca["ca"].encode())
    [event] = audited(services, "platform.join_token.minted")
    assert event.organization_id == org
    assert event.target_id == minted["id"]
    assert event.details["role"] == "gateway"


def test_the_default_lifetime_is_the_setting(client, services):
    _, headers = platform_owner(services)
    minted = mint(client, headers)
    with services.db.read() as session:
        row = session.get(JoinToken, minted["id"])
        lifetime = (row.expires_at - row.created_at).total_seconds()
    assert lifetime == services.settings.join_token_ttl_s


def test_an_owner_of_another_organization_may_not_mint(client, services):
    platform_owner(services)
    other = make_org(services, make_user(services), name="Customer")
    response = client.post(
        MINT, json={"role": "allocator"}, headers=key_headers(make_api_key(services, other))
    )
    assert response.status_code == 403, response.text
    assert response.json()["errors"][0]["code"] == "platform.forbidden"


def test_nobody_signed_in_may_mint(client, services):
    platform_owner(services)
    assert client.post(MINT, json={"role": "allocator"}).status_code == 401


def test_an_allocator_joins_with_a_real_csr_and_gets_a_client_certificate(client, services):
    _, headers = platform_owner(services)
    minted = mint(client, headers)
    key, csr = csr_for(JoinRole.ALLOCATOR, "alloc-b")
    response = client.post(JOIN, json={"token": minted["token"], "csr": csr, "name": "alloc-b"})
    assert response.status_code == 200, response.text
    body = response.json()
    cert = x509.load_pem_x509_certificate(body["certificate"].encode())
    ca = x509.load_pem_x509_certificate(body["ca"].encode())
    cert.verify_directly_issued_by(ca)
    assert cert.public_key() == key.public_key()
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "alloc-b"
    assert component_kind_of(body["certificate"].encode()) is ComponentKind.ALLOCATOR
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert body["internal_url"] == f"https://127.0.0.1:{services.settings.internal_port}"
    with services.db.read() as session:
        row = session.get(JoinToken, minted["id"])
        assert row.used_by == "alloc-b"
        assert row.used_at is not None
    [event] = audited(services, "platform.join_token.used")
    assert event.target_id == minted["id"]
    assert event.actor_type == "anonymous"


def test_a_token_works_once(client, services):
    _, headers = platform_owner(services)
    token = mint(client, headers)["token"]
    _, csr = csr_for(JoinRole.ALLOCATOR, "alloc-b")
    first = client.post(JOIN, json={"token": token, "csr": csr, "name": "alloc-b"})
    assert first.status_code == 200
    _, csr = csr_for(JoinRole.ALLOCATOR, "alloc-c")
    again = client.post(JOIN, json={"token": token, "csr": csr, "name": "alloc-c"})
    assert again.status_code == 401
    assert again.json()["errors"][0]["code"] == "join.token_refused"
    [refused] = audited(services, "platform.join_token.refused")
    assert refused.details == {"reason": "used", "name": "alloc-c"}
    assert refused.outcome == "denied"


def test_an_expired_token_is_refused(client, services, clock):
    _, headers = platform_owner(services)
    token = mint(client, headers, ttl_s=60)["token"]
    clock.advance(seconds=61)
    _, csr = csr_for(JoinRole.ALLOCATOR, "alloc-b")
    response = client.post(JOIN, json={"token": token, "csr": csr, "name": "alloc-b"})
    assert response.status_code == 401
    [refused] = audited(services, "platform.join_token.refused")
    assert refused.details["reason"] == "expired"


def test_a_wrong_secret_is_refused_and_audited(client, services):
    _, headers = platform_owner(services)
    token = mint(client, headers)["token"]
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    _, csr = csr_for(JoinRole.ALLOCATOR, "alloc-b")
    response = client.post(JOIN, json={"token": forged, "csr": csr, "name": "alloc-b"})
    assert response.status_code == 401
    [refused] = audited(services, "platform.join_token.refused")
    assert refused.details["reason"] == "wrong secret or name"


def test_a_token_minted_for_a_name_works_only_with_it(client, services):
    _, headers = platform_owner(services)
    token = mint(client, headers, name="alloc-b")["token"]
    _, csr = csr_for(JoinRole.ALLOCATOR, "alloc-x")
    other = client.post(JOIN, json={"token": token, "csr": csr, "name": "alloc-x"})
    assert other.status_code == 401
    _, csr = csr_for(JoinRole.ALLOCATOR, "alloc-b")
    named = client.post(JOIN, json={"token": token, "csr": csr, "name": "alloc-b"})
    assert named.status_code == 200, named.text


def test_a_csr_asking_for_another_kind_is_a_400_and_the_token_stays_usable(client, services):
    _, headers = platform_owner(services)
    token = mint(client, headers, "allocator")["token"]
    _, gateway_csr = csr_for(JoinRole.GATEWAY, "alloc-b")  # asks for the gateway's URI
    response = client.post(JOIN, json={"token": token, "csr": gateway_csr, "name": "alloc-b"})
    assert response.status_code == 400, response.text
    error = response.json()["errors"][0]
    assert error["code"] == "join.invalid_request"
    assert error["fields"] == ["body.csr"]
    assert "'gateway'" in error["message"]
    [refused] = audited(services, "platform.join_token.refused")
    assert refused.details["reason"].startswith("csr:")
    _, csr = csr_for(JoinRole.ALLOCATOR, "alloc-b")
    retry = client.post(JOIN, json={"token": token, "csr": csr, "name": "alloc-b"})
    assert retry.status_code == 200, retry.text


def test_a_csr_for_another_name_is_a_400(client, services):
    _, headers = platform_owner(services)
    token = mint(client, headers)["token"]
    _, csr = csr_for(JoinRole.ALLOCATOR, "alloc-z")
    response = client.post(JOIN, json={"token": token, "csr": csr, "name": "alloc-b"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["fields"] == ["body.csr"]


def test_a_component_csr_asking_for_host_names_is_a_400(client, services):
    _, headers = platform_owner(services)
    token = mint(client, headers, "gateway")["token"]
    _, csr = csr_for(JoinRole.API, "gw-b", ("gw-b.example.com",))
    response = client.post(JOIN, json={"token": token, "csr": csr, "name": "gw-b"})
    assert response.status_code == 400
    assert "host names" in response.json()["errors"][0]["message"]


def test_a_replica_gets_a_server_certificate_for_its_host_names(client, services):
    _, headers = platform_owner(services)
    token = mint(client, headers, "api")["token"]
    _, csr = csr_for(JoinRole.API, "cp-b", ("cp-b.example.com", "10.20.0.2"))
    response = client.post(JOIN, json={"token": token, "csr": csr, "name": "cp-b"})
    assert response.status_code == 200, response.text
    cert = x509.load_pem_x509_certificate(response.json()["certificate"].encode())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(str(n.value) for n in names) == ["10.20.0.2", "cp-b.example.com"]
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert component_kind_of(response.json()["certificate"].encode()) is None


def test_a_replica_csr_asking_for_a_component_kind_is_a_400(client, services):
    _, headers = platform_owner(services)
    token = mint(client, headers, "api")["token"]
    _, csr = csr_for(JoinRole.ALLOCATOR, "cp-b")
    response = client.post(JOIN, json={"token": token, "csr": csr, "name": "cp-b"})
    assert response.status_code == 400
    assert "URI" in response.json()["errors"][0]["message"]


def test_not_a_csr_is_a_400_naming_the_field(client, services):
    _, headers = platform_owner(services)
    token = mint(client, headers)["token"]
    response = client.post(JOIN, json={"token": token, "csr": "hello", "name": "alloc-b"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["fields"] == ["body.csr"]


# --- renewal of a joined component's certificate over the internal API ----------------------


def joined_certificate(client, services, role: JoinRole, name: str) -> str:
    """A certificate (PEM) a host got by joining as `role` under `name`."""
    _, headers = platform_owner(services)
    token = mint(client, headers, role.value)["token"]
    _, csr = csr_for(role, name)
    answer = client.post(JOIN, json={"token": token, "csr": csr, "name": name})
    assert answer.status_code == 200, answer.text
    return answer.json()["certificate"]


def test_a_joined_gateway_renews_its_certificate_with_the_current_one(client, services):
    current = joined_certificate(client, services, JoinRole.GATEWAY, "gw-b")
    key, csr = csr_for(JoinRole.GATEWAY, "gw-b")
    with as_component(services, None, pem=current) as internal:
        response = internal.post(f"{V1}/components/certificate", json={"csr": csr})
    assert response.status_code == 200, response.text
    renewed = x509.load_pem_x509_certificate(response.json()["certificate"].encode())
    assert renewed.public_key() == key.public_key()
    assert renewed.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "gw-b"
    assert component_kind_of(response.json()["certificate"].encode()) is ComponentKind.GATEWAY


def test_a_renewal_may_not_change_the_name_or_the_kind(client, services):
    current = joined_certificate(client, services, JoinRole.ALLOCATOR, "alloc-b")
    _, other_name = csr_for(JoinRole.ALLOCATOR, "alloc-c")
    _, other_kind = csr_for(JoinRole.GATEWAY, "alloc-b")
    with as_component(services, None, pem=current) as internal:
        renamed = internal.post(f"{V1}/components/certificate", json={"csr": other_name})
        rekinded = internal.post(f"{V1}/components/certificate", json={"csr": other_kind})
    for response in (renamed, rekinded):
        assert response.status_code == 400
        error = response.json()["errors"][0]
        assert error["code"] == "join.invalid_renewal"
        assert error["fields"] == ["body.csr"]


def test_a_joined_gateway_gets_a_listener_certificate_for_the_platforms_names(client, services):
    current = joined_certificate(client, services, JoinRole.GATEWAY, "gw-b")
    key, csr = csr_for(JoinRole.API, "gw-b", ("evil.example.com",))  # its names are ignored
    with as_component(services, None, pem=current) as internal:
        response = internal.post(f"{V1}/gateway/server-certificate", json={"csr": csr})
    assert response.status_code == 200, response.text
    cert = x509.load_pem_x509_certificate(response.json()["certificate"].encode())
    assert cert.public_key() == key.public_key()
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    dns = names.get_values_for_type(x509.DNSName)
    assert "*.local.citadel.localhost" in dns
    assert "evil.example.com" not in dns
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_a_csr_over_an_rsa_key_is_a_400(client, services):
    _, headers = platform_owner(services)
    token = mint(client, headers)["token"]
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "alloc-b")]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
        .decode()
    )
    response = client.post(JOIN, json={"token": token, "csr": csr, "name": "alloc-b"})
    assert response.status_code == 400
    assert "EC key" in response.json()["errors"][0]["message"]


def test_an_address_refused_many_times_is_throttled_before_any_token_is_looked_at(client, services):
    _, headers = platform_owner(services)
    good = mint(client, headers)["token"]
    _, csr = csr_for(JoinRole.ALLOCATOR, "alloc-b")
    limit = services.settings.signin_ip_failures
    for attempt in range(limit):
        guess = f"cjt_{'0' * 32}_{str(attempt).rjust(43, 'x')}"
        response = client.post(JOIN, json={"token": guess, "csr": csr, "name": "alloc-b"})
        assert response.status_code == 401
    blocked = client.post(JOIN, json={"token": good, "csr": csr, "name": "alloc-b"})
    assert blocked.status_code == 429
    assert blocked.json()["errors"][0]["code"] == "join.throttled"
    assert int(blocked.headers["retry-after"]) > 0
    refusals = audited(services, "platform.join_token.refused")
    assert refusals[-1].details["reason"] == "throttled"
    services.clock.advance(seconds=services.settings.signin_max_lockout_s + 1)
    later = client.post(JOIN, json={"token": good, "csr": csr, "name": "alloc-b"})
    assert later.status_code == 200, later.text

"""``_info/{target}``, ``_ssl/certificates`` and the system features' reset."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from citadel.node.http import routes_info
from citadel.node.ingest.stats import IngestStats


def test_info_ingest_counts_documents_through_pipelines(es):
    es.put("/_ingest/pipeline/tagger", json={"processors": [{"set": {"field": "t", "value": 1}}]})
    before = es.get("/_info/ingest").json()["ingest"]["pipelines"].get("tagger", {"count": 0})
    es.put("/logs/_doc/1?pipeline=tagger", json={"a": 1})
    body = es.get("/_info/ingest").json()
    assert body["cluster_name"] == "test-cluster"
    assert body["ingest"]["pipelines"]["tagger"]["count"] == before["count"] + 1
    assert body["ingest"]["total"]["count"] >= 1


def test_info_all_is_what_the_node_counts(es):
    assert set(es.get("/_info/_all").json()) == {"cluster_name", "ingest"}


@pytest.mark.parametrize("target", ["http", "thread_pool", "script", "nonsense", "ingest,_all"])
def test_info_targets_not_counted_are_a_400_naming_them(es, target):
    response = es.get(f"/_info/{target}")
    assert response.status_code == 400
    assert target.split(",")[-1] in response.json()["error"]["reason"]


def test_ingest_counters_record_failures_and_the_total_once_per_document():
    stats = IngestStats()
    with stats.running("a", first=True):
        pass
    with pytest.raises(ValueError, match="broken"), stats.running("b", first=False):
        raise ValueError("broken")
    body = stats.body()
    assert body["total"]["count"] == 1
    assert body["pipelines"]["b"] == {"count": 1, "time_in_millis": 0, "current": 0, "failed": 1}


def _certificate(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "node-1")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(0xABC)
        .not_valid_before(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2027, 1, 1, tzinfo=dt.UTC))
        .sign(key, hashes.SHA256())
    )
    path = tmp_path / "node.crt"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(path)


def test_ssl_certificates_describe_the_served_certificate_and_client_ca(node_services, tmp_path):
    path = _certificate(tmp_path)
    services = replace(
        node_services, info=replace(node_services.info, cert_path=path, client_ca_path=path)
    )
    body = routes_info.certificates(services, _request()).body
    assert body[0] == {
        "path": path,
        "format": "PEM",
        "alias": None,
        "subject_dn": "CN=node-1",
        "serial_number": "abc",
        "has_private_key": True,
        "expiry": "2027-01-01T00:00:00.000Z",
        "issuer": "CN=node-1",
    }
    assert body[1]["has_private_key"] is False


def test_ssl_certificates_without_tls_files_is_empty(es):
    assert es.get("/_ssl/certificates").json() == []


def test_features_reset_drops_async_search_and_task_results(es, node_services):
    es.put("/books/_doc/1?refresh=true", json={"a": 1})
    kept = es.post(
        "/books/_async_search?keep_on_completion=true&wait_for_completion_timeout=10s", json={}
    ).json()["id"]
    names = [f["name"] for f in es.get("/_features").json()["features"]]
    assert names == ["async_search", "tasks"]
    reset = es.post("/_features/_reset").json()["features"]
    assert {f["status"] for f in reset} == {"SUCCESS"}
    assert es.get(f"/_async_search/{kept}").status_code == 404


def _request():
    from citadel.node.http.messages import NodeRequest

    return NodeRequest("GET", "/_ssl/certificates", {}, {}, {}, b"")

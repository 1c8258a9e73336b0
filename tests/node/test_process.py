"""`citadel node` as a process: TLS, sockets, durability, no plaintext, upgrading a store."""

from __future__ import annotations

import hashlib
import os
import ssl
import uuid
from pathlib import Path

import httpx
import pytest

from tests.node.process import make_tls, start_node

AUTH = ("elastic", "elastic-test-password")


@pytest.fixture
def tls(tmp_path: Path):
    return make_tls(tmp_path / "tls")


def _files(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def test_node_serves_https_with_the_elastic_product_header(tmp_path, tls):
    node = start_node(tmp_path / "data", tls)
    try:
        with node.client(auth=AUTH) as c:
            info = c.get("/")
        assert info.status_code == 200
        assert info.headers["x-elastic-product"] == "Elasticsearch"
        assert info.json()["version"]["build_flavor"] == "default"
    finally:
        assert node.stop() == 0


def test_requests_without_credentials_get_401_with_a_challenge(tmp_path, tls):
    node = start_node(tmp_path / "data", tls)
    try:
        with node.client(auth=None) as c:
            response = c.get("/")
        assert response.status_code == 401
        assert "Basic" in response.headers["www-authenticate"]
        assert response.json()["error"]["type"] == "security_exception"
    finally:
        node.stop()


def test_a_store_of_the_previous_release_needs_its_key_and_a_wrong_one_changes_nothing(
    tmp_path, tls, previous_release
):
    data, key = tmp_path / "data", os.urandom(32)
    old = previous_release.start(data, key, tls)
    with old.client(auth=AUTH) as c:
        assert c.put("/books/_doc/1", json={"title": "kept"}).status_code == 201
    old.stop()
    before = _files(data)
    for legacy_key in (None, os.urandom(32)):
        refused = start_node(data, tls, legacy_key=legacy_key, wait=False)
        assert refused.proc.wait(timeout=30) == 3
        assert b"refusing to start" in refused.proc.stderr.read()
        assert _files(data) == before


def test_upgrading_keeps_documents_mappings_users_roles_and_api_keys(
    tmp_path, tls, previous_release
):
    data, key = tmp_path / "data", os.urandom(32)
    old = previous_release.start(data, key, tls)
    mapping = {"properties": {"title": {"type": "text"}, "year": {"type": "long"}}}
    with old.client(auth=AUTH) as c:
        assert c.put("/books", json={"mappings": mapping}).status_code == 200
        for i in range(30):
            body = {"title": f"book number {i}", "year": 2000 + i}
            assert c.put(f"/books/_doc/{i}", json=body).status_code == 201
        assert c.put("/books/_doc/3", json={"title": "rewritten", "year": 1}).status_code == 200
        assert c.delete("/books/_doc/4").status_code == 200
        role = {"indices": [{"names": ["books"], "privileges": ["read"]}]}
        assert c.put("/_security/role/reader", json=role).status_code == 200
        user = {"password": "reader-password-1", "roles": ["reader"]}
        assert c.put("/_security/user/ann", json=user).status_code == 200
        api_key = c.post("/_security/api_key", json={"name": "script"}).json()["encoded"]
    old.stop()
    new = start_node(data, tls, legacy_key=key)
    try:
        with new.client(auth=AUTH) as c:
            assert c.get("/books/_count").json()["count"] == 29
            assert c.get("/books/_mapping").json()["books"]["mappings"] == mapping
            got = c.get("/books/_doc/3").json()
            assert (got["_source"], got["_version"]) == ({"title": "rewritten", "year": 1}, 2)
            assert c.get("/books/_doc/4").status_code == 404
            query = {"query": {"match": {"title": "number"}}, "size": 0}
            assert c.post("/books/_search", json=query).json()["hits"]["total"]["value"] == 28
            assert c.put("/books/_doc/30", json={"title": "new"}).json()["_seq_no"] > 31
        with new.client(auth=("ann", "reader-password-1")) as c:
            assert c.get("/books/_count").status_code == 200
            assert c.put("/books/_doc/99", json={}).status_code == 403
        with new.client(auth=None) as c:
            c.headers["authorization"] = f"ApiKey {api_key}"
            assert c.get("/_security/_authenticate").status_code == 200
    finally:
        new.stop()
    assert (data / "node.db").read_bytes()[:16] == b"SQLite format 3\x00"
    again = start_node(data, tls)  # decrypted once: no key needed any more
    try:
        with again.client(auth=AUTH) as c:
            assert c.get("/books/_count").json()["count"] == 30
    finally:
        again.stop()


def test_acknowledged_writes_survive_kill_9(tmp_path, tls):
    data = tmp_path / "data"
    node = start_node(data, tls)
    with node.client(auth=AUTH) as c:
        for i in range(50):
            assert c.put(f"/logs/_doc/{i}", json={"n": i}).status_code == 201
        lines = "".join(
            f'{{"index":{{"_index":"logs","_id":"b{i}"}}}}\n{{"n":{i}}}\n' for i in range(200)
        )
        bulk = c.post("/_bulk", content=lines, headers={"content-type": "application/x-ndjson"})
        assert bulk.status_code == 200
        assert bulk.json()["errors"] is False
    node.kill9()
    again = start_node(data, tls)
    try:
        with again.client(auth=AUTH) as c:
            assert c.get("/logs/_count").json()["count"] == 250
    finally:
        again.stop()


def test_no_plaintext_reaches_the_disk_on_its_encrypted_volume(tmp_path, tls):
    """The node writes plaintext (tantivy segments, translog) only through the deployment's
    gocryptfs volume, as the allocator mounts it: the ciphertext holds no marker."""
    from citadel.runtime import volume as vol

    if vol.available() is not None:
        pytest.skip(vol.available() or "gocryptfs unavailable")
    key = os.urandom(32)
    where = vol.Volume(tmp_path / "cipher", tmp_path / "data", os.getuid(), os.getgid())
    vol.open_volume(where, key)
    marker = f"marker-{uuid.uuid4().hex}"
    try:
        node = start_node(where.mountpoint, tls)
        with node.client(auth=AUTH) as c:
            c.put("/secrets/_doc/1", json={"title": marker, "tag": marker})
            c.post("/_security/user/alice", json={"password": marker, "roles": ["viewer"]})
            c.post("/secrets/_refresh")
            assert c.get("/secrets/_search", params={"q": "title:" + marker}).status_code == 200
        node.kill9()  # leave the translog behind too
    finally:
        vol.unmount(where.mountpoint)
    files = [p for p in where.cipher_dir.rglob("*") if p.is_file()]
    assert len(files) > 5
    for path in files:
        assert marker.encode() not in path.read_bytes(), path


def test_serves_on_an_inherited_listening_socket(tmp_path, tls):
    node = start_node(tmp_path / "data", tls, mode="listen-fd")
    try:
        with node.client(auth=AUTH) as c:
            assert c.get("/").status_code == 200
    finally:
        node.stop()


def test_serves_on_a_unix_socket(tmp_path, tls):
    node = start_node(tmp_path / "data", tls, mode="unix")
    try:
        with node.client(auth=AUTH) as c:
            assert c.get("/").status_code == 200
    finally:
        node.stop()


def test_with_a_client_ca_only_clients_with_certificates_connect(tmp_path, tls):
    node = start_node(tmp_path / "data", tls, client_ca=True)
    try:
        with node.client(auth=AUTH, client_cert=True) as c:
            assert c.get("/").status_code == 200
        with node.client(auth=AUTH) as c, pytest.raises((httpx.TransportError, ssl.SSLError)):
            c.get("/")
    finally:
        node.stop()

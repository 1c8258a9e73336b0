"""A REAL sandboxed node (no network) signs a user in with its OIDC realm: the allocator's egress
forwarder is its only way to the OpenID Provider (oidc-provider-mock over TLS on loopback)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from citadel.contract.messages import NodeSecurity, OidcRealm, egress_socket_name, to_json
from citadel.crypto.providers.endpoints import EndpointPolicy
from citadel.kit.ids import new_id
from citadel.runtime.sandbox import BubblewrapSandbox
from tests.node.oidc_provider import Provider, running_provider
from tests.runtime.conftest import sandbox_uid
from tests.runtime.test_allocator import PASSWORD, Running, allocating, owner_and_mode, wait_until

CALLBACK = "https://app.example/callback"


@pytest.fixture
def running(sandbox: BubblewrapSandbox, volumes_here: None, short_dir: Path) -> Iterator[Running]:
    with allocating(sandbox, short_dir) as found:
        # the provider listens on loopback, which the default policy (public only) refuses
        found.allocator.egress_policy = EndpointPolicy.from_settings(["localhost", "127.0.0.1"])
        yield found


@pytest.fixture
def op(tmp_path: Path) -> Iterator[Provider]:
    with running_provider(tmp_path / "op") as provider:
        yield provider


def oidc_security(op: Provider) -> NodeSecurity:
    settings = {
        "op.issuer": op.issuer,
        "op.authorization_endpoint": f"{op.issuer}/oauth2/authorize",
        "op.token_endpoint": f"{op.issuer}/oauth2/token",
        "op.jwkset_path": f"{op.issuer}/jwks",
        "rp.client_id": "custom-app",
        "rp.redirect_uri": CALLBACK,
        "claims.groups": "groups",
        "ssl.certificate_authorities": op.ca_pem,
    }
    realm = OidcRealm(name="oidc1", settings=settings, client_secret="app-secret")
    return NodeSecurity(oidc=(realm,))


def test_a_sandboxed_node_signs_in_through_its_egress_forwarder(
    running: Running, op: Provider
) -> None:
    dep_id, uid = new_id(), sandbox_uid()
    running.plane.allocate(dep_id, uid, password=PASSWORD)
    running.plane.allocations[dep_id]["security"] = to_json(oidc_security(op))
    running.plane.version += 1
    wait_until(lambda: (running.plane.last_report(dep_id) or {}).get("observed_state") == "running")
    sock = running.dirs(dep_id).run / "egress" / egress_socket_name("localhost", op.port)
    wait_until(sock.exists)
    assert owner_and_mode(sock)[::2] == (uid, 0o600)
    assert [p.name for p in sock.parent.iterdir()] == [sock.name]  # one destination: the OP

    op.set_user("alice", {"groups": ["admins"]})
    with running.node(dep_id) as node:
        mapping = {
            "roles": ["superuser"],
            "enabled": True,
            "rules": {"field": {"groups": "admins"}},
        }
        assert node.put("/_security/role_mapping/admins", json=mapping).status_code == 200
        prepared = node.post("/_security/oidc/prepare", json={"realm": "oidc1"}).json()
        callback = op.sign_in(prepared["redirect"], "alice")
        signed_in = node.post(
            "/_security/oidc/authenticate",
            json={
                "redirect_uri": callback,
                "state": prepared["state"],
                "nonce": prepared["nonce"],
            },
        )
        assert signed_in.status_code == 200, signed_in.text
        node.auth = None  # type: ignore[assignment]
        me = node.get(
            "/_security/_authenticate",
            headers={"Authorization": f"Bearer {signed_in.json()['access_token']}"},
        ).json()
    assert (me["username"], me["roles"]) == ("alice", ["superuser"])
    assert me["authentication_realm"] == {"name": "oidc1", "type": "oidc"}

    pid = running.allocator.node_pid(dep_id)
    running.plane.allocations[dep_id]["security"] = to_json(NodeSecurity())
    running.plane.version += 1
    wait_until(lambda: not sock.exists())  # the realm is gone: so is the way out
    assert running.allocator.node_pid(dep_id) == pid
    assert os.path.isdir(sock.parent)

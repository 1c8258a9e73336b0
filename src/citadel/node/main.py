"""`citadel node`: start one deployment node.

The node holds no key: the allocator mounts the deployment's encrypted volume (ADR 16) and
starts the node on its plaintext view. Only a store written by the release before the
volumes arrives SQLCipher-encrypted; the allocator then hands its data key once on
``--legacy-key-fd`` (32 raw bytes or 64 hex characters, read once then closed) and the store is
decrypted into the volume. The launcher may hand the node a listening socket (``--listen-fd``),
and the token its ``GET /_citadel/metrics`` answers to (``--metrics-token-fd``, a new one at each
start; `citadel.node.metrics`); ``GET /_citadel/audit``, where the allocator collects the
security audit events, answers the same token (`citadel.node.security.audit`). The
platform's security settings (its ``jwt`` realm, the customer's SAML and OIDC realms, the
audit trail) are read from ``--security-file``, which the allocator rewrites while the node
runs (`citadel.node.security.config`). With ``--project-type`` the node serves a serverless
project (`citadel.node.project`): the serverless ``GET /``, ``admin`` as the reserved superuser
whose password ``--elastic-password-fd`` carries, the type's built-in roles, index templates and
indices.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import socket
import ssl
import sys
from pathlib import Path

import uvicorn

from citadel.kit.clock import Clock, SystemClock
from citadel.kit.logging import LEVELS, configure_logging
from citadel.kit.tls import CertificateFollower, server_context
from citadel.node import local_node, project
from citadel.node.engine.engine import Engine
from citadel.node.engine.upgrade import upgrade
from citadel.node.http.app import NodeApp
from citadel.node.lifecycle_loop import LifecycleLoop
from citadel.node.metrics import NodeMetrics
from citadel.node.project import ADMIN, PROJECT_TYPES
from citadel.node.routes import build_router
from citadel.node.security.audit import AuditCollector, AuditTrail
from citadel.node.security.config import SecurityConfig
from citadel.node.security.project_roles import builtin_roles
from citadel.node.security.realm import ELASTIC, Realm
from citadel.node.security.tokens import TokenService
from citadel.node.services import NodeInfo, NodeServices
from citadel.node.serving import GracefulServer
from citadel.node.snapshots.importing import finish_initial_restore, replace_store_if_restoring
from citadel.node.snapshots.routes import register as register_snapshots
from citadel.node.snapshots.service import NodeSnapshots, SnapshotSettings
from citadel.node.snapshots.slm import Lifecycle
from citadel.node.store.connection import Store, WrongKey
from citadel.node.tasks import TaskManager

EXIT_WRONG_KEY = 3
EXIT_BAD_ARGS = 2


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="citadel node", description=__doc__)
    p.add_argument("--data-dir", type=Path, required=True, help="the node's own data directory")
    p.add_argument(
        "--legacy-key-fd",
        type=int,
        help="fd carrying the data key of a store encrypted by an earlier release (once)",
    )
    p.add_argument(
        "--elastic-password-fd",
        type=int,
        help="fd carrying the reserved superuser's password (elastic; admin on a project)",
    )
    p.add_argument(
        "--reset-elastic-password",
        action="store_true",
        help="set the password from --elastic-password-fd even if one is set (platform reset)",
    )
    p.add_argument("--cert", type=Path, required=True, help="server certificate (PEM)")
    p.add_argument("--key", type=Path, required=True, help="server private key (PEM)")
    p.add_argument("--client-ca", type=Path, help="require client certificates from this CA")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", type=int, help="listen on this TCP port")
    where.add_argument("--listen-fd", type=int, help="serve on this inherited listening socket")
    where.add_argument("--unix-socket", type=Path, help="serve on this unix socket")
    p.add_argument("--host", default="127.0.0.1", help="address for --port")
    p.add_argument("--cluster-name", default="citadel")
    p.add_argument("--node-name", default=socket.gethostname())
    p.add_argument(
        "--metrics-token-fd",
        type=int,
        help="fd carrying the token GET /_citadel/metrics answers to (read once); without it "
        "the route does not exist",
    )
    p.add_argument(
        "--security-file",
        type=Path,
        help="the platform's security settings (NodeSecurity JSON), followed while running",
    )
    p.add_argument("--log-level", choices=LEVELS, default="info", help="the lowest level logged")
    p.add_argument(
        "--snapshot-interval-s",
        type=int,
        help="take the platform's snapshots this often (the managed repository found-snapshots "
        "and cloud-snapshot-policy exist only with it; citadel.node.snapshots)",
    )
    p.add_argument(
        "--snapshot-retention-max-count",
        type=int,
        help="cloud-snapshot-policy keeps at most this many snapshots",
    )
    p.add_argument(
        "--snapshot-retention-expire-after-s",
        type=int,
        help="cloud-snapshot-policy deletes snapshots older than this (keeping the newest)",
    )
    p.add_argument(
        "--project-type",
        choices=PROJECT_TYPES,
        help="serve a serverless project of this type (ADR 28); without it, a deployment",
    )
    return p.parse_args(argv)


def read_fd(fd: int) -> bytes:
    """Everything readable from `fd`, which is then closed."""
    chunks = []
    with os.fdopen(fd, "rb", closefd=True) as f:
        while chunk := f.read(4096):
            chunks.append(chunk)
    return b"".join(chunks)


def decode_key(raw: bytes) -> bytes:
    """32 raw bytes, or 64 hex characters (with optional newline)."""
    text = raw.strip()
    if len(raw) == 32:
        return raw
    if len(text) == 64:
        try:
            return bytes.fromhex(text.decode())
        except ValueError:
            pass
    raise WrongKey("the key descriptor must carry 32 bytes or 64 hex characters")


def main(argv: list[str] | None = None) -> int:
    """Run the node until SIGTERM; returns the exit status."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    configure_logging(args.log_level)
    metrics_token = None
    if args.metrics_token_fd is not None:
        metrics_token = read_fd(args.metrics_token_fd).decode().strip() or None
    try:
        legacy_key = None
        if args.legacy_key_fd is not None:
            legacy_key = decode_key(read_fd(args.legacy_key_fd))
        restoring = replace_store_if_restoring(args.data_dir)  # before the store opens
        store = Store.open(args.data_dir, legacy_key)
    except WrongKey as exc:
        print(f"citadel node: refusing to start: {exc}", file=sys.stderr)
        return EXIT_WRONG_KEY
    del legacy_key
    if restoring:  # the indices of a restore before the first start, before serving
        finish_initial_restore(store, SystemClock(), args.data_dir)
    services = assemble(
        store,
        args.data_dir,
        SystemClock(),
        args.node_name,
        args.cluster_name,
        cert_path=str(args.cert.resolve()),
        client_ca_path=str(args.client_ca.resolve()) if args.client_ca else None,
        security_file=args.security_file,
        project_type=args.project_type,
    )
    snapshots = NodeSnapshots(
        services.store,
        services.engine,
        services.clock,
        args.data_dir,
        snapshot_settings(args),
    )
    services = dataclasses.replace(services, snapshots=snapshots)  # before the routes
    realm = services.realm
    if args.elastic_password_fd is not None:
        password = read_fd(args.elastic_password_fd).decode().strip()
        realm.bootstrap_elastic(password, replace=args.reset_elastic_password)  # type: ignore[attr-defined]
    router = build_router(services)
    metrics = NodeMetrics(services.engine, args.data_dir, metrics_token)
    metrics.instrument(router)
    metrics.registry.register(AuditCollector(services.audit))
    services.audit.instrument(router, metrics_token)  # GET /_citadel/audit, config changes
    snapshots.sweep()  # what a crash left staged or half-imported
    lifecycle = Lifecycle(snapshots)
    lifecycle.install_default()
    register_snapshots(router, services, snapshots, lifecycle, metrics_token)
    lifecycle.start()
    app = NodeApp(router, realm, tasks=services.tasks, audit=services.audit)

    # Mozilla intermediate, as on every listener; the allocator renews the pair on disk and the
    # follower serves it from a fresh context (ADR 18).
    def node_tls() -> ssl.SSLContext:
        return server_context(args.cert, args.key, client_ca=args.client_ca)

    tls = node_tls()
    CertificateFollower(tls, args.cert, node_tls)
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port or 0,
        fd=args.listen_fd,
        uds=str(args.unix_socket) if args.unix_socket else None,
        ssl_context_factory=lambda _config, _default: tls,
        log_level="warning",
        server_header=False,
        date_header=True,
        timeout_graceful_shutdown=10,
        lifespan="on",
    )
    try:
        GracefulServer(config).run()
    finally:
        lifecycle.stop()
        services.engine.close()
        store.close()
    return 0


def snapshot_settings(args: argparse.Namespace) -> SnapshotSettings | None:
    """The platform's snapshot defaults from argv; None: no found-snapshots repository."""
    if args.snapshot_interval_s is None:
        return None
    return SnapshotSettings(
        interval_s=args.snapshot_interval_s,
        retention_max_count=args.snapshot_retention_max_count,
        retention_expire_after_s=args.snapshot_retention_expire_after_s,
    )


def assemble(
    store: Store,
    data_dir: Path,
    clock: Clock,
    node_name: str,
    cluster_name: str,
    *,
    cert_path: str | None = None,
    client_ca_path: str | None = None,
    security_file: Path | None = None,
    project_type: str | None = None,
) -> NodeServices:
    """The node's services over an open store: the engine (legacy data migrated once, the
    refresh loop started), the security settings and the realm, the task manager, identity;
    for a serverless project (`project_type`) its reserved user, roles and content."""
    engine = Engine(data_dir / "indices")
    upgrade(store, engine)
    engine.start()
    LifecycleLoop(store, engine, clock, stopped=engine._stop.is_set).start()
    security_config = SecurityConfig(security_file)
    realm = Realm(
        store,
        clock,
        security_config,
        reserved_user=ELASTIC if project_type is None else ADMIN,
        builtin_roles=builtin_roles(project_type),
    )
    if project_type is not None:
        project.install_content(store, clock, project_type)
    audit = AuditTrail(lambda: security_config.current().audit, clock=clock, node_name=node_name)
    tokens = TokenService(store, realm, clock)
    realm.add_bearer(tokens.authenticate)
    info = NodeInfo(
        node_name,
        cluster_name,
        store_cluster_uuid(store),
        cert_path=cert_path,
        client_ca_path=client_ca_path,
        project_type=project_type,
    )
    tasks = TaskManager(
        local_node.node_id(info.cluster_uuid), lambda: int(clock.now().timestamp() * 1000)
    )
    return NodeServices(
        store=store,
        engine=engine,
        realm=realm,
        clock=clock,
        info=info,
        tasks=tasks,
        security_config=security_config,
        audit=audit,
        tokens=tokens,
    )


def store_cluster_uuid(store: Store) -> str:
    """The node's cluster uuid, created on first start."""
    import uuid

    with store.write() as conn:
        row = conn.execute("SELECT value FROM meta WHERE key = 'cluster_uuid'").fetchone()
        if row:
            return row[0]
        value = uuid.uuid4().hex[:22]
        conn.execute("INSERT INTO meta (key, value) VALUES ('cluster_uuid', ?)", (value,))
        return value


if __name__ == "__main__":
    sys.exit(main())

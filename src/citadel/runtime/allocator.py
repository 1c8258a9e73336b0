"""The allocator: keeps each deployment's node running in its sandbox, as the control plane asks.

One loop, one thread: fetch the allocations (keep the last ones when the control plane is
down: running nodes stay up), look at the sandboxes and volumes, `plan`, act, report.

Starting a node: the deployment directory laid out (`citadel.kit.deployment_dirs`, ADR 16),
a node key made in ``run/tls/`` and a certificate for it from the control plane, the data key
unwrapped by the key provider with the contract's `data_key_context`, the encrypted volume
created if new and mounted with that key at ``data/`` (`citadel.runtime.volume`), an older
release's plaintext directory moved into it (`citadel.runtime.layout`), then the node started
in its sandbox with ``data/`` at ``/data`` and ``run/`` at ``/run/citadel``. The node serves
TLS (mTLS, clients from the platform CA) on ``run/node.sock``. Stopping for good (stopped,
locked, deleted) stops the node, then unmounts the volume: gocryptfs, and the key it held,
end with the mount. The control plane is reached through `citadel.contract.client` (ADR 17).

The node's security settings (`Allocation.security`: the platform's jwt realm, the customer's
realms, the audit settings) are written to ``run/security.json`` (0600, the deployment uid's)
before the node starts, and written again, atomically (a rename), whenever the control plane
changes them while it runs; the node follows the file (``--security-file``), no restart. No
settings, no file (one left from before is removed). The file holds secrets: never logged.

A serverless project's instance (`Allocation.project`, ADR 28) is placed like a deployment;
its node is started with ``--project-type`` and the project id as its cluster name
(`project_argv`), and its cgroup also gets the project's CPU quota (`node_resources`; skipped,
with a log line, where the cpu controller is not delegated).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from citadel.contract.client import ComponentTls, ControlPlane, ControlPlaneUnavailable
from citadel.contract.messages import (
    SECURITY_FILE,
    Allocation,
    ObservedState,
    RestoredFrom,
    RestoreSource,
    SnapshotRepository,
    SnapshotSummary,
    StatusReport,
    data_key_context,
)
from citadel.crypto.providers.base import KeyProvider, KeyUnavailable, ProviderError
from citadel.crypto.providers.endpoints import EndpointPolicy
from citadel.kit.deployment_dirs import DeploymentDirs
from citadel.log import get_logger
from citadel.pki.authority import certificate_due
from citadel.runtime import keywatch, layout, volume
from citadel.runtime.cgroups import Resources, resources_for
from citadel.runtime.egress import Egress, destinations
from citadel.runtime.node_listener import NodeListeners
from citadel.runtime.reconcile import (
    Action,
    ActionKind,
    Desired,
    DesiredState,
    Observed,
    ProcessState,
    failures_after_exit,
    plan,
    restart_delay,
)
from citadel.runtime.sandbox import (
    SANDBOX_DATA,
    SANDBOX_RUN,
    Bind,
    Sandbox,
    SandboxHandle,
    SandboxSpec,
)
from citadel.runtime.snapshot_restore import (
    RestoreUnderWay,
    needs_initial_restore,
    restore_before_first_start,
    snapshot_argv,
)
from citadel.runtime.volume import Volume, VolumeError, WrongVolumeKey
from citadel.snapshots.errors import SnapshotError, SnapshotUnreadable
from citadel.snapshots.keys import snapshot_key

log = get_logger(__name__)

START_TIMEOUT_S = 60.0  # a node that does not answer by then is stopped and counted as a crash
NODE_CERT_CHECK_S = 3600.0  # a 90-day node certificate is renewed with 30 days left (ADR 18)
NODE_NAME_SUFFIX = ".node.citadel.internal"
_LIVE = (ProcessState.STARTING, ProcessState.RUNNING)


def deployment_directory(data_dir: Path, deployment_id: str) -> Path:
    """``<data-dir>/deployments/<id>``: everything of one deployment on this machine."""
    return DeploymentDirs.of(data_dir, deployment_id).root


def node_hostname(deployment_id: str) -> str:
    """The name in a node's server certificate."""
    return f"{deployment_id}{NODE_NAME_SUFFIX}"


@dataclass
class _Node:
    """What the allocator remembers about one deployment's node."""

    allocation: Allocation
    process: ProcessState = ProcessState.ABSENT
    handle: SandboxHandle | None = None
    started_at: float = 0.0
    failures: int = 0
    exited_at: float | None = None
    detail: str = ""
    password_applied: bool = False
    password_given: bool = False
    password_digest: str | None = None  # of the elastic password given at the last start
    metrics_token: str | None = None  # what the running node's metrics route answers to
    security_digest: str | None = None  # of the security file last written ("" for none)


@dataclass(frozen=True)
class MetricsTarget:
    """A running node to ask for its series: its socket, TLS name and per-start token."""

    deployment_id: str
    socket: Path
    server_name: str
    token: str


class Allocator:
    """Reconciles the control plane's allocations with the sandboxes on this machine."""

    def __init__(
        self,
        *,
        data_dir: Path,
        control_plane: ControlPlane,
        key_provider: KeyProvider,
        sandbox: Sandbox,
        client_tls: ComponentTls,
        python: str = sys.executable,
        monotonic: Callable[[], float] = time.monotonic,
        key_check_interval_s: float = keywatch.DEFAULT_INTERVAL_S,
        log_level: str = "info",
        key_manager_endpoints: EndpointPolicy | None = None,
        node_listeners: NodeListeners | None = None,
        allocator_id: str | None = None,
    ) -> None:
        """`log_level`: what each node is started with (``--log-level``). `node_listeners`:
        each running node's TCP listener on the advertise address (multi-host, ADR 31); None:
        nodes are reached on their unix socket only."""
        # Absolute and resolved: mount points are compared with mountinfo, which the kernel
        # writes that way (`make run` passes the relative ./citadel-data).
        self.data_dir = data_dir.resolve()
        self.control_plane = control_plane
        self.key_provider = key_provider
        self.sandbox = sandbox
        self.python = python
        self.monotonic = monotonic
        self._probe_ctx = client_tls.client_context()
        self._desired: dict[str, Allocation] = {}
        self._nodes: dict[str, _Node] = {}
        self._reported: dict[str, StatusReport] = {}
        self.version: int | None = None
        self.providers = keywatch.Providers(key_provider, key_manager_endpoints or EndpointPolicy())
        self.key_check_interval_s = key_check_interval_s
        self._keys: dict[str, keywatch.KeyState] = {}
        self._reachable: bool | None = None  # logged on change only, not every poll
        self._unsent: dict[str, StatusReport] = {}  # a failed report is logged once
        self.log_level = log_level
        # Read by the metrics collector (citadel.runtime.metrics) from its own thread: each
        # is replaced whole or only incremented, never iterated here while it changes size.
        self.restarts: Counter[str] = Counter()  # node starts after an exit, by deployment
        self.key_checks: Counter[str] = Counter()  # by outcome: ok, refused, unreachable
        self._observed_states: dict[str, ObservedState] = {}
        self._next_cert_check = monotonic() + NODE_CERT_CHECK_S
        # the forwarders to OIDC realms' OPs, made at the first deployment that has one; the
        # operator's key-manager endpoint policy also says where they may connect (H6)
        self.egress_policy = key_manager_endpoints or EndpointPolicy()
        self.egress: Egress | None = None
        self.node_listeners = node_listeners
        # ADR 31: fetch only the deployments placed on this allocator (None: all of them)
        self.allocator_id = allocator_id
        # snapshots (ADR 30): the platform's repository as last fetched; each deployment's
        # summary, written by the snapshot worker's threads (one key at a time); what a
        # restore before the first start brought back, until a report carried it
        self.repository: SnapshotRepository | None = None
        self.snapshot_summaries: dict[str, SnapshotSummary] = {}
        self._restored: dict[str, RestoredFrom] = {}
        self._restores: dict[str, Future[RestoredFrom | None]] = {}  # under way, by deployment
        self._restores_done: set[str] = set()  # finished in this process (maybe with nothing)
        self._restore_pool: ThreadPoolExecutor | None = None

    # -- the loop ----------------------------------------------------------------------

    def run(
        self,
        stop: threading.Event,
        *,
        interval: float = 0.5,
        between: Callable[[], object] | None = None,
    ) -> None:
        """Reconcile every `interval` seconds until `stop` is set; then stop every node.
        `between` runs after each pass, on this thread (the certificate renewal, ADR 18)."""
        try:
            while not stop.is_set():
                self.run_once()
                if between is not None:
                    between()
                stop.wait(interval)
        finally:
            self.shutdown()

    def run_once(self) -> list[Action]:
        """One pass: fetch, observe, plan, act, report. Returns the actions taken."""
        self._fetch()
        now = self.monotonic()
        self._check_keys(now)
        self._observe(now)
        actions = plan(self._desired_view(), self._observed_view(), now)
        for action in actions:
            self._act(action)
        self._sync_egress()
        self._sync_node_listeners()
        self._follow_security()
        self._report()
        return actions

    def shutdown(self) -> None:
        """Stop every node gracefully, then close every volume (the allocator is going away)."""
        if self.egress is not None:
            self.egress.close()
            self.egress = None
        if self._restore_pool is not None:
            self._restore_pool.shutdown(wait=False, cancel_futures=True)
        if self.node_listeners is not None:
            self.node_listeners.close()
        for node in self._nodes.values():
            if node.handle is not None:
                self.sandbox.stop(node.handle)
                node.handle = None
                node.process = ProcessState.ABSENT
        deployments = self.data_dir / "deployments"
        for mountpoint in sorted(volume.mounted_volumes()):
            if mountpoint.parent.parent == deployments:
                self._close_volume(mountpoint.parent.name)

    # -- what tests and operators may ask ------------------------------------------------

    def node_pid(self, deployment_id: str) -> int | None:
        """The host pid of a deployment's node, if it runs."""
        node = self._nodes.get(deployment_id)
        if node is None or node.handle is None:
            return None
        return self.sandbox.pid(node.handle)

    def state(self, deployment_id: str) -> ProcessState:
        """What the allocator knows of a deployment's node process."""
        node = self._nodes.get(deployment_id)
        return node.process if node else ProcessState.ABSENT

    def failures(self, deployment_id: str) -> int:
        """Consecutive failed starts or crashes of a deployment's node."""
        node = self._nodes.get(deployment_id)
        return node.failures if node else 0

    def observed_states(self) -> dict[str, ObservedState]:
        """Each deployment's state as last reported (or tried) to the control plane."""
        return dict(self._observed_states)

    def locked_deployments(self) -> list[str]:
        """The deployments whose key is refused or gone (their node stays stopped)."""
        keys = dict(self._keys)
        return [i for i, k in keys.items() if k.status is keywatch.KeyStatus.LOCKED]

    @property
    def control_plane_reachable(self) -> bool:
        """Whether the last poll of the control plane was answered."""
        return bool(self._reachable)

    @property
    def probe_context(self) -> ssl.SSLContext:
        """The client TLS context (the allocator's certificate) nodes are reached with."""
        return self._probe_ctx

    def metrics_targets(self) -> list[MetricsTarget]:
        """The running nodes to ask for their series."""
        targets = []
        for dep_id, node in list(self._nodes.items()):
            token = node.metrics_token
            if node.process is ProcessState.RUNNING and token is not None:
                socket_path = DeploymentDirs.of(self.data_dir, dep_id).socket
                targets.append(MetricsTarget(dep_id, socket_path, node_hostname(dep_id), token))
        return targets

    # -- steps ---------------------------------------------------------------------------

    def _fetch(self) -> None:
        try:
            allocations = self.control_plane.allocations(allocator=self.allocator_id)
        except ControlPlaneUnavailable as exc:
            if self._reachable is not False:
                log.warning("allocator.control_plane_unavailable", error=str(exc))
            self._reachable = False
            return
        if self._reachable is False:
            log.info("allocator.control_plane_reachable")
        self._reachable = True
        self.version = allocations.version
        self._desired = {a.id: a for a in allocations.deployments}
        self.repository = allocations.repository
        for allocation in allocations.deployments:
            node = self._nodes.get(allocation.id)
            if node is not None:
                node.allocation = allocation

    def _observe(self, now: float) -> None:
        for dep_id, node in self._nodes.items():
            if node.handle is None:
                continue
            if not self.sandbox.is_alive(node.handle):
                status = self.sandbox.exit_status(node.handle)
                reason = self.sandbox.exit_reason(node.handle)  # e.g. its size's memory limit
                node.handle = None
                node.metrics_token = None
                node.process = ProcessState.EXITED
                node.failures = failures_after_exit(node.failures, now - node.started_at)
                node.exited_at = now
                node.detail = f"node exited with status {status}"
                if reason:
                    node.detail += f" ({reason})"
                log.warning(
                    "allocator.node_exited",
                    deployment_id=dep_id,
                    status=status,
                    reason=reason,
                    failures=node.failures,
                    restart_in_s=restart_delay(node.failures),
                )
            elif node.process is ProcessState.STARTING and self._answers(dep_id):
                self.sandbox.settle(node.handle)
                node.process = ProcessState.RUNNING
                node.detail = ""
                if node.password_given:
                    node.password_applied = True
                log.info("allocator.node_running", deployment_id=dep_id)
            elif node.process is ProcessState.STARTING and now - node.started_at > START_TIMEOUT_S:
                self.sandbox.stop(node.handle)
                node.handle = None
                node.process = ProcessState.EXITED
                node.failures += 1
                node.exited_at = now
                node.detail = "node did not answer on its socket"
                log.warning("allocator.node_start_timeout", deployment_id=dep_id)

    def key_state(self, deployment_id: str) -> keywatch.KeyState:
        """What the allocator believes of a deployment's key."""
        return self._keys.get(deployment_id, keywatch.KeyState())

    def _check_keys(self, now: float) -> None:
        """Check each running deployment's key when due (`keywatch`); lock or unlock."""
        for dep_id, allocation in self._desired.items():
            if allocation.desired_state is not DesiredState.RUNNING:
                continue
            state = self._keys.get(dep_id, keywatch.KeyState())
            if now < state.next_check_at:
                continue
            try:
                provider = self.providers.of(allocation)
                outcome = keywatch.check(provider, allocation)
            except ProviderError as exc:  # a key path or connection no provider accepts
                outcome = keywatch.Outcome(unavailable=f"{type(exc).__name__}: {exc}")
            after = keywatch.next_state(state, outcome, now, self.key_check_interval_s)
            self.key_checks[_check_outcome(outcome)] += 1
            self._keys[dep_id] = after
            self._log_key_change(dep_id, allocation, state, after, outcome)
            if outcome.ok and outcome.stale_version:
                self._ask_rewrap(dep_id)

    def _log_key_change(
        self,
        dep_id: str,
        allocation: Allocation,
        before: keywatch.KeyState,
        after: keywatch.KeyState,
        outcome: keywatch.Outcome,
    ) -> None:
        if after.status is not before.status:
            event = (
                "allocator.key_locked"
                if after.status is keywatch.KeyStatus.LOCKED
                else ("allocator.key_unlocked")
            )
            log.warning(
                event, deployment_id=dep_id, key_path=allocation.key_path, reason=after.reason
            )
        elif outcome.unreachable is not None and before.unreachable_for == 0:
            log.warning(
                "allocator.key_manager_unreachable",
                deployment_id=dep_id,
                key_path=allocation.key_path,
                error=outcome.unreachable,
                retry_in_s=round(after.next_check_at - self.monotonic(), 1),
            )
        elif outcome.ok and before.unreachable_for:
            log.info("allocator.key_manager_reachable", deployment_id=dep_id)

    def _ask_rewrap(self, dep_id: str) -> None:
        try:
            answer = self.control_plane.rewrap(dep_id)
        except ControlPlaneUnavailable as exc:
            log.warning("allocator.rewrap_failed", deployment_id=dep_id, error=str(exc))
            return
        log.info("allocator.key_rotated", deployment_id=dep_id, version=answer.version)
        self._keys[dep_id] = keywatch.KeyState(next_check_at=0.0)  # check the new wrap soon

    def _locked(self, dep_id: str) -> bool:
        return self.key_state(dep_id).status is keywatch.KeyStatus.LOCKED

    def _desired_view(self) -> dict[str, Desired]:
        view = {}
        for i, a in self._desired.items():
            state = a.desired_state
            if state is DesiredState.RUNNING and self._locked(i):
                state = DesiredState.STOPPED  # locked: the node stops, its key with it
            view[i] = Desired(i, state, password_digest(a.elastic_password))
        return view

    def _observed_view(self) -> dict[str, Observed]:
        view: dict[str, Observed] = {}
        mounted = volume.mounted_volumes()
        for dep_id in set(self._desired) | set(self._nodes):
            node = self._nodes.get(dep_id)
            dirs = DeploymentDirs.of(self.data_dir, dep_id)
            exists = dirs.root.exists()
            is_open = dirs.data in mounted
            if node is None:
                view[dep_id] = Observed(directory_exists=exists, volume_open=is_open)
            else:
                view[dep_id] = Observed(
                    node.process,
                    node.failures,
                    node.exited_at,
                    exists,
                    node.password_digest,
                    is_open,
                )
        return view

    def _act(self, action: Action) -> None:
        dep_id = action.deployment_id
        if action.kind is ActionKind.START:
            self._start(self._desired[dep_id])
        elif action.kind is ActionKind.STOP:
            node = self._nodes[dep_id]
            if node.handle is not None:
                self.sandbox.stop(node.handle)
            node.handle = None
            node.metrics_token = None
            node.process = ProcessState.ABSENT
            node.failures = 0
            log.info("allocator.node_stopped", deployment_id=dep_id)
        elif action.kind is ActionKind.CLOSE:
            self._close_volume(dep_id)
        elif action.kind is ActionKind.REMOVE:
            dirs = DeploymentDirs.of(self.data_dir, dep_id)
            if volume.is_mounted(dirs.data) and not self._close_volume(dep_id):
                return  # never delete through a mounted plaintext view; retried next pass
            shutil.rmtree(dirs.root, ignore_errors=True)
            self._nodes.pop(dep_id, None)
            log.info("allocator.deployment_removed", deployment_id=dep_id)

    def _sync_egress(self) -> None:
        """Each node that runs gets the forwarders its OIDC realms need (`citadel.runtime.egress`),
        at once when the settings change; a node that does not run has none."""
        for dep_id, node in list(self._nodes.items()):
            allocation = self._desired.get(dep_id, node.allocation)
            security = allocation.security if node.handle is not None else None
            if self.egress is None:
                if not destinations(security):
                    continue
                self.egress = Egress(self.egress_policy)
            run_dir = DeploymentDirs.of(self.data_dir, dep_id).run
            self.egress.sync(dep_id, run_dir, allocation.sandbox_uid, security)
        if self.egress is not None:
            for gone in self.egress.deployments() - set(self._nodes):
                self.egress.stop(gone)

    def _sync_node_listeners(self) -> None:
        """Each node that runs (answers on its socket) is reached on its TCP listener, one
        that does not has none (`citadel.runtime.node_listener`): a gateway that can connect
        finds the node up, as on its socket."""
        if self.node_listeners is None:
            return
        running = {
            dep_id: DeploymentDirs.of(self.data_dir, dep_id).socket
            for dep_id, node in list(self._nodes.items())
            if node.handle is not None and node.process is ProcessState.RUNNING
        }
        self.node_listeners.sync(running)

    def _close_volume(self, dep_id: str) -> bool:
        """Unmount a deployment's volume (lazily if busy); False if it stays mounted."""
        try:
            how = volume.unmount(DeploymentDirs.of(self.data_dir, dep_id).data)
        except (VolumeError, OSError, subprocess.SubprocessError) as exc:
            log.error("allocator.volume_close_failed", deployment_id=dep_id, error=str(exc))
            return False
        if how is not volume.Unmounted.NOT_MOUNTED:
            log.info("allocator.volume_closed", deployment_id=dep_id, how=str(how))
        return True

    def _start(self, allocation: Allocation) -> None:
        node = self._nodes.setdefault(allocation.id, _Node(allocation))
        node.allocation = allocation
        now = self.monotonic()
        restart = node.process is ProcessState.EXITED
        if self._restore_running(allocation.id, node, now):
            return
        metrics_token = secrets.token_urlsafe(32)
        try:
            spec, fds = self._prepare(allocation, metrics_token)
        except KeyUnavailable as exc:
            reason = f"{exc.reason}: {exc}"
            self._keys[allocation.id] = keywatch.next_state(
                self.key_state(allocation.id),
                keywatch.Outcome(unavailable=reason),
                now,
                self.key_check_interval_s,
            )
            node.detail = reason
            log.warning("allocator.key_locked", deployment_id=allocation.id, reason=reason)
            return
        except VolumeError as exc:
            why = (
                "the data key does not open the deployment's volume"
                if isinstance(exc, WrongVolumeKey)
                else type(exc).__name__
            )
            _start_failed(node, now, why)
            log.error("allocator.volume_open_failed", deployment_id=allocation.id, error=str(exc))
            return
        except RestoreUnderWay:  # its volume is being filled from a snapshot (ADR 30)
            node.detail = "restoring from a snapshot"
            return
        except (ProviderError, ControlPlaneUnavailable, OSError, ValueError) as exc:
            _start_failed(node, now, type(exc).__name__)
            log.error("allocator.start_failed", deployment_id=allocation.id, error=str(exc))
            return
        try:
            node.handle = self.sandbox.start(spec)
        except OSError as exc:  # its cgroup could not be made, or the sandbox not run
            _start_failed(node, now, type(exc).__name__)
            log.error("allocator.start_failed", deployment_id=allocation.id, error=str(exc))
            return
        finally:
            for fd in fds:
                os.close(fd)
        node.process = ProcessState.STARTING
        node.started_at = now
        node.metrics_token = metrics_token
        if restart:
            self.restarts[allocation.id] += 1
        node.password_given = allocation.elastic_password is not None
        if node.password_given:
            node.password_applied = False
            node.password_digest = password_digest(allocation.elastic_password)
        log.info(
            "allocator.node_started",
            deployment_id=allocation.id,
            uid=allocation.sandbox_uid,
            attempt=node.failures + 1,
        )

    def _prepare(self, allocation: Allocation, metrics_token: str) -> tuple[SandboxSpec, list[int]]:
        """The directories, the node's certificate, the open volume, the pipes (the metrics
        token's among them), the spec."""
        if allocation.wrapped_data_key is None:
            raise KeyUnavailable("the deployment has no data key")
        uid = allocation.sandbox_uid
        if uid < 1000:
            raise ValueError("sandbox uid below 1000")
        dirs = DeploymentDirs.of(self.data_dir, allocation.id)
        dirs.root.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        dirs.root.parent.chmod(0o700)
        moved = layout.lay_out(dirs, uid)
        self._ensure_node_certificate(allocation.id, dirs.tls, uid)
        data_key = self.providers.of(allocation).unwrap(
            allocation.wrapped_data_key, context=data_key_context(allocation.id)
        )
        try:
            self._open_volume(allocation.id, dirs, uid, data_key)
            key_argv, fds = _legacy_key_for_node(dirs.data, data_key)
        finally:
            del data_key  # gocryptfs holds the volume's key from here; nothing of ours does
        if moved:
            log.info("allocator.legacy_files_set_aside", deployment_id=allocation.id, names=moved)
        if allocation.id not in self._restores_done and needs_initial_restore(
            allocation, dirs.data
        ):
            for fd in fds:
                os.close(fd)
            self._begin_restore(allocation, dirs.data)
            raise RestoreUnderWay
        dirs.socket.unlink(missing_ok=True)
        self._write_security(self._nodes[allocation.id], allocation)
        tls_in = SANDBOX_RUN / dirs.tls.name
        argv = [
            self.python,
            "-m",
            "citadel.node",
            "--data-dir",
            str(SANDBOX_DATA),
            *key_argv,
            "--cert",
            str(tls_in / "node.crt"),
            "--key",
            str(tls_in / "node.key"),
            "--client-ca",
            str(tls_in / "ca.crt"),
            "--unix-socket",
            str(SANDBOX_RUN / dirs.socket.name),
            "--node-name",
            f"node-{allocation.id[:8]}",
            "--log-level",
            self.log_level,
            "--security-file",
            str(SANDBOX_RUN / SECURITY_FILE),
        ]
        token_fd = _pipe_with(metrics_token.encode())
        fds.append(token_fd)
        argv += ["--metrics-token-fd", str(token_fd)]
        if allocation.elastic_password is not None:
            password_fd = _pipe_with(allocation.elastic_password.encode())
            fds.append(password_fd)
            argv += ["--elastic-password-fd", str(password_fd), "--reset-elastic-password"]
        argv += project_argv(allocation)
        argv += snapshot_argv(allocation, self.repository)
        spec = SandboxSpec(
            name=allocation.id,
            uid=uid,
            directory=dirs.data,
            argv=tuple(argv),
            pass_fds=tuple(fds),
            binds=(Bind(dirs.run, SANDBOX_RUN),),
            log_file=self._logs("deployments") / f"{allocation.id}.log",
            resources=node_resources(allocation),
        )
        return spec, fds

    def _follow_security(self) -> None:
        """Rewrite the security file of each live node whose settings changed (the node reads
        it again within a second)."""
        for dep_id, node in self._nodes.items():
            allocation = self._desired.get(dep_id)
            if node.handle is None or allocation is None:
                continue
            if node.security_digest != security_digest(allocation):
                try:
                    self._write_security(node, allocation)
                except OSError as exc:
                    log.error(
                        "allocator.security_file_failed", deployment_id=dep_id, error=str(exc)
                    )
                    continue
                log.info("allocator.security_file_updated", deployment_id=dep_id)

    def _write_security(self, node: _Node, allocation: Allocation) -> None:
        """``run/security.json`` as `allocation` says (removed when it says nothing)."""
        path = DeploymentDirs.of(self.data_dir, allocation.id).run / SECURITY_FILE
        if allocation.security is None:
            path.unlink(missing_ok=True)
        else:
            data = allocation.security.model_dump_json().encode()
            _write_owned(path, data, 0o600, allocation.sandbox_uid)
        node.security_digest = security_digest(allocation)

    def _open_volume(self, dep_id: str, dirs: DeploymentDirs, uid: int, key: bytes) -> None:
        """Create the volume if new, mount it unless it is, move an older layout's files in."""
        vol = Volume(dirs.volume, dirs.data, uid, uid)
        new = not volume.is_initialized(vol)
        if volume.open_volume(vol, key, log_file=self._logs("volumes") / f"{dep_id}.log"):
            log.info("allocator.volume_opened", deployment_id=dep_id, created=new)
        if layout.move_into_volume(dirs, uid):
            log.info("allocator.plaintext_files_moved_into_volume", deployment_id=dep_id)

    def _logs(self, kind: str) -> Path:
        path = self.data_dir / "logs" / kind
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return path

    def renew_node_certificates(self) -> None:
        """Every `NODE_CERT_CHECK_S`: re-issue the certificate of each live node that is due
        for renewal; the node loads the new pair itself (`citadel.kit.tls.CertificateFollower`,
        ADR 18). A failure is logged and tried again at the next check."""
        now = self.monotonic()
        if now < self._next_cert_check:
            return
        self._next_cert_check = now + NODE_CERT_CHECK_S
        for dep_id, node in list(self._nodes.items()):
            if node.process not in _LIVE:
                continue
            tls_dir = DeploymentDirs.of(self.data_dir, dep_id).tls
            try:
                if self._ensure_node_certificate(dep_id, tls_dir, node.allocation.sandbox_uid):
                    log.info("allocator.node_certificate_renewed", deployment_id=dep_id)
            except (ControlPlaneUnavailable, OSError, ValueError) as exc:
                log.warning(
                    "allocator.node_certificate_renewal_failed",
                    deployment_id=dep_id,
                    error=str(exc),
                )

    def _ensure_node_certificate(self, deployment_id: str, tls_dir: Path, uid: int) -> bool:
        """Have a node key and certificate in `tls_dir`, new when missing or due for renewal
        (the key is written before the certificate); True when one was issued."""
        cert_file, key_file, ca_file = (tls_dir / n for n in ("node.crt", "node.key", "ca.crt"))
        if cert_file.exists() and key_file.exists() and ca_file.exists():
            cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
            if not certificate_due(cert, datetime.now(UTC)):
                return False
        key = ec.generate_private_key(ec.SECP256R1())
        name = node_hostname(deployment_id)
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256())
        )
        issued = self.control_plane.node_certificate(
            deployment_id, csr.public_bytes(serialization.Encoding.PEM)
        )
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _write_owned(key_file, pem, 0o600, uid)
        _write_owned(ca_file, issued.ca.encode(), 0o644, uid)
        _write_owned(cert_file, issued.certificate.encode(), 0o644, uid)
        return True

    def _answers(self, deployment_id: str) -> bool:
        """Whether the node completes a TLS handshake and answers HTTP on its socket."""
        path = DeploymentDirs.of(self.data_dir, deployment_id).socket
        return probe_node(path, self._probe_ctx, node_hostname(deployment_id))

    def _report(self) -> None:
        states = {}
        for dep_id, allocation in self._desired.items():
            report = self._status(dep_id, allocation)
            if self.node_listeners is not None:
                port = self.node_listeners.port(dep_id)
                report = report.model_copy(update={"node_port": port})
            report = self._with_snapshots(dep_id, report)
            states[dep_id] = report.observed_state
            if self._reported.get(dep_id) == report:
                continue
            try:
                self.control_plane.report_status(dep_id, report)
            except ControlPlaneUnavailable as exc:
                if self._unsent.get(dep_id) != report:
                    log.warning("allocator.report_failed", deployment_id=dep_id, error=str(exc))
                self._unsent[dep_id] = report
                continue
            self._reported[dep_id] = report
            self._unsent.pop(dep_id, None)
            if report.restored_from is not None:
                self._restored.pop(dep_id, None)  # reported once
        self._observed_states = states

    def _with_snapshots(self, dep_id: str, report: StatusReport) -> StatusReport:
        """A running deployment's snapshot summary, and what a restore brought it back from
        (until one report carried it)."""
        update: dict[str, object] = {}
        summary = self.snapshot_summaries.get(dep_id)
        if summary is not None and report.observed_state is ObservedState.RUNNING:
            update["snapshots"] = summary
        restored = self._restored.get(dep_id)
        if restored is not None:
            update["restored_from"] = restored
        return report.model_copy(update=update) if update else report

    # -- snapshots (ADR 30): what the snapshot worker asks ------------------------------

    def snapshots_configured(self, deployment_id: str) -> bool:
        """Whether a deployment's node has snapshots (the platform a repository)."""
        allocation = self._desired.get(deployment_id)
        return (
            self.repository is not None
            and allocation is not None
            and allocation.snapshots is not None
            and allocation.project is None
        )

    def snapshot_key(self, deployment_id: str) -> bytes | None:
        """The deployment's snapshot key (its data key unwrapped, derived, dropped), or None
        when it should not run. Raises `ProviderError` when the key is refused or gone."""
        allocation = self._desired.get(deployment_id)
        if (
            allocation is None
            or allocation.wrapped_data_key is None
            or allocation.desired_state is not DesiredState.RUNNING
        ):
            return None
        data_key = self.providers.of(allocation).unwrap(
            allocation.wrapped_data_key, context=data_key_context(allocation.id)
        )
        try:
            return snapshot_key(data_key, allocation.id)
        finally:
            del data_key

    def _begin_restore(self, allocation: Allocation, data_mount: Path) -> None:
        """Fill a fresh volume from `allocation.restore` on the restore threads."""
        if self._restore_pool is None:
            self._restore_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="restore")
        self._restores[allocation.id] = self._restore_pool.submit(
            restore_before_first_start,
            allocation,
            data_mount,
            self.repository,
            lambda: self._source_snapshot_key(allocation, allocation.restore),
        )
        log.info("allocator.restore_started", deployment_id=allocation.id)

    def _restore_running(self, dep_id: str, node: _Node, now: float) -> bool:
        """True while the start must wait for a restore: one under way, or one that just
        failed (counted as a failed start, tried again after the backoff). A finished one is
        recorded, its snapshot reported once."""
        future = self._restores.get(dep_id)
        if future is None:
            return False
        if not future.done():
            return True
        del self._restores[dep_id]
        try:
            restored = future.result()
        except (SnapshotError, ProviderError, OSError, ValueError) as exc:
            _start_failed(node, now, f"restore failed: {exc}")
            log.error("allocator.restore_failed", deployment_id=dep_id, error=str(exc))
            return True
        self._restores_done.add(dep_id)
        if restored is not None:
            self._restored[dep_id] = restored
        return False

    def _source_snapshot_key(self, allocation: Allocation, source: RestoreSource | None) -> bytes:
        """The snapshot key of a restore's source deployment, unwrapped by the source's own
        key provider (a revoked source key: `SnapshotUnreadable`)."""
        if source is None or source.wrapped_data_key is None:
            raise SnapshotUnreadable("the restore's source deployment has no data key")
        reached_as = allocation.model_copy(
            update={"key_path": source.key_path, "key_connection": source.key_connection}
        )
        try:
            data_key = self.providers.of(reached_as).unwrap(
                source.wrapped_data_key, context=data_key_context(source.deployment_id)
            )
        except KeyUnavailable as exc:
            raise SnapshotUnreadable(
                f"the source deployment's key is unavailable: {exc.reason}: {exc}"
            ) from exc
        try:
            return snapshot_key(data_key, source.deployment_id)
        finally:
            del data_key

    def _status(self, dep_id: str, allocation: Allocation) -> StatusReport:
        node = self._nodes.get(dep_id)
        want = allocation.desired_state
        applied = bool(node and node.password_applied)
        if want is DesiredState.RUNNING and self._locked(dep_id):
            live = node is not None and node.process in (
                ProcessState.STARTING,
                ProcessState.RUNNING,
            )
            state = ObservedState.STOPPING if live else ObservedState.LOCKED
            return _report(state, detail=self.key_state(dep_id).reason, applied=applied)
        if want is DesiredState.DELETED:
            gone = node is None and not DeploymentDirs.of(self.data_dir, dep_id).root.exists()
            return _report(ObservedState.DELETED if gone else ObservedState.STOPPING)
        if node is None or node.process is ProcessState.ABSENT:
            stopped = want is DesiredState.STOPPED
            state = ObservedState.STOPPED if stopped else ObservedState.INITIALIZING
            return _report(state, applied=applied)
        if node.process is ProcessState.RUNNING:
            if want is DesiredState.STOPPED:
                return _report(ObservedState.STOPPING, applied=applied)
            return _report(ObservedState.RUNNING, healthy=True, applied=applied)
        if node.process is ProcessState.STARTING:
            first = node.failures == 0
            state = ObservedState.INITIALIZING if first else ObservedState.RESTARTING
            return _report(state, detail=node.detail, applied=applied)
        # EXITED, waiting for a restart
        if node.detail.startswith("could not start"):
            return _report(ObservedState.FAILED, detail=node.detail, applied=applied)
        return _report(ObservedState.RESTARTING, detail=node.detail, applied=applied)


def project_argv(allocation: Allocation) -> list[str]:
    """What makes a node a serverless project's (ADR 28): ``--project-type`` (the serverless
    ``GET /``, the ``admin`` superuser given the password fd, the type's built-in roles and
    index templates) and the project id as its cluster name, as Elastic's projects answer.
    Nothing for a deployment."""
    if allocation.project is None:
        return []
    return ["--project-type", allocation.project.type, "--cluster-name", allocation.id]


def node_resources(allocation: Allocation) -> Resources | None:
    """The limits of an allocation's node: its size's memory and pids, and a project's CPU
    quota (`ProjectRuntime.cpu_millis`); None without a size."""
    if not allocation.size_mb:
        return None
    cpu_millis = allocation.project.cpu_millis if allocation.project is not None else None
    return resources_for(allocation.size_mb, cpu_millis)


def _check_outcome(outcome: keywatch.Outcome) -> str:
    """The `outcome` label of one key check (`citadel.runtime.metrics.KEY_CHECK_OUTCOMES`)."""
    if outcome.ok:
        return "ok"
    return "unreachable" if outcome.unreachable is not None else "refused"


def _report(
    state: ObservedState, *, healthy: bool = False, detail: str = "", applied: bool = False
) -> StatusReport:
    return StatusReport(
        observed_state=state,
        healthy=healthy,
        detail=detail[:4096],
        elastic_password_applied=applied,
    )


def _start_failed(node: _Node, now: float, why: str) -> None:
    """Record a start that did not happen: counted as a failure, retried after the backoff."""
    node.process = ProcessState.EXITED
    node.failures += 1
    node.exited_at = now
    node.detail = f"could not start: {why}"


def probe_node(path: Path, ctx: ssl.SSLContext, server_name: str, timeout: float = 1.0) -> bool:
    """True when a TLS request on the unix socket at `path` gets an HTTP status line."""
    try:
        with (
            connect_unix(path, timeout) as raw,
            ctx.wrap_socket(raw, server_hostname=server_name) as tls,
        ):
            tls.sendall(b"GET / HTTP/1.1\r\nHost: " + server_name.encode() + b"\r\n\r\n")
            return tls.recv(16).startswith(b"HTTP/1.1 ")
    except (OSError, ssl.SSLError):
        return False


def connect_unix(path: Path, timeout: float) -> socket.socket:
    """Connect to a unix socket, even one whose path is longer than sun_path allows."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        if len(os.fsencode(path)) < 100:
            sock.connect(str(path))
        else:
            dir_fd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
            try:
                sock.connect(f"/proc/self/fd/{dir_fd}/{path.name}")
            finally:
                os.close(dir_fd)
    except OSError:
        sock.close()
        raise
    return sock


def _write_owned(path: Path, data: bytes, mode: int, uid: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chown(tmp, uid, uid)
    os.replace(tmp, path)


SQLITE_HEADER = b"SQLite format 3\x00"


def _legacy_key_for_node(data_dir: Path, data_key: bytes) -> tuple[list[str], list[int]]:
    """``--legacy-key-fd`` and its pipe when the node's store is still SQLCipher-encrypted by
    the release before the volumes (the node decrypts it once into the volume); else nothing.

    The node holds no key otherwise: the volume alone encrypts its data (ADR 16).
    """
    store = data_dir / "node.db"
    try:
        with open(store, "rb") as f:
            header = f.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return [], []
    if not header or header == SQLITE_HEADER:
        return [], []
    key_fd = _pipe_with(data_key)
    return ["--legacy-key-fd", str(key_fd)], [key_fd]


def _pipe_with(data: bytes) -> int:
    """A pipe's read end holding `data` (small: fits the pipe buffer)."""
    r, w = os.pipe()
    try:
        os.write(w, data)
    finally:
        os.close(w)
    return r


def security_digest(allocation: Allocation) -> str:
    """A digest of an allocation's security settings, to tell when to rewrite the file ("" for
    none; never logged)."""
    if allocation.security is None:
        return ""
    return hashlib.sha256(allocation.security.model_dump_json().encode()).hexdigest()


def password_digest(password: str | None) -> str | None:
    """A digest to tell one pending elastic password from another (never logged or sent)."""
    if password is None:
        return None
    return hashlib.sha256(password.encode()).hexdigest()

"""A serverless project's instance placed by the allocator (issue 19, ADR 28): its node is
started with ``--project-type`` and the project id as cluster name, and its cgroup carries the
project's CPU quota where the cpu controller is delegated; where it is not, the node starts all
the same and the sandbox logs the skipped quota.

REAL sandboxed nodes on REAL encrypted volumes against the stand-in control plane (standin.py);
the quota is read back from this machine's cgroup files. The cgroup hierarchy discovery and
the files a quota writes are also checked on a directory tree laid out as cgroupfs is (the
kernel's files are the outside world here; no machine offers both v1 and v2 to a test).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from structlog.testing import capture_logs

from citadel.contract.messages import (
    Allocation,
    DesiredState,
    ProjectRuntime,
    data_key_context,
    to_json,
)
from citadel.kit.ids import new_id
from citadel.runtime.allocator import node_hostname, node_resources, project_argv
from citadel.runtime.cgroups import (
    MIB,
    Cgroups,
    CgroupsUnavailable,
    Resources,
    _cgroup_mounts,
    cpu_quota_us,
    resources_for,
)
from citadel.runtime.sandbox import BubblewrapSandbox, SandboxSpec
from tests.runtime.conftest import _missing, sandbox_uid
from tests.runtime.test_allocator import PASSWORD, Running, allocating, wait_until


def project_allocation(
    running: Running, project_id: str, *, type_: str, cpu_millis: int | None, size_mb: int
) -> None:
    """Ask the stand-in to place a project's instance (a fresh data key, the admin password)."""
    plane = running.plane
    wrapped = plane.provider.wrap(os.urandom(32), context=data_key_context(project_id))
    allocation = Allocation(
        id=project_id,
        desired_state=DesiredState.RUNNING,
        sandbox_uid=sandbox_uid(),
        wrapped_data_key=wrapped,
        key_path=plane.provider.describe().key_path,
        elastic_password=PASSWORD,
        size_mb=size_mb,
        project=ProjectRuntime(type=type_, cpu_millis=cpu_millis),
    )
    plane.allocations[project_id] = to_json(allocation)
    plane.version += 1
    wait_until(
        lambda: (plane.last_report(project_id) or {}).get("observed_state") == "running",
        timeout=60,
    )


def project_client(running: Running, project_id: str, auth: tuple[str, str]) -> httpx.Client:
    """A client of the project node's socket (gateway certificate, mTLS) signed in as `auth`."""
    ctx = running.plane.component("gateway").client_context()
    return httpx.Client(
        base_url=f"https://{node_hostname(project_id)}",
        transport=httpx.HTTPTransport(uds=str(running.dirs(project_id).socket), verify=ctx),
        verify=ctx,
        auth=auth,
        timeout=30,
    )


# -- what the allocator asks for, pure -----------------------------------------------------------


def _allocation(project: ProjectRuntime | None, size_mb: int | None = 1024) -> Allocation:
    return Allocation(
        id="p" * 32,
        desired_state=DesiredState.RUNNING,
        sandbox_uid=5000,
        size_mb=size_mb,
        project=project,
    )


def test_a_project_instance_is_started_with_its_type_and_its_id_as_cluster_name() -> None:
    allocation = _allocation(ProjectRuntime(type="security", cpu_millis=250))
    argv = project_argv(allocation)
    assert argv == ["--project-type", "security", "--cluster-name", "p" * 32]


def test_a_deployment_gets_no_project_arguments_and_no_cpu_quota() -> None:
    assert project_argv(_allocation(None)) == []
    assert node_resources(_allocation(None)) == resources_for(1024)
    assert node_resources(_allocation(None)).cpu_millis is None


def test_a_projects_cpu_millis_become_its_nodes_cpu_quota() -> None:
    resources = node_resources(_allocation(ProjectRuntime(type="elasticsearch", cpu_millis=750)))
    assert resources == Resources(1024 * MIB, 512, 750)


def test_a_project_without_cpu_millis_has_no_quota_and_without_a_size_no_limits() -> None:
    no_quota = node_resources(_allocation(ProjectRuntime(type="observability")))
    assert no_quota == resources_for(1024)
    assert node_resources(_allocation(ProjectRuntime(type="observability"), size_mb=None)) is None


def test_a_cpu_quota_is_thousandths_of_a_cpu_over_a_100ms_period() -> None:
    assert cpu_quota_us(1000) == 100_000
    assert cpu_quota_us(250) == 25_000
    assert cpu_quota_us(2500) == 250_000
    assert cpu_quota_us(1) == 1_000  # the kernel's minimum quota


def test_a_cpu_quota_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        resources_for(256, 0)


# -- the hierarchy, on a tree laid out as cgroupfs ------------------------------------------------


def _v1_tree(root: Path, *, cpu: bool) -> tuple[Path, Path]:
    lines = [
        f"31 23 0:28 / {root} rw - tmpfs tmpfs rw",
        f"35 31 0:32 / {root}/memory rw - cgroup cgroup rw,memory",
        f"39 31 0:36 / {root}/pids rw - cgroup cgroup rw,pids",
    ]
    own = ["8:pids:/", "4:memory:/"]
    if cpu:
        lines.append(f"32 31 0:29 / {root}/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct")
        own.append("2:cpu,cpuacct:/")
    for name in ("memory", "pids", "cpu,cpuacct"):
        (root / name).mkdir(parents=True, exist_ok=True)
    mountinfo, own_file = root / "mountinfo", root / "own"
    mountinfo.write_text("\n".join(lines) + "\n")
    own_file.write_text("\n".join(own) + "\n")
    return mountinfo, own_file


def test_v1_cpu_cpuacct_mount_is_found_as_the_cpu_hierarchy() -> None:
    mounts = _cgroup_mounts(
        "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
    )
    assert mounts == {"cpu": Path("/sys/fs/cgroup/cpu,cpuacct")}


def test_v1_with_a_cpu_hierarchy_writes_the_quota_and_reads_it_back(tmp_path: Path) -> None:
    mountinfo, own = _v1_tree(tmp_path, cpu=True)
    cgroups = Cgroups.discover("citadel", mountinfo=mountinfo, own=own)
    assert cgroups.cpu
    cgroups.prepare("one", resources_for(512, 300))
    assert cgroups.limits("one") == Resources(512 * MIB, 512, None)  # a node starts unthrottled
    assert cgroups.limit_cpu("one", 300)
    cpu_dir = tmp_path / "cpu,cpuacct" / "citadel" / "one"
    assert (cpu_dir / "cpu.cfs_quota_us").read_text() == "30000\n"
    assert (cpu_dir / "cpu.cfs_period_us").read_text() == "100000\n"
    assert cgroups.limits("one") == Resources(512 * MIB, 512, 300)


def test_v1_without_a_cpu_hierarchy_still_limits_memory_and_pids(tmp_path: Path) -> None:
    mountinfo, own = _v1_tree(tmp_path, cpu=False)
    cgroups = Cgroups.discover("citadel", mountinfo=mountinfo, own=own)
    assert not cgroups.cpu
    assert set(cgroups.parents) == {"memory", "pids"}
    cgroups.prepare("one", resources_for(512, 300))
    assert cgroups.limits("one") == Resources(512 * MIB, 512, None)


def test_v2_delegates_cpu_when_offered_and_writes_cpu_max(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    mountinfo, own = tmp_path / "mountinfo", tmp_path / "own"
    mountinfo.write_text(f"30 23 0:26 / {tmp_path} rw - cgroup2 cgroup2 rw\n")
    own.write_text("0::/\n")
    cgroups = Cgroups.discover("citadel", mountinfo=mountinfo, own=own)
    assert cgroups.version == 2
    assert cgroups.cpu
    cgroups.prepare("one", resources_for(1024, 1500))
    assert not (tmp_path / "citadel" / "one" / "cpu.max").exists()  # a node starts unthrottled
    assert cgroups.limit_cpu("one", 1500)
    assert (tmp_path / "citadel" / "one" / "cpu.max").read_text() == "150000 100000\n"
    assert cgroups.limits("one") == Resources(1024 * MIB, 512, 1500)


def test_v2_without_the_cpu_controller_writes_no_cpu_max(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("memory pids\n")
    mountinfo, own = tmp_path / "mountinfo", tmp_path / "own"
    mountinfo.write_text(f"30 23 0:26 / {tmp_path} rw - cgroup2 cgroup2 rw\n")
    own.write_text("0::/\n")
    cgroups = Cgroups.discover("citadel", mountinfo=mountinfo, own=own)
    assert not cgroups.cpu
    cgroups.prepare("one", resources_for(1024, 1500))
    assert not cgroups.limit_cpu("one", 1500)
    assert not (tmp_path / "citadel" / "one" / "cpu.max").exists()
    assert cgroups.limits("one") == Resources(1024 * MIB, 512, None)


def test_machines_without_cgroups_are_still_refused_for_memory_and_pids_only(
    tmp_path: Path,
) -> None:
    mountinfo, own = tmp_path / "mountinfo", tmp_path / "own"
    mountinfo.write_text(f"32 31 0:29 / {tmp_path}/cpu rw - cgroup cgroup rw,cpu\n")
    own.write_text("1:cpu:/\n")
    with pytest.raises(CgroupsUnavailable, match="no cgroup v1 hierarchy for memory, pids"):
        Cgroups.discover("citadel", mountinfo=mountinfo, own=own)


# -- real nodes ----------------------------------------------------------------------------------


@pytest.fixture
def projects(
    cgroups: Cgroups, sandbox: BubblewrapSandbox, volumes_here: None, short_dir: Path
) -> Iterator[Running]:
    """An allocator whose sandbox puts each node in its own cgroup."""
    with allocating(BubblewrapSandbox(cgroups=cgroups), short_dir) as running:
        yield running


def test_a_project_node_answers_as_a_serverless_project_with_admin(projects: Running) -> None:
    project_id = new_id()
    project_allocation(projects, project_id, type_="observability", cpu_millis=500, size_mb=512)
    with project_client(projects, project_id, ("admin", PASSWORD)) as es:
        root = es.get("/")
        assert root.status_code == 200, root.text
        body = root.json()
        assert body["version"]["build_flavor"] == "serverless"
        assert body["version"]["number"] == "8.11.0"
        assert body["cluster_name"] == project_id
        assert es.get("/_index_template/logs").status_code == 200
    with project_client(projects, project_id, ("elastic", PASSWORD)) as es:
        assert es.get("/").status_code == 401


def test_a_project_nodes_cgroup_holds_its_cpu_quota(projects: Running, cgroups: Cgroups) -> None:
    if not cgroups.cpu:
        _missing("a CPU quota", "this machine's cgroups do not delegate the cpu controller")
    project_id = new_id()
    project_allocation(projects, project_id, type_="elasticsearch", cpu_millis=500, size_mb=512)
    assert cgroups.limits(project_id) == Resources(512 * MIB, 512, 500)
    pid = projects.allocator.node_pid(project_id)
    assert pid is not None
    assert pid in cgroups.pids(project_id)


def test_a_deployment_next_to_a_project_has_no_cpu_quota(
    projects: Running, cgroups: Cgroups
) -> None:
    dep_id = new_id()
    projects.plane.allocate(dep_id, sandbox_uid(), password=PASSWORD, size_mb=256)
    wait_until(
        lambda: (projects.plane.last_report(dep_id) or {}).get("observed_state") == "running"
    )
    assert cgroups.limits(dep_id) == Resources(256 * MIB, 512, None)


def test_without_the_cpu_controller_the_quota_is_skipped_with_a_log_line(
    cgroups: Cgroups, sandbox: BubblewrapSandbox, short_dir: Path
) -> None:
    no_cpu = dataclasses.replace(
        cgroups, parents={k: v for k, v in cgroups.parents.items() if k != "cpu"}, cpu=False
    )
    sandboxed = BubblewrapSandbox(cgroups=no_cpu)
    uid = sandbox_uid()
    directory = short_dir / "quota"
    directory.mkdir(mode=0o700)
    os.chown(directory, uid, uid)
    spec = SandboxSpec(
        name="quota",
        uid=uid,
        directory=directory,
        argv=(sys.executable, "-c", "import time; time.sleep(600)"),
        resources=resources_for(256, 250),
    )
    with capture_logs() as events:
        handle = sandboxed.start(spec)
    try:
        pid = wait_until(lambda: sandboxed.pid(handle))
        assert pid in no_cpu.pids("quota")
        assert no_cpu.limits("quota") == Resources(256 * MIB, 512, None)
    finally:
        sandboxed.stop(handle, timeout=5)
    (skipped,) = [e for e in events if e["event"] == "allocator.cpu_quota_skipped"]
    assert skipped["deployment_id"] == "quota"
    assert skipped["cpu_millis"] == 250
    assert skipped["reason"] == "cpu controller not delegated"

"""Deployment sizes enforced by cgroups (issue 17.3, ADR 18), with REAL sandboxed nodes.

The allocator runs with a sandbox whose `Cgroups` parent is this test's own (so parallel tests
never share one); a node's cgroup and its limits are read from /proc and the cgroup files; a
node made to exceed its memory (a 256 MiB deployment given a bulk of about 50 MB, which a node
parses into several times that) is killed by the kernel inside its own cgroup and restarted
by the allocator, while another deployment's node keeps its pid. Without cgroups the sandbox
falls back to rlimits, read from /proc/<pid>/limits.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from citadel.kit.ids import new_id
from citadel.runtime.cgroups import (
    Cgroups,
    CgroupsUnavailable,
    Resources,
    _cgroup_mounts,
    _own_paths,
    resources_for,
)
from citadel.runtime.sandbox import BubblewrapSandbox, SandboxSpec
from tests.runtime.conftest import sandbox_uid
from tests.runtime.test_allocator import PASSWORD, Running, allocating, wait_until

MIB = 1024 * 1024


# -- the mapping and the discovery, pure -------------------------------------------------------


@pytest.mark.parametrize(
    ("size_mb", "memory", "pids"),
    [
        (256, 256 * MIB, 512),
        (1024, 1024 * MIB, 512),
        (1025, 1025 * MIB, 1024),
        (4096, 4096 * MIB, 2048),
        (65_536, 65_536 * MIB, 4096),
    ],
)
def test_a_size_maps_to_its_memory_and_pids(size_mb: int, memory: int, pids: int) -> None:
    assert resources_for(size_mb) == Resources(memory, pids)


def test_a_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        resources_for(0)


V1_MOUNTINFO = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
V2_MOUNTINFO = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"


def test_v1_mounts_and_own_paths_are_read_per_controller() -> None:
    mounts = _cgroup_mounts(V1_MOUNTINFO)
    assert mounts == {
        "memory": Path("/sys/fs/cgroup/memory"),
        "pids": Path("/sys/fs/cgroup/pids"),
        "unified": Path("/sys/fs/cgroup/unified"),
    }
    own = _own_paths("8:pids:/\n4:memory:/jobs/42\n0::/\n")
    assert own == {"pids": "/", "memory": "/jobs/42", "": "/"}


def test_a_line_that_is_not_a_cgroup_entry_is_skipped() -> None:
    assert _own_paths("garbage\n0::/\n") == {"": "/"}


def test_v2_mount_and_own_path() -> None:
    assert _cgroup_mounts(V2_MOUNTINFO) == {"unified": Path("/sys/fs/cgroup")}
    assert _own_paths("0::/system.slice/citadel.service\n") == {"": "/system.slice/citadel.service"}


def test_no_usable_hierarchy_is_said_with_the_reason(tmp_path: Path) -> None:
    mountinfo, own = tmp_path / "mountinfo", tmp_path / "cgroup"
    mountinfo.write_text("31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n")
    own.write_text("0::/\n")
    with pytest.raises(CgroupsUnavailable, match="no cgroup v1 hierarchy for memory, pids"):
        Cgroups.discover(mountinfo=mountinfo, own=own)


# -- real cgroups ----------------------------------------------------------------------------


@pytest.fixture
def limited(
    cgroups: Cgroups, sandbox: BubblewrapSandbox, volumes_here: None, short_dir: Path
) -> Iterator[Running]:
    """An allocator whose sandbox puts each node in its deployment's cgroup."""
    with allocating(BubblewrapSandbox(cgroups=cgroups), short_dir) as running:
        yield running


def start_sized(running: Running, size_mb: int) -> str:
    dep_id = new_id()
    running.plane.allocate(dep_id, sandbox_uid(), password=PASSWORD, size_mb=size_mb)
    wait_until(lambda: (running.plane.last_report(dep_id) or {}).get("observed_state") == "running")
    return dep_id


def cgroup_lines(pid: int) -> dict[str, str]:
    """/proc/<pid>/cgroup as {controller: path}."""
    return _own_paths(Path(f"/proc/{pid}/cgroup").read_text())


def test_a_node_runs_in_its_deployments_cgroup_with_its_sizes_limits(
    limited: Running, cgroups: Cgroups
) -> None:
    dep_id = start_sized(limited, 512)
    pid = limited.allocator.node_pid(dep_id)
    assert pid is not None
    where = cgroup_lines(pid)
    for controller, parent in cgroups.parents.items():
        key = "" if controller == "unified" else controller
        assert (parent / dep_id).as_posix().endswith(where[key]), (controller, where)
    assert pid in cgroups.pids(dep_id)
    assert cgroups.limits(dep_id) == Resources(512 * MIB, 512)
    assert cgroups.oom_kills(dep_id) == 0


def bulk_of(megabytes: int) -> bytes:
    """An ndjson bulk of about `megabytes` MB of small documents."""
    line = json.dumps({"index": {"_index": "big"}}) + "\n"
    doc = json.dumps({"message": "x" * 200}) + "\n"
    count = megabytes * 1_000_000 // (len(line) + len(doc))
    return ((line + doc) * count).encode()


def test_a_node_past_its_memory_is_killed_and_restarted_and_its_neighbour_keeps_its_pid(
    limited: Running, cgroups: Cgroups
) -> None:
    small, neighbour = start_sized(limited, 256), start_sized(limited, 1024)
    small_pid = limited.allocator.node_pid(small)
    neighbour_pid = limited.allocator.node_pid(neighbour)
    with limited.node(small) as es:
        try:
            answer = es.post(
                "/_bulk",
                content=bulk_of(50),
                headers={"content-type": "application/x-ndjson"},
                timeout=300,
            )
        except httpx.TransportError:
            answer = None  # the node died under the request
    assert answer is None or answer.status_code >= 500, answer and answer.text[:300]
    wait_until(
        lambda: "out of memory" in (limited.plane.last_report(small) or {}).get("detail", ""),
        timeout=120,
    )
    wait_until(
        lambda: (limited.plane.last_report(small) or {}).get("observed_state") == "running",
        timeout=120,
    )
    restarted = limited.allocator.node_pid(small)
    assert restarted is not None
    assert restarted != small_pid
    assert cgroups.limits(small) == Resources(256 * MIB, 512)
    assert limited.allocator.node_pid(neighbour) == neighbour_pid
    assert cgroups.oom_kills(neighbour) == 0
    with limited.node(neighbour) as es:
        assert es.get("/").status_code == 200


def test_a_stopped_sandbox_leaves_no_cgroup(
    cgroups: Cgroups, sandbox: BubblewrapSandbox, short_dir: Path
) -> None:
    sandboxed = BubblewrapSandbox(cgroups=cgroups)
    uid = sandbox_uid()
    directory = short_dir / "one"
    directory.mkdir(mode=0o700)
    os.chown(directory, uid, uid)
    spec = SandboxSpec(
        name="one",
        uid=uid,
        directory=directory,
        argv=(sys.executable, "-c", "import time; time.sleep(600)"),
        resources=resources_for(256),
    )
    handle = sandboxed.start(spec)
    wait_until(lambda: sandboxed.pid(handle))
    assert sandboxed.pid(handle) in cgroups.pids("one")
    sandboxed.stop(handle, timeout=5)
    assert not any(d.exists() for d in cgroups.directories("one"))
    assert sandboxed.exit_reason(handle) is None


def test_a_cgroup_that_cannot_be_made_fails_the_start_and_the_allocator_carries_on(
    sandbox: BubblewrapSandbox, volumes_here: None, short_dir: Path
) -> None:
    nowhere = short_dir / "no-hierarchy"
    broken = Cgroups(1, {"memory": nowhere / "memory", "pids": nowhere / "pids"})
    with allocating(BubblewrapSandbox(cgroups=broken), short_dir) as running:
        dep_id = new_id()
        running.plane.allocate(dep_id, sandbox_uid(), password=PASSWORD, size_mb=256)
        wait_until(
            lambda: (running.plane.last_report(dep_id) or {}).get("observed_state") == "failed"
        )
        report = running.plane.last_report(dep_id) or {}
        assert report["detail"] == "could not start: FileNotFoundError"
        assert running.allocator.node_pid(dep_id) is None
        unsized = new_id()  # the loop goes on: a deployment without a size starts
        running.plane.allocate(unsized, sandbox_uid(), password=PASSWORD)
        wait_until(
            lambda: (running.plane.last_report(unsized) or {}).get("observed_state") == "running"
        )


# -- without cgroups: rlimits --------------------------------------------------------------------


def test_without_cgroups_a_size_becomes_data_and_nproc_rlimits(
    sandbox: BubblewrapSandbox, short_dir: Path
) -> None:
    uid = sandbox_uid()
    directory = short_dir / "plain"
    directory.mkdir(mode=0o700)
    os.chown(directory, uid, uid)
    spec = SandboxSpec(
        name="plain",
        uid=uid,
        directory=directory,
        argv=(sys.executable, "-c", "import time; time.sleep(600)"),
        resources=resources_for(1024),
    )
    handle = sandbox.start(spec)
    try:
        pid = wait_until(lambda: sandbox.pid(handle))
        limits = {}
        deadline = time.monotonic() + 30
        while "Max data size" not in limits and time.monotonic() < deadline:
            text = Path(f"/proc/{pid}/limits").read_text()
            limits = {line[:26].strip(): line[26:].split() for line in text.splitlines()[1:]}
        assert limits["Max data size"][:2] == [str(2 * 1024 * MIB)] * 2
        assert limits["Max processes"][:2] == ["512", "512"]
    finally:
        sandbox.stop(handle, timeout=5)

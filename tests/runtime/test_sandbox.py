"""Isolation checks (security anchors 5.5) run by a probe program inside a real sandbox.

The probe runs under the same `SandboxSpec` shape the allocator gives a node: its own uid, the
seccomp filter, all namespaces but the user one, its directory at /data, rlimits.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

import pytest

from citadel.runtime.sandbox import SANDBOX_RUN, Bind, BubblewrapSandbox, Limits, SandboxSpec
from tests.runtime.conftest import sandbox_uid

PROBE = r"""
import ctypes, errno, json, os, resource, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
args = json.loads(sys.argv[1])
out = {}

def err(ret):
    return "ok" if ret == 0 else errno.errorcode.get(ctypes.get_errno(), "?")

def oserr(fn):
    try:
        fn()
        return "ok"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc))

out["uid"] = os.getuid()
out["status"] = dict(
    (k.strip(), v.strip()) for k, _, v in (l.partition(":") for l in open("/proc/self/status"))
)
out["ptrace"] = err(libc.ptrace(0, 0, 0, 0))
out["mount"] = err(libc.mount(b"none", b"/tmp", b"tmpfs", 0, None))
out["unshare_user"] = err(libc.unshare(0x10000000))
pid = libc.syscall(56, 0x10000000 | 17, 0, 0, 0, 0)  # clone(CLONE_NEWUSER | SIGCHLD)
if pid == 0:
    os._exit(0)
if pid > 0:
    os.waitpid(pid, 0)
out["clone_newuser"] = "ok" if pid > 0 else errno.errorcode.get(ctypes.get_errno(), "?")
out["af_packet"] = oserr(lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW))
out["af_netlink"] = oserr(lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW))
out["connect_host"] = oserr(lambda: socket.create_connection(("127.0.0.1", args["port"]), 2))
out["read_other"] = oserr(lambda: os.listdir(args["other"]))
out["write_usr"] = oserr(lambda: open("/usr/probe", "w"))
out["write_etc"] = oserr(lambda: open("/etc/probe", "w"))
out["write_data"] = oserr(lambda: open("/data/probe", "w").write("x"))
out["write_tmp"] = oserr(lambda: open("/tmp/probe", "w").write("x"))
out["write_run"] = oserr(lambda: open("/run/citadel/probe", "w").write("x"))
out["run"] = sorted(os.listdir("/run"))
out["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
out["root"] = sorted(os.listdir("/"))
out["interfaces"] = [l.split(":")[0].strip() for l in open("/proc/net/dev").readlines()[2:]]
out["env"] = sorted(os.environ)
out["nofile"] = resource.getrlimit(resource.RLIMIT_NOFILE)
out["core"] = resource.getrlimit(resource.RLIMIT_CORE)
out["fsize"] = resource.getrlimit(resource.RLIMIT_FSIZE)
out["nproc"] = resource.getrlimit(resource.RLIMIT_NPROC)
with os.fdopen(args["secret_fd"], "rb") as f:
    out["secret"] = f.read().decode()
import threading
t = threading.Thread(target=lambda: None); t.start(); t.join()
out["threads"] = "ok"
print(json.dumps(out))
"""


def _run_probe(sandbox: BubblewrapSandbox, root: Path) -> dict:
    mine, other = root / "deployments" / "a", root / "deployments" / "b"
    run = root / "deployments" / "a-run"
    uid = sandbox_uid()
    for path, owner in ((mine, uid), (other, uid + 1), (run, uid)):
        path.mkdir(parents=True, mode=0o700)
        os.chown(path, owner, owner)
    (other / "secret.db").write_text("another tenant's data")
    listener = socket.create_server(("127.0.0.1", 0))
    r, w = os.pipe()
    os.write(w, b"data-key-on-a-pipe")
    os.close(w)
    args = {"port": listener.getsockname()[1], "other": str(other), "secret_fd": r}
    os.environ["CITADEL_PROBE_MUST_NOT_LEAK"] = "1"
    try:
        spec = SandboxSpec(
            name="probe",
            uid=uid,
            directory=mine,
            argv=(sys.executable, "-c", PROBE, json.dumps(args)),
            pass_fds=(r,),
            binds=(Bind(run, SANDBOX_RUN),),
            limits=Limits(open_files=256, processes=64, file_size_bytes=1024**3),
            log_file=root / "probe.log",
        )
        handle = sandbox.start(spec)
    finally:
        os.close(r)
        del os.environ["CITADEL_PROBE_MUST_NOT_LEAK"]
    deadline = time.monotonic() + 30
    while sandbox.is_alive(handle) and time.monotonic() < deadline:
        time.sleep(0.05)
    listener.close()
    output = (root / "probe.log").read_text()
    assert sandbox.exit_status(handle) == 0, output
    result = json.loads(output.strip().splitlines()[-1])
    result["data_owner"] = (mine / "probe").stat().st_uid
    result["run_owner"] = (run / "probe").stat().st_uid
    result["expected_uid"] = uid
    return result


@pytest.fixture
def probe(sandbox: BubblewrapSandbox, short_dir: Path) -> dict:
    return _run_probe(sandbox, short_dir)


def test_runs_as_its_own_unprivileged_uid(probe: dict) -> None:
    assert probe["uid"] == probe["expected_uid"] != 0
    assert probe["status"]["Uid"].split() == [str(probe["expected_uid"])] * 4


def test_has_no_capabilities_and_no_new_privileges(probe: dict) -> None:
    assert probe["status"]["CapEff"] == "0000000000000000"
    assert probe["status"]["CapPrm"] == "0000000000000000"
    assert probe["status"]["CapBnd"] == "0000000000000000"
    assert probe["status"]["NoNewPrivs"] == "1"


def test_runs_under_a_seccomp_filter(probe: dict) -> None:
    assert probe["status"]["Seccomp"] == "2"


@pytest.mark.parametrize(
    "call", ["ptrace", "mount", "unshare_user", "clone_newuser", "af_packet", "af_netlink"]
)
def test_dangerous_calls_fail_with_eperm(probe: dict, call: str) -> None:
    assert probe[call] == "EPERM"


def test_cannot_connect_to_a_host_tcp_port(probe: dict) -> None:
    assert probe["connect_host"] in ("ECONNREFUSED", "ENETUNREACH")
    assert probe["interfaces"] == ["lo"]


def test_cannot_read_another_deployments_directory(probe: dict) -> None:
    assert probe["read_other"] in ("ENOENT", "EACCES")


def test_system_directories_are_read_only(probe: dict) -> None:
    assert probe["write_usr"] == "EROFS"
    assert probe["write_etc"] == "EROFS"


def test_only_its_own_directory_and_a_private_tmp_are_writable(probe: dict) -> None:
    assert probe["write_data"] == "ok"
    assert probe["write_tmp"] == "ok"
    assert probe["data_owner"] == probe["expected_uid"]


def test_an_extra_bind_is_writable_at_its_target_and_alone_there(probe: dict) -> None:
    assert probe["write_run"] == "ok"
    assert probe["run_owner"] == probe["expected_uid"]
    assert probe["run"] == ["citadel"]


def test_sees_only_its_own_processes(probe: dict) -> None:
    assert len(probe["pids"]) <= 3  # bwrap's reaper, the probe, perhaps a thread's leftover
    assert max(probe["pids"]) < 10


def test_sees_a_minimal_root(probe: dict) -> None:
    assert {"usr", "etc", "data", "tmp", "proc", "dev"} <= set(probe["root"])
    assert "home" not in probe["root"]
    assert "srv" not in probe["root"]


def test_environment_carries_no_platform_secrets(probe: dict) -> None:
    assert not [k for k in probe["env"] if k.startswith("CITADEL")]
    assert set(probe["env"]) <= {"PATH", "HOME", "LANG", "PWD"}


def test_resource_limits_apply(probe: dict) -> None:
    assert probe["nofile"] == [256, 256]
    assert probe["core"] == [0, 0]
    assert probe["fsize"] == [1024**3, 1024**3]
    assert probe["nproc"] == [64, 64]


def test_inherits_the_secret_pipe_and_can_use_threads(probe: dict) -> None:
    assert probe["secret"] == "data-key-on-a-pipe"
    assert probe["threads"] == "ok"


def test_refuses_to_run_as_root(sandbox: BubblewrapSandbox, short_dir: Path) -> None:
    spec = SandboxSpec(name="root", uid=0, directory=short_dir, argv=("true",))
    with pytest.raises(ValueError, match="root"):
        sandbox.start(spec)

"""Real sandboxes need bubblewrap, setpriv, prlimit, libseccomp and root; encrypted volumes
need gocryptfs, fusermount3 and /dev/fuse.

Where they are missing the tests skip with the reason, except under CI (``CI`` set), where a
missing sandbox or volume is a failure: the isolation and encryption checks must run there.
"""

from __future__ import annotations

import os
import random
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from citadel.runtime import volume
from citadel.runtime.cgroups import Cgroups, CgroupsUnavailable
from citadel.runtime.sandbox import BubblewrapSandbox


def _missing(what: str, reason: str | None) -> None:
    if reason is None:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{what} cannot run on this CI machine: {reason}")
    pytest.skip(f"{what} cannot run here: {reason}")


@pytest.fixture
def sandbox() -> BubblewrapSandbox:
    _missing("the deployment sandbox", BubblewrapSandbox.available())
    return BubblewrapSandbox()


@pytest.fixture
def cgroups() -> Iterator[Cgroups]:
    """This machine's cgroups under a parent of this test's own."""
    try:
        found = Cgroups.discover(f"citadel-test-{secrets.token_hex(4)}")
    except CgroupsUnavailable as exc:
        _missing("deployment cgroups", str(exc))
        raise
    yield found
    found.release()


@pytest.fixture
def volumes_here() -> None:
    _missing("encrypted volumes", volume.available())


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A data directory with a short path: unix socket paths are limited to 107 bytes."""
    path = Path(tempfile.mkdtemp(prefix="cit-", dir="/tmp"))
    path.chmod(0o700)
    yield path
    for mountpoint in sorted(volume.mounted_volumes(), reverse=True):
        if path in mountpoint.parents:
            volume.unmount(mountpoint)  # never delete through a plaintext view
    shutil.rmtree(path, ignore_errors=True)


def gocryptfs_serving(cipher_dir: Path) -> list[int]:
    """The live gocryptfs processes serving `cipher_dir` (the ones holding its key)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            if not argv[0].endswith(b"gocryptfs") or state == "Z":
                continue
            fds = {os.readlink(fd) for fd in (entry / "fd").iterdir()}
        except (OSError, IndexError):
            continue
        if str(cipher_dir) in fds:
            found.append(int(entry.name))
    return found


def sandbox_uid() -> int:
    """A uid no one else uses on the machine (each test its own)."""
    return random.randint(200_000, 900_000)

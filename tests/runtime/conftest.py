"""Real sandboxes need bubblewrap, setpriv, prlimit, libseccomp and root.

Where they are missing the sandbox tests skip with the reason, except under CI (``CI`` set),
where a missing sandbox is a failure: the isolation checks must run there.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from citadel.runtime.sandbox import BubblewrapSandbox


@pytest.fixture
def sandbox() -> BubblewrapSandbox:
    reason = BubblewrapSandbox.available()
    if reason is not None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"the deployment sandbox cannot run on this CI machine: {reason}")
        pytest.skip(f"the deployment sandbox cannot run here: {reason}")
    return BubblewrapSandbox()


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A data directory with a short path: unix socket paths are limited to 107 bytes."""
    path = Path(tempfile.mkdtemp(prefix="cit-", dir="/tmp"))
    path.chmod(0o700)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def sandbox_uid() -> int:
    """A uid no one else uses on the machine (each test its own)."""
    return random.randint(200_000, 900_000)

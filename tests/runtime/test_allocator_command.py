"""`citadel allocator --data-dir D` as a real process, against the stand-in control plane:
it finds the internal API in run/endpoints.json, makes its own component certificate, runs
the node, and stops it gracefully on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from citadel.kit.ids import new_id
from citadel.runtime.sandbox import BubblewrapSandbox
from tests.runtime.conftest import sandbox_uid
from tests.runtime.standin import stand_in
from tests.runtime.test_allocator import PASSWORD, wait_until

CITADEL = str(Path(sys.executable).parent / "citadel")


def test_allocator_command_runs_nodes_and_stops_them_on_sigterm(
    sandbox: BubblewrapSandbox, short_dir: Path
) -> None:
    plane = stand_in(short_dir)
    (short_dir / "run").mkdir(mode=0o700)
    endpoints = {"internal_url": plane.url, "ca_file": str(short_dir / "pki" / "ca.crt")}
    (short_dir / "run" / "endpoints.json").write_text(json.dumps(endpoints))
    dep_id = new_id()
    plane.allocate(dep_id, sandbox_uid(), password=PASSWORD)
    proc = subprocess.Popen(
        [CITADEL, "allocator", "--data-dir", str(short_dir), "--interval", "0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: (plane.last_report(dep_id) or {}).get("observed_state") == "running")
        assert (short_dir / "pki" / "components" / "allocator.crt").exists()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        log = proc.stdout.read().decode() if proc.stdout else ""
        assert "allocator.node_running" in log
        assert not _processes_with(f"node-{dep_id[:8]}")
    finally:
        if proc.poll() is None:
            proc.kill()
        plane.stop()


def _processes_with(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and text in (entry / "cmdline").read_text():
                found.append(int(entry.name))
        except OSError:
            continue
    return found

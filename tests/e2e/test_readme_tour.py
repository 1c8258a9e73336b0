"""The README's tour, executed as written: its first block's `citadel up` in the background,
every later command in order in one bash session, against a fresh directory that has the
repository's virtualenv as `.venv` (what the two set-up commands leave behind).

A command is a line starting with `$ `, continued while it ends with `\\` or leaves a single
quote open; the lines after it up to the next command are its shown output, which the real
output must match in shape (`readme_shape`). The ports come from CITADEL_API_PORT and friends,
which the tour's commands do not show and read back from `run/endpoints.json`; the tour's
python block runs on the official client's virtualenv (`.venv-es9`, made by `make test`).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import free_port, wait_for_gateway

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
TOUR_HEADING = "## A five-minute tour"
ES_PYTHON = REPO / ".venv-es9" / "bin" / "python"


@dataclass(frozen=True)
class Step:
    kind: str  # "console" (a shell command) or "python" (a snippet)
    code: str
    shown: str  # the output the README shows ("" when it shows none)


def tour_steps(readme: str) -> list[list[Step]]:
    """The tour section's code blocks, each as its steps."""
    section = readme.split(TOUR_HEADING, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```(console|python)\n(.*?)^```$", section, re.M | re.S)
    return [
        _console_steps(body) if kind == "console" else [Step("python", body, "")]
        for kind, body in blocks
    ]


def _console_steps(body: str) -> list[Step]:
    steps: list[Step] = []
    lines = body.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        assert line.startswith("$ "), f"a console block must start with a command: {line!r}"
        command = line[2:]
        i += 1
        while (command.endswith("\\") or command.count("'") % 2) and i < len(lines):
            command += "\n" + lines[i]
            i += 1
        shown = []
        while i < len(lines) and not lines[i].startswith("$ "):
            shown.append(lines[i])
            i += 1
        steps.append(Step("console", command, "\n".join(shown)))
    return steps


_TOKEN = re.compile(r"…|\s+|[\w\-+/=]+|.")


def readme_shape(shown: str) -> re.Pattern[str]:
    """What the shown output promises: its words and punctuation, with `…` standing for
    anything, whitespace optional (the README wraps long JSON), every word with a digit in it
    (ids, keys, passwords, ports, times) standing for any word."""
    parts = []
    for match in _TOKEN.finditer(shown):
        token = match.group(0)
        if token == "…":
            parts.append(".*?")
        elif token.isspace():
            parts.append(r"\s*")
        elif re.search(r"\d", token):
            parts.append(r"[\w\-+/=]+")
        else:
            parts.append(re.escape(token))
    return re.compile("".join(parts), re.S)


def test_readme_shape_masks_ids_and_keeps_words():
    shape = readme_shape('{"id":"6ecbfcdd2c20","seq":4,…}\naudit log intact')
    assert shape.fullmatch('{"id":"0a1b2c3d4e5f","seq":12,"more":true}\naudit log intact')
    assert not shape.fullmatch('{"ident":"0a1b2c3d4e5f","seq":12}\naudit log intact')
    assert not shape.fullmatch('{"id":"0a1b2c3d4e5f","seq":12}\naudit log broken')


def test_the_tour_parses_into_a_start_and_commands():
    blocks = tour_steps((REPO / "README.md").read_text())
    [start] = blocks[0]
    assert start.code.endswith("citadel up")
    commands = [step.code for block in blocks[1:] for step in block]
    assert not any("<" in c and ">" in c and "<<" not in c for c in commands), "placeholders"
    assert not any("…" in c for c in commands)


def _environment() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CITADEL_") and k not in {"COLUMNS", "LINES", "VIRTUAL_ENV"}
    }
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if p != str(Path(sys.executable).parent)
    )
    env.update(
        CITADEL_API_PORT=str(free_port()),
        CITADEL_INTERNAL_PORT=str(free_port()),
        CITADEL_GATEWAY_PORT=str(free_port()),
        # A terminal as wide as a reader's: rich wraps at 80 columns without one.
        COLUMNS="200",
    )
    return env


def _session_script(blocks: list[list[Step]], out: Path) -> tuple[str, list[Step]]:
    """One bash script: each step's output to `out/<n>`, its number to `out/step` first."""
    lines: list[str] = []
    steps: list[Step] = []
    for block in blocks:
        for step in block:
            n = len(steps)
            steps.append(step)
            lines.append(f"echo {n} > {out}/step")
            if step.kind == "console":
                lines.append(f"{{\n{step.code}\n}} > {out}/{n} 2>&1")
            else:
                lines.append(
                    f"{ES_PYTHON} - > {out}/{n} 2>&1 <<'TOUR_PYTHON'\n{step.code}TOUR_PYTHON"
                )
    return "\n".join(lines) + "\n", steps


def test_the_readme_tour_runs_as_written(tmp_path: Path):
    if not ES_PYTHON.exists():
        pytest.skip(".venv-es9 (the official client, made by `make test`) is missing")
    blocks = tour_steps((REPO / "README.md").read_text())
    [start] = blocks[0]
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / ".venv").symlink_to(Path(sys.executable).parent.parent)
    env = _environment()
    up_out, up_err = tmp_path / "up.out", tmp_path / "up.err"
    with up_out.open("wb") as stdout, up_err.open("wb") as stderr:
        up = subprocess.Popen(
            ["bash", "-c", start.code],
            cwd=checkout,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
    try:
        endpoints_file = checkout / "citadel-data" / "run" / "endpoints.json"
        _wait_for(endpoints_file, up, up_err)
        wait_for_gateway(json.loads(endpoints_file.read_text()))
        assert readme_shape(start.shown).match(up_out.read_text()), (
            f"`{start.code}` printed:\n{up_out.read_text()}\nthe README shows:\n{start.shown}"
        )

        out = tmp_path / "out"
        out.mkdir()
        script, steps = _session_script(blocks[1:], out)
        (tmp_path / "tour.sh").write_text(script)
        session = subprocess.run(
            ["bash", "-euo", "pipefail", str(tmp_path / "tour.sh")],
            cwd=checkout,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=900,
        )
        if session.returncode != 0:
            n = int((out / "step").read_text())
            failed = (out / str(n)).read_text() if (out / str(n)).exists() else ""
            pytest.fail(
                f"the tour's command failed (exit {session.returncode}):\n{steps[n].code}\n"
                f"its output:\n{failed}{session.stderr}"
            )
        for n, step in enumerate(steps):
            if step.shown:
                real = (out / str(n)).read_text().rstrip("\n")
                assert readme_shape(step.shown).fullmatch(real), (
                    f"`{step.code}` printed:\n{real}\nthe README shows:\n{step.shown}"
                )
    finally:
        # bash runs the one command in place: `citadel up` stops its children (and unmounts
        # their volumes) itself; its process group is killed only if it does not stop.
        up.terminate()
        try:
            up.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
        left = _unmount_left_volumes(checkout)
    assert not left, f"citadel up stopped and left volumes mounted: {left}"


def _unmount_left_volumes(checkout: Path) -> list[Path]:
    """Unmount (so the run leaves nothing behind) and name the volumes still mounted under the
    checkout once `citadel up` has stopped: with the tour's relative `citadel-data` it must
    have closed them all."""
    from citadel.runtime import volume

    left = [m for m in volume.mounted_volumes() if m.is_relative_to(checkout.resolve())]
    for mountpoint in left:
        volume.unmount(mountpoint)
    return left


def _wait_for(path: Path, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"citadel up did not start:\n{log.read_text()}")
        time.sleep(0.1)

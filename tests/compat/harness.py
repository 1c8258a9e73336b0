"""The official clients' YAML suite against a real `citadel node`: finding it, running it, counting.

The suite (github.com/elastic/elasticsearch-clients-tests) is never copied into this repository.
It is found, in order, at `$CITADEL_CLIENT_TESTS_DIR` (a checkout), or cloned from a local
mirror (`/work/.mirror/elastic+elasticsearch-clients-tests*`) into
`~/.cache/citadel/elasticsearch-clients-tests`; when neither exists, `locate_suite` returns
None and the callers skip.

Which tests are "stack" and which "serverless" is the suite's own split: each file opens with
`requires: {stack: bool, serverless: bool}`; a file may count in both. Rates are per test
(a file may hold several), and skipped tests count as not passed.

The interpreter (`yaml_runner.py`) runs in `.venv-es9`, the official client's virtualenv;
this module, in `.venv`, starts the node over TLS, feeds the runner files, restarts the node
when the runner asks (indices survived the wipe, or the node stopped answering) and collects
one result per file.
"""

from __future__ import annotations

import glob
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml

from tests.node.process import RunningNode, Tls, make_tls, start_node

ROOT = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).with_name("yaml_runner.py")
ES_PYTHON = ROOT / ".venv-es9" / "bin" / "python"
SUITE_ENV = "CITADEL_CLIENT_TESTS_DIR"
MIRRORS = "/work/.mirror/elastic+elasticsearch-clients-tests*"
PASSWORD = "elastic-test-password"
#: The test clusters' superuser, which some files name in an `Authorization` header.
TEST_SUPERUSER = ("x_pack_rest_user", "x-pack-test-password")
#: A file whose runner prints nothing for this long is abandoned and the node restarted.
FILE_TIMEOUT_S = 300
RESTART_NODE = 3


# -- finding the suite ----------------------------------------------------------------------


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "citadel" / "elasticsearch-clients-tests"


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], check=True, capture_output=True, text=True, timeout=300
    ).stdout.strip()


def _mirror_git_dir() -> Path | None:
    for candidate in sorted(glob.glob(MIRRORS)):
        for git_dir in (Path(candidate) / "repo", Path(candidate)):
            if (git_dir / "HEAD").is_file() and (git_dir / "objects").is_dir():
                return git_dir
    return None


def locate_suite() -> Path | None:
    """A checkout of the suite (the directory holding `tests/`), or None when unavailable."""
    explicit = os.environ.get(SUITE_ENV)
    if explicit:
        path = Path(explicit)
        return path if (path / "tests").is_dir() else None
    mirror = _mirror_git_dir()
    if mirror is None:
        return None
    target = cache_dir()
    head = _git("--git-dir", str(mirror), "rev-parse", "HEAD")
    if (target / "tests").is_dir() and _git("-C", str(target), "rev-parse", "HEAD") == head:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".clone-"))
    _git("clone", "--quiet", str(mirror), str(staging / "suite"))
    shutil.rmtree(target, ignore_errors=True)
    (staging / "suite").rename(target)
    shutil.rmtree(staging, ignore_errors=True)
    return target


def suite_commit(suite: Path) -> str:
    try:
        return _git("-C", str(suite), "rev-parse", "HEAD")
    except (subprocess.CalledProcessError, FileNotFoundError):
        return "unknown"


def runner_unavailable() -> str | None:
    """Why the interpreter cannot run here (no `.venv-es9`, or it lacks a module), or None."""
    if not ES_PYTHON.exists():
        return f"{ES_PYTHON} missing (make test creates it)"
    probe = subprocess.run(
        [str(ES_PYTHON), "-c", "import elasticsearch, yaml"], capture_output=True, timeout=60
    )
    if probe.returncode != 0:
        return f"{ES_PYTHON} lacks elasticsearch or pyyaml"
    return None


@dataclass(frozen=True)
class SuiteFile:
    """One test file and the flavours its `requires` names."""

    path: str
    stack: bool
    serverless: bool


def suite_files(suite: Path, pattern: str | None = None) -> list[SuiteFile]:
    """Every `tests/**/*.yml` in the suite's order (`pattern`: a substring of the path)."""
    files = []
    for path in sorted((suite / "tests").rglob("*.yml")):
        rel = str(path.relative_to(suite))
        if pattern and pattern not in rel:
            continue
        requires: dict[str, Any] = {}
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and "requires" in doc:
                requires = doc["requires"] or {}
                break
        files.append(SuiteFile(rel, bool(requires.get("stack")), bool(requires.get("serverless"))))
    return files


# -- running --------------------------------------------------------------------------------


@contextmanager
def _node_source(src: Path | None) -> Iterator[None]:
    """Start the node from another source tree (e.g. an exported commit) instead of `src/`."""
    if src is None:
        yield
        return
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(src) + (os.pathsep + before if before else "")
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before


def _drain(stream: IO[bytes], log: Path) -> None:
    with log.open("ab") as out:
        for line in stream:
            out.write(line)


def _start(workdir: Path, tls: Tls, number: int, node_src: Path | None) -> RunningNode:
    with _node_source(node_src):
        node = start_node(workdir / f"node-{number}", tls, elastic_password=PASSWORD)
    log = workdir / f"node-{number}.log"
    for stream in (node.proc.stdout, node.proc.stderr):
        threading.Thread(target=_drain, args=(stream, log), daemon=True).start()
    with node.client(auth=("elastic", PASSWORD)) as client:
        user, password = TEST_SUPERUSER
        client.put(f"/_security/user/{user}", json={"password": password, "roles": ["superuser"]})
    return node


def _stop(node: RunningNode) -> None:
    try:
        node.stop()
    except subprocess.TimeoutExpired:
        node.kill9()


def _lines(stream: IO[str], into: queue.Queue[str | None]) -> None:
    for line in stream:
        into.put(line)
    into.put(None)


def _failed_file(path: str, group: str, detail: str) -> dict[str, Any]:
    test = {"name": "(file)", "status": "fail", "reason": {"group": group, "detail": detail}}
    return {"file": path, "requires": {}, "tests": [test], "residue": []}


def run_suite(
    suite: Path,
    files: list[str],
    workdir: Path,
    *,
    node_src: Path | None = None,
    on_result: Callable[[dict[str, Any]], None] = lambda result: None,
) -> list[dict[str, Any]]:
    """Run `files` against a fresh node (restarted when needed); one result per file."""
    tls = make_tls(workdir / "tls")
    results: list[dict[str, Any]] = []
    pending = list(files)
    starts = 0
    while pending:
        starts += 1
        node = _start(workdir, tls, starts, node_src)
        try:
            pending = _run_on(node, suite, pending, results, on_result)
        finally:
            _stop(node)
    return results


def _run_on(
    node: RunningNode,
    suite: Path,
    pending: list[str],
    results: list[dict[str, Any]],
    on_result: Callable[[dict[str, Any]], None],
) -> list[str]:
    """Feed files to one runner process; returns the files still to run on a fresh node."""
    runner = subprocess.Popen(
        [
            *(str(ES_PYTHON), str(RUNNER), "--url", node.url, "--ca", str(node.tls.ca)),
            *("--password", PASSWORD, "--suite", str(suite), *pending),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    assert runner.stdout is not None
    threading.Thread(target=_lines, args=(runner.stdout, lines), daemon=True).start()
    done = 0
    while done < len(pending):
        try:
            line = lines.get(timeout=FILE_TIMEOUT_S)
        except queue.Empty:
            runner.kill()
            runner.wait()
            detail = f"no result within {FILE_TIMEOUT_S}s"
            result = _failed_file(pending[done], "runner: file timed out", detail)
            results.append(result)
            on_result(result)
            return pending[done + 1 :]
        if line is None:
            break
        result = json.loads(line)
        results.append(result)
        on_result(result)
        done += 1
    status = runner.wait()
    if done < len(pending) and status != RESTART_NODE:
        stderr = runner.stderr.read() if runner.stderr else ""
        result = _failed_file(pending[done], "runner: crashed", stderr[-2000:])
        results.append(result)
        on_result(result)
        done += 1
    return pending[done:]


# -- counting -------------------------------------------------------------------------------


@dataclass
class Tally:
    """Tests of one flavour: how many passed, failed, were skipped, and why they failed."""

    flavour: str
    files: int = 0
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    groups: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    namespaces: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.skipped

    @property
    def rate(self) -> float:
        return self.passed / self.total if self.total else 0.0

    def as_dict(self, top: int | None = None) -> dict[str, Any]:
        return {
            "flavour": self.flavour,
            "files": self.files,
            "tests": self.total,
            "passed": self.passed,
            "failed": self.failed,
            "skipped": self.skipped,
            "pass_rate": round(self.rate, 4),
            "failure_groups": [
                {"reason": group, "tests": count, "example": self.examples[group]}
                for group, count in self.groups.most_common(top)
            ],
            "failure_kinds": dict(self.kinds.most_common()),
            "failing_namespaces": dict(self.namespaces.most_common()),
        }


def tally(results: list[dict[str, Any]], files: list[SuiteFile], flavour: str) -> Tally:
    """Count the results of the files `requires` marks for `flavour` (stack or serverless)."""
    wanted = {f.path for f in files if getattr(f, flavour)}
    counted = Tally(flavour)
    for result in results:
        if result["file"] not in wanted:
            continue
        counted.files += 1
        for test in result["tests"]:
            if test["status"] == "pass":
                counted.passed += 1
            elif test["status"] == "skip":
                counted.skipped += 1
            else:
                counted.failed += 1
                group = test["reason"]["group"]
                kind, api = failure_kind(group)
                counted.groups[group] += 1
                counted.kinds[kind] += 1
                counted.namespaces[api.split(".")[0]] += 1
                counted.examples.setdefault(
                    group, f"{result['file']}: {test['reason']['detail']}"[:400]
                )
    return counted


def failure_kind(group: str) -> tuple[str, str]:
    """("no_handler_found_exception", "cat.count") from a group such as
    "no_handler_found_exception: cat.count (POST /_cat/count)"."""
    kind, _, rest = group.partition(": ")
    return kind, (rest.split(" ", 1)[0] or "-")

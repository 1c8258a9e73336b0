"""Load: ``wrk`` for requests (keep-alive) and ``openssl s_time`` for TLS handshakes.

wrk takes the TLS server name from the URL's host, so SNI routing needs the deployment's name
to resolve: each load process runs in a private mount namespace (``unshare --mount``) where a
hosts file of the harness's own is bound over ``/etc/hosts``; the machine's is never touched.
Every response other than 200 is counted by a Lua hook, and a run with any is an error.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from benchmarks.gateway.services import pinned
from benchmarks.http_bench import WRK_SCRIPT

HOSTS = "127.0.0.1 localhost\n127.0.0.1 {hostname}\n"


@dataclass(frozen=True)
class LoadGenerator:
    """Where load runs from: its CPUs, the wrk script and the private hosts file."""

    cpus: str | None
    script: Path
    hosts: Path

    @classmethod
    def prepare(cls, work: Path, hostname: str, cpus: str | None) -> LoadGenerator:
        script, hosts = work / "count.lua", work / "hosts"
        script.write_text(WRK_SCRIPT)
        hosts.write_text(HOSTS.format(hostname=hostname))
        return cls(cpus, script, hosts)

    def _command(self, command: list[str]) -> list[str]:
        inner = " ".join(_quote(part) for part in pinned(command, self.cpus))
        if shutil.which("unshare") is None:
            return ["sh", "-c", inner]
        mount = f"mount --bind {_quote(str(self.hosts))} /etc/hosts && exec {inner}"
        return ["unshare", "--mount", "sh", "-c", mount]

    def wrk(
        self, url: str, *, connections: int, duration_s: float, headers: dict[str, str]
    ) -> dict:
        """One wrk run (one thread, keep-alive): requests/s, p50/p99 in ms, errors."""
        command = ["wrk", "--threads", "1", "--connections", str(connections)]
        command += ["--duration", f"{duration_s:g}s", "--timeout", "10s"]
        command += ["--script", str(self.script), "--latency"]
        for name, value in headers.items():
            command += ["--header", f"{name}: {value}"]
        done = subprocess.run(
            self._command([*command, url]), capture_output=True, text=True, check=False
        )
        lines = [x for x in done.stdout.splitlines() if x.startswith("WRK_RESULT ")]
        if done.returncode != 0 or not lines:
            raise RuntimeError(f"wrk failed: {done.stdout[-500:]} {done.stderr[-500:]}")
        raw = json.loads(lines[0].removeprefix("WRK_RESULT "))
        duration = raw["duration_us"] / 1e6
        return {
            "requests": raw["requests"],
            "requests_per_s": round(raw["requests"] / duration, 1),
            "p50_ms": round(raw["p50_us"] / 1000, 3),
            "p99_ms": round(raw["p99_us"] / 1000, 3),
            "not_200": raw["not_200"],
            "socket_errors": raw["socket_errors"],
        }

    def handshakes(
        self, host: str, port: int, *, resumed: bool, duration_s: float, clients: int
    ) -> dict:
        """TLS handshakes per second, each followed by one ``GET /`` (HTTP/1.0): `clients`
        parallel ``openssl s_time`` loops, new sessions or resumed ones.

        s_time (OpenSSL 3.0) sends no SNI and no Host: the page it asks for carries a Host
        header and a padding header that takes its own ``HTTP/1.0`` suffix as value."""
        page = f"/ HTTP/1.0\r\nHost: {host}\r\nX-Pad:"
        command = ["openssl", "s_time", "-connect", f"127.0.0.1:{port}", "-www", page]
        command += ["-time", f"{int(duration_s)}", "-reuse" if resumed else "-new"]
        procs = [
            subprocess.Popen(
                self._command(command), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
            )
            for _ in range(clients)
        ]
        total = 0.0
        for proc in procs:
            out, _ = proc.communicate(timeout=duration_s + 60)
            match = _S_TIME.search(out)
            if match is None:
                raise RuntimeError(f"s_time printed no result: {out[-400:]}")
            total += int(match.group(1)) / float(match.group(2))
        return {"handshakes_per_s": round(total, 1), "clients": clients}


_S_TIME = re.compile(r"(\d+) connections in (\d+(?:\.\d+)?) real seconds")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"

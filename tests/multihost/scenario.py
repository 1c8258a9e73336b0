"""The full multi-host scenario of issue 20, run by `scripts/multihost.sh` (not by pytest: it
takes minutes). On namespace hosts (tests/multihost/harness.py):

    cp1, cp2   control-plane replicas (`citadel api`) on one PostgreSQL
    b1, b2     allocators in zone-a; b3 an allocator in zone-b (capacities 6, 6, 8 GiB)
    gw1, gw2   gateways
    client     the official Elasticsearch client (8.x), resolving names to a gateway

Steps, each reported PASS, FAIL (with why) or NOT BUILT (naming the missing part; never
passed over quietly): the platform starts; 20 deployments placed by capacity and spread over
the zones; the official client writes through one gateway and reads through the other; a
traffic filter holds on both gateways; a deleted allocator host: its deployments serve again
elsewhere from their snapshots (through every gateway), with the recovery time and the
documents lost (written after the last snapshot) measured; the shared snapshot repository
holds none of the documents' text; a killed replica (the one the components joined): the
other serves, a retried create makes one deployment, no change lost, the gateways still
serve.

Exit status: 0 every step passed, 1 a step failed, 2 none failed but some are not built.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
import sys
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.multihost.harness import Unavailable, network, start_postgres
from tests.multihost.platform_hosts import Platform, start_platform
from tests.multihost.roles import supports

SIZE_MB = 512
ZONES = {"b1": ("zone-a", 6144), "b2": ("zone-a", 6144), "b3": ("zone-b", 8192)}


class NotBuilt(Exception):
    """A part this step needs is not on main yet; the message names it."""


@dataclass
class Report:
    steps: list[tuple[str, str, str]] = field(default_factory=list)
    figures: dict[str, object] = field(default_factory=dict)

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        print(f"== {name}", flush=True)
        try:
            yield
        except NotBuilt as exc:
            self._record(name, "NOT BUILT", str(exc))
        except Exception as exc:  # a failed step is reported and the next ones still run
            traceback.print_exc()
            self._record(name, "FAIL", f"{type(exc).__name__}: {str(exc)[:500]}")
        else:
            self._record(name, "PASS", f"{time.monotonic() - started:.1f} s")

    def _record(self, name: str, status: str, detail: str) -> None:
        self.steps.append((name, status, detail))
        print(f"   {status}: {detail}", flush=True)

    def exit_status(self) -> int:
        statuses = {status for _, status, _ in self.steps}
        return 1 if "FAIL" in statuses else 2 if "NOT BUILT" in statuses else 0

    def print(self) -> None:
        print("\n== multi-host scenario")
        for name, status, detail in self.steps:
            print(f"{status:>9}  {name}  ({detail})")
        for key, value in self.figures.items():
            print(f"   {key}: {value}")


def _needs(option_command: str, option: str) -> None:
    if not supports(option_command, option):
        raise NotBuilt(f"citadel {option_command} {option}")


def run(deployments: int) -> Report:
    report = Report()
    with network() as net:
        postgres = start_postgres(net)
        platform = start_platform(net, postgres)
        platform.cp_env.update(
            {
                "CITADEL_SNAPSHOT_REPOSITORY_PATH": str(net.root / "shared" / "snapshots"),
                # room for the scenario's deployments and the one made after a replica is killed
                "CITADEL_QUOTA_DEPLOYMENTS_PER_ORGANIZATION": str(deployments + 5),
            }
        )
        (net.root / "shared" / "snapshots").mkdir(mode=0o777)
        ok = False
        with report.step("platform: 2 control-plane replicas, 3 allocators in 2 zones, 2 gateways"):
            for name in ("cp1", "cp2"):
                platform.add_control_plane(name)
            for name, (zone, capacity) in ZONES.items():
                platform.add_allocator(name, zone=zone, capacity_mb=capacity)
            for name in ("gw1", "gw2"):
                platform.add_gateway(name)
            ok = True
        if platform.missing.parts:
            report._record("options of issue 20", "NOT BUILT", ", ".join(platform.missing.parts))
        if not ok:
            return report
        made: dict[str, str] = {}
        with report.step(f"{deployments} deployments placed by capacity, spread over the zones"):
            started = time.monotonic()
            made = dict(
                platform.create_deployment(f"d{i}", size_mb=SIZE_MB) for i in range(deployments)
            )
            platform.wait_healthy(made, timeout=600)
            report.figures["all deployments healthy after (s)"] = round(
                time.monotonic() - started, 1
            )
            placed = {d: platform.placement(d) for d in made}
            per_allocator = Counter(placed.values())
            per_zone = Counter(ZONES[a][0] for a in placed.values() if a)
            report.figures["deployments per allocator"] = dict(sorted(per_allocator.items()))
            report.figures["deployments per zone"] = dict(sorted(per_zone.items()))
            assert None not in per_allocator, f"unplaced: {placed}"
            for name, count in per_allocator.items():
                assert count * SIZE_MB <= ZONES[name][1], f"{name} over its capacity"
            assert abs(per_zone["zone-a"] - per_zone["zone-b"]) <= 1, per_zone
        with report.step("the official client: written through gw1, read through gw2"):
            _needs("allocator", "--node-ports")
            for deployment, password in list(made.items())[:4]:
                gw1, gw2 = platform.gateways
                wrote = platform.run_client(gw1, deployment, password, index="docs", docs=200)
                read = platform.run_client(gw2, deployment, password, index="docs", docs=0)
                assert wrote["count"] == read["count"] == 200, (wrote, read)
        with report.step("a traffic filter holds on both gateways"):
            _needs("allocator", "--node-ports")
            _traffic_filter_on_both_gateways(platform, made)
        with report.step("an allocator host deleted: its deployments serve again elsewhere"):
            _needs("allocator", "--node-ports")
            _lose_a_host(platform, made, report)
        with report.step("the shared snapshot repository holds no plaintext"):
            _no_plaintext_in(net.root / "shared" / "snapshots", report)
        # Last: the allocators and gateways joined through cp1 and talk to its internal API
        # only, so after this nothing is placed or recovered any more.
        with report.step("a control-plane replica killed: the other serves, no change lost"):
            _kill_a_replica(platform, made)
    return report


def _traffic_filter_on_both_gateways(platform: Platform, made: dict[str, str]) -> None:
    """A ruleset admitting only the client host's address, on one deployment: the client gets
    through both gateways, a second host is refused by both."""
    deployment, password = next(iter(made.items()))
    client = platform.client_host()
    with platform.api() as api:
        ruleset = api.post(
            "/deployments/traffic-filter/rulesets",
            json={
                "name": "client-only",
                "region": "local",
                "type": "ip",
                "include_by_default": False,
                "rules": [{"source": f"{client.address}/32"}],
            },
        )
        assert ruleset.status_code in (200, 201), ruleset.text
        rid = ruleset.json()["id"]
        linked = api.post(
            f"/deployments/traffic-filter/rulesets/{rid}/associations",
            json={"entity_type": "deployment", "id": deployment},
            params={"force": "true"},  # the test's own address (the bridge's) is shut out too
        )
        assert linked.status_code in (200, 201), linked.text
    time.sleep(3)  # the gateways refresh their snapshot every second
    other = platform.net.hosts.get("other") or platform.net.add_host("other")
    for gateway in platform.gateways:
        assert platform.run_client(gateway, deployment, password, index="docs", docs=0)["count"]
        status = _status_from(platform, other, gateway, deployment, password)
        assert status == 403, f"{gateway.host.name} let {other.address} through: {status}"


def _status_from(platform, host, gateway, deployment: str, password: str) -> int:
    """The HTTP status a plain request from `host` gets through `gateway`."""
    ca = host.disk / "ca.crt"
    ca.write_bytes(platform.client_ca.read_bytes())
    name = f"{deployment}.local.citadel.localhost"
    done = host.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
         "--cacert", str(host.root / "ca.crt"),
         "--resolve", f"{name}:9243:{gateway.host.address}", "-u", f"elastic:{password}",
         f"https://{name}:9243/"],
    )  # fmt: skip
    return int(done.stdout or 0)


def _kill_a_replica(platform: Platform, made: dict[str, str]) -> None:
    """SIGKILL cp1; through cp2 a client retrying its create with one request id sees one
    deployment, and everything made before is there; deployments keep serving through the
    gateways."""
    if len(platform.control_planes) < 2:
        raise NotBuilt("a second control-plane replica")
    cp1, cp2 = platform.control_planes[:2]
    with platform.api(cp2) as api:
        before = {d["id"] for d in api.get("/deployments").json()["deployments"]}
    cp1.process.kill()
    body = {"name": "after-kill", "resources": {"elasticsearch": [{"ref_id": "main-es"}]}}
    request_id = secrets.token_hex(16)
    with platform.api(cp2) as api:
        first = api.post("/deployments", json=body, params={"request_id": request_id})
        again = api.post("/deployments", json=body, params={"request_id": request_id})
        assert first.status_code in (200, 201, 202), first.text
        after = {d["id"] for d in api.get("/deployments").json()["deployments"]}
    assert before <= after, "a change made before the kill is lost"
    assert len(after - before) == 1, f"the retried create made {len(after - before)}"
    assert again.status_code in (200, 201, 202, 409), again.text
    if supports("allocator", "--node-ports"):
        alive = {d: p for d, p in made.items() if platform.placement(d)}
        deployment, password = next(iter(alive.items()))
        for gateway in platform.gateways:
            platform.run_client(gateway, deployment, password, index="docs", docs=0)


def _lose_a_host(platform: Platform, made: dict[str, str], report: Report) -> None:
    """Snapshot every deployment of b1 (on demand, through a gateway), write more documents,
    delete b1's namespace; time until each serves again elsewhere, and count what is lost."""
    victim = "b1"
    mine = {d: p for d, p in made.items() if platform.placement(d) == victim}
    assert mine, f"nothing placed on {victim}"
    gateway = platform.gateways[0]
    for deployment, password in mine.items():
        platform.run_client(gateway, deployment, password, index="lost", docs=100)
        _snapshot(platform, gateway, deployment, password)
        platform.run_client(gateway, deployment, password, index="after", docs=10)
    lost_at = time.monotonic()
    platform.net.remove_host(victim)
    recovered: dict[str, float] = {}
    counts: dict[str, tuple[int, int]] = {}
    deadline = lost_at + 600
    while len(recovered) < len(mine) and time.monotonic() < deadline:
        for deployment, password in mine.items():
            if deployment in recovered:
                continue
            with contextlib.suppress(AssertionError):
                seen = platform.run_client(gateway, deployment, password, index="lost", docs=0)
                after = platform.run_client(gateway, deployment, password, index="after", docs=0)
                recovered[deployment] = time.monotonic() - lost_at
                counts[deployment] = (seen["count"], after["count"])
                for other in platform.gateways[1:]:  # traffic moved on every gateway
                    again = platform.run_client(other, deployment, password, index="lost", docs=0)
                    assert again["count"] == seen["count"], (other.host.name, again, seen)
        time.sleep(2)
    report.figures["recovery after host loss (s, per deployment)"] = sorted(
        round(v, 1) for v in recovered.values()
    )
    report.figures["documents lost (written after the last snapshot)"] = sum(
        10 - after for _, after in counts.values()
    )
    assert len(recovered) == len(mine), f"{len(mine) - len(recovered)} never came back"
    assert all(seen == 100 for seen, _ in counts.values()), counts
    for deployment in mine:
        assert platform.placement(deployment) not in (None, victim)


def _no_plaintext_in(repository: Path, report: Report) -> None:
    """Every byte the snapshots wrote: none of the documents' text, field names or index
    names the clients wrote appears in it."""
    files = [p for p in repository.rglob("*") if p.is_file()]
    if not files:
        raise AssertionError(f"nothing in {repository}: no snapshot was written")
    report.figures["snapshot repository"] = (
        f"{len(files)} files, {sum(p.stat().st_size for p in files)} bytes"
    )
    needles = (b"document 1", b'"title"', b"found-snapshots")
    for path in files:
        data = path.read_bytes()
        found = [n for n in needles if n in data]
        assert not found, f"{path} holds {found}"


def _snapshot(platform: Platform, gateway, deployment: str, password: str) -> None:
    """`PUT _snapshot/found-snapshots/<name>?wait_for_completion=true` from the client host."""
    host = platform.client_host()
    name = f"{deployment}.local.citadel.localhost"
    (host.disk / "ca.crt").write_bytes(platform.client_ca.read_bytes())
    done = host.run(
        ["curl", "-s", "-X", "PUT", "--cacert", str(host.root / "ca.crt"),
         "--resolve", f"{name}:9243:{gateway.host.address}", "-u", f"elastic:{password}",
         f"https://{name}:9243/_snapshot/found-snapshots/mh-{int(time.time())}"
         "?wait_for_completion=true"],
        timeout=300,
    )  # fmt: skip
    answer = json.loads(done.stdout or "{}")
    if answer.get("snapshot", {}).get("state") != "SUCCESS":
        raise AssertionError(f"snapshot of {deployment}: {done.stdout[:500]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--deployments", type=int, default=20)
    args = parser.parse_args()
    try:
        report = run(args.deployments)
    except Unavailable as exc:
        print(f"multi-host scenario cannot run here: {exc}", file=sys.stderr)
        return 3
    report.print()
    return report.exit_status()


if __name__ == "__main__":
    sys.exit(main())

"""Scale on the lab: for 1, 3, 10, 32 and 100 replicas, from nothing to verdict, memory in use,
and whether the verdicts stay right.

    flock /tmp/grpclab-net.lock python bench/bench_scale.py [--replicas 1 3 10 32 100] [--probes 20]

For each replica count, from no cluster: the real ``ansible-playbook playbooks/cilium.yml -e
grpclab_replicas=N`` (its default probe), timed from start to its verdict; the memory the
cluster's processes use (the node, Envoy, every pod: the sum of their proportional set sizes,
and per server); then ``--probes`` runs of the probe with its default calls, L7 (grpc-server,
expect spread) and L4 (grpc-server-l4, expect pinned): the calls it chose, its time, and how
many verdicts were right (all of them expected). Then teardown. It prints one table, and the
machine's load average, which the times follow closely on this shared 2-core machine.
It binds the lab's addresses: run it under the lab lock. ``-e VAR=VALUE`` is passed to every
playbook run (``-e grpclab_state_root=/tmp/x -e grpclab_lab_pod_network=127.0.61 -e
grpclab_lab_service_network=127.0.62`` keeps clear of a lab left up on the default addresses).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
EXTRA: list[str] = []  # -e VAR=VALUE for every playbook run
RECAP = re.compile(
    r"^lab\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)", re.MULTILINE
)
VERDICT = re.compile(r"verdict\s+(PASS|FAIL)[^\n]*")


@dataclass
class ProbeRuns:
    right: int = 0
    calls: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)


@dataclass
class Row:
    replicas: int
    bring_up: float
    play_verdict: str
    memory_mb: float
    per_server_mb: float
    l7: ProbeRuns
    l4: ProbeRuns


def environment() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k != "ANSIBLE_CONFIG" and not k.lower().endswith("_proxy")
    }
    return env | {"ANSIBLE_NOCOLOR": "1"}


def playbook(name: str, *extra: str) -> tuple[int, str, float]:
    args = [str(BIN / "ansible-playbook"), f"playbooks/{name}"]
    for item in [*EXTRA, *extra]:
        args += ["-e", item]
    started = time.perf_counter()
    done = subprocess.run(
        args, cwd=ROOT, env=environment(), capture_output=True, text=True, check=False
    )
    return done.returncode, done.stdout + done.stderr, time.perf_counter() - started


def state_dir() -> Path:
    root = ROOT / ".grpclab"
    for assignment in EXTRA:
        name, _, value = assignment.partition("=")
        if name == "grpclab_state_root":
            root = Path(value)
    return root / "lab" / "grpclab-cilium"


def lab(*args: str) -> list[dict]:
    done = subprocess.run(
        [sys.executable, "-m", "grpclab.lab", "--state-dir", str(state_dir()), *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def pss_mb(pid: int) -> float:
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0.0
    match = re.search(r"^Pss:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else 0.0


def memory(pods: list[dict]) -> tuple[float, float]:
    """(MB used by the node, Envoy and every pod; MB per server pod)."""
    status = json.loads((state_dir() / "status.json").read_text())
    node = status["node"]
    servers = [pss_mb(p["pid"]) for p in pods if p["deployment"] == "grpc-server" and p["pid"]]
    others = [pss_mb(p["pid"]) for p in pods if p["deployment"] != "grpc-server" and p["pid"]]
    total = sum(servers) + sum(others) + pss_mb(node["pid"]) + pss_mb(node["envoy_pid"] or 0)
    return total, statistics.mean(servers) if servers else 0.0


def probe(target: str, expect: str, replicas: int, runs: int, calls: int | None) -> ProbeRuns:
    found = ProbeRuns()
    sized = ["--calls", str(calls)] if calls else []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "grpclab.probe",
                "--target",
                target,
                "--expect",
                expect,
                "--replicas",
                str(replicas),
                "--json",
                *sized,
            ],
            capture_output=True,
            text=True,
            check=False,
            env=environment(),
        )
        found.seconds.append(time.perf_counter() - started)
        try:
            result = json.loads(done.stdout)
        except ValueError:
            found.wrong.append(done.stderr.strip().splitlines()[-1:][0] if done.stderr else "?")
            continue
        found.calls.append(result["totals"]["calls"])
        if result["passed"]:
            found.right += 1
        else:
            found.wrong.append(result["summary"])
    return found


def measure(replicas: int, runs: int, calls: int | None) -> Row:
    rc, output, bring_up = playbook("cilium.yml", f"grpclab_replicas={replicas}")
    verdict = VERDICT.search(output)
    if verdict is None:
        sys.exit(
            f"bench: cilium.yml with {replicas} replicas gave no verdict (rc {rc}):\n"
            f"{output[-3000:]}"
        )
    pods = lab("get", "pods", "-o", "json")
    used, per_server = memory(pods)
    services = {s["name"]: s for s in lab("get", "services", "-o", "json")}

    def address(name: str) -> str:
        return f"{services[name]['cluster_ip']}:{services[name]['port']}"

    return Row(
        replicas,
        bring_up,
        verdict.group(1),
        used,
        per_server,
        probe(address("grpc-server"), "spread", replicas, runs, calls),
        probe(address("grpc-server-l4"), "pinned", replicas, runs, calls),
    )


def describe(runs: ProbeRuns, total: int) -> str:
    calls = int(statistics.median(runs.calls)) if runs.calls else 0
    seconds = statistics.median(runs.seconds) if runs.seconds else 0.0
    return f"{runs.right:>2}/{total:<2} {calls:>6} {seconds:6.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 3, 10, 32, 100])
    parser.add_argument("--probes", type=int, default=20, help="probes per Service and count")
    parser.add_argument("--calls", type=int, help="the probes' --calls (default: the probe's own)")
    parser.add_argument(
        "-e",
        dest="extra",
        action="append",
        default=[],
        help="VAR=VALUE passed to every ansible-playbook run",
    )
    args = parser.parse_args()
    EXTRA.extend(args.extra)
    rows = []
    for replicas in args.replicas:
        if playbook("teardown.yml")[0] != 0:
            sys.exit("bench: teardown failed")
        rows.append(measure(replicas, args.probes, args.calls))
        print(f"  {replicas} replicas measured", file=sys.stderr, flush=True)
    playbook("teardown.yml")
    print(
        f"lab, cilium.yml from nothing to verdict, then {args.probes} probes per Service "
        f"({args.calls or 'default'} calls), {os.cpu_count()} cores"
    )
    print(
        f"{'replicas':>8} {'to verdict':>10} {'play':>5} {'memory':>9} {'per pod':>8}   "
        f"{'L7 spread right calls  time':<27}   {'L4 pinned right calls  time':<27}"
    )
    for row in rows:
        print(
            f"{row.replicas:>8} {row.bring_up:>8.1f} s {row.play_verdict:>5} "
            f"{row.memory_mb:>6.0f} MB {row.per_server_mb:>5.1f} MB   "
            f"{describe(row.l7, args.probes):<27}   {describe(row.l4, args.probes):<27}"
        )
        for wrong in (row.l7.wrong + row.l4.wrong)[:3]:
            print(f"{'':>10}wrong: {wrong[:160]}")
    print(f"load average {' '.join(f'{load:.1f}' for load in os.getloadavg())} (1, 5, 15 min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

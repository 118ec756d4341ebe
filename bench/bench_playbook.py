"""Wall time of the cilium scenario on the lab: from nothing, its second run, teardown, and
compare.yml from nothing against one scenario from nothing.

    flock /tmp/grpclab-net.lock python bench/bench_playbook.py [--repeat N]

Runs the real ``ansible-playbook playbooks/cilium.yml`` from the project root (the lab
inventory), with the ``ansible.posix.profile_tasks`` callback to read how long the probe
task took, and prints each figure with the probe's share and the goal on the 2-core machine
(from nothing under 10 s, second run under 4 s, teardown under 3 s), then ``compare.yml`` from
nothing (all four scenarios, both clusters) and its ratio to the cilium scenario from nothing,
measured in the same round (goal: at most 3x), then the machine's load average, which these
figures follow closely. With --repeat N, the median of N rounds.
It binds the lab's addresses: run it under the lab lock. ``-e VAR=VALUE`` is passed to every
run (``-e grpclab_state_root=/tmp/x -e grpclab_lab_pod_network=127.0.61 -e
grpclab_lab_service_network=127.0.62`` keeps clear of a lab left up on the default addresses).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
PROBE_TASK = re.compile(r"grpc_probe : Probe from the controller the Service \S+ -+ ([0-9.]+)s")
RECAP = re.compile(
    r"^lab\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)", re.MULTILINE
)
GOALS = {"cilium.yml from nothing": 10.0, "cilium.yml second run": 4.0, "teardown.yml": 3.0}
GOAL_COMPARE_RATIO = 3.0  # issue 18: compare.yml from nothing <= 3x one scenario from nothing


@dataclass
class Timing:
    wall: float
    probe: float
    changed: int


def timed(playbook: str, extra: list[str]) -> Timing:
    env = {k: v for k, v in os.environ.items() if k != "ANSIBLE_CONFIG"}
    env.update(ANSIBLE_NOCOLOR="1", ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks")
    started = time.perf_counter()
    args = [item for assignment in extra for item in ("-e", assignment)]
    done = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), f"playbooks/{playbook}", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    recap = RECAP.findall(done.stdout)
    if done.returncode != 0 or not recap or int(recap[-1][1]):
        sys.exit(
            f"bench: {playbook} failed (rc {done.returncode}):\n{done.stdout[-3000:]}"
            f"{done.stderr[-2000:]}"
        )
    probe = PROBE_TASK.search(done.stdout)
    return Timing(wall, float(probe.group(1)) if probe else 0.0, int(recap[-1][0]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="rounds; the median is shown")
    parser.add_argument(
        "-e",
        dest="extra",
        action="append",
        default=[],
        help="VAR=VALUE passed to every ansible-playbook run",
    )
    args = parser.parse_args()
    rounds: dict[str, list[Timing]] = {
        "cilium.yml from nothing": [],
        "cilium.yml second run": [],
        "teardown.yml": [],
        "compare.yml from nothing": [],
    }
    timed("teardown.yml", args.extra)  # from nothing
    ratios = []
    for _ in range(args.repeat):
        rounds["cilium.yml from nothing"].append(timed("cilium.yml", args.extra))
        rounds["cilium.yml second run"].append(timed("cilium.yml", args.extra))
        rounds["teardown.yml"].append(timed("teardown.yml", args.extra))
        rounds["compare.yml from nothing"].append(timed("compare.yml", args.extra))
        timed("teardown.yml", args.extra)
        ratios.append(
            rounds["compare.yml from nothing"][-1].wall / rounds["cilium.yml from nothing"][-1].wall
        )
    print(f"lab, cilium scenario, {os.cpu_count()} cores, median of {args.repeat} round(s)")
    for label, timings in rounds.items():
        wall = statistics.median(t.wall for t in timings)
        probe = statistics.median(t.probe for t in timings)
        changed = timings[-1].changed
        line = f"{label:<26} {wall:6.1f} s   changed={changed:<3}"
        if probe:
            line += f" probe {probe:4.1f} s ({probe / wall:4.0%} of the run)"
        if label in GOALS:
            goal = GOALS[label]
            line += f"   goal < {goal:.0f} s: {'met' if wall < goal else 'MISSED'}"
        print(line)
    ratio = statistics.median(ratios)
    verdict = "met" if ratio <= GOAL_COMPARE_RATIO else "MISSED"
    print(
        f"compare.yml / cilium.yml from nothing: {ratio:.1f}x   "
        f"goal <= {GOAL_COMPARE_RATIO:.0f}x: {verdict}"
    )
    print(f"load average {' '.join(f'{load:.1f}' for load in os.getloadavg())} (1, 5, 15 min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Wall time of playbooks/churn.yml on the lab from nothing: the whole remedy x action matrix,
its lanes (one per cluster, run at once), and the share of it the probes' runs take.

    flock /tmp/grpclab-net.lock python bench/bench_churn.py [-e churn_remedies=cilium] [-e k=v ...]

Tears the lab down first (``playbooks/teardown.yml``: the clusters' start-up is part of the
figure), then runs the real ``ansible-playbook playbooks/churn.yml`` from the project root (the
lab inventory) with ``ansible.posix.profile_tasks``, and prints: the wall time against the goal
on the 2-core machine (under 4 minutes), the runs and lanes, and with one lane the time spent
waiting for the probes (the runs' own length) and the overhead per run. The matrix may
fail its promises (a finding, printed by churn.yml): the bench reports the wall time either way,
and the report folder (compare its verdicts with another run's: bench/bench_verdicts.py). It
binds the lab's addresses: run it under the lab lock. ``--keep`` leaves the lab up.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
WAIT_TASKS = re.compile(
    r"grpc_probe : (?:Wait for the probe to finish|Wait for the probe's job to end) -+ ([0-9.]+)s"
)
LANE = re.compile(r"\(item=(\S+): (\d+) runs\)")
DUE_TASK = re.compile(r"churn : Wait until the action is due[^-]*-+ ([0-9.]+)s")
REPORT = re.compile(r"report: (\S+)")
GOAL_WALL_S = 240.0  # issue 18: the matrix in minutes, on this 2-core machine


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tags", default=None)
    parser.add_argument("-e", dest="extra", action="append", default=[])
    parser.add_argument("--keep", action="store_true", help="leave the lab up at the end")
    parser.add_argument("--log", type=Path, help="write the play's output there")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "ANSIBLE_CONFIG"}
    env.update(ANSIBLE_NOCOLOR="1", ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks")
    env.update(PROFILE_TASKS_TASK_OUTPUT_LIMIT="all")  # every task in the summary, not 20
    extra = [item for assignment in args.extra for item in ("-e", assignment)]
    teardown = [str(ANSIBLE_PLAYBOOK), "playbooks/teardown.yml", *extra]
    subprocess.run(teardown, cwd=ROOT, env=env, capture_output=True, check=True)
    argv = [str(ANSIBLE_PLAYBOOK), "playbooks/churn.yml", *extra]
    if args.tags:
        argv += ["--tags", args.tags]
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if args.log:
        args.log.write_text(done.stdout + done.stderr, encoding="utf-8")
    if not args.keep:
        subprocess.run(teardown, cwd=ROOT, env=env, capture_output=True, check=False)
    probes = [float(s) for s in WAIT_TASKS.findall(done.stdout)]
    lanes = LANE.findall(done.stdout)
    dues = [float(s) for s in DUE_TASK.findall(done.stdout)]
    # one lane: each run once in the summary; with lanes at once (the free strategy) the
    # callback's times run from one task's start to the next of any host: not the runs' own
    runs = sum(int(n) for _, n in lanes) if lanes else len(dues)
    if not runs:
        sys.exit(
            f"bench: churn.yml ran no churn run (rc {done.returncode}):\n"
            f"{done.stdout[-3000:]}{done.stderr[-2000:]}"
        )
    in_runs = sum(probes) + sum(dues)
    report = REPORT.findall(done.stdout)
    met = "met" if wall < GOAL_WALL_S else "MISSED"
    print(
        f"churn.yml on the lab from nothing: {wall:.1f} s wall for {runs} runs, exit "
        f"{done.returncode} (goal < {GOAL_WALL_S:g} s: {met}; {os.cpu_count()} cores)"
    )
    print(f"  lanes at once: {', '.join(f'{name} ({n} runs)' for name, n in lanes) or 'one'}")
    if len(lanes) <= 1:
        print(f"  probes running (action wait + wait to finish): {in_runs:.1f} s")
        overhead = (wall - in_runs) / runs
        print(f"  besides the probes, per run (scenario state, pods, judgement): {overhead:.1f} s")
    if report:
        print(f"  report: {report[-1]}")
    print(f"load average {' '.join(f'{load:.1f}' for load in os.getloadavg())} (1, 5, 15 min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

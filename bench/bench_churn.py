"""Wall time of playbooks/churn.yml on the lab: the whole remedy x action matrix, and the share
of it the probes' runs take (the rest is bringing each scenario back to its state).

    flock /tmp/grpclab-net.lock python bench/bench_churn.py [-e churn_remedies=cilium] [-e k=v ...]

Runs the real ``ansible-playbook playbooks/churn.yml`` from the project root (the lab
inventory) with ``ansible.posix.profile_tasks``, and prints: the wall time, the runs, the time
per run, the time spent waiting for the probes (the runs' own length) and the overhead per run.
The matrix may fail its promises (a finding, printed by churn.yml): the bench reports the wall
time either way, and the report folder. It binds the lab's addresses: run it under the lab lock.
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
WAIT_TASK = re.compile(r"grpc_probe : Wait for the probe to finish -+ ([0-9.]+)s")
DUE_TASK = re.compile(r"churn : Wait until the action is due[^-]*-+ ([0-9.]+)s")
REPORT = re.compile(r"report: (\S+)")
GOAL_PER_RUN_OVERHEAD_S = 8.0  # bringing a scenario back to its state, between two runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tags", default=None)
    parser.add_argument("-e", dest="extra", action="append", default=[])
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "ANSIBLE_CONFIG"}
    env.update(ANSIBLE_NOCOLOR="1", ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks")
    argv = [str(ANSIBLE_PLAYBOOK), "playbooks/churn.yml"]
    if args.tags:
        argv += ["--tags", args.tags]
    for extra in args.extra:
        argv += ["-e", extra]
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    probes = [float(s) for s in WAIT_TASK.findall(done.stdout)]
    dues = [float(s) for s in DUE_TASK.findall(done.stdout)]
    runs = len(probes)
    if not runs:
        sys.exit(
            f"bench: churn.yml ran no churn run (rc {done.returncode}):\n"
            f"{done.stdout[-3000:]}{done.stderr[-2000:]}"
        )
    in_runs = sum(probes) + sum(dues)
    overhead = (wall - in_runs) / runs
    report = REPORT.findall(done.stdout)
    print(
        f"churn.yml on the lab: {wall:.1f} s wall for {runs} runs "
        f"({wall / runs:.1f} s per run), exit {done.returncode}"
    )
    print(
        f"  probes running (action wait + wait to finish): {in_runs:.1f} s "
        f"({in_runs / wall:.0%} of the wall time)"
    )
    print(
        f"  overhead per run (scenario state, pods, judgement): {overhead:.1f} s "
        f"(goal < {GOAL_PER_RUN_OVERHEAD_S:g} s)"
    )
    if report:
        print(f"  report: {report[-1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

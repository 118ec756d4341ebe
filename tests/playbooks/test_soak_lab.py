"""A short chaos soak, run for real: ``bench/bench_soak.py`` brings the cilium lab up with
``ansible-playbook playbooks/cilium.yml``, runs the timeline probe at 200 calls/s while it takes
random churn actions, checks convergence, leftovers, memory and that every failed call is inside
an action's window, and tears the lab down (``playbooks/teardown.yml``). About a minute. It
binds loopback addresses of its own (127.0.73/127.0.74): run it under the lab lock,
``flock /tmp/grpclab-net.lock python -m pytest tests/playbooks/test_soak_lab.py``."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from ansible_cli import ROOT

pytestmark = pytest.mark.slow

SEED = 7  # takes scale-in, scale-out and rollout-restarts, and a scale back at the end


def test_a_short_soak_converges_leaves_nothing_and_fails_no_call_outside_a_window(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "bench/bench_soak.py",
            *("--duration", "32", "--seed", str(SEED), "--converge-budget", "8", "--tail", "2"),
            *("--state-root", str(tmp_path / "state")),
            *("--pod-network", "127.0.73", "--service-network", "127.0.74"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
    )
    out = done.stdout
    print(out)  # the figures, shown with -s or -rP
    assert done.returncode == 0, out[-3000:] + done.stderr[-2000:]
    assert f"seed {SEED}" in out
    taken = re.search(r"actions taken: (\d+)", out)
    assert taken and int(taken.group(1)) >= 2, out
    calls = re.search(r"calls made: (\d+) .*outside (\d+)", out)
    assert calls, out
    assert int(calls.group(1)) >= 200 * 30  # the probe ran over the whole soak
    assert calls.group(2) == "0"
    assert "every check passed" in out
    assert not (tmp_path / "state" / "lab" / "grpclab-cilium").exists()

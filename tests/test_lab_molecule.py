"""``molecule test`` of molecule/default: the cilium scenario on the lab converged, converged
again with nothing changed (idempotence), verified with the probe, torn down.

It binds the lab's addresses: run under the lab lock (``flock /tmp/grpclab-net.lock``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_molecule_default_scenario() -> None:
    env = {k: v for k, v in os.environ.items() if k != "ANSIBLE_CONFIG"}
    env.update(NO_COLOR="1", PY_COLORS="0", ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    done = subprocess.run([str(Path(sys.executable).parent / "molecule"), "test"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=900, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-5000:]
    for step in ("syntax", "converge", "idempotence", "verify", "destroy"):
        assert f"{step}: Executed: Successful" in output, f"step {step}:\n{output[-3000:]}"
    assert "grpc-server: each of 4 connections reached all 3 replicas" in output
    assert "grpc-server-l4: each of 4 connections stayed on 1 replica" in output
    assert not (ROOT / ".grpclab" / "lab" / "grpclab-cilium").exists()

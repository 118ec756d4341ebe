"""``molecule test`` of molecule/default: the cilium scenario on the lab converged, converged
again with nothing changed (idempotence), verified with the probe, torn down.

It binds the lab's addresses: run under the lab lock (``flock /tmp/grpclab-net.lock``).
"""

from __future__ import annotations

import pytest
from ansible_cli import ROOT, run_tool


@pytest.mark.slow
def test_molecule_default_scenario() -> None:
    done = run_tool("molecule", "test", timeout=900)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-5000:]
    for step in ("syntax", "converge", "idempotence", "verify", "destroy"):
        assert f"{step}: Executed: Successful" in output, f"step {step}:\n{output[-3000:]}"
    assert "grpc-server: each of 4 connections reached all 3 replicas" in output
    assert "grpc-server-l4: each of 4 connections stayed on 1 replica" in output
    assert not (ROOT / ".grpclab" / "lab" / "grpclab-cilium").exists()

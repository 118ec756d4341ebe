"""The sized probe through a real Envoy in front of 32 real replicas: right verdicts, every time.

32 ``grpclab.apps.server`` processes on 127.0.31.1-32:50051; Envoy on 127.0.32.1 (L4 tcp_proxy),
127.0.32.2 (L7 HTTP/2 round robin, one worker: the per-worker round robin the sizing must survive)
and admin 127.0.32.3. Not the lab's addresses: no lab lock needed. About 40 MB per server.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest
from probe_helpers import envoy_over_replicas
from servers import REPO

from grpclab.probe import cli as probe
from grpclab.probe.model import PINNED, SPREAD
from grpclab.probe.options import ProbeOptions
from grpclab.status import ExitStatus

COUNT = 32
REPLICAS = [(f"replica-{i:02d}", f"127.0.31.{i}", 50051) for i in range(1, COUNT + 1)]
L4, L7, ADMIN = ("127.0.32.1", 50051), ("127.0.32.2", 50051), ("127.0.32.3", 9901)
PROBES_IN_A_ROW = 20


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    # all replicas spawned at once, then waited for
    folder = tmp_path_factory.mktemp("scale")
    with envoy_over_replicas(REPLICAS, L4, L7, ADMIN, folder) as targets:
        yield targets


def sized(target: str, expect: str) -> dict:
    return probe.probe(ProbeOptions(target=target, expect=expect, replicas=COUNT))


def test_l7_spreads_in_every_one_of_20_probes_in_a_row(proxy):
    outcomes = [sized(proxy["l7"], SPREAD) for _ in range(PROBES_IN_A_ROW)]
    failed = [r["summary"] for r in outcomes if not r["passed"]]
    assert not failed, f"{len(failed)} of {PROBES_IN_A_ROW} failed; first: {failed[0]}"
    first = outcomes[0]
    assert first["calls"]["source"] == "sized" and first["calls"]["per_connection"] == 735
    assert first["totals"]["calls"] == 2940 and len(first["replicas"]) == COUNT
    assert all(len(c["replicas"]) == COUNT for r in outcomes for c in r["connections"])


def test_l4_is_pinned_with_the_sized_probe(proxy):
    result = sized(proxy["l4"], PINNED)
    assert result["passed"] and result["observed"] == PINNED, result["summary"]
    assert all(len(c["replicas"]) == 1 for c in result["connections"])


def test_l4_fails_spread_with_exit_1_not_cannot_judge(proxy):
    result = sized(proxy["l4"], SPREAD)
    assert not result["passed"] and not result["cannot_judge"]


def test_the_old_default_of_400_calls_cannot_judge_32_replicas(proxy):
    """400 calls, 100 per connection: the case of the issue. Exit 2, with the reason."""
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "tools" / "probe.py"),
            "--target",
            proxy["l7"],
            "--calls",
            "400",
            "--expect",
            "spread",
            "--replicas",
            str(COUNT),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    result = json.loads(done.stdout)
    if result["passed"]:  # every connection did reach all 32: a pass is proof, exit 0
        assert done.returncode == ExitStatus.SUCCESS
        return
    assert done.returncode == ExitStatus.CANNOT_JUDGE, done.stderr
    assert result["cannot_judge"] and "cannot be trusted" in " ".join(result["warnings"])
    assert done.stderr.startswith("grpclab-probe: error: cannot judge spread")

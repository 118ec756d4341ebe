"""The scenario playbooks on the lab platform, run for real with ansible-playbook.

Each test runs ``ansible-playbook playbooks/<name>.yml`` from the project root, as a user
would. They bind the lab's addresses (127.0.1-4.x): run them under the lab lock,
``flock /tmp/grpclab-net.lock python -m pytest``. To stay fast on two cores the tests share
one bring-up, in file order: bad input first (nothing may be created), then the Cilium
cluster, its second run, the other scenarios on it, a scale up and down, L7 switched off, the
baseline cluster, and teardown last. The module starts from nothing and leaves nothing up.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest
from ansible_cli import ROOT, recap, run_tool

from grpclab import lab

pytestmark = pytest.mark.slow

STATE_ROOT = ROOT / ".grpclab"
CILIUM_STATE = STATE_ROOT / "lab" / "grpclab-cilium"
BASELINE_STATE = STATE_ROOT / "lab" / "grpclab-baseline"


@dataclass
class Run:
    rc: int
    output: str

    @property
    def changed(self) -> int:
        return recap(self.output)["changed"]

    @property
    def failed(self) -> int:
        return recap(self.output)["failed"]

    def __str__(self) -> str:  # shown by pytest when an assertion on a Run fails
        return self.output[-4000:]


def playbook(name: str, *extra_vars: str) -> Run:
    """``ansible-playbook playbooks/<name>.yml -e ...`` from the project root."""
    args = [f"playbooks/{name}.yml"]
    for assignment in extra_vars:
        args += ["-e", assignment]
    done = run_tool("ansible-playbook", *args)
    return Run(done.returncode, done.stdout + done.stderr)


def records(state_dir: Path) -> dict[str, lab.ProcessRecord]:
    """The pid files of a lab cluster, by process name."""
    found = {}
    for path in sorted(state_dir.glob("*.pid")):
        record = lab.read_record(path)
        assert record is not None, f"unreadable pid file {path}"
        found[path.name.removesuffix(".pid")] = record
    return found


def pids(state_dir: Path) -> dict[str, int]:
    return {name: record.pid for name, record in records(state_dir).items()}


def command_lines() -> list[list[str]]:
    """The argv of every live process on the machine but this one."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            cmdline = lab.proc_cmdline(int(proc.name))
            if cmdline:
                found.append(cmdline)
    return found


@pytest.fixture(scope="module", autouse=True)
def lab_from_nothing():
    """Start from no lab cluster and leave none behind (other test modules bind the same
    addresses)."""
    assert playbook("teardown").rc == 0
    yield
    playbook("teardown")


# --- bad input: stops in the prelude, before anything exists ------------------------------

@pytest.mark.parametrize(("extra", "message"), [
    ("grpclab_replicas=0", "grpclab_replicas, grpc_probe_calls, grpc_probe_connections and "
     "grpc_probe_concurrency must be at least 1"),
    ("grpc_apps_replicas=5", "grpc_apps_replicas is now called grpclab_replicas"),
    ("grpc_apps_lb_l7_algorithm=fastest",
     "value of grpc_apps_lb_l7_algorithm must be one of: , round_robin, least_request, random, "
     "got: fastest"),
    ("grpclab_scenario=canary",
     "value of grpclab_scenario must be one of: baseline, max-age, cilium, cilium-l4, client-side, "
     "got: canary"),
    ("grpclab_platform=mars", "value of grpclab_platform must be one of: lab, kind, existing"),
    ("grpc_probe_expect=maybe",
     "value of grpc_probe_expect must be one of: spread, pinned, rotating, none"),
    ("grpc_probe_calls=0", "grpc_probe_calls, grpc_probe_connections and grpc_probe_concurrency "
     "must be at least 1"),
    ("grpclab_cluster_name=../elsewhere", 'grpclab_cluster_name "../elsewhere" must be lowercase'),
])
def test_bad_values_stop_at_validation_and_change_nothing(extra: str, message: str) -> None:
    run = playbook("cilium", extra)
    assert run.rc != 0 and run.changed == 0 and run.failed == 1, run
    assert message in run.output, run
    assert "TASK [Check the" in run.output, run
    assert "TASK [kind_cluster" not in run.output, run
    assert not CILIUM_STATE.exists()


def test_a_taken_port_stops_the_preflight_naming_it() -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.1.2", 50051))
        squatter.listen()
        run = playbook("cilium")
    assert run.rc != 0 and run.changed == 0, run
    assert "127.0.1.2:50051 is already in use" in run.output, run
    assert "127.0.1.1:50051 is already in use" not in run.output
    assert not CILIUM_STATE.exists()


# --- the Cilium cluster ---------------------------------------------------------------------

def test_cilium_spreads_each_connection_over_every_replica() -> None:
    run = playbook("cilium")
    assert run.rc == 0 and run.failed == 0, run
    assert "verdict      PASS: expected spread, observed spread" in run.output, run
    assert "each of 4 connections reached all 3 replicas" in run.output
    names = pids(CILIUM_STATE)
    assert "cilium-envoy" in names
    assert len([n for n in names if n.startswith("grpc-server-")]) == 3
    assert len([n for n in names if n.startswith("grpc-client-")]) == 1
    # the pods are named like a Deployment's and run on their pod IPs
    pods = {name: record for name, record in records(CILIUM_STATE).items()
            if name.startswith("grpc-server-")}
    assert sorted(r.listen[0] for r in pods.values()) == [
        "127.0.1.1:50051", "127.0.1.2:50051", "127.0.1.3:50051"]
    for name, record in pods.items():
        assert re.fullmatch(r"grpc-server-[a-z0-9]{10}-[a-z0-9]{5}", name)
        assert lab.is_running(record)


def test_second_run_changes_nothing_and_restarts_nothing() -> None:
    before = pids(CILIUM_STATE)
    run = playbook("cilium")
    assert run.rc == 0 and run.changed == 0, run
    assert pids(CILIUM_STATE) == before


def test_cilium_l4_pins_each_connection() -> None:
    run = playbook("cilium-l4")
    assert run.rc == 0 and run.changed == 0, run
    assert "verdict      PASS: expected pinned, observed pinned" in run.output, run


def test_client_side_round_robin_spreads() -> None:
    run = playbook("client-side")
    assert run.rc == 0 and run.changed == 0, run
    assert "(lb round_robin" in run.output, run
    assert "verdict      PASS: expected spread, observed spread" in run.output


def test_scaling_changes_only_what_it_must() -> None:
    before = pids(CILIUM_STATE)
    up = playbook("cilium", "grpclab_replicas=5")
    assert up.rc == 0, up
    scaled = pids(CILIUM_STATE)
    # the three pods and the client keep running; two pods added; the proxy restarted
    assert {k: v for k, v in before.items() if k != "cilium-envoy"}.items() <= scaled.items()
    assert len(scaled) == len(before) + 2
    assert scaled["cilium-envoy"] != before["cilium-envoy"]
    assert up.changed == 3, up  # the proxy's config, the proxy, the pods (two items)
    assert "each of 4 connections reached all 5 replicas" in up.output

    down = playbook("cilium")
    assert down.rc == 0 and down.changed == 3, down  # config, proxy, two pods stopped
    after = pids(CILIUM_STATE)
    assert {k: v for k, v in before.items() if k != "cilium-envoy"}.items() <= after.items()
    assert len(after) == len(before)
    extra = set(scaled) - set(after)
    assert len(extra) == 2
    for name in extra:
        assert lab.proc_cmdline(scaled[name]) is None, f"{name} still runs"


def test_cilium_without_l7_fails_the_play_with_the_verdict() -> None:
    run = playbook("cilium", "grpc_apps_lb_l7=false")
    assert run.rc != 0 and run.failed == 1, run
    # the probe's one-line summary is the failure message
    assert re.search(r"each of 4 connections stayed on 1 replica \(.*\); expected spread",
                     run.output), run
    assert "TASK [grpc_probe : Check the verdict]" in run.output
    # and the next run puts L7 back (a run after a failed run recovers)
    again = playbook("cilium")
    assert again.rc == 0 and again.changed == 2, again  # config, proxy
    assert "observed spread" in again.output


# --- the baseline cluster, alongside --------------------------------------------------------

def test_baseline_pins_each_connection_next_to_the_cilium_cluster() -> None:
    run = playbook("baseline")
    assert run.rc == 0, run
    assert "target       127.0.4.1:50051" in run.output, run
    assert "verdict      PASS: expected pinned, observed pinned" in run.output
    assert sorted(r.listen[0] for n, r in records(BASELINE_STATE).items()
                  if n.startswith("grpc-server-")) == [
        "127.0.3.1:50051", "127.0.3.2:50051", "127.0.3.3:50051"]
    assert all(lab.is_running(r) for r in records(CILIUM_STATE).values())


# --- teardown -------------------------------------------------------------------------------

def test_teardown_leaves_no_process_and_no_state_and_runs_twice() -> None:
    started = {f"{state.name}/{name}": record for state in (CILIUM_STATE, BASELINE_STATE)
               for name, record in records(state).items()}
    assert len(started) == 10  # per cluster: 3 pods, the client, the proxy
    run = playbook("teardown")
    assert run.rc == 0 and run.changed > 0, run
    for name, record in started.items():
        assert not lab.is_running(record), f"{name} (pid {record.pid}) still runs"
    assert not CILIUM_STATE.exists() and not BASELINE_STATE.exists()
    assert not STATE_ROOT.exists(), f"teardown left {sorted(STATE_ROOT.rglob('*'))}"
    # nothing anywhere still runs a recorded command line or mentions the state directories
    leftovers = [" ".join(cmdline) for cmdline in command_lines()
                 if any(lab.cmdline_matches(cmdline, r.argv) for r in started.values())
                 or any(str(STATE_ROOT) in arg for arg in cmdline)]
    assert leftovers == []
    twice = playbook("teardown")
    assert twice.rc == 0 and twice.changed == 0, twice

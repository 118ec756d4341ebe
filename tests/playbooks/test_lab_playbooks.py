"""The scenario playbooks on the lab platform, run for real with ansible-playbook.

Each test runs ``ansible-playbook playbooks/<name>.yml`` from the project root, as a user
would, against the real lab node, Envoy and server processes. So that a lab someone left up
in this checkout (or another one) on the default addresses is neither torn down nor in the
way, the tests give their clusters their own state root and address plan (127.0.61-64.x).
They still bind loopback addresses: run them under the lab lock,
``flock /tmp/grpclab-net.lock python -m pytest``.
To stay fast on two cores the tests share one bring-up, in file order: bad input first
(nothing may be created), then the Cilium cluster, its second run, the other scenarios on it,
a scale up and down, L7 switched off, bad input on a running cluster, a dead node, two plays
at once, the baseline cluster, and teardown last. The module starts from nothing and leaves
nothing up.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from ansible_cli import BIN, ROOT, recap, run_tool
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from grpclab import lab
from grpclab.lab import cluster as clusterdir

pytestmark = pytest.mark.slow

STATE_ROOT = Path(tempfile.gettempdir()) / f"grpclab-test-lab-playbooks-{os.getuid()}"
CILIUM_STATE = STATE_ROOT / "lab" / "grpclab-cilium"
BASELINE_STATE = STATE_ROOT / "lab" / "grpclab-baseline"
# (pod network, Service network) of each cluster, instead of 127.0.1/2 and 127.0.3/4
NETWORKS = {"cilium": ("127.0.61", "127.0.62"), "baseline": ("127.0.63", "127.0.64")}
POD, SERVICE = NETWORKS["cilium"]


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


def playbook_args(name: str, *extra: str) -> list[str]:
    """``playbooks/<name>.yml EXTRA...`` on the tests' state root and addresses (``-e x=y`` is
    given as ``"x=y"``, other options as they are)."""
    pods, services = NETWORKS["baseline" if name == "baseline" else "cilium"]
    args = [
        f"playbooks/{name}.yml",
        "-e",
        f"grpclab_state_root={STATE_ROOT}",
        "-e",
        f"grpclab_lab_pod_network={pods}",
        "-e",
        f"grpclab_lab_service_network={services}",
    ]
    for item in extra:
        args += [item] if item.startswith("-") else ["-e", item]
    return args


def playbook(name: str, *extra: str) -> Run:
    """``ansible-playbook playbooks/<name>.yml EXTRA...`` from the project root."""
    done = run_tool("ansible-playbook", *playbook_args(name, *extra))
    return Run(done.returncode, done.stdout + done.stderr)


def status(state_dir: Path = CILIUM_STATE) -> dict:
    return clusterdir.read_status(state_dir, state_dir.name)


def processes(state_dir: Path = CILIUM_STATE) -> dict[str, int]:
    """Every process of a lab cluster by name: the node, Envoy and the pods."""
    found = {name: record.pid for name, record in lab.live_records(state_dir).items()}
    found.update(
        {name: record.pid for name, record in lab.live_records(state_dir / "pods").items()}
    )
    return found


def server_pods(state_dir: Path = CILIUM_STATE) -> dict[str, str]:
    """Ready server pods by name -> address."""
    return {
        pod["name"]: pod["ip"]
        for pod in status(state_dir)["pods"]
        if pod["deployment"] == "grpc-server" and pod["ready"]
    }


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


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "grpclab_replicas=0",
            "grpclab_replicas, grpc_probe_calls, grpc_probe_connections and "
            "grpc_probe_concurrency must be at least 1",
        ),
        (
            "grpclab_replicas=199",
            "grpclab_replicas=199 is more than the lab can run: its pod range "
            "of 250 addresses holds at most 198 replicas with a rollout's surge and the client; "
            "kind and existing have no such cap",
        ),
        ("grpc_apps_replicas=5", "grpc_apps_replicas is now called grpclab_replicas"),
        # renames kept as data (playbooks/vars/renamed.yml), with the version the old name goes in
        (
            "kind_cluster_workers=2",
            "kind_cluster_workers is now called grpclab_workers (renamed in "
            "0.2.0, the old name goes in 0.4.0)",
        ),
        (
            "grpc_apps_lb_l7_algorithm=fastest",
            "value of grpc_apps_lb_l7_algorithm must be one of: , round_robin, least_request, "
            "random, got: fastest",
        ),
        (
            "grpclab_scenario=canary",
            "value of grpclab_scenario must be one of: baseline, max-age, cilium, cilium-l4, "
            "client-side, cilium-streams, got: canary",
        ),
        ("grpclab_platform=mars", "value of grpclab_platform must be one of: lab, kind, existing"),
        (
            "grpc_probe_expect=maybe",
            "value of grpc_probe_expect must be one of: spread, pinned, rotating, none",
        ),
        (
            "grpc_probe_calls=0",
            "grpc_probe_calls, grpc_probe_connections and grpc_probe_concurrency "
            "must be at least 1",
        ),
        (
            "grpclab_cluster_name=../elsewhere",
            'grpclab_cluster_name "../elsewhere" must be lowercase',
        ),
        (
            "grpclab_lab_pod_network=10.0.0",
            "grpclab_lab_pod_network and grpclab_lab_service_network are loopback /24s "
            "(127.x.y), not 10.0.0 and",
        ),
    ],
)
def test_bad_values_stop_at_validation_and_change_nothing(extra: str, message: str) -> None:
    run = playbook("cilium", extra)
    assert run.rc != 0 and run.changed == 0 and run.failed == 1, run
    assert message in " ".join(run.output.split()), run
    assert "TASK [cluster" not in run.output, run
    assert not STATE_ROOT.exists()


def test_a_taken_address_stops_the_preflight_naming_it() -> None:
    with socket.socket() as squatter:
        squatter.bind((f"{POD}.2", 50051))
        squatter.listen()
        run = playbook("cilium")
    assert run.rc != 0 and run.changed == 0, run
    assert f"preflight: {POD}.2:50051 is already in use" in run.output, run
    assert f"{POD}.1:50051 is already in use" not in run.output
    # nothing half-made: no state directory, no lock, no node
    assert not STATE_ROOT.exists(), sorted(STATE_ROOT.rglob("*"))


# --- the Cilium cluster ---------------------------------------------------------------------


def test_cilium_spreads_each_connection_over_every_replica() -> None:
    run = playbook("cilium")
    assert run.rc == 0 and run.failed == 0, run
    assert "verdict      PASS: expected spread, observed spread" in run.output, run
    assert "each of 4 connections reached all 3 replicas" in run.output
    assert f"target       {SERVICE}.1:50051" in run.output
    # the node runs the manifests grpc_apps rendered, named and addressed as a Deployment's pods
    pods = server_pods()
    assert len(pods) == 3
    for name, ip in pods.items():
        assert re.fullmatch(r"grpc-server-[a-z0-9]{10}-[a-z0-9]{5}", name)
        assert ip.startswith(f"{POD}.")
    assert sorted(p.name for p in (CILIUM_STATE / "manifests").iterdir()) == [
        "client-deployment.yaml",
        "namespaces.yaml",
        "server-deployment.yaml",
        "services.yaml",
    ]
    services = {s["name"]: s for s in status()["services"]}
    assert services["grpc-server"]["mode"] == "L7"
    assert services["grpc-server-l4"]["mode"] == "L4"


def test_second_run_changes_nothing_and_restarts_nothing() -> None:
    before = processes()
    run = playbook("cilium")
    assert run.rc == 0 and run.changed == 0, run
    assert processes() == before


def test_cilium_l4_pins_each_connection() -> None:
    run = playbook("cilium-l4")
    assert run.rc == 0 and run.changed == 0, run
    assert "verdict      PASS: expected pinned, observed pinned" in run.output, run


def test_client_side_resolves_the_headless_service_through_the_node_dns() -> None:
    run = playbook("client-side")
    assert run.rc == 0 and run.changed == 0, run
    assert (
        f"target       dns://{SERVICE}.253:10053/grpc-server-headless.grpc-server.svc."
        "cluster.local:50051  (lb round_robin"
    ) in run.output, run
    assert "verdict      PASS: expected spread, observed spread" in run.output


# --- the runbook verify.yml against the Cilium cluster's Services -----------------------------


def verify(*extra: str) -> Run:
    """``playbooks/verify.yml`` on the Cilium lab cluster (grpclab_cni picks it)."""
    return playbook("verify", "grpclab_cni=cilium", *extra)


def test_verify_finds_the_l7_service_spread_and_changes_nothing() -> None:
    before = processes()
    run = verify("grpc_probe_target=grpc-server.grpc-server:50051")
    assert run.rc == 0 and run.changed == 0 and run.failed == 0, run
    assert f"target       {SERVICE}.1:50051" in run.output, run
    assert "verdict      PASS: expected spread, observed spread" in run.output
    # it deploys nothing: the lab cluster is as it was
    assert processes() == before


def test_verify_fails_with_the_verdicts_one_line_on_a_pinned_service() -> None:
    run = verify("grpc_probe_target=grpc-server-l4.grpc-server:50051", "grpc_probe_replicas=3")
    assert run.rc != 0 and run.failed == 1 and run.changed == 0, run
    assert "TASK [grpc_probe : Check the verdict]" in run.output
    flat = " ".join(run.output.split())
    assert "verdict FAIL: expected spread, observed pinned" in flat, run
    # the failure is the probe's one-line summary, as a scenario's is
    summary = re.search(r"summary\s+(.+)", run.output)[1]
    # L4 picks a replica per connection at random: one replica for all, or a few
    assert "expected spread: not met" in summary, summary
    assert f"msg: '{summary}'" in flat, run


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (None, "set grpc_probe_target to the Service to probe"),
        ("grpc-server.grpc-server", "grpc_probe_target grpc-server.grpc-server has no port"),
        ("orders.shop:50051", "Service orders not found in namespace shop of lab cluster"),
        ("grpc-server.grpc-server:8080", "serves port 50051, not 8080"),
    ],
)
def test_verify_refuses_a_target_it_cannot_probe_in_one_line(target, message) -> None:
    run = verify(*([f"grpc_probe_target={target}"] if target else []))
    assert run.rc != 0 and run.failed == 1 and run.changed == 0, run
    assert message in " ".join(run.output.split()), run
    assert "Traceback" not in run.output


def probe_has_any_service_flags() -> bool:
    """Whether this checkout's probe takes --call, -H and --identity (the probe's any-service
    flags, issue 16): the tests of verify.yml with them run once it does."""
    done = subprocess.run(
        [str(BIN / "python"), "-m", "grpclab.probe", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    return all(flag in done.stdout for flag in ("--call ", "--header", "--identity"))


@pytest.mark.skipif(
    not probe_has_any_service_flags(), reason="needs the probe's --call/-H/--identity (issue 16)"
)
def test_verify_calls_the_multigreeter_stream_with_headers_never_shown() -> None:
    secret = "s3cret-verify-token"
    run = verify(
        "grpc_probe_target=grpc-server.grpc-server:50051",
        json.dumps(
            {
                "grpc_probe_call": "hellostreamingworld.MultiGreeter/sayHello",
                "grpc_probe_data": {"name": "verify", "num_greetings": "3"},
                "grpc_probe_identity": ["header:hostname"],
                "grpc_probe_headers": [f"x-verify-token: {secret}"],
            }
        ),
    )
    assert run.rc == 0 and run.changed == 0, run
    assert "verdict      PASS: expected spread, observed spread" in run.output, run
    assert secret not in run.output


def test_reflection_works_through_the_l7_service() -> None:
    # cilium/cilium#31575: lb-l7 on a Service broke grpcurl's reflection; here Envoy's L7 path
    services = {s["name"]: s for s in status()["services"]}
    assert services["grpc-server"]["mode"] == "L7"
    with grpc.insecure_channel(f"{SERVICE}.1:50051") as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        assert {"helloworld.Greeter", "hellostreamingworld.MultiGreeter"} <= set(
            database.get_services()
        )
        found = database.FindFileContainingSymbol("hellostreamingworld.MultiGreeter")
        assert found.service[0].method[0].server_streaming


def test_scaling_changes_only_what_it_must() -> None:
    before = processes()
    up = playbook("cilium", "grpclab_replicas=5")
    assert up.rc == 0 and up.changed == 1, up  # the server Deployment's manifest
    assert "each of 4 connections reached all 5 replicas" in up.output
    scaled = processes()
    # every process kept (the node, Envoy never restarted, the pods), two pods added
    assert before.items() <= scaled.items()
    assert len(server_pods()) == 5

    down = playbook("cilium")
    assert down.rc == 0 and down.changed == 1, down
    after = processes()
    assert after["envoy"] == before["envoy"] and after["node"] == before["node"]
    assert len(server_pods()) == 3
    for name in set(scaled) - set(after):
        assert lab.proc_cmdline(scaled[name]) is None, f"{name} still runs"


def test_cilium_without_l7_fails_the_play_with_the_verdict() -> None:
    envoy = processes()["envoy"]
    run = playbook("cilium", "grpc_apps_lb_l7=false")
    assert run.rc != 0 and run.failed == 1, run
    # the probe's one-line summary is the failure message
    assert re.search(
        r"each of 4 connections stayed on 1 replica \(.*\); expected spread", run.output
    ), run
    assert "TASK [grpc_probe : Check the verdict]" in run.output
    assert {s["name"]: s["mode"] for s in status()["services"]}["grpc-server"] == "L4"
    # and the next run puts L7 back (a run after a failed run recovers), Envoy never restarted
    again = playbook("cilium")
    assert again.rc == 0 and again.changed == 1, again  # the Services' manifest
    assert "observed spread" in again.output
    assert processes()["envoy"] == envoy


# --- bad input on a running cluster: one line, nothing half-applied ---------------------------


def test_a_manifest_the_node_cannot_honour_is_refused_before_it_is_written() -> None:
    manifests = {p.name: p.read_text() for p in (CILIUM_STATE / "manifests").iterdir()}
    before = processes()
    run = playbook("cilium", "grpclab_port=0")
    assert run.rc != 0 and run.failed == 1 and run.changed == 0, run
    # the node's own loader names the object and the field
    assert (
        "Task failed: Action failed: Deployment grpc-server/grpc-server: spec.template.spec."
        "containers[0].ports[0].containerPort must be an integer from 1 to 65535, not 0"
        in run.output
    ), run
    assert {p.name: p.read_text() for p in (CILIUM_STATE / "manifests").iterdir()} == manifests
    assert processes() == before


def test_a_pod_that_never_gets_ready_fails_with_its_log_and_the_next_run_recovers() -> None:
    ready = server_pods()
    run = playbook("cilium", "grpc_apps_server_grace_period=-5", "grpc_apps_rollout_timeout=4")
    assert run.rc != 0 and run.failed == 1, run
    assert re.search(
        r'deployment "grpc-server" not rolled out after [0-9.]+s: pod '
        r"grpc-server-\S+ is not Ready",
        run.output,
    ), run
    assert "grpclab-server: error: --grace and --delay must be 0 to 86400 seconds" in run.output
    # the rollout never took a Ready pod away (maxUnavailable 0 of 3)
    assert server_pods() == ready
    again = playbook("cilium")
    assert again.rc == 0 and again.changed == 1, again
    assert server_pods() == ready


def test_a_dead_node_is_one_line_then_recovered_by_the_next_run() -> None:
    before = processes()
    os.kill(before["node"], signal.SIGKILL)
    deadline = time.monotonic() + 5
    while lab.proc_cmdline(before["node"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    manifests = {p.name: p.read_text() for p in (CILIUM_STATE / "manifests").iterdir()}
    apps = playbook("cilium", "--tags=apps", "grpclab_replicas=4")
    assert apps.rc != 0 and apps.failed == 1 and apps.changed == 0, apps
    assert re.search(
        r"msg: .?node of cluster grpclab-cilium is not running: its pid \d+ is gone", apps.output
    ), apps
    assert {p.name: p.read_text() for p in (CILIUM_STATE / "manifests").iterdir()} == manifests

    run = playbook("cilium")
    assert run.rc == 0 and "observed spread" in run.output, run
    # what the dead node left (Envoy, the pods) was stopped; all new now
    for name, pid in before.items():
        assert lab.proc_cmdline(pid) is None, f"{name} (pid {pid}) survived its node"
    assert len(server_pods()) == 3


def test_two_plays_on_one_cluster_take_turns() -> None:
    env = {k: v for k, v in os.environ.items() if k != "ANSIBLE_CONFIG"} | {"ANSIBLE_NOCOLOR": "1"}
    # the first holds the cluster for a long probe, well past the second's start
    first = subprocess.Popen(
        [str(BIN / "ansible-playbook"), *playbook_args("cilium", "grpc_probe_calls=12000")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while str(first.pid) not in (CILIUM_STATE / "play.lock").read_text():
            assert first.poll() is None and time.monotonic() < deadline, first.stdout.read()
            time.sleep(0.05)
        second = playbook("cilium-l4")
        first_output, _ = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, first_output[-3000:]
    assert second.rc == 0 and "observed pinned" in second.output, second
    assert re.search(
        r"cluster grpclab-cilium is in use by another play: ansible-playbook "
        rf"pid {first.pid} \(ansible-playbook playbooks/cilium\.yml ",
        second.output,
    ), second


# --- the baseline cluster, alongside --------------------------------------------------------


def test_baseline_pins_each_connection_next_to_the_cilium_cluster() -> None:
    run = playbook("baseline")
    assert run.rc == 0, run
    assert f"target       {NETWORKS['baseline'][1]}.1:50051" in run.output, run
    assert "verdict      PASS: expected pinned, observed pinned" in run.output
    assert all(
        ip.startswith(f"{NETWORKS['baseline'][0]}.") for ip in server_pods(BASELINE_STATE).values()
    )
    assert {s["name"]: s["mode"] for s in status(BASELINE_STATE)["services"]}["grpc-server"] == "L4"
    assert status()["pods"]  # the Cilium cluster still runs


# --- teardown -------------------------------------------------------------------------------


def test_teardown_leaves_no_process_and_no_file_and_runs_twice() -> None:
    started = processes() | {f"baseline/{n}": p for n, p in processes(BASELINE_STATE).items()}
    assert len(started) == 12  # per cluster: the node, Envoy, 3 servers, the client
    run = playbook("teardown")
    assert run.rc == 0 and run.changed > 0, run
    for name, pid in started.items():
        assert lab.proc_cmdline(pid) is None, f"{name} (pid {pid}) still runs"
    assert not STATE_ROOT.exists(), f"teardown left {sorted(STATE_ROOT.rglob('*'))}"
    # nothing anywhere still mentions the state directories
    assert [c for c in command_lines() if any(str(STATE_ROOT) in arg for arg in c)] == []
    twice = playbook("teardown")
    assert twice.rc == 0 and twice.changed == 0, twice

"""The lab node over time, with real processes, the real Envoy and the real DNS server.

One node per module on its own loopback ranges (pods 127.0.21.x, Services 127.0.22.x), which no
other test or lab uses: no lab lock needed. The tests run in order on the same node; each
leaves it with 3 Ready replicas.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dnslib
import grpc
import pytest
import yaml
from lab_node import LabNode, lab_manifests, start_lab_node

from grpclab.apps.protos import helloworld_pb2, helloworld_pb2_grpc
from grpclab.lab.pidfiles import proc_cmdline
from grpclab.lab.processes import wait_ready

POD_NET, SVC_NET = "127.0.21", "127.0.22"
HEADLESS = "grpc-server-headless.grpc-server.svc.cluster.local"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabNode]:
    lab = start_lab_node(
        tmp_path_factory.mktemp("lab") / "h1a-node", POD_NET, SVC_NET, lab_manifests()
    )
    try:
        lab.rollout()
        yield lab
    finally:
        lab.stop()
        assert lab.process.returncode == 0, (lab.state_dir / "node.out").read_text()
    # Envoy never rejected an xDS file (a rejected one is not retried until the next change)
    assert "rejected" not in (lab.state_dir / "envoy.log").read_text()


class Caller:
    """One channel (one connection) calling every 10 ms in a thread; records each failure's
    time and every change of the channel's connectivity once it was READY."""

    def __init__(self, target: str) -> None:
        self.channel = grpc.insecure_channel(target, options=[("grpc.enable_http_proxy", 0)])
        self.stub = helloworld_pb2_grpc.GreeterStub(self.channel)
        self.ok = 0
        self.failures: list[float] = []
        self.last_error = ""
        self.replicas: set[str] = set()
        self.states: list[grpc.ChannelConnectivity] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                reply = self.stub.SayHello(helloworld_pb2.HelloRequest(name="t"), timeout=2)
                self.ok += 1
                self.replicas.add(reply.message.rsplit(" ", 1)[-1])
            except grpc.RpcError as error:
                self.failures.append(time.monotonic())
                self.last_error = f"{error.code().name}: {error.details()}"
            time.sleep(0.01)

    def __enter__(self) -> Caller:
        self.channel.subscribe(self.states.append, try_to_connect=True)
        self._thread.start()
        assert wait_ready(
            lambda: str(self.ok > 0), "True", timeout=10, alive=self._thread.is_alive
        )[0], f"no call answered: {self.last_error}"
        self.states.clear()  # from here on, any state change means the connection broke
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.channel.close()


def _until(condition, timeout: float = 15.0) -> bool:
    return wait_ready(lambda: str(bool(condition())), "True", timeout=timeout, alive=lambda: True)[
        0
    ]


def _dns(node: LabNode, name: str, tcp: bool = False) -> list[str]:
    host, port = node.dns.split(":")
    reply = dnslib.DNSRecord.parse(
        dnslib.DNSRecord.question(name).send(host, int(port), tcp=tcp, timeout=2)
    )
    assert all(rr.ttl == 1 for rr in reply.rr)
    return sorted(str(rr.rdata) for rr in reply.rr)


def subprocess_cli(*args: str) -> subprocess.CompletedProcess:
    """``grpclab-lab ARGS`` as a real process, for a state directory without a node."""
    return subprocess.run(
        [sys.executable, "-m", "grpclab.lab", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_pods_services_and_dns_come_up(node: LabNode) -> None:
    pods = node.server_pods()
    assert len(pods) == 3 and all(p["ready"] and p["restarts"] == 0 for p in pods)
    assert all(
        p["name"].startswith("grpc-server-") and p["ip"].startswith(POD_NET + ".") for p in pods
    )
    services = {s["name"]: s for s in node.status()["services"]}
    assert services["grpc-server"]["mode"] == "L7"
    assert services["grpc-server"]["algorithm"] == "round_robin"
    assert services["grpc-server-l4"]["mode"] == "L4"
    assert services["grpc-server-headless"]["cluster_ip"] == "None"
    ips = sorted(p["ip"] for p in pods)
    assert _dns(node, HEADLESS) == ips == _dns(node, HEADLESS, tcp=True)
    assert _dns(node, "grpc-server.grpc-server") == [services["grpc-server"]["cluster_ip"]]
    table = node.cli("get", "pods")
    assert table.returncode == 0 and all(p["name"] in table.stdout for p in pods)


def test_sigkill_of_a_replica(node: LabNode) -> None:
    """Back with restarts=1; out of the endpoints while down; a client calling every 10 ms
    through the L7 Service fails at most for about a second after the kill."""
    victim = node.server_pods()[0]
    with Caller(node.target("grpc-server")) as caller:
        time.sleep(0.3)
        killed = time.monotonic()
        os.kill(victim["pid"], signal.SIGKILL)
        seen_out = _until(
            lambda: f"{victim['ip']}:50051" not in node.service("grpc-server")["endpoints"],
            timeout=2,
        )
        assert _until(
            lambda: any(
                p["name"] == victim["name"] and p["ready"] and p["restarts"] == 1
                for p in node.server_pods()
            )
        )
        time.sleep(0.3)
    assert seen_out, "the killed pod stayed in the Service's endpoints"
    assert all(at - killed <= 1.0 for at in caller.failures), caller.failures
    assert len(caller.failures) <= 10
    assert f"{victim['ip']}:50051" in node.service("grpc-server")["endpoints"]


def test_deleted_pod_is_replaced_by_a_new_one(node: LabNode) -> None:
    before = node.server_pods()
    victim = before[1]
    done = node.cli("delete", "pod", victim["name"])
    assert done.returncode == 0, done.stderr
    node.rollout()
    after = node.server_pods()
    assert len(after) == 3 and victim["name"] not in {p["name"] for p in after}
    [new] = [p for p in after if p["name"] not in {b["name"] for b in before}]
    assert (
        new["ip"] != victim["ip"]
        and new["name"].rsplit("-", 1)[0] == victim["name"].rsplit("-", 1)[0]
    )  # same ReplicaSet, new suffix
    assert proc_cmdline(victim["pid"]) is None


def test_scale_and_rollout_keep_envoy_and_the_connection(node: LabNode) -> None:
    envoy = node.status()["node"]["envoy_pid"]
    with Caller(node.target("grpc-server")) as caller:
        assert node.cli("scale", "deployment", "grpc-server", "--replicas", "5").returncode == 0
        node.rollout()
        assert _until(lambda: len(caller.replicas) >= 5, timeout=5)
        failed_scale_out = len(caller.failures)
        assert node.cli("scale", "deployment", "grpc-server", "--replicas", "3").returncode == 0
        node.rollout()
        old = {p["name"] for p in node.server_pods()}
        assert node.cli("rollout", "restart", "deployment", "grpc-server").returncode == 0
        node.rollout()
        time.sleep(0.2)
    assert failed_scale_out == 0, caller.last_error
    assert len(caller.failures) <= 2, f"more than the calls in flight failed: {caller.last_error}"
    assert caller.states == [], f"the client's connection broke: {caller.states}"
    assert node.status()["node"]["envoy_pid"] == envoy
    assert not old & {p["name"] for p in node.server_pods()}, "rollout restart kept old pods"


def test_scale_keeps_a_pinned_l4_connection(node: LabNode) -> None:
    """On L4 a connection stays on its pod; scale-in removes the youngest pods first, so a
    connection made before a scale 3 -> 5 -> 3 keeps its pod and never breaks."""
    envoy = node.status()["node"]["envoy_pid"]
    with Caller(node.target("grpc-server-l4")) as caller:
        assert node.cli("scale", "deployment", "grpc-server", "--replicas", "5").returncode == 0
        node.rollout()
        assert node.cli("scale", "deployment", "grpc-server", "--replicas", "3").returncode == 0
        node.rollout()
        time.sleep(0.3)
    assert not caller.failures, f"{len(caller.failures)} failed: {caller.last_error}"
    assert caller.states == [], f"the connection broke: {caller.states}"
    assert len(caller.replicas) == 1, caller.replicas  # pinned
    assert node.status()["node"]["envoy_pid"] == envoy


def test_headless_dns_follows_readiness(node: LabNode) -> None:
    ips = _dns(node, HEADLESS)
    assert len(ips) == 3
    assert node.cli("scale", "deployment", "grpc-server", "--replicas", "2").returncode == 0
    assert _until(lambda: len(_dns(node, HEADLESS)) == 2, timeout=5)
    assert node.cli("scale", "deployment", "grpc-server", "--replicas", "3").returncode == 0
    node.rollout()
    assert sorted(p["ip"] for p in node.server_pods()) == _dns(node, HEADLESS)


def test_grpc_resolver_balances_over_the_headless_service(node: LabNode, run_probe_cli) -> None:
    done = run_probe_cli(
        "--target",
        f"dns://{node.dns}/{HEADLESS}:50051",
        "--lb",
        "round_robin",
        "--calls",
        "60",
        "--replicas",
        "3",
        "--expect",
        "spread",
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_removing_the_lb_l7_annotation_makes_the_service_l4(node: LabNode, run_probe_cli) -> None:
    node.write_manifests({"services.yaml": lab_manifests(lb_l7=False)["services.yaml"]})
    assert _until(lambda: node.service("grpc-server")["mode"] == "L4", timeout=5)
    assert _until(
        lambda: _listener_filter(node, "grpc-server") == "envoy.filters.network.tcp_proxy",
        timeout=5,
    )
    done = run_probe_cli(
        "--target",
        node.target("grpc-server"),
        "--calls",
        "40",
        "--replicas",
        "3",
        "--expect",
        "pinned",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    node.write_manifests({"services.yaml": lab_manifests()["services.yaml"]})
    assert _until(lambda: node.service("grpc-server")["mode"] == "L7", timeout=5)
    assert _until(
        lambda: (
            _listener_filter(node, "grpc-server") == "envoy.filters.network.http_connection_manager"
        ),
        timeout=5,
    )


def _listener_filter(node: LabNode, service: str) -> str:
    """The network filter of the Service's listener, as Envoy itself reports it."""
    dump = json.loads(node.admin("/config_dump?resource=dynamic_listeners"))
    for config in dump["configs"]:
        listener = config["active_state"]["listener"]
        if listener["name"] == f"grpc-server.{service}.50051":
            return listener["filter_chains"][0]["filters"][0]["name"]
    raise AssertionError(f"no listener for {service}")


def test_removing_cilium_config_turns_l7_off(node: LabNode) -> None:
    config = node.state_dir / "cilium-config.yaml"
    saved = config.read_text()
    config.unlink()
    try:
        assert _until(lambda: node.service("grpc-server")["mode"] == "L4", timeout=5)
    finally:
        config.write_text(saved)
    assert _until(lambda: node.service("grpc-server")["mode"] == "L7", timeout=5)


def test_a_pod_that_never_gets_ready_is_named_with_its_log(node: LabNode) -> None:
    files = lab_manifests()
    broken = files["server-deployment.yaml"].replace("- grpclab-server", "- grpclab-nope-server")
    node.write_manifests({"server-deployment.yaml": broken})
    try:
        done = node.cli("rollout", "status", "deployment", "grpc-server", "--timeout", "2")
        assert done.returncode == 1
        first = done.stderr.splitlines()[0]
        assert "grpc-server-" in first and "not Ready" in first, done.stderr
        assert "grpclab-nope-server" in done.stderr  # the tail of its log says why
        # maxUnavailable 0: the old pods keep serving meanwhile
        assert len(node.service("grpc-server")["endpoints"]) == 3
    finally:
        node.write_manifests({"server-deployment.yaml": files["server-deployment.yaml"]})
    node.rollout()


def test_cli_errors_are_one_line(node: LabNode, tmp_path: Path) -> None:
    for args in (
        ["delete", "pod", "nope"],
        ["scale", "deployment", "nope", "--replicas", "2"],
        ["logs", "nope"],
    ):
        done = node.cli(*args)
        assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    nobody = subprocess_cli("get", "pods", "--state-dir", str(tmp_path))
    assert nobody.returncode == 2
    assert nobody.stderr.strip().splitlines() == [
        f"grpclab-lab: node of cluster {tmp_path.name} is not running: no "
        f"{tmp_path / 'status.json'} (start it with: grpclab-lab node)"
    ]
    pod = node.server_pods()[0]["name"]
    logs = node.cli("logs", pod, "--tail", "3")
    assert logs.returncode == 0 and len(logs.stdout.splitlines()) <= 3


def test_a_second_node_is_refused(node: LabNode) -> None:
    done = subprocess_cli("--state-dir", str(node.state_dir), "node")
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "already runs" in done.stderr


def test_node_killed_with_sigkill_is_cleaned_up_by_the_next(tmp_path: Path) -> None:
    """Own ranges (127.0.23/24), so the module's node is not disturbed."""
    state = tmp_path / "h1a-orphans"
    first = start_lab_node(state, "127.0.23", "127.0.24", lab_manifests(replicas=2))
    first.rollout()
    left = [p["pid"] for p in first.status()["pods"]] + [first.status()["node"]["envoy_pid"]]
    first.process.send_signal(signal.SIGKILL)
    first.process.wait()
    assert all(proc_cmdline(pid) for pid in left), "the pods died with their node"
    second = start_lab_node(state, "127.0.23", "127.0.24")
    try:
        assert all(proc_cmdline(pid) is None for pid in left), "orphans survived the next node"
        assert "cleaned up what a previous node left" in (state / "node.out").read_text()
        second.rollout()
        now = [p["pid"] for p in second.status()["pods"]] + [second.status()["node"]["envoy_pid"]]
    finally:
        second.stop()
    assert second.process.returncode == 0
    assert all(proc_cmdline(pid) is None for pid in now), "teardown left a process"
    assert not list((state / "pods").glob("*.pid")) and not (state / "status.json").exists()


def test_a_failing_liveness_probe_restarts_the_pod(node: LabNode) -> None:
    """A second Deployment whose liveness probe asks a port nothing listens on."""
    document = yaml.safe_load(lab_manifests(replicas=1)["server-deployment.yaml"])
    document["metadata"]["name"] = "unhealthy"
    document["spec"]["selector"]["matchLabels"] = {"app": "unhealthy"}
    template = document["spec"]["template"]
    template["metadata"]["labels"] = {"app": "unhealthy"}  # in no Service
    template["spec"]["containers"][0]["livenessProbe"] = {
        "grpc": {"port": 9},
        "periodSeconds": 1,
        "failureThreshold": 1,
    }
    document = yaml.safe_dump(document)
    node.write_manifests({"unhealthy.yaml": document})
    try:
        assert _until(
            lambda: any(
                p["deployment"] == "unhealthy" and p["restarts"] >= 1 for p in node.status()["pods"]
            ),
            timeout=15,
        )
    finally:
        (node.state_dir / "manifests" / "unhealthy.yaml").unlink()
    assert _until(
        lambda: not any(p["deployment"] == "unhealthy" for p in node.status()["pods"]), timeout=15
    )


def test_an_address_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.27.253", 10053))
        taken.listen()
        with pytest.raises(RuntimeError, match="lab node not up"):
            start_lab_node(tmp_path / "h1a-busy", "127.0.27", "127.0.27", timeout=20)
    out = (tmp_path / "h1a-busy" / "node.out").read_text().strip().splitlines()
    assert out == ["grpclab-lab: 127.0.27.253:10053 is already in use (Address already in use)"]


def test_a_rendered_manifest_without_restarted_at_does_not_roll_again(node: LabNode) -> None:
    """As an apply keeps the annotation rollout restart wrote, a manifest rendered again
    (without it) changes nothing."""
    assert node.cli("rollout", "restart", "deployment", "grpc-server").returncode == 0
    node.rollout()
    pods_after_restart = {p["name"] for p in node.server_pods()}
    node.write_manifests(
        {"server-deployment.yaml": lab_manifests()["server-deployment.yaml"] + "# rendered again\n"}
    )
    node.rollout()
    time.sleep(0.5)
    assert {p["name"] for p in node.server_pods()} == pods_after_restart


def test_more_pods_than_the_range_are_refused_in_one_line(node: LabNode) -> None:
    document = yaml.safe_load(lab_manifests(replicas=200)["server-deployment.yaml"])
    document["metadata"]["name"] = "big"
    document["spec"]["selector"]["matchLabels"] = {"app": "big"}
    document["spec"]["template"]["metadata"]["labels"] = {"app": "big"}
    document["spec"]["strategy"] = {}  # 25% surge: 250 + the 3 (+1) of grpc-server
    pods_before = {p["name"] for p in node.server_pods()}
    node.write_manifests({"big.yaml": yaml.safe_dump(document)})
    try:
        done = node.cli("rollout", "status", "deployment", "big", "--timeout", "10")
        assert done.returncode == 2, done.stdout + done.stderr
        assert done.stderr.splitlines() == [
            "grpclab-lab: manifests refused, the node keeps the previous state: 254 pods "
            f"(replicas plus surge) do not fit the pod range {POD_NET}.1-250"
        ]
        assert not [p for p in node.status()["pods"] if p["deployment"] == "big"]
    finally:
        (node.state_dir / "manifests" / "big.yaml").unlink()
    node.rollout()
    assert {p["name"] for p in node.server_pods()} == pods_before


def test_a_pod_that_ends_takes_its_child_processes_along(node: LabNode) -> None:
    document = yaml.safe_load(lab_manifests(replicas=1)["server-deployment.yaml"])
    document["metadata"]["name"] = "forker"
    document["spec"]["selector"]["matchLabels"] = {"app": "forker"}
    container = document["spec"]["template"]["spec"]["containers"][0]
    document["spec"]["template"]["metadata"]["labels"] = {"app": "forker"}
    container["command"] = ["sh", "-c", "sleep 300 & sleep 300"]
    del container["readinessProbe"]
    node.write_manifests({"forker.yaml": yaml.safe_dump(document)})
    try:
        assert _until(
            lambda: any(p["deployment"] == "forker" and p["ready"] for p in node.status()["pods"]),
            timeout=15,
        )
        [pod] = [p for p in node.status()["pods"] if p["deployment"] == "forker"]
        children_file = Path(f"/proc/{pod['pid']}/task/{pod['pid']}/children")
        assert _until(lambda: len(children_file.read_text().split()) == 2, timeout=5)
        children = [int(pid) for pid in children_file.read_text().split()]
    finally:
        (node.state_dir / "manifests" / "forker.yaml").unlink()
    assert _until(lambda: not any(p["deployment"] == "forker" for p in node.status()["pods"]))
    assert all(proc_cmdline(pid) is None for pid in children), "a child survived its pod"

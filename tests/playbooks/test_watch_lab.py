"""End to end on the lab: the cilium scenario's apps, ``playbooks/watch.yml`` running the monitor
as a Deployment the lab node runs, Debian's Prometheus with the project's rules scraping it
through its Service, and lb-l7 switched off and on again the way the lab takes it (the Service's
annotation in the manifest): GrpcTrafficPinned must fire, then resolve. Prints how long each took.

The lab node runs on its own state root and addresses (127.0.67/68.x, outside the other tests'
plans); it binds loopback addresses and runs plays: under the lab lock,
``flock /tmp/grpclab-net.lock python -m pytest tests/playbooks/test_watch_lab.py``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ansible_cli import recap, run_tool
from lab_node import LabNode, lab_manifests, start_lab_node
from prometheus import Prometheus, start_prometheus, wait_for

pytestmark = pytest.mark.slow

STATE_ROOT = Path(tempfile.gettempdir()) / f"grpclab-test-watch-lab-{os.getuid()}"
POD, SERVICE = "127.0.67", "127.0.68"
PROMETHEUS = (f"{SERVICE}.240", 56391)
# fast for the test: 5 s windows, 1 s scrapes and evaluations (the defaults are 30 s and 15 s)
WATCH_VARS = ("watch_window=5", "watch_rate=40", "watch_timeout=2")


def watch_play(*extra: str) -> tuple[int, str]:
    args = ["playbooks/watch.yml", "-e", f"grpclab_state_root={STATE_ROOT}"]
    args += ["-e", f"grpclab_lab_pod_network={POD}", "-e", f"grpclab_lab_service_network={SERVICE}"]
    for item in (*WATCH_VARS, *extra):
        args += ["-e", item]
    done = run_tool("ansible-playbook", *args)
    return done.returncode, done.stdout + done.stderr


def watch_pods(node: LabNode) -> list[dict]:
    return [p for p in node.status()["pods"] if p["deployment"] == "grpclab-watch"]


@pytest.fixture(scope="module")
def node() -> Iterator[LabNode]:
    state = STATE_ROOT / "lab" / "grpclab-cilium"
    shutil.rmtree(STATE_ROOT, ignore_errors=True)  # a crashed run's: its processes died with it
    lab = start_lab_node(state, POD, SERVICE, lab_manifests())
    try:
        lab.rollout()
        yield lab
    finally:
        lab.stop()
        shutil.rmtree(STATE_ROOT, ignore_errors=True)


@pytest.fixture(scope="module")
def prometheus(node: LabNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    rc, output = watch_play()
    assert rc == 0, output[-3000:]
    assert recap(output)["changed"] == 1, output[-3000:]
    server = start_prometheus(
        tmp_path_factory.mktemp("prometheus"),
        PROMETHEUS,
        [f"{node.service('grpclab-watch')['cluster_ip']}:9102"],  # the Service, as a pod would
    )
    try:
        yield server
    finally:
        server.stop()


def test_second_run_changes_nothing(node: LabNode, prometheus: Prometheus) -> None:
    pods = watch_pods(node)
    rc, output = watch_play()
    assert rc == 0, output[-3000:]
    assert recap(output)["changed"] == 0, output[-3000:]
    assert watch_pods(node) == pods  # the same pod, not restarted


def test_a_watch_target_naming_the_service_is_looked_up_on_the_lab_node(
    node: LabNode, prometheus: Prometheus
) -> None:
    # <service>.<namespace>:<port> as a user names their Service: the same ClusterIP, the same pod
    pods = watch_pods(node)
    rc, output = watch_play("watch_target=grpc-server.grpc-server:50051")
    assert rc == 0, output[-3000:]
    assert recap(output)["changed"] == 0, output[-3000:]
    assert watch_pods(node) == pods
    rc, output = watch_play("watch_target=orders.shop:50051")
    assert rc == 2, output[-3000:]
    assert "Service orders not found in namespace shop of lab cluster grpclab-cilium" in output
    assert watch_pods(node) == pods  # nothing changed


def test_lb_l7_off_fires_grpc_traffic_pinned_and_on_again_resolves_it(
    node: LabNode, prometheus: Prometheus
) -> None:
    log = next((node.state_dir / "pods").glob("grpclab-watch-*.log"))
    met = wait_for(lambda: prometheus.query('grpclab_probe_verdict{expect="spread"} == 1'), 40)
    assert met, log.read_text()
    assert not prometheus.alerts("GrpcTrafficPinned")

    node.write_manifests({"services.yaml": lab_manifests(lb_l7=False)["services.yaml"]})
    off = time.monotonic()
    firing = wait_for(
        lambda: [a for a in prometheus.alerts("GrpcTrafficPinned") if a["state"] == "firing"], 60
    )
    fired_after = time.monotonic() - off
    assert firing, log.read_text()
    assert firing[0]["labels"]["job"] == "grpclab-watch"

    node.write_manifests({"services.yaml": lab_manifests()["services.yaml"]})
    on = time.monotonic()
    resolved = wait_for(lambda: not prometheus.alerts("GrpcTrafficPinned"), 60)
    resolved_after = time.monotonic() - on
    assert resolved, log.read_text()
    print(
        f"\nwatch e2e (5 s windows, 1 s scrape/eval): GrpcTrafficPinned fired {fired_after:.1f} s "
        f"after lb-l7 was switched off, resolved {resolved_after:.1f} s after it was switched on"
    )


def test_absent_removes_the_monitor_and_runs_twice(node: LabNode, prometheus: Prometheus) -> None:
    rc, output = watch_play("watch_state=absent")
    assert rc == 0, output[-3000:]
    assert recap(output)["changed"] == 1, output[-3000:]
    assert wait_for(lambda: not watch_pods(node), 30)
    assert not (node.state_dir / "manifests" / "watch.yaml").exists()
    assert all(s["name"] != "grpclab-watch" for s in node.status()["services"])
    rc, output = watch_play("watch_state=absent")
    assert rc == 0 and recap(output)["changed"] == 0, output[-3000:]

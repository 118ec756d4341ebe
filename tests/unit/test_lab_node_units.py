"""The lab node's pure parts: rollout planning, endpoints, L4/L7, environment, xDS files."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import yaml
from lab_node import lab_manifests

from grpclab.lab import admin, controllers, envoyconfig, manifests, pods, xds


def _deployment(replicas: int = 3, **changes: object) -> manifests.Deployment:
    [deployment] = manifests.load_text(
        lab_manifests(replicas=replicas)["server-deployment.yaml"], "test"
    ).deployments
    return dataclasses.replace(deployment, **changes)


@dataclass
class FakePod:
    """A pod as the controllers see it (no process)."""

    name: str
    ip: str
    ready: bool
    template_hash: str
    created: float
    deployment: manifests.Deployment
    terminating: bool = False


def _simulate(deployment: manifests.Deployment, pods_now: list[FakePod]) -> list[int]:
    """Run plan_rollout until done, every new pod Ready one step after it is made; returns the
    number of Ready pods after each step."""
    ready_counts, clock = [], 100.0
    for _step in range(50):
        plan = controllers.plan_rollout(deployment, pods_now)
        if not plan.create and not plan.terminate and all(p.ready for p in pods_now):
            break
        assert len(pods_now) + plan.create <= deployment.replicas + deployment.max_surge
        pods_now = [p for p in pods_now if p.name not in plan.terminate]
        ready_counts.append(sum(p.ready for p in pods_now))
        for pod in pods_now:
            pod.ready = True
        for index in range(plan.create):
            clock += 1
            pods_now.append(
                FakePod(
                    f"new-{clock}-{index}", "x", False, deployment.template_hash, clock, deployment
                )
            )
    assert len(pods_now) == deployment.replicas
    assert all(p.template_hash == deployment.template_hash for p in pods_now)
    return ready_counts


def test_a_rolling_update_never_goes_below_the_replicas_with_max_unavailable_0() -> None:
    old = _deployment()
    new = dataclasses.replace(old, template_hash="changed")
    current = [FakePod(f"old-{i}", f"ip{i}", True, old.template_hash, i, old) for i in range(3)]
    counts = _simulate(new, current)
    assert min(counts) >= 3 and len(counts) > 3  # one pod at a time


def test_scale_up_and_down() -> None:
    deployment = _deployment(replicas=5)
    current = [
        FakePod(f"p{i}", f"ip{i}", True, deployment.template_hash, i, deployment) for i in range(3)
    ]
    assert controllers.plan_rollout(deployment, current).create == 2
    down = dataclasses.replace(deployment, replicas=1)
    current[0].ready = False
    plan = controllers.plan_rollout(down, current)
    # the pod that is not Ready goes first, then the youngest
    assert plan.create == 0 and plan.terminate == ["p0", "p2"]


def test_endpoints_are_the_ready_pods_the_selector_picks() -> None:
    deployment = _deployment()
    other = dataclasses.replace(deployment, labels={"app": "other"})
    services = manifests.load_text(lab_manifests()["services.yaml"], "test").services
    service = services[0]
    current = [
        FakePod("a", "127.0.21.1", True, "h", 1, deployment),
        FakePod("b", "127.0.21.2", False, "h", 1, deployment),
        FakePod("c", "127.0.21.3", True, "h", 1, deployment, terminating=True),
        FakePod("d", "127.0.21.4", True, "h", 1, other),
    ]
    assert controllers.endpoints(service, current) == [("127.0.21.1", 50051)]
    named = dataclasses.replace(service, ports=(manifests.ServicePort(80, "grpc"),))
    assert controllers.endpoints(named, current) == [("127.0.21.1", 50051)]


def test_l7_needs_cilium_with_envoy_and_the_annotation() -> None:
    service = manifests.load_text(lab_manifests()["services.yaml"], "test").services[0]
    cilium = {"loadbalancer-l7": "envoy", "loadbalancer-l7-algorithm": "least_request"}
    assert controllers.l7_mode(service, cilium) == (True, "least_request")
    assert controllers.l7_mode(service, None) == (False, None)
    assert controllers.l7_mode(service, {"loadbalancer-l7": "disabled"}) == (False, None)
    plain = dataclasses.replace(service, lb_l7=False)
    assert controllers.l7_mode(plain, cilium) == (False, None)
    chosen = dataclasses.replace(service, algorithm="random")
    assert controllers.l7_mode(chosen, cilium) == (True, "random")
    assert envoyconfig.lb_policy("least_request", l7=True) == "LEAST_REQUEST"
    assert envoyconfig.lb_policy("least_request", l7=False) == "RANDOM"


def test_downward_api_and_variable_expansion() -> None:
    deployment = _deployment()
    env = pods.pod_env(deployment, "grpc-server-abc-xyz12", "127.0.21.9")
    assert env == {"POD_NAME": "grpc-server-abc-xyz12", "POD_IP": "127.0.21.9"}
    assert (
        pods.expand("--address=$(POD_IP) $$(POD_IP) $(NOPE)", env)
        == "--address=127.0.21.9 $(POD_IP) $(NOPE)"
    )
    assert Path(pods.find_program("grpclab-server")).name == "grpclab-server"


def test_xds_files_are_written_only_when_they_change(tmp_path: Path) -> None:
    files = xds.XdsFiles(tmp_path / "envoy")
    bootstrap = yaml.safe_load(files.prepare(admin.admin_address(tmp_path)).read_text())
    # the admin on a unix socket in the state directory, only its user may connect
    assert bootstrap["admin"]["address"] == {
        "pipe": {"path": str(tmp_path / "envoy-admin.sock"), "mode": 0o600}
    }
    assert bootstrap["dynamic_resources"]["lds_config"]["path_config_source"] == {
        "path": str(files.lds),
        "watched_directory": {"path": str(files.directory)},
    }
    one = xds.ProxyService(
        "ns.svc.50051", ("127.0.22.1", 50051), True, "round_robin", (("127.0.21.1", 50051),)
    )
    assert files.apply([one]) == ["ns.svc.50051.yaml", "cds.yaml", "lds.yaml"]
    assert files.apply([one]) == []
    moved = dataclasses.replace(one, endpoints=(("127.0.21.2", 50051),))
    assert files.apply([moved]) == ["ns.svc.50051.yaml"]  # an endpoint change is one EDS file
    eds = yaml.safe_load((files.eds_dir / "ns.svc.50051.yaml").read_text())
    assert eds["resources"][0]["@type"] == envoyconfig.ASSIGNMENT_TYPE
    files.apply([])
    assert not list(files.eds_dir.glob("*.yaml"))

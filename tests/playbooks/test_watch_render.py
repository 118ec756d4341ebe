"""The watch role's manifests for kind and existing, rendered through Ansible from the role's
real templates and defaults (tests/playbooks/test_watch_render.yml), then validated: the
Deployment and the Service against the Kubernetes OpenAPI schemas (kubernetes-validate, the
release of the pinned kind node image), the ServiceMonitor (a CRD without a published schema
there) against what kube-prometheus-stack needs of it. Nothing is applied."""

from __future__ import annotations

import json
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from ansible_cli import ROOT, run_tool

pytestmark = pytest.mark.slow

PLAYBOOK = ROOT / "tests" / "playbooks" / "test_watch_render.yml"
NODE_IMAGE = yaml.safe_load((ROOT / "roles/cluster/defaults/main.yml").read_text())[
    "cluster_kind_node_image"
]
K8S_VERSION = NODE_IMAGE.split(":v", 1)[1].split("@", 1)[0]


def render(tmp_path: Path, inventory: str, **extra) -> dict[tuple[str, str], dict]:
    run = run_tool(
        "ansible-playbook", "-i", f"inventories/{inventory}", str(PLAYBOOK),
        "-e", json.dumps({"grpclab_state_dir": str(tmp_path), **extra}),
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    objects = {}
    for file in sorted((tmp_path / "manifests").glob("*.yaml")):
        for doc in yaml.safe_load_all(file.read_text()):
            if doc:
                objects[(doc["kind"], doc["metadata"]["name"])] = doc
    return objects


@pytest.mark.parametrize("inventory", ["kind", "existing"])
def test_the_monitor_manifests_are_valid_and_scrapeable(tmp_path: Path, inventory: str) -> None:
    objects = render(
        tmp_path / inventory, inventory,
        watch_service_monitor_labels={"release": "kube-prometheus-stack"},
    )  # fmt: skip
    assert set(objects) == {
        ("Deployment", "grpclab-watch"),
        ("Service", "grpclab-watch"),
        ("ServiceMonitor", "grpclab-watch"),
    }
    for key in (("Deployment", "grpclab-watch"), ("Service", "grpclab-watch")):
        kubernetes_validate.validate(objects[key], K8S_VERSION, strict=True)
    deployment = objects[("Deployment", "grpclab-watch")]
    service = objects[("Service", "grpclab-watch")]
    monitor = objects[("ServiceMonitor", "grpclab-watch")]
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    argv = container["command"]
    assert argv[:2] == ["grpclab-probe", "--watch"]
    assert argv[argv.index("--target") + 1] == "grpc-server.grpc-server.svc.cluster.local:50051"
    assert argv[argv.index("--metrics-address") + 1] == "$(POD_IP):9102"
    assert container["env"][0]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    for scrape in (pod["metadata"]["annotations"], service["metadata"]["annotations"]):
        assert scrape == {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": "9102",
            "prometheus.io/path": "/metrics",
        }
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert service["spec"]["ports"][0]["name"] == monitor["spec"]["endpoints"][0]["port"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    # the rules' job: the ServiceMonitor's jobLabel names the Service label that holds it
    assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == "grpclab-watch"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    if inventory == "existing":
        inventory_vars = yaml.safe_load(
            (ROOT / "inventories/existing/group_vars/grpclab/cluster.yml").read_text()
        )
        assert container["image"] == inventory_vars["grpc_apps_image"]

"""The watch role's manifests for kind and existing, rendered through Ansible from the role's
real templates and defaults (tests/playbooks/test_watch_render.yml), then validated: the
Deployment and the Service against the Kubernetes OpenAPI schemas (kubernetes-validate, the
release of the pinned kind node image), the ServiceMonitor (a CRD without a published schema
there) against what kube-prometheus-stack needs of it. Nothing is applied."""

from __future__ import annotations

import base64
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


def test_a_users_service_with_tls_files_in_a_read_only_secret(tmp_path: Path) -> None:
    # the monitor aimed at your Service: its method, request, identity and TLS, as the probe's flags
    files = {}
    for name, text in (("ca", "CA PEM\n"), ("cert", "CERT PEM\n"), ("key", "KEY PEM\n")):
        files[name] = tmp_path / f"{name}.pem"
        files[name].write_text(text)
    objects = render(
        tmp_path / "out", "existing",
        watch_target="orders.shop:50051", watch_call="shop.Orders/Get", watch_data={"id": 7},
        watch_identity=["field:servedBy.pod", "header:x-pod~^(.*)$"], watch_replicas=4,
        watch_cacert=str(files["ca"]), watch_cert=str(files["cert"]), watch_key=str(files["key"]),
        watch_server_name="orders.example", watch_authority="orders.example:443",
    )  # fmt: skip
    secret = objects[("Secret", "grpclab-watch-tls")]
    deployment = objects[("Deployment", "grpclab-watch")]
    for doc in (secret, deployment):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    assert {k: base64.b64decode(v).decode() for k, v in secret["data"].items()} == {
        "ca.crt": "CA PEM\n",
        "tls.crt": "CERT PEM\n",
        "tls.key": "KEY PEM\n",
    }
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    argv = container["command"]
    assert argv[argv.index("--target") + 1] == "orders.shop.svc.cluster.local:50051"
    assert argv[argv.index("--replicas") + 1] == "4"
    assert argv[argv.index("--metrics-address") :] == [
        "--metrics-address", "$(POD_IP):9102",
        "--call", "shop.Orders/Get",
        "-d", '{"id":7}',
        "--identity", "field:servedBy.pod",
        "--identity", "header:x-pod~^(.*)$",
        "--cacert", "/etc/grpclab-watch/tls/ca.crt",
        "--cert", "/etc/grpclab-watch/tls/tls.crt",
        "--key", "/etc/grpclab-watch/tls/tls.key",
        "--server-name", "orders.example",
        "--authority", "orders.example:443",
    ]  # fmt: skip
    assert not any("PEM" in arg for arg in argv)  # the files' content only in the Secret
    assert container["volumeMounts"] == [
        {"name": "tls", "mountPath": "/etc/grpclab-watch/tls", "readOnly": True}
    ]
    assert pod["volumes"] == [
        {"name": "tls", "secret": {"secretName": "grpclab-watch-tls", "defaultMode": 0o440}}
    ]
    # least privilege, as the verify probe pod
    assert pod["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["fsGroup"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def test_a_watch_identity_of_peer_fails_with_one_line_and_renders_nothing(tmp_path: Path) -> None:
    run = run_tool(
        "ansible-playbook", "-i", "inventories/kind", str(PLAYBOOK),
        "-e", json.dumps({"grpclab_state_dir": str(tmp_path), "watch_target": "orders.shop:50051",
                          "watch_identity": ["peer"]}),
    )  # fmt: skip
    assert run.returncode == 2, run.stdout[-3000:]
    assert "watch_identity peer: --identity peer counts whole connections" in run.stdout
    assert not (tmp_path / "manifests").exists()

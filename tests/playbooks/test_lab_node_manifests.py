"""The lab node's desired state: the manifests grpc_apps really renders, and every field either
honoured, not applicable (documented), or an error of one line naming it."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible_cli import ROOT, run_tool

from grpclab.lab import manifestfields, manifests
from grpclab.lab.errors import LabError

TEMPLATES = ["namespaces", "server-deployment", "services", "client-deployment"]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The grpc_apps templates rendered by Ansible with the role's defaults."""
    folder = tmp_path_factory.mktemp("rendered")
    defaults = [
        str(path)
        for path in (
            ROOT / "roles/grpclab/defaults/main.yml",
            ROOT / "roles/grpc_apps/defaults/main.yml",
        )
        if path.exists()
    ]
    playbook = folder / "render.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "hosts": "localhost",
                    "gather_facts": False,
                    "vars_files": defaults,
                    "tasks": [
                        {
                            "ansible.builtin.template": {
                                "src": str(ROOT / "roles/grpc_apps/templates/{{ item }}.yaml.j2"),
                                "dest": str(folder / "{{ item }}.yaml"),
                                "mode": "0644",
                            },
                            "loop": TEMPLATES,
                        }
                    ],
                }
            ]
        )
    )
    done = run_tool(
        "ansible-playbook",
        "-i",
        "localhost,",
        "-c",
        "local",
        "-e",
        f"ansible_python_interpreter={sys.executable}",
        "-e",
        "grpc_apps_lb_l7_algorithm=least_request",
        str(playbook),
    )
    assert done.returncode == 0, done.stdout[-3000:]
    return folder


def lab(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "grpclab.lab", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_rendered_manifests_are_honoured(rendered: Path) -> None:
    files = [rendered / f"{name}.yaml" for name in TEMPLATES]
    done = lab("validate", *map(str, files))
    assert done.returncode == 0 and not done.stderr, done.stderr
    state = manifests.load_files(files)
    assert state.namespaces == ["grpc-server", "grpc-client"]
    server = next(d for d in state.deployments if d.name == "grpc-server")
    assert server.namespace == "grpc-server" and server.replicas == 3
    assert server.command[0] == "grpclab-server" and "--grace" in server.command
    assert server.readiness == manifests.Probe(port=50051, period=2, failure_threshold=2)
    assert server.liveness is not None and server.liveness.initial_delay == 5
    assert server.grace == 15 and server.ports == {"grpc": 50051}
    assert (server.max_surge, server.max_unavailable) == (1, 0)  # 25% of 3, as Kubernetes
    services = {s.name: s for s in state.services}
    assert services["grpc-server"].lb_l7 and services["grpc-server"].algorithm == "least_request"
    assert not services["grpc-server-l4"].lb_l7 and not services["grpc-server-l4"].headless
    assert services["grpc-server-headless"].headless


def _server(rendered: Path) -> dict:
    return yaml.safe_load((rendered / "server-deployment.yaml").read_text())


def _container(document: dict) -> dict:
    return document["spec"]["template"]["spec"]["containers"][0]


def test_an_unsupported_field_is_one_line_naming_it(rendered: Path, tmp_path: Path) -> None:
    document = _server(rendered)
    _container(document)["lifecycle"] = {"preStop": {"exec": {"command": ["sleep", "1"]}}}
    path = tmp_path / "server.yaml"
    path.write_text(yaml.safe_dump(document))
    done = lab("validate", str(path))
    assert done.returncode == 2 and not done.stdout
    assert done.stderr.splitlines() == [
        "grpclab-lab: Deployment grpc-server/grpc-server: spec.template.spec.containers[0]."
        "lifecycle is not supported by the lab node"
    ]


def _services(rendered: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all((rendered / "services.yaml").read_text()) if d]


def test_a_misspelt_lb_l7_annotation_is_an_error(rendered: Path) -> None:
    documents = _services(rendered)
    annotations = documents[0]["metadata"]["annotations"]
    annotations["service.cilium.io/lb-l7s"] = annotations.pop("service.cilium.io/lb-l7")
    with pytest.raises(
        LabError,
        match=r"^Service grpc-server/grpc-server: metadata\.annotations"
        r"\.service\.cilium\.io/lb-l7s is not supported",
    ):
        manifests.parse_documents(documents)


def test_a_selector_that_misses_the_pods_is_an_error(rendered: Path) -> None:
    document = _server(rendered)
    document["spec"]["selector"]["matchLabels"] = {"app": "grpc-sever"}
    with pytest.raises(LabError, match=r"spec\.selector\.matchLabels does not match"):
        manifests.parse_documents([document])


def _set(path: str, value: object):
    def change(document: dict) -> None:
        *parents, last = path.split(".")
        target = document
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        target[last] = value

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            _set("spec.template.spec.containers.0.readinessProbe", {"httpGet": {"port": 8080}}),
            "readinessProbe.httpGet is not supported",
        ),
        (
            _set(
                "spec.template.spec.containers.0.env",
                [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
            ),
            "env[0].valueFrom.fieldRef.fieldPath 'spec.nodeName' is not supported",
        ),
        (
            _set("spec.template.spec.volumes", [{"name": "h", "hostPath": {"path": "/"}}]),
            "volumes[0].hostPath is not supported",
        ),
        (_set("spec.replicas", 500), "spec.replicas must be an integer from 0 to 200"),
        (_set("spec.strategy", {"type": "Recreate"}), "spec.strategy.type must be RollingUpdate"),
        (_set("spec.template.spec.restartPolicy", "Never"), "restartPolicy must be Always"),
        (
            _set("spec.template.spec.nodeSelector", {"a": "b"}),
            "spec.template.spec.nodeSelector is not supported",
        ),
        (
            _set("spec.strategy", {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}),
            "maxSurge and maxUnavailable are both 0",
        ),
    ],
)
def test_deployment_fields_the_node_cannot_honour(rendered: Path, change, message: str) -> None:
    document = copy.deepcopy(_server(rendered))
    change(document)
    with pytest.raises(LabError, match=re.escape(message)):
        manifests.parse_documents([document])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set("spec.type", "NodePort"), "spec.type must be ClusterIP"),
        (_set("spec.clusterIP", "10.0.0.1"), "spec.clusterIP must be None or absent"),
        (_set("spec.sessionAffinity", "ClientIP"), "spec.sessionAffinity is not supported"),
        (_set("spec.ports.0.protocol", "UDP"), "spec.ports[0].protocol must be TCP"),
        (
            _set("metadata.annotations", {"service.cilium.io/lb-l7-algorithm": "maglev"}),
            "must be one of round_robin, least_request, random, not 'maglev'",
        ),
    ],
)
def test_service_fields_the_node_cannot_honour(rendered: Path, change, message: str) -> None:
    document = copy.deepcopy(_services(rendered)[0])
    change(document)
    with pytest.raises(LabError, match=re.escape(message)):
        manifests.parse_documents([document])


def test_documents_the_node_does_not_run(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="kind 'ConfigMap' is not supported"):
        manifests.parse_documents([{"apiVersion": "v1", "kind": "ConfigMap"}])
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: Service\n  metadata: [\n")
    done = lab("validate", str(broken))
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1
    assert f"{broken}: line" in done.stderr and "is not valid YAML" in done.stderr


def test_every_not_applicable_field_says_why() -> None:
    assert all(reason.strip() for reason in manifestfields.NOT_APPLICABLE.values())
    assert "spec.template.spec.containers[].image" in manifestfields.NOT_APPLICABLE


def test_a_changed_template_changes_the_hash_and_replicas_do_not(rendered: Path) -> None:
    document = _server(rendered)
    [base] = manifests.parse_documents([document]).deployments
    document["spec"]["replicas"] = 5
    [scaled] = manifests.parse_documents([document]).deployments
    document["spec"]["template"]["metadata"]["annotations"] = {
        manifestfields.RESTARTED_AT: "2026-01-01T00:00:00Z"
    }
    [restarted] = manifests.parse_documents([document]).deployments
    assert base.template_hash == scaled.template_hash != restarted.template_hash

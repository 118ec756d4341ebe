"""Churn on kind and existing, checked without a cluster: the playbooks that take churn_action
parse against both inventories, ansible-lint (production) is clean on the churn role and the
grpc_probe role, and the filter that keeps the serving pods reads k8s_info answers."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml
from ansible_cli import ROOT, run_tool

sys.path.insert(0, str(ROOT / "collections/ansible_collections/grpclab/lab/plugins/filter"))
from ready_pods import ready_pods

ROLE_FILES = sorted(
    [*(ROOT / "roles/churn").rglob("*.yml"), *(ROOT / "roles/grpc_probe").rglob("*.yml")]
)
CHURN_FILES = [
    *(str(path.relative_to(ROOT)) for path in ROLE_FILES),
    "playbooks/churn.yml",
    "playbooks/tasks/churn-run.yml",
    "playbooks/vars/churn_matrix.yml",
    "playbooks/max-age.yml",
    "playbooks/scenarios/scenario.yml",
]


@pytest.mark.slow
@pytest.mark.parametrize("inventory", ["kind", "existing"])
def test_churn_and_max_age_parse_with_the_inventory(inventory):
    run = run_tool(
        "ansible-playbook",
        "--syntax-check",
        "-i",
        f"inventories/{inventory}",
        "playbooks/churn.yml",
        "playbooks/max-age.yml",
    )
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.slow
def test_ansible_lint_is_clean_on_the_cluster_churn_tasks():
    run = run_tool(
        "ansible-lint", "--nocolor", "--profile", "production", "--format", "pep8", *CHURN_FILES
    )
    # ansible-lint follows imports into other roles' files: judge only these
    mine = [line for line in run.stdout.splitlines() if line.split(":", 1)[0] in CHURN_FILES]
    assert mine == [], "\n".join(mine)
    assert "Traceback" not in run.stderr, run.stderr[-3000:]


def pod(name: str, ready: str, deleting: bool = False) -> dict:
    meta = {"name": name, **({"deletionTimestamp": "2026-01-01T00:00:00Z"} if deleting else {})}
    return {
        "metadata": meta,
        "status": {
            "conditions": [
                {"type": "PodScheduled", "status": "True"},
                {"type": "Ready", "status": ready},
            ]
        },
    }


def test_ready_pods_keeps_the_serving_ones_in_order():
    pods = [
        pod("a", "True"),
        pod("b", "False"),
        pod("c", "True", deleting=True),
        pod("d", "True"),
        {"metadata": {"name": "e"}},
    ]
    assert [p["metadata"]["name"] for p in ready_pods(pods)] == ["a", "d"]


def test_the_crash_note_says_why_kill_1_does_nothing():
    text = (ROOT / "roles/churn/tasks/kubernetes.yml").read_text()
    assert "kill -9 1" in text and "init" in text and Path(ROOT / "README.md").exists()


def proxy_of(**variables) -> dict:
    """The churn role's __churn_proxy rendered with Ansible's Templar from roles/churn/vars (the
    files' strings trusted as templates, as Ansible trusts a role's own files)."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    def trusted(value):
        if isinstance(value, str):
            return trust_as_template(value)
        if isinstance(value, dict):
            return {key: trusted(item) for key, item in value.items()}
        return value

    loader = DataLoader()
    values = {}
    for path in ("roles/grpclab/defaults/main.yml", "roles/churn/vars/main.yml"):
        values.update(trusted(yaml.safe_load((ROOT / path).read_text())))
    values.update(variables)
    return Templar(loader=loader, variables=values).template(
        trust_as_template("{{ __churn_proxy }}")
    )


@pytest.mark.parametrize(
    ("variables", "daemonset"),
    [
        ({"grpclab_cni": "default"}, "kube-proxy"),
        ({"grpclab_cni": "cilium"}, "cilium-envoy"),
        (
            {"grpclab_cni": "cilium", "cilium_helm_values": {"envoy": {"enabled": True}}},
            "cilium-envoy",
        ),
        # Envoy inside the agent: the agent's DaemonSet is the proxy
        ({"grpclab_cni": "cilium", "cilium_helm_values": {"envoy": {"enabled": False}}}, "cilium"),
        ({"grpclab_cni": "cilium", "cilium_helm_values": {"hubble": {}}}, "cilium-envoy"),
    ],
)
def test_proxy_restart_restarts_the_daemonset_of_the_proxy_in_the_path(variables, daemonset):
    assert proxy_of(**variables) == {"name": daemonset, "namespace": "kube-system"}
    assert proxy_of(**variables, grpclab_cilium_namespace="cilium")["namespace"] == (
        "cilium" if variables["grpclab_cni"] == "cilium" else "kube-system"
    )


def test_proxy_restart_patches_the_daemonsets_restarted_at_and_waits_for_it():
    tasks = yaml.safe_load((ROOT / "roles/churn/tasks/kubernetes.yml").read_text())
    (restart,) = [t for t in tasks if t.get("when") == "churn_action == 'proxy-restart'"]
    k8s = restart["kubernetes.core.k8s"]
    assert k8s["kind"] == "DaemonSet" and k8s["state"] == "patched"
    assert k8s["name"] == "{{ __churn_proxy.name }}"
    annotations = k8s["definition"]["spec"]["template"]["metadata"]["annotations"]
    assert list(annotations) == ["kubectl.kubernetes.io/restartedAt"]
    settle = (ROOT / "roles/churn/tasks/settle-kubernetes.yml").read_text()
    assert "grpclab.lab.daemonset_settled" in settle and "kind: DaemonSet" in settle

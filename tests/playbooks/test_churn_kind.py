"""Churn on kind and existing, checked without a cluster: the playbooks that take churn_action
parse against both inventories, ansible-lint (production) is clean on the churn role and the
grpc_probe role, and the filter that keeps the serving pods reads k8s_info answers."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
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

"""Churn on kind and existing, checked without a cluster: the playbooks that take
grpc_probe_churn parse against both inventories, ansible-lint (production) is clean on the
cluster churn tasks, and the filter that keeps the serving pods reads k8s_info answers."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from ansible_cli import ROOT, run_tool

sys.path.insert(0, str(ROOT / "collections/ansible_collections/grpclab/lab/plugins/filter"))
from ready_pods import ready_pods

CHURN_FILES = ["roles/grpc_probe/tasks/churn_kubernetes.yml", "roles/grpc_probe/tasks/churn.yml",
               "playbooks/churn.yml", "playbooks/max-age.yml", "playbooks/scenarios/scenario.yml"]


@pytest.mark.slow
@pytest.mark.parametrize("inventory", ["kind", "existing"])
def test_churn_and_max_age_parse_with_the_inventory(inventory):
    run = run_tool("ansible-playbook", "--syntax-check", "-i", f"inventories/{inventory}",
                   "playbooks/churn.yml", "playbooks/max-age.yml")
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.slow
def test_ansible_lint_is_clean_on_the_cluster_churn_tasks():
    run = run_tool("ansible-lint", "--nocolor", "--profile", "production", "--format", "pep8",
                   *CHURN_FILES)
    # ansible-lint follows imports into other roles' files: judge only these
    mine = [line for line in run.stdout.splitlines() if line.split(":", 1)[0] in CHURN_FILES]
    assert mine == [], "\n".join(mine)
    assert "Traceback" not in run.stderr, run.stderr[-3000:]


def pod(name: str, ready: str, deleting: bool = False) -> dict:
    meta = {"name": name, **({"deletionTimestamp": "2026-01-01T00:00:00Z"} if deleting else {})}
    return {"metadata": meta, "status": {"conditions": [{"type": "PodScheduled", "status": "True"},
                                                        {"type": "Ready", "status": ready}]}}


def test_ready_pods_keeps_the_serving_ones_in_order():
    pods = [pod("a", "True"), pod("b", "False"), pod("c", "True", deleting=True),
            pod("d", "True"), {"metadata": {"name": "e"}}]
    assert [p["metadata"]["name"] for p in ready_pods(pods)] == ["a", "d"]


def test_the_crash_note_says_why_kill_1_does_nothing():
    text = (ROOT / "roles/grpc_probe/tasks/churn_kubernetes.yml").read_text()
    assert "kill -9 1" in text and "init" in text and Path(ROOT / "README.md").exists()

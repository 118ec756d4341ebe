"""The kind and existing paths, checked without Docker: every playbook parses against both
inventories, ansible-lint (production profile) is clean on every kind and existing file, the
roles' argument specs refuse bad values before anything runs, and the real
`ansible-playbook -i inventories/kind playbooks/cilium.yml` on a machine without a Docker daemon
stops in the prerequisites with one clear line per missing tool, no traceback, nothing changed.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from ansible_cli import ROOT, recap, run_tool

PLAYBOOKS = [
    "baseline.yml",
    "cilium.yml",
    "cilium-l4.yml",
    "client-side.yml",
    "teardown.yml",
    "watch.yml",
]

pytestmark = pytest.mark.slow

# every file of the kind and existing platforms
KIND_PATHS = sorted(
    str(path.relative_to(ROOT))
    for pattern in (
        "roles/*/tasks/kind*.yml",
        "roles/*/tasks/kubernetes.yml",
        "roles/*/vars/kind.yml",
        "roles/*/vars/existing.yml",
        "roles/cilium/tasks/render.yml",
        "roles/cilium/tasks/helm-*.yml",
        "roles/cilium/tasks/check.yml",
        "roles/cluster/tasks/reachable.yml",
        "roles/grpc_apps/tasks/render.yml",
        "roles/grpc_apps/tasks/image.yml",
        "roles/grpc_apps/tasks/apply.yml",
        "roles/grpc_apps/tasks/namespaces-absent.yml",
        "roles/grpc_probe/tasks/l7-ready.yml",
        "playbooks/tasks/prerequisites-*.yml",
        "tests/containers/test_container.yml",
        "tests/containers/test_prerequisites_docker.yml",
        "tests/playbooks/test_kind_cilium_release.yml",
        "inventories/kind/**/*.yml",
        "inventories/existing/**/*.yml",
        "molecule/kind/**/*.yml",
        "tests/playbooks/test_kind_render.yml",
    )
    for path in ROOT.glob(pattern)
    if "prerequisites-lab" not in path.name
)


def docker_daemon_reachable() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=60).returncode == 0


@pytest.mark.parametrize("inventory", ["kind", "existing"])
def test_every_playbook_parses_with_the_inventory(inventory):
    run = run_tool(
        "ansible-playbook",
        "--syntax-check",
        "-i",
        f"inventories/{inventory}",
        *[f"playbooks/{name}" for name in PLAYBOOKS],
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_ansible_lint_is_clean_on_the_kind_and_existing_files():
    assert "roles/grpc_apps/tasks/kubernetes.yml" in KIND_PATHS
    run = run_tool("ansible-lint", "--nocolor", "--format", "pep8", *KIND_PATHS)
    # ansible-lint follows imports into the lab files: judge only the kind and existing ones
    violations = [line for line in run.stdout.splitlines() if line.split(":", 1)[0] in KIND_PATHS]
    assert violations == [], "\n".join(violations)
    assert "Traceback" not in run.stderr, run.stderr[-3000:]


def test_bad_values_stop_at_argument_validation_and_change_nothing(tmp_path):
    state = tmp_path / "state"
    bad = {
        "grpclab_workers": 99,
        "cilium_image_pull_policy": "Sometimes",
        "cilium_helm_values": "not-a-dict",
        "grpc_apps_rollout_timeout": "soon",
        "grpc_apps_image_pull_policy": "Maybe",
        "grpclab_state_root": str(state),
    }
    run = run_tool(
        "ansible-playbook", "-i", "inventories/kind", "playbooks/cilium.yml", "-e", json.dumps(bad)
    )
    output = run.stdout + run.stderr
    assert run.returncode != 0
    for name in (
        "grpclab_workers",
        "cilium_image_pull_policy",
        "cilium_helm_values",
        "grpc_apps_rollout_timeout",
        "grpc_apps_image_pull_policy",
    ):
        assert name in output, name
    # stopped in the prelude, before the prerequisites ran, and nothing was written
    assert "Docker daemon" not in output
    assert "Traceback" not in output
    assert recap(output)["changed"] == 0
    assert not state.exists()


@pytest.mark.skipif(docker_daemon_reachable(), reason="a Docker daemon answers on this machine")
def test_kind_without_docker_stops_with_one_clear_line_and_changes_nothing():
    state_root = ROOT / ".grpclab" / "kind"
    existed = state_root.exists()
    # exactly what a user runs
    run = run_tool("ansible-playbook", "-i", "inventories/kind", "playbooks/cilium.yml")
    output = run.stdout + run.stderr
    assert run.returncode != 0
    errors = [line for line in output.splitlines() if line.startswith("[ERROR]: ")]
    docker = [line for line in errors if "Docker daemon not reachable at " in line]
    assert len(docker) == 1, errors
    assert "https://docs.docker.com/engine/install/" in docker[0]
    for tool in ("kind", "helm"):
        if shutil.which(tool) is None:
            assert any(f"{tool} not found" in line for line in errors), tool
    assert "Traceback" not in output
    counts = recap(output)
    assert counts["changed"] == 0 and counts["failed"] == 1
    # no role ran: the cluster's state directory was not created
    assert "TASK [cluster" not in output
    assert state_root.exists() == existed


@pytest.mark.skipif(shutil.which("helm") is not None, reason="helm is installed on this machine")
def test_existing_needs_helm_only_to_install_cilium():
    # the inventory's AKS example installs Cilium: helm is needed, Docker is not
    run = run_tool("ansible-playbook", "-i", "inventories/existing", "playbooks/cilium.yml")
    output = run.stdout + run.stderr
    assert run.returncode != 0
    assert "helm not found" in output
    assert "Docker daemon" not in output
    assert "Traceback" not in output
    assert recap(output)["changed"] == 0
    # without cilium_install nothing is missing: the play gets past the prerequisites to the
    # cluster role, which stops on the example kubeconfig that is not there
    run = run_tool(
        "ansible-playbook",
        "-i",
        "inventories/existing",
        "playbooks/cilium.yml",
        "-e",
        json.dumps(
            {
                "cilium_install": False,
                "grpclab_kubeconfig": "/nonexistent/kubeconfig",
                "grpclab_state_root": "/nonexistent/state",
            }
        ),
        "--check",
    )
    output = run.stdout + run.stderr
    assert "helm not found" not in output
    assert "kubeconfig /nonexistent/kubeconfig not found" in output, output[-3000:]
    assert "Traceback" not in output

"""The tests' lab manifests (tests/support/lab_node.py renders grpc_apps' templates in process,
with Ansible's Templar) are what a real ``ansible-playbook`` run of the template module makes of
the same templates and variables: the lab node's tests run the role's real manifests."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from ansible_cli import ROOT, run_tool
from lab_node import SERVER_MANIFESTS, VARIABLE_FILES, lab_manifests

# the scenario: what a test passes, as lab_manifests(...) names it and as the role's variables
GIVEN = {"replicas": 2, "grace": 3, "lb_l7": False}
AS_ROLE_VARIABLES = {
    "grpclab_replicas": 2,
    "grpc_apps_server_grace_period": 3,
    "grpc_apps_lb_l7": False,
    "grpc_apps_termination_margin": 2,
    "grpc_apps_server_max_connection_age": 4,
}


@pytest.fixture(scope="module")
def by_ansible_playbook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("rendered")
    files = [str(path) for pattern in VARIABLE_FILES for path in sorted(ROOT.glob(pattern))]
    playbook = folder / "render.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "hosts": "localhost",
                    "gather_facts": False,
                    "vars_files": files,
                    "tasks": [
                        {
                            "ansible.builtin.template": {
                                "src": str(ROOT / "roles/grpc_apps/templates/{{ item }}.yaml.j2"),
                                "dest": str(folder / "{{ item }}.yaml"),
                                "mode": "0644",
                            },
                            "loop": list(SERVER_MANIFESTS),
                        }
                    ],
                }
            ]
        )
    )
    given = folder / "given.json"  # the test's variables win over the files, as -e does
    given.write_text(json.dumps(AS_ROLE_VARIABLES))
    done = run_tool(
        "ansible-playbook",
        "-i",
        "localhost,",
        "-c",
        "local",
        "-e",
        f"ansible_python_interpreter={sys.executable}",
        "-e",
        f"@{given}",
        str(playbook),
    )
    assert done.returncode == 0, done.stdout[-3000:]
    return folder


def test_lab_manifests_are_the_role_templates_as_ansible_renders_them(by_ansible_playbook):
    ours = lab_manifests(**GIVEN, grpc_apps_server_max_connection_age=4)
    assert sorted(ours) == sorted(f"{name}.yaml" for name in SERVER_MANIFESTS)
    for name, text in ours.items():
        theirs = (by_ansible_playbook / name).read_text()
        assert list(yaml.safe_load_all(text)) == list(yaml.safe_load_all(theirs)), name
    [deployment] = yaml.safe_load_all(ours["server-deployment.yaml"])
    assert deployment["spec"]["replicas"] == 2
    assert (
        "--max-connection-age" in deployment["spec"]["template"]["spec"]["containers"][0]["command"]
    )

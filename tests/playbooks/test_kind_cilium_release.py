"""A Cilium release grpclab did not install is refused, and never upgraded with --reset-values.

The cilium role's Helm step runs through kubernetes.core's helm modules against a stand-in helm
(no cluster or chart repository is reachable here): it answers `version`, `list`, `get`, `show
chart` as Helm 3 does for one release, and records every upgrade command line. The role, the
modules and the command lines they build are the real ones."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from ansible_cli import ROOT, run_tool

pytestmark = pytest.mark.slow

PLAYBOOK = ROOT / "tests" / "playbooks" / "test_kind_cilium_release.yml"

STAND_IN_HELM = r"""#!/usr/bin/env python3
import json, os, sys
args = sys.argv[1:]
words = [arg for arg in args if not arg.startswith("-")]
state = os.environ["HELM_STAND_IN_STATE"]
release = json.load(open(state)) if os.path.exists(state) else None
if words[:1] == ["version"]:
    print('version.BuildInfo{Version:"v3.19.2", GitCommit:"0", GitTreeState:"clean"}')
elif words[:1] == ["list"]:
    print(json.dumps([release] if release else []))
elif words[:2] == ["get", "values"]:
    print(json.dumps(release.get("user_values", {})) if release else "null")
elif words[:1] == ["get"]:
    print("")
elif words[:2] == ["show", "chart"]:
    print("apiVersion: v2\nname: cilium\nversion: 1.19.5\nappVersion: 1.19.5")
elif words[:1] == ["plugin"]:
    print("NAME\tVERSION\tDESCRIPTION")
elif "upgrade" in words:
    with open(os.environ["HELM_STAND_IN_LOG"], "a") as log:
        log.write(" ".join(args) + "\n")
    json.dump({"name": "cilium", "namespace": "kube-system", "revision": "2",
               "status": "deployed", "chart": "cilium-1.19.5", "app_version": "1.19.5",
               "updated": "now"}, open(state, "w"))
else:
    print("stand-in helm: " + " ".join(args), file=sys.stderr)
    sys.exit(2)
"""

FOREIGN = {
    "name": "cilium",
    "namespace": "kube-system",
    "revision": "7",
    "status": "deployed",
    "chart": "cilium-1.18.0",
    "app_version": "1.18.0",
    "updated": "then",
    "user_values": {"hubble": {"relay": {"enabled": True}}},
}


def helm_step(tmp: Path, release: dict | None, **extra) -> tuple[int, list[str], str]:
    helm = tmp / "helm"
    helm.write_text(STAND_IN_HELM)
    helm.chmod(helm.stat().st_mode | stat.S_IXUSR)
    state = tmp / "release.json"
    if release is not None and not state.exists():
        state.write_text(json.dumps(release))
    log = tmp / "upgrades.log"
    log.touch()
    before = len(log.read_text().splitlines())
    variables = {
        "grpclab_state_dir": str(tmp / "state"),
        "grpclab_cni": "cilium",
        "cilium_install": True,
        "cilium_helm_command": str(helm),
        "cilium_rollout_timeout": 1,
        **extra,
    }
    os.environ.update(HELM_STAND_IN_STATE=str(state), HELM_STAND_IN_LOG=str(log))
    try:
        run = run_tool(
            "ansible-playbook",
            "-i",
            "inventories/existing",
            str(PLAYBOOK),
            "-e",
            json.dumps(variables),
        )
    finally:
        del os.environ["HELM_STAND_IN_STATE"], os.environ["HELM_STAND_IN_LOG"]
    return run.returncode, log.read_text().splitlines()[before:], run.stdout + run.stderr


def test_a_foreign_release_is_refused_and_left_alone(tmp_path):
    rc, upgrades, output = helm_step(tmp_path, FOREIGN)
    assert rc != 0
    assert "exists and was not installed by grpclab" in output, output[-3000:]
    assert "cilium_adopt_release: true" in output
    assert upgrades == []


def test_an_adopted_release_keeps_its_values(tmp_path):
    _, upgrades, output = helm_step(tmp_path, FOREIGN, cilium_adopt_release=True)
    assert len(upgrades) == 1, output[-3000:]
    assert "--reuse-values=True" in upgrades[0]
    assert "--reset-values" not in upgrades[0]
    # grpclab did not create it: teardown must not remove it
    assert not (tmp_path / "state" / "cilium-release-created").exists()


def test_grpclabs_own_release_is_reset_to_its_values(tmp_path):
    _, upgrades, output = helm_step(tmp_path, None)
    assert len(upgrades) == 1, output[-3000:]
    assert "upgrade" in upgrades[0].split() and "--reset-values" in upgrades[0]
    assert (tmp_path / "state" / "cilium-release-created").exists()
    # the next run finds the release and grpclab's marker: an upgrade, not a refusal
    _, upgrades, output = helm_step(tmp_path, None)
    assert "was not installed by grpclab" not in output
    assert len(upgrades) == 1 and "--reset-values" in upgrades[0]
    assert (tmp_path / "state" / "cilium-release-created").exists()

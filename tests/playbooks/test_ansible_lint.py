"""The Ansible side stays clean: ansible-lint (production profile), yamllint, syntax checks,
and the roles' interface conventions (every default documented in the argument spec, role
prefixed, platform dispatch in tasks/main.yml only)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from ansible_cli import ROOT, run_tool

ROLES = ["grpclab", "cluster", "cilium", "grpc_apps", "grpc_probe", "churn", "watch"]
PLAYBOOKS = sorted(ROOT.glob("playbooks/*.yml"))
# variables a role reads but does not own (set by the inventory)
SHARED = {"grpclab_platform"}


@pytest.mark.slow
def test_ansible_lint_production_profile() -> None:
    done = run_tool("ansible-lint", "--profile", "production", "--offline")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]


def test_yamllint() -> None:
    done = run_tool("yamllint", "--strict", ".")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_every_playbook_passes_syntax_check() -> None:
    playbooks = [str(p.relative_to(ROOT)) for p in PLAYBOOKS]
    playbooks += [
        str(p.relative_to(ROOT))
        for p in sorted(ROOT.glob("molecule/default/*.yml"))
        if p.name != "molecule.yml"
    ]
    assert "playbooks/cilium.yml" in playbooks and "playbooks/teardown.yml" in playbooks
    done = run_tool("ansible-playbook", "--syntax-check", *playbooks)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {}


@pytest.mark.parametrize("role", ROLES)
def test_role_interface_is_documented_and_prefixed(role: str) -> None:
    base = ROOT / "roles" / role
    defaults = load(base / "defaults" / "main.yml")
    options = load(base / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    assert load(base / "meta" / "main.yml")["galaxy_info"]["role_name"] == role
    for name in defaults:
        assert name.startswith(f"{role}_"), f"{role}: default {name} is not role-prefixed"
        assert name in options, f"{role}: default {name} missing from meta/argument_specs.yml"
    for name, spec in options.items():
        assert name in defaults or name in SHARED, f"{role}: {name} has a spec but no default"
        assert spec.get("description"), f"{role}: {name} has no description"
    # each default is commented: a comment line opens the paragraph it belongs to
    lines = (base / "defaults" / "main.yml").read_text().splitlines()
    for index, line in enumerate(lines):
        match = re.match(r"^([a-z0-9_]+):", line)
        if match:
            above = index - 1
            while above >= 0 and lines[above].strip() and not lines[above].startswith("#"):
                above -= 1
            assert above >= 0 and lines[above].startswith("#"), (
                f"{role}: {match.group(1)} has no comment above it"
            )


# the grpclab role only holds values: it has no tasks to dispatch
@pytest.mark.parametrize("role", [role for role in ROLES if role != "grpclab"])
def test_roles_dispatch_on_the_platform_and_never_branch_on_it(role: str) -> None:
    tasks = ROOT / "roles" / role / "tasks"
    main = load_list(tasks / "main.yml")
    # geerlingguy's first_found: vars/<platform>.yml where there is one, then tasks/<platform>.yml,
    # else kubernetes.yml, which kind and existing share
    includes = [task for task in main if "ansible.builtin.include_tasks" in task]
    files = [str(task["ansible.builtin.include_tasks"]) for task in includes]
    assert any("[grpclab_platform ~ '.yml', 'kubernetes.yml']" in file for file in files), files
    assert (tasks / "lab.yml").exists() and (tasks / "kubernetes.yml").exists()
    assert not (tasks / "kind.yml").exists() and not (tasks / "existing.yml").exists()
    for path in tasks.glob("*.yml"):
        text = path.read_text()
        assert not re.search(r"when:.*grpclab_platform", text), (
            f"{path.relative_to(ROOT)} branches on grpclab_platform; dispatch instead"
        )


def load_list(path: Path) -> list:
    return yaml.safe_load(path.read_text())


def test_every_scenario_playbook_imports_the_prelude_first_tagged_always() -> None:
    for path in PLAYBOOKS:
        if path.name == "prelude.yml":
            continue
        plays = load_list(path)
        first = plays[0]
        assert first.get("ansible.builtin.import_playbook") == "prelude.yml", path.name
        assert "always" in first.get("tags", []), path.name

"""The README is the user's first contact: its commands are CI's, its tables the real interface."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def first_commands() -> list[str]:
    block = re.search(r"```sh\n(.*?)```", README, re.S).group(1)
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def test_the_first_lines_show_set_up_and_run_then_the_tests():
    setup, tests = first_commands()
    assert "pip install" in setup and setup.endswith("ansible-playbook playbooks/cilium.yml")
    assert tests == "python -m pytest"


def test_ci_runs_the_readme_commands():
    ci = (ROOT / ".ci" / "run").read_text()
    setup, tests = first_commands()
    install = setup.removesuffix(" && ansible-playbook playbooks/cilium.yml")
    assert install in ci, "CI must install with the README's set-up command"
    assert tests in ci.splitlines(), "CI must run the README's test command as it is written"


def test_every_role_variable_is_in_the_readme():
    missing = []
    for spec_file in sorted(ROOT.glob("roles/*/meta/argument_specs.yml")):
        options = yaml.safe_load(spec_file.read_text())["argument_specs"]["main"]["options"]
        for name in options:
            mentioned = re.search(rf"`{re.escape(name)}`", README) or (
                # rows that group a family: grpc_probe_calls / _connections, ..._{a,b}_version
                re.search(rf"`{re.escape(name.rsplit('_', 1)[0])}_[^`]*`", README))
            if not mentioned:
                missing.append(f"{spec_file.parts[-3]}: {name}")
    assert not missing, f"variables missing from the README: {missing}"


def test_the_picture_it_shows_is_committed():
    for image in re.findall(r"!\[[^]]*\]\(([^)]+)\)", README):
        assert (ROOT / image).is_file(), image

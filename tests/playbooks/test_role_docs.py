"""Every role is documented where Ansible reads role docs: ``ansible-doc -t role -r roles
<role>`` (a real ansible-doc call) shows each role's entry point, and every option of its
meta/argument_specs.yml, the one place a variable is described, has a description and a type;
defaults/main.yml holds values with at most a one-line comment each."""

from __future__ import annotations

import json

import pytest
import yaml
from ansible_cli import ROOT, run_tool

ROLES = sorted(path.parent.parent.name for path in ROOT.glob("roles/*/meta/argument_specs.yml"))


def test_every_role_has_an_argument_spec() -> None:
    assert {"grpclab", "cluster", "cilium", "grpc_apps", "grpc_probe"} <= set(ROLES)
    assert not (ROOT / "roles/kind_cluster").exists()


@pytest.mark.parametrize("role", ROLES)
def test_ansible_doc_shows_the_role_with_every_option_described(role: str) -> None:
    done = run_tool("ansible-doc", "-t", "role", "-r", "roles", "--json", role)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "WARNING" not in done.stderr, done.stderr[-3000:]
    main = json.loads(done.stdout)[role]["entry_points"]["main"]
    spec = yaml.safe_load((ROOT / "roles" / role / "meta/argument_specs.yml").read_text())
    assert set(main["options"]) == set(spec["argument_specs"]["main"]["options"])
    for name, option in main["options"].items():
        assert option.get("description"), f"{role}: {name} has no description"
        assert option.get("type"), f"{role}: {name} has no type"
    defaults = yaml.safe_load((ROOT / "roles" / role / "defaults/main.yml").read_text()) or {}
    for name, value in defaults.items():
        # a literal default is written in the spec too (ansible-doc shows it); a templated one
        # is described in words
        if not (isinstance(value, str) and "{{" in value) and role != "grpc_probe":
            assert main["options"][name].get("default") == value, f"{role}: {name} default"


@pytest.mark.parametrize("role", [role for role in ROLES if role != "grpc_probe"])
def test_defaults_keep_values_with_at_most_one_comment_line_each(role: str) -> None:
    lines = (ROOT / "roles" / role / "defaults/main.yml").read_text().splitlines()
    comments = 0
    for line in lines[2:]:  # after "---" and the file's own one-line header
        comments = comments + 1 if line.startswith("#") else 0
        assert comments <= 1, f"{role}: more than one comment line at {line!r}"

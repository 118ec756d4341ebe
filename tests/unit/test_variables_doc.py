"""docs/variables.md is generated from the argument specs, and a stale copy fails here."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

# the checkout: the first folder above this file with a pyproject.toml (the file may move
# between test tiers)
ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
TOOL = ROOT / "tools" / "gen_variables_doc.py"


def load_tool():
    spec = importlib.util.spec_from_file_location("gen_variables_doc", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def copy_of_checkout(tmp_path: Path) -> Path:
    """The files the generator reads (specs, which role pages exist), and the committed page."""
    root = tmp_path / "checkout"
    for spec in [*ROOT.glob("roles/*/meta/argument_specs.yml"), *ROOT.glob("roles/*/README.md")]:
        target = root / spec.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(spec, target)
    for name in ("playbooks/vars/argument_specs.yml", "docs/variables.md"):
        if (ROOT / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / name, root / name)
    return root


def test_the_committed_page_is_what_the_specs_generate():
    tool = load_tool()
    committed = (ROOT / "docs" / "variables.md").read_text()
    assert committed == tool.render(ROOT), (
        "docs/variables.md is stale: run python tools/gen_variables_doc.py and commit it"
    )


def test_every_variable_of_every_role_has_a_row():
    import yaml

    page = (ROOT / "docs" / "variables.md").read_text()
    for spec in sorted(ROOT.glob("roles/*/meta/argument_specs.yml")):
        role = spec.parts[-3]
        assert f"## Role {role}\n" in page
        for entry in yaml.safe_load(spec.read_text())["argument_specs"].values():
            for name in entry.get("options") or {}:
                assert f"| `{name}` |" in page, f"{role}: {name}"


def test_the_output_is_deterministic():
    tool = load_tool()
    assert tool.render(ROOT) == tool.render(ROOT)


def test_check_fails_with_one_line_when_a_description_changes(tmp_path, capsys):
    tool = load_tool()
    root = copy_of_checkout(tmp_path)
    check = ["--check", "--root", str(root)]
    assert tool.main(check) == 0

    spec = root / "roles" / "grpclab" / "meta" / "argument_specs.yml"
    text = spec.read_text()
    changed = text.replace("Server replicas, at least 1", "Server replicas, one or more", 1)
    assert changed != text
    spec.write_text(changed)
    capsys.readouterr()

    assert tool.main(check) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and "docs/variables.md is stale" in err

    assert tool.main(["--root", str(root)]) == 0
    assert "Server replicas, one or more" in (root / "docs" / "variables.md").read_text()
    assert tool.main(check) == 0

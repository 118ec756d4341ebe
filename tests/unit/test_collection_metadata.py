"""The grpclab.lab collection's metadata is true: its README, runtime.yml, CHANGELOG, galaxy.yml."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

# the checkout: the first folder above this file with a pyproject.toml (the file may move
# between test tiers)
ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
COLLECTION = ROOT / "collections" / "ansible_collections" / "grpclab" / "lab"
PLUGIN_KINDS = {"modules": "module", "action": "action", "filter": "filter", "lookup": "lookup"}
REMOVED_MODULES = {"process", "preflight"}


def plugins_in_tree() -> dict[str, str]:
    """Every plugin a play can name, read from plugins/: an action wins over its doc module."""
    found: dict[str, str] = {}
    for folder, kind in PLUGIN_KINDS.items():
        for path in sorted((COLLECTION / "plugins" / folder).glob("*.py")):
            if path.stem == "__init__":
                continue
            if found.get(path.stem) != "action":
                found[path.stem] = kind
    return found


def plugins_in_readme() -> dict[str, str]:
    text = (COLLECTION / "README.md").read_text()
    rows = re.findall(r"^\| `grpclab\.lab\.([a-z0-9_]+)` \| ([a-z]+) \|", text, re.M)
    return dict(rows)


def test_the_readme_lists_exactly_the_plugins_that_exist():
    tree, readme = plugins_in_tree(), plugins_in_readme()
    assert sorted(set(tree) - set(readme)) == [], "plugins the README's table does not list"
    assert sorted(set(readme) - set(tree)) == [], "plugins the README lists that do not exist"
    assert readme == tree, "each plugin's kind as in plugins/"


def test_removed_modules_are_tombstones_with_a_warning():
    runtime = yaml.safe_load((COLLECTION / "meta" / "runtime.yml").read_text())
    galaxy = yaml.safe_load((COLLECTION / "galaxy.yml").read_text())
    modules = runtime["plugin_routing"]["modules"]
    assert set(modules) >= REMOVED_MODULES
    for name in REMOVED_MODULES:
        assert not (COLLECTION / "plugins" / "modules" / f"{name}.py").exists()
        tombstone = modules[name]["tombstone"]
        assert tombstone["warning_text"].strip()
        removed_in = tuple(int(part) for part in tombstone["removal_version"].split("."))
        assert removed_in <= tuple(int(part) for part in galaxy["version"].split("."))


def test_the_changelog_starts_with_galaxys_version():
    galaxy = yaml.safe_load((COLLECTION / "galaxy.yml").read_text())
    versions = re.findall(r"^## (\S+)", (COLLECTION / "CHANGELOG.md").read_text(), re.M)
    assert versions[0] == galaxy["version"]


def test_galaxy_depends_on_the_collections_the_requirements_pin():
    galaxy = yaml.safe_load((COLLECTION / "galaxy.yml").read_text())
    pins = {
        entry["name"]: entry["version"]
        for entry in yaml.safe_load((ROOT / "collections" / "requirements.yml").read_text())[
            "collections"
        ]
    }
    for name in ("kubernetes.core", "community.docker"):
        assert galaxy["dependencies"][name] == f"=={pins[name]}", name


def test_every_plugins_documentation_parses() -> None:
    # ansible-doc and ansible-lint read these as YAML: a stray ": " breaks them for users
    blocks = 0
    for path in sorted(COLLECTION.glob("plugins/*/*.py")):
        for node in ast.parse(path.read_text()).body:
            if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)):
                continue
            name = getattr(node.targets[0], "id", "")
            if name in ("DOCUMENTATION", "EXAMPLES", "RETURN"):
                blocks += 1
                try:
                    yaml.safe_load(node.value.value)
                except yaml.YAMLError as error:
                    raise AssertionError(f"{path.name} {name}: {error}") from None
    assert blocks > 40

"""The README is the user's first contact: its commands are CI's, and it stays short.

What must hold, not what it must repeat: the two commands come first and are the ones CI runs,
the README stays within ~200 lines, every link of every document resolves to a file (and a
heading, for an anchor), every playbook is mentioned in the docs, and every role has a README
with the sections a role's README has. The variables are in docs/variables.md, generated
(tests/unit/test_variables_doc.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

# the checkout: the first folder above this file with a pyproject.toml (the file may move
# between test tiers)
ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
README = (ROOT / "README.md").read_text()
MAX_README_LINES = 220

# The documents a user reads: the README, docs/, CONTRIBUTING, the roles' and collection's.
DOCUMENTS = sorted(
    {
        ROOT / "README.md",
        ROOT / "CONTRIBUTING.md",
        *ROOT.glob("docs/**/*.md"),
        *ROOT.glob("roles/*/README.md"),
        *ROOT.glob("collections/ansible_collections/*/*/README.md"),
    }
)

# Files and anchors the docs name that other branches of issue 15 create (the packages
# grpclab.probe and grpclab.apps, the roles cluster and churn, whose sections docs/variables.md
# gains when it is generated again). Once they are merged, every entry here exists and the set
# can go.
AFTER_MERGE = {
    "src/grpclab/probe/calls.py",
    "src/grpclab/probe/verdict.py",
    "docs/variables.md#role-cluster",
    "docs/variables.md#role-churn",
}

# Roles whose folder is renamed by another branch: their README is written at the new name.
RENAMED_ROLES = {"kind_cluster": "cluster"}

ROLE_README_SECTIONS = ("Requirements", "Role Variables", "Example Playbook")

LINK = re.compile(r"(?<!\!)\[[^\]]*\]\(([^)\s]+)\)")
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")


def first_commands() -> list[str]:
    block = re.search(r"```sh\n(.*?)```", README, re.S).group(1)
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def prose(text: str) -> str:
    """The text outside fenced code blocks and inline code, where links are links."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(document: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for line in prose_lines(document.read_text()):
        match = re.match(r"^#{1,6} (.+)$", line)
        if match:
            base = slug(match.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def prose_lines(text: str) -> list[str]:
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M).splitlines()


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


def test_the_readme_says_how_to_run_the_fast_tier():
    assert "python -m pytest tests/unit" in README


def test_the_readme_stays_short():
    lines = README.count("\n")
    assert lines <= MAX_README_LINES, (
        f"README.md has {lines} lines (at most {MAX_README_LINES}): move detail into docs/"
    )


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_resolves(document):
    broken = []
    for target in LINK.findall(prose(document.read_text())):
        if re.match(r"^[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        resolved = (document.parent / path).resolve() if path else document
        relative = resolved.relative_to(ROOT).as_posix() if resolved.is_relative_to(ROOT) else ""
        if not resolved.exists():
            if relative not in AFTER_MERGE:
                broken.append(f"{target}: no such file")
            continue
        if anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            if f"{relative}#{anchor}" in AFTER_MERGE:
                continue
            broken.append(f"{target}: no heading with anchor #{anchor}")
    assert not broken, f"{document.relative_to(ROOT)}: {broken}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_pictures_shown_are_committed(document):
    for image in IMAGE.findall(document.read_text()):
        assert (document.parent / image).is_file(), f"{document.relative_to(ROOT)}: {image}"


def test_every_playbook_is_mentioned_in_the_docs():
    text = "\n".join(path.read_text() for path in DOCUMENTS)
    missing = [
        path.name
        for path in sorted(ROOT.glob("playbooks/*.yml"))
        if f"playbooks/{path.name}" not in text
    ]
    assert not missing, f"playbooks no document mentions: {missing}"


def roles() -> list[str]:
    return sorted(
        path.name
        for path in (ROOT / "roles").iterdir()
        if (path / "tasks").is_dir() or (path / "meta").is_dir() or (path / "README.md").is_file()
    )


@pytest.mark.parametrize("role", roles())
def test_every_role_has_a_readme_with_its_sections(role):
    folder = ROOT / "roles" / RENAMED_ROLES.get(role, role)
    readme = folder / "README.md"
    assert readme.is_file(), f"roles/{role} has no README.md"
    headings = {
        match.group(1).strip()
        for match in re.finditer(r"^#{2,3} (.+)$", "\n".join(prose_lines(readme.read_text())), re.M)
    }
    missing = [section for section in ROLE_README_SECTIONS if section not in headings]
    assert not missing, f"{readme.relative_to(ROOT)} lacks the sections {missing}"
    assert "docs/variables.md" in readme.read_text(), "its variables: a link to the reference"

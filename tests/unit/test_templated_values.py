"""No templated value in the roles, playbooks or molecule scenarios is over 200 characters or
spans more than 3 lines: logic lives in Python (the collection's filters, lookups and actions),
YAML only wires it (issue 15, step 4)."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("roles", "playbooks", "molecule")
MAX_CHARS, MAX_LINES = 200, 3


def yaml_files() -> list[Path]:
    return sorted(
        path
        for folder in FOLDERS
        for pattern in ("*.yml", "*.yaml")
        for path in (ROOT / folder).rglob(pattern)
    )


def scalars(node: yaml.Node):
    if isinstance(node, yaml.ScalarNode):
        yield node
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from scalars(item)
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield from scalars(key)
            yield from scalars(value)


def source_lines(text: str, node: yaml.ScalarNode) -> int:
    """Lines of the file the scalar spans (a block scalar's indicator line not counted)."""
    lines = text[node.start_mark.index : node.end_mark.index].rstrip().splitlines()
    if node.style in ("|", ">"):
        lines = lines[1:]
    return len(lines)


def long_templated_values(path: Path) -> list[str]:
    text = path.read_text()
    found = []
    for document in yaml.compose_all(text, Loader=yaml.SafeLoader):
        if document is None:
            continue
        for node in scalars(document):
            value = node.value
            if not isinstance(value, str) or ("{{" not in value and "{%" not in value):
                continue
            lines = source_lines(text, node)
            if len(value) > MAX_CHARS or lines > MAX_LINES:
                where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
                found.append(
                    f"{where}:{node.start_mark.line + 1}: {len(value)} characters, {lines} lines"
                )
    return found


def test_the_scan_sees_the_files_and_measures_them(tmp_path: Path) -> None:
    assert ROOT / "playbooks" / "prelude.yml" in yaml_files()
    sample = tmp_path / "sample.yml"
    sample.write_text(
        'short: "{{ a }}"\nlong: >-\n  {{ a\n     | b\n     | c\n     | d }}\n'
        f'wide: "{{{{ {"x" * 200} }}}}"\nplain: {"y" * 300}\n'
    )
    found = long_templated_values(sample)
    assert [line.split(": ", 1)[1] for line in found] == [
        "28 characters, 4 lines",
        "206 characters, 1 lines",
    ], found


def test_no_templated_value_is_over_200_characters_or_3_lines() -> None:
    found = [line for path in yaml_files() for line in long_templated_values(path)]
    assert found == [], "\n".join(found)

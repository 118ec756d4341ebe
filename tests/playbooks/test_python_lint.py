"""The Python stays clean beside the Ansible side: ruff's linter and ruff's formatter, on the
whole tree, with the settings of pyproject.toml (what CONTRIBUTING.md asks before a commit)."""

from __future__ import annotations

from ansible_cli import run_tool


def test_ruff_check() -> None:
    done = run_tool("ruff", "check", "--no-cache", ".")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_ruff_format_check() -> None:
    done = run_tool("ruff", "format", "--check", "--no-cache", ".")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]

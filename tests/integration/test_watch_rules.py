"""The alert rules (monitoring/alerts.yml) with the real promtool: they load, and their unit
tests (monitoring/alerts_test.yml) pass. Skips without promtool, except in CI
(tests/support/prometheus.py)."""

from __future__ import annotations

import subprocess

from prometheus import RULES, tool


def _promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [tool("promtool"), *args],
        cwd=RULES.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_rules_load() -> None:
    done = _promtool("check", "rules", RULES.name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 4 rules found" in done.stdout


def test_the_rules_pass_their_promtool_tests() -> None:
    done = _promtool("test", "rules", "alerts_test.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout

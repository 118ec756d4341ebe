"""Run the project's Ansible tools as a user would, and read what they report.

From the project root (so its ansible.cfg applies, never an ANSIBLE_CONFIG from outside), with
the commands of this virtualenv, without colour, and without proxies (every target is local).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
_RECAP = re.compile(r"^(\S+)\s+:\s+(ok=\d+.*)$", re.MULTILINE)


def run_tool(tool: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``<venv>/bin/TOOL ARGS`` from the project root; never raises on a non-zero exit."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key != "ANSIBLE_CONFIG" and not key.lower().endswith("_proxy")
    }
    env.update(
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        NO_COLOR="1",
        PY_COLORS="0",
        PYTHONUNBUFFERED="1",
    )
    return subprocess.run(
        [str(BIN / tool), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def recap(output: str) -> dict[str, int]:
    """The counters (ok, changed, unreachable, failed, ...) of the last PLAY RECAP line."""
    lines = _RECAP.findall(output)
    assert lines, f"no PLAY RECAP line:\n{output[-3000:]}"
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", lines[-1][1])}

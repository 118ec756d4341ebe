"""A real headless Chromium with no network, to open the reports' HTML as a reader would."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM_TIMEOUT = 120


def _network_isolated() -> bool:
    """True when Chromium can run in a network namespace of its own (no network at all)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    probe = subprocess.run([unshare, "--net", "true"], capture_output=True, check=False)
    return probe.returncode == 0


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess:
    """Headless Chromium that cannot reach anything: its own network namespace when the
    machine allows it, and every host name mapped to nowhere in any case."""
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail("chromium is not installed: apt-get install -y chromium", pytrace=False)
    argv = [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        *args,
    ]
    if _network_isolated():
        argv = ["unshare", "--net", *argv]
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT, check=False
    )

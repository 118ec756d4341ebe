"""The tiers: each test gets the marker of the folder it is in.

- ``tests/unit``: no process, no port, no subprocess (pure functions, renders, parsers); runs
  alone, without the lab lock: ``python -m pytest tests/unit`` (or ``-m unit``).
- ``tests/integration``: real servers, a real Envoy, the lab node and its processes, the probe's
  command as a process; its fixtures are in tests/integration/conftest.py.
- ``tests/playbooks``: real ``ansible-playbook``, ``ansible-lint``, ``molecule``, ``ansible-doc``.
- ``tests/containers``: Docker.

Every tier but unit binds the lab's addresses or runs plays on the lab: run them under the lab
lock, ``flock /tmp/grpclab-net.lock python -m pytest``. The helper modules every tier imports
(servers, lab_node, ansible_cli, probe_helpers, ...) are in tests/support (pyproject's
``pythonpath``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# The servers are forked with a preexec_fn from this process, which also runs gRPC: its fork
# support must be off before gRPC is first imported (see tests/support/servers.py).
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

TESTS = Path(__file__).resolve().parent
TIERS = ("unit", "integration", "playbooks", "containers")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its tier, the first folder under tests/ (``-m unit`` selects it)."""
    for item in items:
        try:
            tier = item.path.relative_to(TESTS).parts[0]
        except ValueError:
            continue
        if tier in TIERS:
            item.add_marker(tier)

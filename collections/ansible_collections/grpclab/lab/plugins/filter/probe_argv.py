# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""Filter grpclab.lab.probe_argv: the probe's command line from the grpc_probe role's settings,
the same on every platform (only the program and the target differ)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

DOCUMENTATION = r"""
---
name: probe_argv
short_description: The grpclab probe's argv for a target and the grpc_probe role's settings
version_added: 2.0.0
description:
  - Over time (O(settings.duration) above 0) C(--duration)/C(--rate); else C(--calls) and
    C(--concurrency) only when set (unset, the probe sizes its calls for the replicas).
  - C(--expect none) when the role judges the timeline itself (V(rotating)).
options:
  _input:
    description: The probe's target (C(host:port), C(dns:///name:port), ...).
    type: str
    required: true
  program:
    description: The command before the options (C(python -m grpclab.probe) or C(grpclab-probe)).
    type: list
    elements: str
    required: true
  settings:
    description: >-
      duration, rate, calls, concurrency, connections, expect, replicas, min_share,
      max_error_rate, timeout, lb.
    type: dict
    required: true
author:
  - grpclab maintainers
"""

EXAMPLES = r"""
- name: The probe's command in the client pod
  ansible.builtin.set_fact:
    argv: >-
      {{ 'grpc-server.grpclab.svc.cluster.local:50051'
         | grpclab.lab.probe_argv(['grpclab-probe'], settings) }}
"""

RETURN = r"""
_value:
  description: The argv, every item a string.
  type: list
  elements: str
"""

# promises the role judges itself over the probe's timeline: the probe only reports
JUDGED_BY_THE_ROLE = frozenset({"rotating"})


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _set(value: Any) -> bool:
    return value is not None and value != ""


def probe_argv(target: str, program: Sequence[Any], settings: Mapping[str, Any]) -> list[str]:
    """``program --target TARGET OPTIONS``: the probe's options in a fixed order."""
    options: list[Any] = []
    if float(settings.get("duration") or 0) > 0:
        options += ["--duration", settings["duration"], "--rate", settings["rate"]]
    else:
        if _set(settings.get("calls")):
            options += ["--calls", settings["calls"]]
        if _set(settings.get("concurrency")):
            options += ["--concurrency", settings["concurrency"]]
    expect = settings["expect"]
    options += [
        "--connections",
        settings["connections"],
        "--expect",
        "none" if expect in JUDGED_BY_THE_ROLE else expect,
        "--replicas",
        settings["replicas"],
        "--min-share",
        settings["min_share"],
        "--max-error-rate",
        settings["max_error_rate"],
        "--timeout",
        settings["timeout"],
        "--connect-timeout",
        settings["timeout"],
        "--lb",
        settings["lb"],
        "--json",
    ]
    return [_text(item) for item in [*program, "--target", target, *options]]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"probe_argv": probe_argv}

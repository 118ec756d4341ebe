# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""Filter grpclab.lab.cilium_rollouts: the workloads the cilium/cilium chart makes with the
given values, whose rollouts the cilium role waits for after its Helm install."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

DOCUMENTATION = r"""
---
name: cilium_rollouts
short_description: The workloads the Cilium chart makes, to wait for their rollouts
version_added: 1.0.0
description:
  - Always C(DaemonSet/cilium) and C(Deployment/cilium-operator).
  - C(DaemonSet/cilium-envoy) when the chart makes it, as its templates decide. Chart 1.15
    reads C(envoy.enabled) alone (default false). From 1.16 on, C(envoy.enabled) null means
    true unless C(upgradeCompatibility) is older than 1.16.
  - C(l7Proxy=false), the other way to drop it, makes both charts refuse the
    C(loadBalancer.l7.backend=envoy) the cilium role sets, so it is not looked at.
options:
  _input:
    description: The chart values, the user's merged over grpclab's.
    type: dict
    required: true
  chart_version:
    description: The chart's version (C(cilium_chart_version)).
    type: str
    required: true
author:
  - grpclab maintainers
"""

EXAMPLES = r"""
- name: Note what to wait for
  ansible.builtin.set_fact:
    awaited: "{{ {'envoy': {'enabled': false}} | grpclab.lab.cilium_rollouts('1.19.5') }}"
"""

RETURN = r"""
_value:
  description: The workloads, each C(kind) and C(name).
  type: list
  elements: dict
"""


def _version(text: Any) -> tuple[int, ...]:
    """'1.19.5', 'v1.15.4' or '1.16' as a tuple of ints (the numbers before anything else)."""
    match = re.match(r"v?(\d+(?:\.\d+)*)", str(text).strip())
    if not match:
        raise ValueError(f"not a chart version: {text!r}")
    return tuple(int(part) for part in match.group(1).split("."))


def envoy_daemonset(values: Mapping[str, Any], chart_version: str) -> bool:
    """Whether the chart's templates render ds/cilium-envoy (preflight aside)."""
    enabled = (values.get("envoy") or {}).get("enabled")
    if _version(chart_version) < (1, 16):
        return bool(enabled)
    if enabled is None:
        return _version(values.get("upgradeCompatibility") or "1.16") >= (1, 16)
    return bool(enabled)


def cilium_rollouts(values: Mapping[str, Any], chart_version: str) -> list[dict[str, str]]:
    workloads = [
        {"kind": "DaemonSet", "name": "cilium"},
        {"kind": "Deployment", "name": "cilium-operator"},
    ]
    if envoy_daemonset(values, chart_version):
        workloads.append({"kind": "DaemonSet", "name": "cilium-envoy"})
    return workloads


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"cilium_rollouts": cilium_rollouts}

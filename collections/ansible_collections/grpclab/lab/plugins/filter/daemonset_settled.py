# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""Filter grpclab.lab.daemonset_settled: whether a DaemonSet's rollout is over, as kubectl
rollout status decides it (the sibling of deployment_settled)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DOCUMENTATION = r"""
---
name: daemonset_settled
short_description: Whether a DaemonSet has rolled out completely
version_added: 2.0.0
description:
  - True when the controller has seen the latest spec (C(status.observedGeneration) at least
    C(metadata.generation)) and C(status.updatedNumberScheduled), C(status.numberAvailable) and
    C(status.numberReady) all equal C(status.desiredNumberScheduled), which is above 0, so every
    node runs an updated, ready pod and no old one is left.
options:
  _input:
    description: A DaemonSet resource (C(kubernetes.core.k8s_info)), or null.
    type: dict
    required: true
author:
  - grpclab maintainers
"""

EXAMPLES = r"""
- name: Wait for cilium-envoy to roll out
  kubernetes.core.k8s_info:
    kind: DaemonSet
    name: cilium-envoy
    namespace: kube-system
  register: found
  until: found.resources | first | default(none) | grpclab.lab.daemonset_settled
  retries: 60
  delay: 2
"""

RETURN = r"""
_value:
  description: True once the rollout is complete.
  type: bool
"""


def daemonset_settled(daemonset: Mapping[str, Any] | None) -> bool:
    if not daemonset:
        return False
    meta, status = daemonset.get("metadata") or {}, daemonset.get("status") or {}
    if int(status.get("observedGeneration") or 0) < int(meta.get("generation") or 0):
        return False
    wanted = int(status.get("desiredNumberScheduled") or 0)
    counts = [
        int(status.get(key) or 0)
        for key in ("updatedNumberScheduled", "numberAvailable", "numberReady")
    ]
    return wanted > 0 and all(count == wanted for count in counts)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"daemonset_settled": daemonset_settled}

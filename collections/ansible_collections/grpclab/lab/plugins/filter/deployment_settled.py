# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""Filter grpclab.lab.deployment_settled: whether a Deployment's rollout is over, as
kubectl rollout status decides it (Available=True is not enough)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DOCUMENTATION = r"""
---
name: deployment_settled
short_description: Whether a Deployment has rolled out completely
version_added: 2.0.0
description:
  - True when the controller has seen the latest spec (C(status.observedGeneration) at least
    C(metadata.generation)) and the updated, available, ready and total replicas all equal
    C(spec.replicas), so no old pod is left.
  - C(Available=True) alone holds through a whole rolling update (C(maxUnavailable) rounds down
    to 0 with 3 replicas), so it says nothing about the rollout being over.
options:
  _input:
    description: A Deployment resource (C(kubernetes.core.k8s_info)), or null.
    type: dict
    required: true
author:
  - grpclab maintainers
"""

EXAMPLES = r"""
- name: Wait for the rollout to settle
  kubernetes.core.k8s_info:
    kind: Deployment
    name: grpc-server
    namespace: grpclab
  register: found
  until: found.resources | first | default(none) | grpclab.lab.deployment_settled
  retries: 60
  delay: 2
"""

RETURN = r"""
_value:
  description: True once the rollout is complete.
  type: bool
"""


def deployment_settled(deployment: Mapping[str, Any] | None) -> bool:
    if not deployment:
        return False
    meta, spec = deployment.get("metadata") or {}, deployment.get("spec") or {}
    status = deployment.get("status") or {}
    if int(status.get("observedGeneration") or 0) < int(meta.get("generation") or 0):
        return False
    wanted = int(spec.get("replicas", 1))
    counts = [
        status.get(key) or 0
        for key in ("updatedReplicas", "availableReplicas", "readyReplicas", "replicas")
    ]
    return all(int(count) == wanted for count in counts)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"deployment_settled": deployment_settled}

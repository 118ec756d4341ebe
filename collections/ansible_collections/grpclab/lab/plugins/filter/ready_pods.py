# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""Filter grpclab.lab.ready_pods: the Pods of a k8s_info answer that serve (Ready, not
terminating), as an Endpoints object would list them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

DOCUMENTATION = r"""
---
name: ready_pods
short_description: Keep the Pods that are Ready and not terminating
version_added: 1.0.0
description:
  - From C(kubernetes.core.k8s_info) resources, keeps the Pods whose C(Ready) condition is
    C(True) and that carry no C(metadata.deletionTimestamp).
options:
  _input:
    description: Pod resources.
    type: list
    elements: dict
    required: true
author:
  - grpclab maintainers
"""

EXAMPLES = r"""
- name: Note the serving pods
  ansible.builtin.set_fact:
    serving: "{{ found.resources | grpclab.lab.ready_pods | map(attribute='metadata.name') }}"
"""

RETURN = r"""
_value:
  description: The Pods that serve, in the order given.
  type: list
  elements: dict
"""


def is_ready(pod: Mapping[str, Any]) -> bool:
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def ready_pods(pods: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [pod for pod in pods if is_ready(pod)]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"ready_pods": ready_pods}

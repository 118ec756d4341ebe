# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""Lookup grpclab.lab.capacity: what the Python running Ansible offers the lab."""

from __future__ import annotations

import importlib.util
import math

from ansible.plugins.lookup import LookupBase

DOCUMENTATION = r"""
---
name: capacity
short_description: Whether the lab can run here, and how many server replicas
version_added: 1.1.0
description:
  - Asked in the controller's own process, which runs on the Python that runs ansible-playbook
    (O(ansible_playbook_python)), the one the lab's plugins, node and pods run on.
  - Names the given modules that this Python cannot import.
  - When C(grpclab.lab) imports, the lab's limits from the node's own constants - its pod range
    must hold the server replicas with a rollout's surge (25%, Kubernetes' default) and the
    client pod with its surge of one; each server takes about C(MEMORY_PER_POD) of the memory
    available now.
options:
  _terms:
    description: Modules that must be importable (for example V(grpc), V(grpclab.apps.server)).
    required: true
"""

EXAMPLES = r"""
- name: Refuse more replicas than the lab can run
  ansible.builtin.assert:
    that: grpclab_replicas | int <= (query('grpclab.lab.capacity', 'grpclab.lab') | first).by_range
"""

RETURN = r"""
_list:
  description: One dict - C(missing) (the modules that do not import), and when grpclab.lab imports
    C(pod_range), C(by_range) (most replicas the pod range holds), C(per_pod_mb), C(available_mb)
    and C(by_memory) (most replicas the available memory holds).
  type: list
  elements: dict
"""


SURGE = 0.25  # a rollout's maxSurge, Kubernetes' default
CLIENT_PODS = 2  # the client pod, and its surge during a rollout


def missing(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is None
    except ImportError:
        return True


def by_range(pods: int, max_replicas: int) -> int:
    """The most server replicas that fit ``pods`` addresses with a surge, and the client."""
    fits = [r for r in range(1, max_replicas + 1) if r + math.ceil(r * SURGE) + CLIENT_PODS <= pods]
    return max(fits, default=0)


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        found = {"missing": [str(term) for term in terms if missing(str(term))]}
        if not missing("grpclab.lab.node"):
            from grpclab.lab import manifestfields, node

            per_pod = node.MEMORY_PER_POD // 2**20
            available = node.mem_available() // 2**20
            found.update(
                pod_range=len(node.POD_RANGE),
                by_range=by_range(len(node.POD_RANGE), manifestfields.MAX_REPLICAS),
                per_pod_mb=per_pod,
                available_mb=available,
                by_memory=available // per_pod,
            )
        return [found]

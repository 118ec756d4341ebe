# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""Filter grpclab.lab.replica_cap: why the lab cannot run so many server replicas."""

from __future__ import annotations

from ansible_collections.grpclab.lab.plugins.plugin_utils import prelude

DOCUMENTATION = r"""
---
name: replica_cap
short_description: Why the lab cannot run the server replicas asked for, in one line
version_added: 2.0.0
description:
  - The input is the answer of the C(grpclab.lab.capacity) lookup (C(by_range), C(by_memory),
    C(pod_range), C(per_pod_mb), C(available_mb)).
  - Returns "" when the lab can run O(replicas) servers.
options:
  _input:
    description: The capacity.
    type: dict
    required: true
  replicas:
    description: The server replicas asked for (C(grpclab_replicas)).
    type: int
    required: true
author:
  - grpclab maintainers
"""

EXAMPLES = r"""
- name: Refuse more replicas than the lab can run
  ansible.builtin.fail:
    msg: "{{ capacity | grpclab.lab.replica_cap(grpclab_replicas) }}"
  when: capacity | grpclab.lab.replica_cap(grpclab_replicas) | length > 0
"""

RETURN = r"""
_value:
  description: The line, or "".
  type: str
"""


def replica_cap(capacity, replicas):
    return prelude.replica_cap(replicas, capacity)


class FilterModule:
    def filters(self):
        return {"replica_cap": replica_cap}

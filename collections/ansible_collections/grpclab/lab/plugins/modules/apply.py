# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""Documentation of the action grpclab.lab.apply (the code is plugins/action/apply.py)."""

DOCUMENTATION = r"""
---
module: apply
short_description: Desired-state files of a lab cluster, as kubectl apply sends objects
version_added: 1.1.0
description:
  - An action that runs on the controller, which is the lab host; it first takes the cluster's
    play lock (see M(grpclab.lab.node)).
  - V(present) - refuses when no node runs for the cluster (nothing is written); validates the
    manifests (C(manifests/*.yaml)) as they would be, with the node's own loader (a field the
    node cannot honour is an error naming it, and nothing is written); replaces each changed
    file atomically; waits until the node has read them, and puts the old files back if the
    node refuses them (it keeps its previous state); with O(wait), waits for every Deployment in
    O(files) as C(grpclab-lab rollout status) does (a pod that never gets Ready fails the task
    with the tail of its log).
  - V(absent) - removes the files.
  - Changed only when a file's content changes; C(--diff) shows the change.
options:
  state_dir:
    description: The cluster's state directory.
    type: path
    required: true
  files:
    description: >-
      File name (relative to O(state_dir)) -> content. With V(absent) only the names count.
    type: dict
    required: true
  state:
    description: V(present) writes, V(absent) removes.
    type: str
    choices: [present, absent]
    default: present
  wait:
    description: Wait for the rollouts of the Deployments in O(files).
    type: bool
    default: false
  wait_timeout:
    description: Seconds for all the rollouts together.
    type: float
    default: 300
  lock_timeout:
    description: Seconds to wait for another play's lock.
    type: float
    default: 900
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
author:
  - grpclab maintainers
"""

EXAMPLES = r"""
- name: Apply the manifests and wait for the rollouts
  grpclab.lab.apply:
    state_dir: /srv/grpclab/.grpclab/lab/grpclab-cilium
    files:
      manifests/services.yaml: "{{ lookup('ansible.builtin.template', 'services.yaml.j2') }}"
    wait: true
"""

RETURN = r"""
files:
  description: The files written or removed.
  returned: always
  type: list
  elements: str
rollout:
  description: What each rollout status said.
  returned: with wait
  type: list
  elements: str
"""

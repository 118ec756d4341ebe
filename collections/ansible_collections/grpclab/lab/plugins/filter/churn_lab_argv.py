# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""Filter grpclab.lab.churn_lab_argv: the command that takes a churn action on the lab node."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
---
name: churn_lab_argv
short_description: The argv that takes a churn action on a lab cluster
version_added: 2.0.0
description:
  - scale-out, scale-in, delete-pod, rollout-restart and proxy-restart through the lab node's
    command line (C(python -m grpclab.lab)); crash is SIGKILL of the victim pod's process.
  - proxy-restart restarts the DaemonSet O(proxy) in kube-system, which on the lab is the node's
    Envoy (a hot restart).
options:
  _input:
    description: The action.
    type: str
    required: true
  python:
    description: The Python that has grpclab.
    type: str
    required: true
  state_dir:
    description: The lab cluster's state folder.
    type: str
    required: true
  deployment:
    description: The Deployment acted on.
    type: str
    required: true
  namespace:
    description: Its namespace.
    type: str
    required: true
  replicas:
    description: The replicas to scale to (scale-out, scale-in).
    type: int
  victim:
    description: The pod acted on (delete-pod, crash), as the lab node lists it (name, pid).
    type: dict
  proxy:
    description: The proxy's DaemonSet (proxy-restart) - kube-proxy, cilium-envoy or cilium.
    type: str
    default: cilium-envoy
author:
  - grpclab maintainers
"""

EXAMPLES = r"""
- name: Take the action
  ansible.builtin.command:
    argv: >-
      {{ 'rollout-restart'
         | grpclab.lab.churn_lab_argv(python, state_dir, 'grpc-server', 'grpclab') }}
"""

RETURN = r"""
_value:
  description: The argv.
  type: list
  elements: str
"""

KILL = "import os, signal, sys; os.kill(int(sys.argv[1]), signal.SIGKILL)"


def churn_lab_argv(
    action: str,
    python: str,
    state_dir: str,
    deployment: str,
    namespace: str,
    replicas: Any = None,
    victim: Mapping[str, Any] | None = None,
    proxy: str = "cilium-envoy",
) -> list[str]:
    victim = victim or {}
    lab = [python, "-m", "grpclab.lab", "--state-dir", state_dir]
    if action == "crash":
        return [python, "-c", KILL, str(victim["pid"])]
    if action == "proxy-restart":
        return [*lab, "rollout", "restart", "daemonset", proxy, "-n", "kube-system"]
    tails = {
        "scale-out": ["scale", "deployment", deployment, "--replicas", str(replicas)],
        "scale-in": ["scale", "deployment", deployment, "--replicas", str(replicas)],
        "delete-pod": ["delete", "pod", str(victim.get("name"))],
        "rollout-restart": ["rollout", "restart", "deployment", deployment],
    }
    if action not in tails:
        known = ", ".join(tails)
        raise AnsibleFilterError(
            f"no churn action {action!r} on the lab: {known}, crash or proxy-restart"
        )
    return [*lab, *tails[action], "-n", namespace]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"churn_lab_argv": churn_lab_argv}

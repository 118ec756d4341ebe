# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""Filter grpclab.lab.pod_names: stable pod-like names for a lab Deployment."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
---
name: pod_names
short_description: Stable pod-like names C(<app>-<template hash>-<suffix>) for the lab's replicas
version_added: 1.0.0
description:
  - Names a Deployment's pods as Kubernetes does (template hash, then a 5-character suffix), but
    deterministically, with C(grpclab.lab.pod_names), so a second run finds the same pods and a
    changed template renames them all.
options:
  _input:
    description: The app name (the Deployment's name).
    type: str
    required: true
  template:
    description: Any string that describes the pod template; include the cluster name.
    type: str
    required: true
  replicas:
    description: How many names.
    type: int
    required: true
author:
  - grpclab maintainers
"""

EXAMPLES = r"""
- name: Name three server pods
  ansible.builtin.debug:
    msg: "{{ 'grpc-server' | grpclab.lab.pod_names('grpclab-cilium/1', 3) }}"
"""

RETURN = r"""
_value:
  description: The names, one per replica index.
  type: list
  elements: str
"""


def pod_names(app, template, replicas):
    try:
        from grpclab.lab import pod_names as names
    except ImportError as error:
        raise AnsibleFilterError(
            f"pod_names needs the grpclab package on the controller: {error}") from error
    try:
        return names(str(app), str(template), int(replicas))
    except ValueError as error:
        raise AnsibleFilterError(f"pod_names: {error}") from error


class FilterModule:
    def filters(self):
        return {"pod_names": pod_names}

# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""Lookup grpclab.lab.get: what a lab node holds, as ``grpclab-lab get WHAT -o json`` prints it."""

from __future__ import annotations

import json
from pathlib import Path

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

DOCUMENTATION = r"""
---
name: get
short_description: What a lab node holds (pods, Services, endpoints, Deployments)
version_added: 1.1.0
description:
  - The lab's counterpart of C(kubernetes.core.k8s) as a lookup - the rows that
    C(grpclab-lab get WHAT -o json) prints, read in the controller's own process (the lab
    host is the controller) through the same code, without starting a command.
  - Fails with the node's one-line error when no node runs for the cluster.
options:
  _terms:
    description: What to get - V(pods), V(services), V(endpoints) or V(deployments).
    required: true
  state_dir:
    description: State directory of the lab cluster.
    type: path
    required: true
"""

EXAMPLES = r"""
- name: The ClusterIP of grpc-server
  ansible.builtin.debug:
    msg: >-
      {{ query('grpclab.lab.get', 'services', state_dir=grpclab_state_dir)
         | selectattr('name', 'eq', 'grpc-server') | map(attribute='cluster_ip') | first }}
"""

RETURN = r"""
_list:
  description: >-
    One dict per row, as C(grpclab-lab get WHAT -o json) prints them (several terms: their
    rows in order).
  type: list
  elements: dict
"""


WHAT = ("pods", "services", "endpoints", "deployments")


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        try:
            from grpclab.lab import cli
            from grpclab.lab import cluster as clusterdir
            from grpclab.lab.errors import LabError
        except ImportError as error:
            raise AnsibleLookupError(f"grpclab is not importable: {error}") from error
        state_dir = Path(self.get_option("state_dir"))
        rows = []
        for term in terms:
            if term not in WHAT:
                raise AnsibleLookupError(f"cannot get {term!r}: one of {', '.join(WHAT)}")
            try:
                status = clusterdir.read_status(state_dir, state_dir.name)
            except LabError as error:
                raise AnsibleLookupError(str(error)) from None
            rows.extend(json.loads(cli.render_get(term, status, "json")))
        return rows

# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""Filter grpclab.lab.churn_lanes: the runs of the churn matrix grouped by the cluster they take,
one lane per cluster. Lanes share nothing, so playbooks/churn.yml runs them at once; the runs of
one lane, which share a cluster, run one after another in the matrix's order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
---
name: churn_lanes
short_description: The runs of a churn matrix, one lane per cluster they take
version_added: 2.0.0
description:
  - Each run takes the cluster of its CNI, the run's C(cni) (the remedy's in the matrix), else its
    scenario's (O(scenario_cni)). O(clusters) says which cluster each CNI brings up; CNIs whose
    clusters have the same C(key) (the same kubeconfig and context, as on an existing cluster)
    share one lane.
  - Each run gets its C(index) in O(_input) and its C(cni). A lane keeps its runs in that order.
options:
  _input:
    description: The runs (grpclab.lab.churn_runs).
    type: list
    elements: dict
    required: true
  scenario_cni:
    description: The CNI (grpclab_cni) of each scenario, by name.
    type: dict
    required: true
  clusters:
    description: >-
      For each CNI, the cluster it brings up: C(name) (grpclab_cluster_name) and C(key) (what
      tells two clusters apart: the kubeconfig and the context).
    type: dict
    required: true
author:
  - grpclab maintainers
"""

EXAMPLES = r"""
- name: One lane per cluster
  ansible.builtin.set_fact:
    churn_lanes: >-
      {{ churn_matrix | grpclab.lab.churn_runs | grpclab.lab.churn_lanes(
         scenario_cni={'baseline': 'default', 'cilium': 'cilium'},
         clusters={'default': {'name': 'grpclab-baseline', 'key': 'a'},
                   'cilium': {'name': 'grpclab-cilium', 'key': 'b'}}) }}
"""

RETURN = r"""
_value:
  description: >-
    The lanes, in the order of their first run: C(name) (the names of the lane's clusters, joined
    by +), C(key) and C(runs) (each run with C(index) and C(cni)).
  type: list
  elements: dict
"""


def churn_lanes(
    runs: Sequence[Mapping[str, Any]],
    scenario_cni: Mapping[str, Any],
    clusters: Mapping[str, Mapping[str, Any]],
) -> list[dict[str, Any]]:
    lanes: dict[str, dict[str, Any]] = {}
    for index, run in enumerate(runs):
        cni = run.get("cni") or scenario_cni.get(run["scenario"])
        if not cni:
            raise AnsibleFilterError(f"churn run {run['remedy']} {run['action']}: no CNI known")
        cluster = clusters.get(str(cni))
        if cluster is None:
            raise AnsibleFilterError(
                f"churn run {run['remedy']} {run['action']}: no cluster known for CNI {cni}"
            )
        key = str(cluster["key"])
        lane = lanes.setdefault(key, {"key": key, "names": [], "runs": []})
        if cluster["name"] not in lane["names"]:
            lane["names"].append(str(cluster["name"]))
        lane["runs"].append({**run, "index": index, "cni": str(cni)})
    return [
        {"name": "+".join(lane["names"]), "key": lane["key"], "runs": lane["runs"]}
        for lane in lanes.values()
    ]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"churn_lanes": churn_lanes}

# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""Filter grpclab.lab.churn_runs: the runs of the churn matrix (playbooks/vars/churn_matrix.yml),
remedy x action, each with its settings, optionally only some remedies or actions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
---
name: churn_runs
short_description: The runs of a churn matrix, remedy x action, with their settings
version_added: 2.0.0
description:
  - Each remedy of O(_input.remedies) is run against each action of O(_input.actions) (or the
    remedy's own C(actions)). A run's settings are the remedy's, else O(_input.defaults); a
    remedy's C(durations) sets the duration per action.
  - O(remedies) and O(actions) keep only the runs named (empty, every one); a name the matrix
    does not have is an error.
options:
  _input:
    description: The matrix (C(actions), C(remedies), C(defaults)).
    type: dict
    required: true
  remedies:
    description: Only these remedies.
    type: list
    elements: str
    default: []
  actions:
    description: Only these actions.
    type: list
    elements: str
    default: []
author:
  - grpclab maintainers
"""

EXAMPLES = r"""
- name: Run each remedy x action
  ansible.builtin.include_tasks: tasks/churn-run.yml
  loop: "{{ churn_matrix | grpclab.lab.churn_runs(remedies=['cilium']) }}"
  loop_control:
    loop_var: churn_run
"""

RETURN = r"""
_value:
  description: >-
    The runs, in the matrix's order: remedy, scenario, action, at, duration, connections,
    max_age, max_age_grace, budgets, cni (the remedy's C(cni): the CNI of the cluster its runs
    take; none, the scenario's).
  type: list
  elements: dict
"""

SETTINGS = ("at", "duration", "connections", "max_age", "max_age_grace", "budgets")


def _names(value: Any) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        return [name.strip() for name in value.split(",") if name.strip()]
    return [str(name) for name in value]


def _unknown(kind: str, asked: Iterable[str], known: list[str]) -> None:
    missing = [name for name in asked if name not in known]
    if missing:
        raise AnsibleFilterError(
            f"the churn matrix has no {kind} {', '.join(missing)}: it has {', '.join(known)}"
        )


def churn_runs(
    matrix: Mapping[str, Any], remedies: Any = None, actions: Any = None
) -> list[dict[str, Any]]:
    defaults = dict(matrix.get("defaults") or {})
    entries = list(matrix.get("remedies") or [])
    all_actions = list(matrix.get("actions") or [])
    known_remedies = [str(entry["remedy"]) for entry in entries]
    known_actions = list(
        dict.fromkeys(all_actions + [a for entry in entries for a in entry.get("actions") or []])
    )
    only_remedies, only_actions = _names(remedies), _names(actions)
    _unknown("remedy", only_remedies, known_remedies)
    _unknown("action", only_actions, known_actions)
    runs = []
    for entry in entries:
        if only_remedies and entry["remedy"] not in only_remedies:
            continue
        for action in entry.get("actions") or all_actions:
            if only_actions and action not in only_actions:
                continue
            run = {key: entry.get(key, defaults.get(key)) for key in SETTINGS}
            run["duration"] = (entry.get("durations") or {}).get(action, run["duration"])
            scenario = entry.get("scenario", entry["remedy"])
            runs.append(
                {
                    "remedy": entry["remedy"],
                    "scenario": scenario,
                    "action": action,
                    **run,
                    "budgets": dict(run["budgets"] or {}),
                    "cni": entry.get("cni"),
                }
            )
    return runs


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"churn_runs": churn_runs}

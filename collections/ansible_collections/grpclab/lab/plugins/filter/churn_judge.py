# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""Filter grpclab.lab.churn_judge: a timeline probe's result judged around one churn action
(grpclab.churnrun), for the grpc_probe role."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
---
name: churn_judge
short_description: Judge a timeline probe's result around one churn action
version_added: 1.0.0
description:
  - Holds the probe's timeline against the remedy's promises for the action
    (C(grpclab.churn.judge)) and returns the result with C(churn) (figures, checks, the
    action's time) and C(passed)/C(summary) replaced by the judgement's.
options:
  _input:
    description: The parsed probe result (schema C(grpclab.probe/v2), with a timeline).
    type: dict
    required: true
  remedy:
    description: The remedy (scenario) the run tried.
    type: str
    required: true
  action:
    description: The churn action taken.
    type: str
    required: true
  at_unix:
    description: Wall-clock time the action was taken (seconds since the epoch).
    type: float
    required: true
  before:
    description: Replica (pod) names before the action.
    type: list
    elements: str
  after:
    description: Replica (pod) names after it, at the end of the run.
    type: list
    elements: str
  restarted:
    description: Replicas restarted under the same name (a crashed container).
    type: list
    elements: str
  budgets:
    description: Overrides of C(grpclab.churn.Budgets) fields.
    type: dict
author:
  - grpclab maintainers
"""

EXAMPLES = r"""
- name: Judge the churn run
  ansible.builtin.set_fact:
    grpc_probe_result: >-
      {{ __result | grpclab.lab.churn_judge(remedy='cilium', action='scale-out', at_unix=__t,
         before=__before, after=__after) }}
"""

RETURN = r"""
_value:
  description: The result, judged.
  type: dict
"""


def _import() -> Any:
    try:
        from grpclab.churn import run as churnrun
    except ImportError:
        try:
            from grpclab import churnrun
        except ImportError as error:
            raise AnsibleFilterError(f"grpclab is not importable: {error}") from error
    return churnrun


def churn_judge(result: Mapping[str, Any], remedy: str, action: str, at_unix: float,
                before: list[str] | None = None, after: list[str] | None = None,
                restarted: list[str] | None = None,
                budgets: Mapping[str, Any] | None = None) -> dict[str, Any]:
    churnrun = _import()
    try:
        return churnrun.judge_result(dict(result), remedy, action, float(at_unix), before or [],
                                     after or [], restarted or [], dict(budgets or {}))
    except (KeyError, TypeError, ValueError) as error:
        raise AnsibleFilterError(f"cannot judge the churn run: {error}") from error


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"churn_judge": churn_judge}

# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""Filter grpclab.lab.probe_verdict: the probe's printed JSON judged as the grpc_probe role
promises: around one churn action (grpclab.churn), rotating over the run, or the probe's own
verdict."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
---
name: probe_verdict
short_description: Judge the probe's JSON as the scenario promises (churn, rotating, or as it is)
version_added: 2.0.0
description:
  - With O(churn), the timeline is held against the remedy's promises for the action
    (C(grpclab.churn.run.judge_result)); with O(expect) V(rotating), it is judged rotating
    (C(grpclab.churn.run.verdict_result)); else the probe's own verdict stands.
options:
  _input:
    description: What the probe printed with C(--json).
    type: str
    required: true
  expect:
    description: The promise (C(grpc_probe_expect)).
    type: str
    required: true
  max_error_rate:
    description: Largest fraction of failed calls accepted (rotating).
    type: float
    default: 0.0
  churn:
    description: >-
      The churn run, or null: remedy, action, at_unix, before, after, restarted, budgets
      (the arguments of C(grpclab.churn.run.judge_result)).
    type: dict
author:
  - grpclab maintainers
"""

EXAMPLES = r"""
- name: Judge the probe's run
  ansible.builtin.set_fact:
    result: "{{ run.stdout | grpclab.lab.probe_verdict(expect='spread') }}"
"""

RETURN = r"""
_value:
  description: The probe's result, judged.
  type: dict
"""


def _run_module() -> Any:
    """grpclab's churn run helpers (grpclab.churn.run)."""
    try:
        from grpclab.churn import run
    except ImportError as error:
        raise AnsibleFilterError(f"grpclab is not importable: {error}") from error
    return run


def parse(printed: Any) -> dict[str, Any]:
    """The probe's JSON, or one line saying it printed none."""
    if isinstance(printed, Mapping):
        return dict(printed)
    text = (printed or "").strip()
    if not text:
        raise AnsibleFilterError("the probe printed no result (empty output)")
    try:
        return json.loads(text)
    except ValueError as error:
        raise AnsibleFilterError(f"the probe's output is not JSON: {error}") from error


def judge(
    result: Mapping[str, Any],
    expect: str,
    max_error_rate: float = 0.0,
    churn: Mapping[str, Any] | None = None,
    run: Any = None,
) -> dict[str, Any]:
    """The dispatch: churn, then rotating, else the result as the probe judged it."""
    if churn:
        run = run or _run_module()
        return run.judge_result(
            dict(result),
            churn["remedy"],
            churn["action"],
            float(churn["at_unix"]),
            churn.get("before") or [],
            churn.get("after") or [],
            churn.get("restarted") or [],
            dict(churn.get("budgets") or {}),
        )
    if expect == "rotating":
        run = run or _run_module()
        return run.verdict_result(dict(result), float(max_error_rate))
    return dict(result)


def probe_verdict(
    printed: Any, expect: str, max_error_rate: float = 0.0, churn: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    result = parse(printed)
    try:
        return judge(result, expect, max_error_rate, churn)
    except (KeyError, TypeError, ValueError) as error:
        raise AnsibleFilterError(f"cannot judge the probe's run: {error}") from error


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"probe_verdict": probe_verdict}

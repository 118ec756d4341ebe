# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""Filter grpclab.lab.rotating_verdict: a timeline probe's result judged ``rotating``
(grpclab.rotation), the max-age scenario's promise, for the grpc_probe role."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
---
name: rotating_verdict
short_description: Judge a timeline probe's result rotating (pinned at a time, moving over the run)
version_added: 1.0.0
description:
  - Returns the result with C(expect) V(rotating) and C(passed), C(observed), C(summary) from
    C(grpclab.rotation.verdict). Consecutive calls of a connection stay on one replica, yet at
    least half the connections move replica over the run.
options:
  _input:
    description: The parsed probe result (schema C(grpclab.probe/v2), with a timeline).
    type: dict
    required: true
  max_error_rate:
    description: Largest fraction of failed calls accepted.
    type: float
    default: 0.0
author:
  - grpclab maintainers
"""

EXAMPLES = r"""
- name: Judge rotating
  ansible.builtin.set_fact:
    grpc_probe_result: "{{ __result | grpclab.lab.rotating_verdict(max_error_rate=0.0) }}"
"""

RETURN = r"""
_value:
  description: The result, judged.
  type: dict
"""


def rotating_verdict(result: Mapping[str, Any], max_error_rate: float = 0.0) -> dict[str, Any]:
    try:
        from grpclab.churn import run as churnrun
    except ImportError:
        try:
            from grpclab import churnrun
        except ImportError as error:
            raise AnsibleFilterError(f"grpclab is not importable: {error}") from error
    try:
        return churnrun.verdict_result(dict(result), float(max_error_rate))
    except (KeyError, TypeError, ValueError) as error:
        raise AnsibleFilterError(f"cannot judge rotating: {error}") from error


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"rotating_verdict": rotating_verdict}

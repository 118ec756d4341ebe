# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""Filter grpclab.lab.probe_table: the probe's JSON result as the table people read."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
---
name: probe_table
short_description: Render a grpclab probe result as the per-replica table
version_added: 1.0.0
description:
  - Renders the probe's JSON result (schema C(grpclab.probe/v1), as printed by
    C(grpclab-probe --json)) with C(grpclab.probe.table.render_table), the same code as the probe's
    own table output.
options:
  _input:
    description: The parsed probe result.
    type: dict
    required: true
author:
  - grpclab maintainers
"""

EXAMPLES = r"""
- name: Show the probe's table
  ansible.builtin.debug:
    msg: "{{ grpc_probe_result | grpclab.lab.probe_table }}"
"""

RETURN = r"""
_value:
  description: The table, lines separated by newlines.
  type: str
"""


def probe_table(result):
    if not isinstance(result, Mapping):
        raise AnsibleFilterError(
            f"probe_table expects the probe's result (a dict), got {type(result).__name__}"
        )
    try:
        from grpclab.probe import render_table
    except ImportError as error:
        raise AnsibleFilterError(
            f"probe_table needs the grpclab package on the controller: {error}"
        ) from error
    return render_table(dict(result))


class FilterModule:
    def filters(self):
        return {"probe_table": probe_table}

# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""Filter grpclab.lab.probe_redact: a line with the values of grpc_probe_headers masked."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

DOCUMENTATION = r"""
---
name: probe_redact
short_description: A line with the values of the probe's request headers masked
version_added: 2.0.0
description:
  - >-
    Every value of O(headers) (C(name: value) each) found in the line becomes C(***). The probe
    never prints a header's value; the line it stops with is masked all the same, since an
    argument error quotes what it was given.
options:
  _input:
    description: The line.
    type: str
    required: true
  headers:
    description: "grpc_probe_headers, C(name: value) each."
    type: list
    elements: str
    required: true
author:
  - grpclab maintainers
"""

EXAMPLES = r"""
- name: Fail with the probe's line, header values masked
  ansible.builtin.fail:
    msg: "{{ line | grpclab.lab.probe_redact(grpc_probe_headers) }}"
"""

RETURN = r"""
_value:
  description: The line, each header value replaced by C(***).
  type: str
"""


def probe_redact(line: Any, headers: Sequence[Any]) -> str:
    text = str(line)
    values = [str(header).partition(":")[2].strip() for header in headers or []]
    # the longest first, so a value that holds another is masked whole
    for value in sorted(filter(None, values), key=len, reverse=True):
        text = text.replace(value, "***")
    return text


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"probe_redact": probe_redact}

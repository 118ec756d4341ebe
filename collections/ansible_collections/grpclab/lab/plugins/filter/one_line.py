# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""Filter grpclab.lab.one_line: a module's message as one short line, for a one-line error."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: one_line
short_description: Squeeze a message onto one line of at most so many characters
version_added: 2.0.0
description:
  - Every run of whitespace (newlines too) becomes one space; a longer line is cut to O(width)
    characters, ending in C(...).
options:
  _input:
    description: The message (for example the C(msg) of a failed C(kubernetes.core.k8s_info)).
    type: str
    required: true
  width:
    description: The most characters kept.
    type: int
    default: 160
author:
  - grpclab maintainers
"""

EXAMPLES = r"""
- name: Say why the API server did not answer, in one line
  ansible.builtin.debug:
    msg: "no answer ({{ found.msg | default('') | grpclab.lab.one_line(160) }})"
"""

RETURN = r"""
_value:
  description: The line.
  type: str
"""


def one_line(message: object, width: int = 160) -> str:
    text = " ".join(str(message or "").split())
    width = max(int(width), 3)
    return text if len(text) <= width else text[: width - 3].rstrip() + "..."


class FilterModule:
    def filters(self):
        return {"one_line": one_line}

# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""Filter grpclab.lab.refuse_renamed: the renamed variables that were given, in one line."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.grpclab.lab.plugins.plugin_utils import prelude

DOCUMENTATION = r"""
---
name: refuse_renamed
short_description: One line naming the renamed variables that were given, with their new names
version_added: 2.0.0
description:
  - The input is the list of C(playbooks/vars/renamed.yml), each entry C(old), C(new), C(since) and
    C(removed_in); O(given) the names of the play's variables.
  - Returns "" when no old name was given; an entry lacking a key fails the filter.
options:
  _input:
    description: The renames.
    type: list
    elements: dict
    required: true
  given:
    description: The variable names the play has (C(query('ansible.builtin.varnames', '.+'))).
    type: list
    elements: str
    required: true
author:
  - grpclab maintainers
"""

EXAMPLES = r"""
- name: Refuse variables under their old names
  ansible.builtin.fail:
    msg: "{{ __refused }}"
  when: __refused | length > 0
  vars:
    __refused: "{{ renamed | grpclab.lab.refuse_renamed(query('ansible.builtin.varnames', '.+')) }}"
"""

RETURN = r"""
_value:
  description: The line, or "".
  type: str
"""


def refuse_renamed(renamed, given):
    try:
        return prelude.refuse_renamed(renamed, given)
    except ValueError as error:
        raise AnsibleFilterError(str(error)) from error


class FilterModule:
    def filters(self):
        return {"refuse_renamed": refuse_renamed}

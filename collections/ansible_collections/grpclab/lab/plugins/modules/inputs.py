# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""Documentation of the action grpclab.lab.inputs (the code is plugins/action/inputs.py)."""

DOCUMENTATION = r"""
---
module: inputs
short_description: Check every input against the argument specs of the playbooks and the roles
version_added: 2.0.0
description:
  - An action that runs on the controller, in the prelude, before any role changes anything.
  - Validates the play's variables (the C(-e) values, the inventory) against the playbooks' own spec
    (O(playbook_spec)) and the C(meta/argument_specs.yml) of each role in O(roles), found where
    Ansible finds the roles (C(roles_path)); then again with each scenario's definition
    (C(<scenarios_dir>/<name>.yml)) over them. A templated value of a definition is checked by the
    role when it starts.
  - Fails with every error once, in one line; a failed check never prints a whole spec.
options:
  roles:
    description: The roles whose specs are checked.
    type: list
    elements: str
    required: true
  scenarios:
    description: The scenarios the playbook runs.
    type: list
    elements: str
    default: []
  playbook_spec:
    description: The playbooks' spec, relative to the prelude's folder.
    type: str
    default: vars/argument_specs.yml
  scenarios_dir:
    description: The folder of the scenario definitions, relative to the prelude's folder.
    type: str
    default: vars/scenarios
attributes:
  check_mode:
    support: full
author:
  - grpclab maintainers
"""

EXAMPLES = r"""
- name: Check the platform, the scenarios and the inputs of every role
  grpclab.lab.inputs:
    roles: [grpclab, cluster, cilium, grpc_apps, grpc_probe]
    scenarios: "{{ prelude_scenarios }}"
"""

RETURN = r"""
checked:
  description: The specs checked (V(playbooks) and the roles).
  type: list
  elements: str
  returned: always
argument_errors:
  description: Every error, once.
  type: list
  elements: str
  returned: failed
"""

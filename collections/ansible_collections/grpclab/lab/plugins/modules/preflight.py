#!/usr/bin/python
# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""Ansible module grpclab.lab.preflight: a thin wrapper over grpclab.lab."""

from __future__ import annotations

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    from grpclab import lab
except ImportError:
    lab = None
    LAB_IMPORT_ERROR = traceback.format_exc()
else:
    LAB_IMPORT_ERROR = None

DOCUMENTATION = r"""
---
module: preflight
short_description: Check a lab cluster's binaries and addresses before anything starts
version_added: 1.0.0
description:
  - Runs each binary with its version arguments (for example C(envoy --version)) and fails
    when one is missing or does not run.
  - Binds every planned V(host:port) for a moment and fails naming each one that is in use,
    except the addresses held by the live processes recorded in O(state_dir) (this
    cluster's own pods and proxy).
  - Changes nothing.
options:
  state_dir:
    description: State directory of the cluster whose own processes may hold planned addresses.
    type: path
    required: true
  addresses:
    description: Planned V(host:port) addresses.
    type: list
    elements: str
    default: []
  binaries:
    description:
      - Command lines that must run and exit 0, program first (V([envoy, --version])).
    type: list
    elements: list
    default: []
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
author:
  - grpclab maintainers
"""

EXAMPLES = r"""
- name: Check envoy and the cluster's addresses
  grpclab.lab.preflight:
    state_dir: /srv/grpclab/.grpclab/lab/grpclab-cilium
    binaries:
      - [/venv/bin/envoy, --version]
    addresses: ["127.0.1.1:50051", "127.0.2.1:50051", "127.0.2.254:9901"]
"""

RETURN = r"""
versions:
  description: First output line of each binary, by program.
  returned: always
  type: dict
  sample: {"/venv/bin/envoy": "/venv/bin/envoy  version: 9e55809/1.40.0/Clean/RELEASE/BoringSSL"}
checked:
  description: Addresses found free.
  returned: always
  type: list
  elements: str
held:
  description: Planned addresses already held by this cluster's own live processes (not checked).
  returned: always
  type: list
  elements: str
problems:
  description: One line per problem (empty on success).
  returned: always
  type: list
  elements: str
"""


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "state_dir": {"type": "path", "required": True},
            "addresses": {"type": "list", "elements": "str", "default": []},
            "binaries": {"type": "list", "elements": "list", "default": []},
        },
        supports_check_mode=True,
    )
    if lab is None:
        module.fail_json(msg=missing_required_lib("grpclab (pip install -e . in this project)"),
                         exception=LAB_IMPORT_ERROR)
    binaries = [[str(arg) for arg in argv] for argv in module.params["binaries"]]
    if any(not argv for argv in binaries):
        module.fail_json(msg="binaries: every entry must be a non-empty command line")
    report = lab.preflight(module.params["state_dir"], module.params["addresses"], binaries)
    result = {"changed": False, "versions": report.versions, "checked": report.checked,
              "held": report.held, "problems": report.problems}
    if report.problems:
        module.fail_json(msg="preflight: " + "; ".join(report.problems), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

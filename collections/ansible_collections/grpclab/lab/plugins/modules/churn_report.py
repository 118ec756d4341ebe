#!/usr/bin/python
# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""Ansible module grpclab.lab.churn_report: a thin wrapper over grpclab.report.churn."""

from __future__ import annotations

import json
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.grpclab.lab.plugins.module_utils.grpclab_package import import_grpclab
from ansible_collections.grpclab.lab.plugins.module_utils.report_folder import report_folder_options

DOCUMENTATION = r"""
---
module: churn_report
short_description: Write a grpclab churn report folder from churn runs (remedy x action)
version_added: 1.0.0
description:
  - Writes C(report.json) (schema C(grpclab.churn-report/v1)), C(report.md), C(report.html) and
    one picture per run (C(<remedy>--<action>.png)) into a fresh C(<base>/<UTC timestamp>/)
    folder (or exactly O(directory)) with C(grpclab.report.churn).
  - A run passes when its churn judgement (the C(churn) key of the probe result, set by the
    churn role with C(churn_action)) passed; a run without one is an error.
options:
  runs:
    description: >-
      The scenario outcomes of the churn runs (scenario, platform, cluster, result, error).
    type: list
    elements: dict
    default: []
  run_files:
    description: >-
      Files on the controller that each hold one more scenario outcome (JSON), read after
      O(runs), in the order given. A play with many runs keeps each run's timeline in a file
      instead of in its facts, which every later task would copy.
    type: list
    elements: path
    default: []
  title:
    description: The report's title.
    type: str
    default: grpclab churn
attributes:
  check_mode:
    details: In check mode nothing is written; the verdicts and the table are returned.
extends_documentation_fragment:
  - grpclab.lab.common
  - grpclab.lab.report_folder
"""

EXAMPLES = r"""
- name: Write the churn report
  grpclab.lab.churn_report:
    base: "{{ playbook_dir | dirname }}/reports"
    runs: "{{ scenario_outcomes }}"
  register: churn_report
"""

RETURN = r"""
report_dir:
  description: The report folder (null in check mode).
  returned: always
  type: str
passed:
  description: Every run kept its promise.
  returned: always
  type: bool
table:
  description: The table of figures and verdicts (Markdown).
  returned: always
  type: str
failures:
  description: One line per run that did not keep its promise.
  returned: always
  type: list
  elements: str
"""


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "runs": {"type": "list", "elements": "dict", "default": []},
            "run_files": {"type": "list", "elements": "path", "default": []},
            **report_folder_options("grpclab churn"),
        },
        supports_check_mode=True,
    )
    churn = import_grpclab(module, "report.churn")
    params = module.params
    try:
        runs = list(params["runs"]) + [
            json.loads(Path(path).read_text(encoding="utf-8")) for path in params["run_files"]
        ]
        if module.check_mode:
            folder, document = (
                None,
                churn.build_churn_report(runs, params["title"], params["versions"]),
            )
        else:
            folder, document = churn.write_churn_report(
                runs,
                params["base"],
                directory=params["directory"],
                title=params["title"],
                versions=params["versions"],
            )
    except (OSError, ValueError) as error:  # ReportError is a ValueError
        module.fail_json(msg=f"cannot write the churn report: {error}")
    module.exit_json(
        changed=True,
        report_dir=str(folder) if folder else None,
        passed=document["passed"],
        table=churn.markdown_table(document),
        failures=[
            f"{run['remedy']} {run['action']}: {run['summary']}"
            for run in document["runs"]
            if not run["passed"]
        ],
    )


if __name__ == "__main__":
    main()
